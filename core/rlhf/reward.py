"""Reward models: a model with a one-number head learns which of two answers people preferred.

The loss is -log sigmoid(r_chosen - r_rejected): it falls as the preferred answer's reward rises above the other's.
The reward is the head's single logit. Training runs TRL's RewardTrainer (full or LoRA) as a background run; data is
the bundled preference set, the pairs people labelled in the lab, or a JSONL file of TRL pairs.

trl is imported only in core.rlhf.
Holds: ``RewardConfig`` (validated), ``load_preference_pairs``, ``train_reward_job`` (JOB), ``RewardScorer`` (score a
prompt and completion with a trained run) and ``score_pairs`` (rewards of held-out chosen and rejected answers).
Does not hold: labelling or pairs from rankings (``core.rlhf.preferences``), storage (``core.store``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core import checkpoints
from core.config import DictConfig, check_range
from core.data import DATASETS_DIR, DataError
from core.rlhf.preferences import trl_prompt

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.rlhf.reward:train_reward_job"
METHODS = ("lora", "full")
SOURCES = ("bundled", "labels")


@dataclass(frozen=True)
class RewardConfig(DictConfig):
    KIND = "reward"

    task: str = field(default="reward", metadata={"help": "Marks a reward-model config for `python -m core train`."})
    base_model: str = field(
        default="smollm2-135m-instruct",
        metadata={"help": "The model that gets a reward head (bundled name, run:<id> of a full fine-tune, or a folder)."},
    )
    method: str = field(default="lora", metadata={"help": "lora: train adapters and the new head; full: every weight."})
    data: str = field(
        default="bundled",
        metadata={"help": "bundled: 186 written pairs (train/test splits); labels: the pairs ranked in this lab; or a path "
                          "to a JSONL of TRL pairs."},
    )
    max_steps: int = field(default=60, metadata={"help": "Optimizer steps."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Step size: about 1e-4 to 5e-4 for LoRA, 1e-5 for full."})
    batch_size: int = field(default=8, metadata={"help": "Pairs per step."})
    max_length: int = field(default=256, metadata={"help": "Tokens kept of prompt + answer."})
    eval_fraction: float = field(
        default=0.2,
        metadata={"help": "Share of pairs held out (labels and files; the bundled set has its own test split)."},
    )
    eval_steps: int = field(default=10, metadata={"help": "Measure held-out accuracy and margin every N steps."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    seed: int = field(default=0, metadata={"help": "Fixes the split, the head's initialisation and the data order."})

    def __post_init__(self) -> None:
        if self.task != "reward":
            raise ValueError(f"task must be 'reward', got {self.task!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.data not in SOURCES and not Path(self.data).is_file():
            raise ValueError(f"data must be {' or '.join(SOURCES)} or an existing file, got {self.data!r}")
        for name, value, low, high in (("max_steps", self.max_steps, 1, 100_000), ("batch_size", self.batch_size, 1, 256),
                                       ("max_length", self.max_length, 16, 4096), ("eval_steps", self.eval_steps, 1, 100_000)):
            check_range(name, value, low, high, integer=True)
        check_range("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)
        check_range("eval_fraction", self.eval_fraction, 0, 1, low_open=True, high_open=True)




def load_preference_pairs(config: RewardConfig) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(train, held-out) TRL pairs. Labelled pairs are split by comparison, so no prompt is on both sides."""
    if config.data == "bundled":
        rows = [json.loads(line) for line in (DATASETS_DIR / "preferences.jsonl").read_text().splitlines() if line.strip()]
        pairs = [({"prompt": trl_prompt(r["prompt"]), "chosen": r["chosen"], "rejected": r["rejected"]}, r["split"]) for r in rows]
        return [p for p, s in pairs if s == "train"], [p for p, s in pairs if s == "test"]
    if config.data == "labels":
        from core import store
        from core.rlhf.preferences import pairs_from_rankings

        grouped: dict[Any, list[dict[str, str]]] = {}
        for pair in pairs_from_rankings(store.list_rankings()):
            grouped.setdefault(pair["comparison_id"], []).append({k: pair[k] for k in ("prompt", "chosen", "rejected")})
    else:
        from core.rlhf.preferences import parse_import

        grouped = {}
        for i, record in enumerate(parse_import(Path(config.data).read_text(encoding="utf-8"))):
            from core.rlhf.preferences import ranking_to_pairs

            texts = [c["text"] for c in record["completions"]]
            grouped[i] = ranking_to_pairs(record["prompt"], [[texts[j] for j in group] for group in record["ranking"]])
    keys = sorted(grouped, key=str)
    random.Random(config.seed).shuffle(keys)
    n_eval = max(1, round(len(keys) * config.eval_fraction))
    train = [p for k in keys[n_eval:] for p in grouped[k]]
    held_out = [p for k in keys[:n_eval] for p in grouped[k]]
    if len(keys) < 2 or not train or not held_out:
        raise DataError(f"Reward training needs pairs from at least 2 comparisons (one is held out); found {len(keys)}. Rank more answers.")
    return train, held_out


def _model_folder(name: str) -> str:
    from core import models

    spec = models.resolve(name)
    if spec.source == "bundled":
        return str(models.convert_bundled(spec.name))
    if spec.source == "run":
        folder = Path(spec.location) / "model"
        if (folder / "adapter_config.json").exists():
            raise ValueError(f"{name} is an adapter run; a reward model needs a full model (a bundled one or a full fine-tune).")
        return str(folder)
    if spec.source == "local":
        return spec.location
    raise ValueError(f"Reward models start from a bundled model, a full fine-tuning run or a folder; {name!r} is a hub id.")


def build_reward_trainer(config: RewardConfig, output_dir: Path, callbacks: Sequence[Any] = ()) -> Any:
    """A fresh float32 model with a one-logit head, and TRL's RewardTrainer on the config's pairs."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    set_seed(config.seed)
    train, held_out = load_preference_pairs(config)
    folder = _model_folder(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=torch.float32, local_files_only=True)
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    peft_config = None
    if config.method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="SEQ_CLS", r=config.lora_r, lora_alpha=2 * config.lora_r, lora_dropout=0.0,
                                 target_modules=["q_proj", "v_proj"])  # SEQ_CLS also trains the new head ("score")
    args = TRLRewardConfig(
        output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, learning_rate=config.learning_rate, logging_steps=1,
        eval_strategy="steps", eval_steps=config.eval_steps, save_strategy="steps", save_steps=max(config.eval_steps, 20),
        save_total_limit=2, seed=config.seed, report_to=[], use_cpu=not torch.cuda.is_available(), disable_tqdm=True,
        max_length=config.max_length, dataloader_num_workers=0, bf16=False,
    )
    return RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(train), eval_dataset=Dataset.from_list(held_out),
                         processing_class=tokenizer, peft_config=peft_config, callbacks=list(callbacks)), tokenizer, held_out


def train_reward_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``JOB``)."""
    from core.finetune.train import run_callback

    config = RewardConfig.from_dict(ctx.config)
    trainer, tokenizer, held_out = build_reward_trainer(config, ctx.checkpoints, [run_callback(ctx)])
    ctx.progress(event="start", train_pairs=len(trainer.train_dataset), held_out_pairs=len(held_out))
    trainer.train(resume_from_checkpoint=checkpoints.resume_checkpoint(ctx))
    if ctx.should_stop():
        return {"stopped_at": trainer.state.global_step}
    model = trainer.model.merge_and_unload() if config.method == "lora" else trainer.model

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    final = checkpoints.save_final(ctx.dir, save)
    scores = score_pairs(RewardScorer(final), held_out)
    (ctx.dir / "held_out_rewards.json").write_text(json.dumps(scores))
    accuracy = sum(s["chosen"] > s["rejected"] for s in scores) / len(scores)
    margin = sum(s["chosen"] - s["rejected"] for s in scores) / len(scores)
    return {"steps": trainer.state.global_step, "model": str(final), "held_out_pairs": len(scores), "accuracy": accuracy,
            "margin": margin, "base_model": config.base_model, "method": config.method}


class RewardScorer:
    """A trained reward model, ready to score: reward(prompt, completion) is its head's logit."""

    def __init__(self, folder: str | Path):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True).eval()

    def logits(self, prompt: str, completion: str) -> list[float]:
        """The head's outputs for prompt + completion + EOS, joined exactly as TRL did in training (one number: the reward)."""
        import torch

        text = (trl_prompt(prompt) if prompt.strip() else "") + completion
        eos = self.tokenizer.eos_token or ""
        ids = self.tokenizer(text if text.endswith(eos) else text + eos, return_tensors="pt", truncation=True, max_length=1024)
        with torch.inference_mode():
            return self.model(**ids).logits[0].float().tolist()

    def reward(self, prompt: str, completion: str) -> float:
        return self.logits(prompt, completion)[0]

    def rewards(self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 16) -> list[float]:
        """``reward`` for many pairs at once: right-padded batches on the reward model's device (the head reads the
        last token that is not padding, so a batch gives what one pair at a time gives)."""
        import torch

        eos = self.tokenizer.eos_token or ""
        texts = [(trl_prompt(p) if p.strip() else "") + c for p, c in zip(prompts, completions, strict=True)]
        texts = [t if t.endswith(eos) else t + eos for t in texts]
        device = next(self.model.parameters()).device
        self.tokenizer.padding_side = "right"
        out: list[float] = []
        for start in range(0, len(texts), batch_size):
            ids = self.tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                                 max_length=1024).to(device)
            with torch.inference_mode():
                out += self.model(**ids).logits[:, 0].float().cpu().tolist()
        return out


def score_pairs(scorer: RewardScorer, pairs: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """The reward of each pair's chosen and rejected answer (prompts as TRL formats them)."""
    return [{"prompt": p["prompt"], "chosen": scorer.reward(p["prompt"], p["chosen"]), "rejected": scorer.reward(p["prompt"], p["rejected"])}
            for p in pairs]


def reward_runs() -> list[Any]:
    from core import jobs

    return [r for r in jobs.list_runs(JOB) if r.state == "done"]
