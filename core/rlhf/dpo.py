"""DPO with TRL's DPOTrainer: the policy learns straight from preference pairs, with no reward model and no sampling.

DPO's loss makes the policy's log-ratio to the reference larger on the chosen answer than on the rejected one, scaled
by β: −log σ(β·[(log π − log π_ref)(chosen) − (log π − log π_ref)(rejected)]) for ``sigmoid``; ``ipo`` and ``hinge``
change the shape. The policy is a LoRA adapter and the reference is the same model with the adapter off. The pairs
are those of the reward model (the bundled set, the pairs ranked in the lab, or a JSONL file). CPU settings: float32,
no gradient checkpointing, a small ``max_length``. Logged: ``rewards/chosen``, ``rewards/rejected``,
``rewards/margins``, ``rewards/accuracies`` (train and held out).

Does not hold: the pairs (``core.rlhf.reward.load_preference_pairs``), PPO (``core.rlhf.ppo``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import checkpoints
from core.config import DictConfig, check_range
from core.data import DataError

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.rlhf.dpo:dpo_job"
LOSS_TYPES = ("sigmoid", "ipo", "hinge")


@dataclass(frozen=True)
class DPOConfig(DictConfig):
    KIND = "DPO"

    task: str = field(default="align", metadata={"help": "Marks an alignment config."})
    method: str = field(default="dpo", metadata={"help": "dpo (TRL's DPOTrainer)."})
    policy: str = field(default="smollm2-135m-instruct", metadata={"help": "The model to align: bundled, a full "
                                                                           "fine-tune (run:<id>) or a folder."})
    data: str = field(default="bundled", metadata={"help": "bundled: 186 written pairs; labels: the pairs ranked in this "
                                                           "lab; or a path to a JSONL of TRL pairs."})
    beta: float = field(default=0.1, metadata={"help": "β: how far from the reference the policy may move (higher: "
                                                       "closer to the reference)."})
    loss_type: str = field(default="sigmoid", metadata={"help": "sigmoid (the DPO paper), ipo (squared, robust to "
                                                                "noisy labels) or hinge (SLiC)."})
    max_steps: int = field(default=30, metadata={"help": "Optimizer steps."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Adam step size for the LoRA adapter."})
    batch_size: int = field(default=4, metadata={"help": "Pairs per step."})
    max_length: int = field(default=256, metadata={"help": "Tokens kept of prompt + answer."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    eval_fraction: float = field(default=0.2, metadata={"help": "Share of pairs held out (the bundled set has its own split)."})
    eval_steps: int = field(default=10, metadata={"help": "Measure the held-out reward accuracy every N steps."})
    seed: int = field(default=0, metadata={"help": "Fixes the split, the adapter's start and the data order."})

    def __post_init__(self) -> None:
        if self.task != "align" or self.method != "dpo":
            raise ValueError(f"a DPO config needs task 'align' and method 'dpo', got {self.task!r} and {self.method!r}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}")
        if self.data not in ("bundled", "labels") and not Path(self.data).is_file():
            raise ValueError(f"data must be bundled, labels or an existing file, got {self.data!r}")
        for name, value, low, high in (("max_steps", self.max_steps, 1, 100_000), ("batch_size", self.batch_size, 1, 256),
                                       ("max_length", self.max_length, 16, 4096), ("lora_r", self.lora_r, 1, 256),
                                       ("eval_steps", self.eval_steps, 1, 100_000)):
            check_range(name, value, low, high, integer=True)
        check_range("beta", self.beta, 0, 100, low_open=True)
        check_range("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)
        check_range("eval_fraction", self.eval_fraction, 0, 1, low_open=True, high_open=True)


def plain_model(name: str, method: str) -> Any:
    """A fresh float32 model for TRL to wrap in its own LoRA: a bundled model, a full fine-tune or a folder."""
    from core import models
    from core.jobs import read_config

    spec = models.resolve(name)
    if spec.source == "run" and read_config(Path(spec.location)).get("method") != "full":
        raise ValueError(f"{method.upper()} starts from a bundled model, a full fine-tune or a folder; {name} is an adapter "
                         "run (align it with PPO, which keeps its adapter as the reference).")
    return models.load_model(name, precision="float32")


def as_conversation(pair: dict[str, str], chat: bool) -> dict[str, Any]:
    """TRL's conversational format for chat models (so the policy learns in the format it is used in), plain text otherwise."""
    if not chat:
        return pair
    return {"prompt": [{"role": "user", "content": pair["prompt"].rstrip("\n")}],
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}]}


def lora_config(r: int) -> Any:
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=2 * r, lora_dropout=0.0,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def build_dpo_trainer(config: DPOConfig, output_dir: Path, callbacks: list[Any]) -> Any:
    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from core.rlhf.reward import load_preference_pairs

    set_seed(config.seed)
    train, held_out = load_preference_pairs(config)  # type: ignore[arg-type]  # the same fields as RewardConfig's
    if len(train) < config.batch_size:
        raise DataError(f"DPO needs at least one batch of pairs: {len(train)} pairs for batch_size={config.batch_size}.")
    loaded = plain_model(config.policy, "dpo")
    chat = bool(loaded.tokenizer.chat_template)
    args = TRLDPOConfig(
        output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, learning_rate=config.learning_rate, beta=config.beta,
        loss_type=[config.loss_type], max_length=config.max_length, logging_steps=1, eval_strategy="steps",
        eval_steps=config.eval_steps, save_strategy="steps", save_steps=max(config.eval_steps, 10), save_total_limit=2,
        seed=config.seed, report_to=[], use_cpu=not torch.cuda.is_available(), bf16=False, gradient_checkpointing=False,
        disable_tqdm=True, dataloader_num_workers=0,
    )
    return DPOTrainer(model=loaded.model, args=args, processing_class=loaded.tokenizer, peft_config=lora_config(config.lora_r),
                      train_dataset=Dataset.from_list([as_conversation(p, chat) for p in train]),
                      eval_dataset=Dataset.from_list([as_conversation(p, chat) for p in held_out]), callbacks=callbacks), loaded.tokenizer


def save_adapter(trainer: Any, tokenizer: Any, base_model: str, folder: Path) -> None:
    """The LoRA adapter (PEFT format), the tokenizer and ``lab.json`` naming the base: a model the app can pick."""
    trainer.model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / "lab.json").write_text(json.dumps({"method": "lora", "base_model": base_model}))


def dpo_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``JOB``)."""
    from core.finetune.train import run_callback

    config = DPOConfig.from_dict(ctx.config)
    trainer, tokenizer = build_dpo_trainer(config, ctx.dir / "checkpoints", [run_callback(ctx)])
    ctx.progress(event="start", train_pairs=len(trainer.train_dataset), held_out_pairs=len(trainer.eval_dataset))
    trainer.train(resume_from_checkpoint=checkpoints.resume_checkpoint(ctx))
    if ctx.should_stop():
        return {"stopped_at": trainer.state.global_step}
    final = checkpoints.save_final(ctx.dir, lambda folder: save_adapter(trainer, tokenizer, config.policy, folder))
    metrics = trainer.evaluate()
    return {"steps": trainer.state.global_step, "model": str(final), "method": "dpo", "policy": config.policy,
            "beta": config.beta, "loss_type": config.loss_type,
            **{k.removeprefix("eval_"): v for k, v in metrics.items() if k.startswith("eval_rewards/")}}
