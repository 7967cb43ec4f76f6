"""Instruction fine-tuning: the methods (full, LoRA, prompt tuning), their config, and the training job.

Holds: ``FinetuneConfig`` (validated; field help feeds the page's widgets), the methods registry (adding a method
touches ``METHODS`` only), instruction pairs from a dataset (loss on the completion tokens only), and ``train_job``,
which runs under ``core.jobs`` in a child process: HF Trainer + PEFT, progress to progress.jsonl, cancel with a
checkpoint, resume from the last checkpoint, a NaN loss ends the run as failed. Artefacts are safetensors: a PEFT
adapter (``PeftModel.from_pretrained``) or a full model (``from_pretrained``) in ``<run>/model``.

Does not hold: the process machinery (``core.jobs``), datasets (``core.data``), UI.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.data import TaskData, load_bundled
from core.prompting import template_for

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.finetune:train_job"


@dataclass(frozen=True)
class FinetuneConfig:
    base_model: str = field(default="smollm2-135m-instruct", metadata={"help": "The model to start from (a bundled name or a folder)."})
    method: str = field(default="lora", metadata={"help": "full: train every weight. lora: train small low-rank matrices beside the attention weights. prompt_tuning: train only a few virtual tokens put before every prompt."})
    dataset: str = field(default="dialogsum", metadata={"help": "A bundled dataset (its pool split is the training data), or a .jsonl/.csv file of {prompt, completion} rows."})
    max_steps: int = field(default=60, metadata={"help": "Optimizer steps to train for."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Step size of AdamW. Full fine-tuning wants about 1e-5, LoRA about 2e-4, prompt tuning about 3e-2."})
    batch_size: int = field(default=4, metadata={"help": "Examples per step."})
    max_length: int = field(default=256, metadata={"help": "Longest example in tokens; longer prompts are refused, not cut."})
    eval_fraction: float = field(default=0.1, metadata={"help": "Share of the training data held out to compute the eval loss."})
    eval_steps: int = field(default=10, metadata={"help": "Compute the eval loss every this many steps."})
    save_steps: int = field(default=20, metadata={"help": "Save a checkpoint every this many steps (cancel also saves one)."})
    seed: int = field(default=0, metadata={"help": "Fixes initialisation, data order and dropout."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank: the size of the low-rank update."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling: the update is multiplied by alpha / r."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path during training."})
    lora_targets: tuple[str, ...] = field(default=("q_proj", "v_proj"), metadata={"help": "Which linear layers get LoRA matrices."})
    virtual_tokens: int = field(default=16, metadata={"help": "Prompt tuning: how many trainable token embeddings are put before the prompt."})
    prompt_init_text: str = field(default="Summarize the dialogue:", metadata={"help": "Prompt tuning: the text whose embeddings start the virtual tokens."})

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        for name in ("max_steps", "batch_size", "max_length", "eval_steps", "save_steps", "lora_r", "lora_alpha", "virtual_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 0 < self.eval_fraction < 0.5:
            raise ValueError(f"eval_fraction must be in (0, 0.5), got {self.eval_fraction}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FinetuneConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"target"})
        if unknown:
            raise ValueError(f"Unknown config keys: {', '.join(unknown)}")
        values = {k: v for k, v in data.items() if k in known}
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data


# ---------------------------------------------------------------- methods


def _full(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    return model


def _lora(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                                            lora_dropout=config.lora_dropout, target_modules=list(config.lora_targets)))


def _prompt_tuning(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

    import torch

    # PEFT's TEXT init re-loads the tokenizer by name; we start from the init text's embeddings ourselves instead.
    init_ids = tokenizer(config.prompt_init_text, add_special_tokens=False)["input_ids"]
    peft_config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=config.virtual_tokens,
                                     prompt_tuning_init=PromptTuningInit.RANDOM)
    peft = get_peft_model(model, peft_config)

    embeddings = model.get_input_embeddings().weight
    repeats = math.ceil(config.virtual_tokens / max(len(init_ids), 1))
    ids = torch.tensor((init_ids * repeats)[: config.virtual_tokens])
    with torch.no_grad():
        peft.prompt_encoder["default"].embedding.weight.copy_(embeddings[ids].detach().clone())
    return peft


# The registry: a method is a function that takes the base model and returns the model to train.
METHODS: dict[str, Callable[[Any, FinetuneConfig, Any], Any]] = {
    "full": _full,
    "lora": _lora,
    "prompt_tuning": _prompt_tuning,
}


def prepare_model(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    """The model to train: the base itself (full) or the base wrapped by PEFT (its own weights frozen)."""
    return METHODS[config.method](model, config, tokenizer)


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- data


def instruction_pairs(task: TaskData, split: str = "pool") -> list[dict[str, str]]:
    """{"prompt", "completion"} pairs from a task, in the same words as the zero-shot prompt."""
    template = template_for(task)
    return [
        {"prompt": f"{template.instruction}\n\n{template.input_prefix} {e.input}\n{template.output_prefix}", "completion": f" {e.target}"}
        for e in task.split(split)
    ]


def load_pairs(dataset: str) -> list[dict[str, str]]:
    """Training pairs from a bundled dataset name or a JSONL/CSV file with prompt and completion columns."""
    from core.data import BUNDLED, DataError, read_records

    if dataset in BUNDLED:
        return instruction_pairs(load_bundled(dataset))
    path = Path(dataset)
    if not path.is_file():
        raise DataError(f"No dataset {dataset!r}: not a bundled name ({', '.join(BUNDLED)}) nor a file.")
    pairs = []
    for row in read_records(path.read_bytes(), path.name):
        for column in ("prompt", "completion"):
            if not str(row.get(column) or "").strip():
                raise DataError(f"{path.name}, line {row['_line']}: column {column!r} is missing or empty.")
        pairs.append({"prompt": str(row["prompt"]), "completion": str(row["completion"])})
    if len(pairs) < 2:
        raise DataError(f"{path.name} has {len(pairs)} example(s); training needs at least 2 (one is held out).")
    return pairs


def tokenize_pairs(tokenizer: Any, pairs: list[dict[str, str]], max_length: int) -> list[dict[str, list[int]]]:
    """input_ids and labels; the prompt's labels are -100 so the loss covers the completion (and EOS) only."""
    rows = []
    for number, pair in enumerate(pairs, start=1):
        prompt = tokenizer(pair["prompt"])["input_ids"]
        completion = tokenizer(pair["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(prompt) + len(completion) > max_length:
            raise ValueError(f"Example {number} has {len(prompt) + len(completion)} tokens, more than max_length={max_length}; "
                             "raise max_length or shorten the data.")
        rows.append({"input_ids": prompt + completion, "labels": [-100] * len(prompt) + completion})
    return rows


# ---------------------------------------------------------------- the job


def build_trainer(config: FinetuneConfig, output_dir: Path, extra_callbacks: list[Any] = ()) -> tuple[Any, Any]:
    """The model (fresh, float32) and a HF Trainer for a config. Used by the job and by plain scripts alike."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    from core.models import load_model

    set_seed(config.seed)
    loaded = load_model(config.base_model, precision="float32")  # a private copy: never the app's shared model
    tokenizer = loaded.tokenizer
    model = prepare_model(loaded.model, config, tokenizer)
    rows = tokenize_pairs(tokenizer, load_pairs(config.dataset), config.max_length)
    n_eval = max(1, int(len(rows) * config.eval_fraction))
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(rows), generator=generator).tolist()
    train, evaluation = [rows[i] for i in order[n_eval:]], [rows[i] for i in order[:n_eval]]
    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, learning_rate=config.learning_rate, lr_scheduler_type="linear",
        warmup_steps=0, logging_steps=1, eval_strategy="steps", eval_steps=config.eval_steps, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=2, seed=config.seed, data_seed=config.seed, report_to=[],
        use_cpu=not torch.cuda.is_available(), disable_tqdm=True, dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",  # for tokens/s in the progress
    )
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation, data_collator=collator,
                      callbacks=list(extra_callbacks))
    return trainer, tokenizer


def train_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``core.finetune:train_job``)."""
    from transformers.trainer_utils import get_last_checkpoint

    config = FinetuneConfig.from_dict(ctx.config)
    trainer, tokenizer = build_trainer(config, ctx.checkpoints, [run_callback(ctx)])
    trainable, total = count_parameters(trainer.model)
    if trainer.is_world_process_zero():
        ctx.progress(event="start", trainable=trainable, total=total)
    last = get_last_checkpoint(str(ctx.checkpoints)) if ctx.resume else None
    trainer.train(resume_from_checkpoint=last)
    if ctx.should_stop():
        return {"stopped_at": trainer.state.global_step}
    final = ctx.dir / "model"
    trainer.save_model(str(final))  # under DDP only the main process writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(final)
    return {"steps": trainer.state.global_step, "trainable": trainable, "total": total, "model": str(final),
            "method": config.method, "base_model": config.base_model}


# What a run's progress file records from the trainer's logs (reward models add accuracy and margin).
REPORTED = ("loss", "eval_loss", "learning_rate", "grad_norm", "accuracy", "margin", "eval_accuracy", "eval_margin")


def run_callback(ctx: "RunContext") -> Any:
    """A TrainerCallback: progress to progress.jsonl, stop (with a checkpoint) on cancel, fail on a NaN/inf loss."""
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.first_step: int | None = None

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if ctx.should_stop():
                control.should_save = True  # keep this step's work: resume starts here
                control.should_training_stop = True
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            logs = logs or {}
            for key in ("loss", "eval_loss"):
                if key in logs and not math.isfinite(logs[key]):
                    raise FloatingPointError(f"{key} became {logs[key]} at step {state.global_step}; lower the learning rate.")
            if not state.is_world_process_zero:
                return  # under DDP every process logs the same numbers: the main one reports
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            if self.first_step is None:
                self.first_step, self.started, self.first_tokens = state.global_step, time.monotonic(), tokens
            done = state.global_step - self.first_step
            elapsed = time.monotonic() - self.started
            eta = elapsed / done * (state.max_steps - state.global_step) if done else None
            speed = (tokens - self.first_tokens) / elapsed if done and elapsed > 0 and tokens > self.first_tokens else None
            report = {k: logs[k] for k in REPORTED if k in logs}
            ctx.progress(step=state.global_step, max_steps=state.max_steps, eta_s=eta, tokens_per_s=speed, **report)

    return RunCallback()


# ---------------------------------------------------------------- estimates before launch


@dataclass(frozen=True)
class Estimate:
    """What a run will train and roughly how much memory it needs (float32 training with AdamW)."""

    trainable: int
    total: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int

    @property
    def share(self) -> float:
        return self.trainable / self.total

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes


def estimate(model: Any, config: FinetuneConfig) -> Estimate:
    """Trainable parameters counted from the model's own layers, and memory by the usual rules of thumb:
    weights 4 B per parameter, gradients 4 B and AdamW's two moments 8 B per trainable parameter, and activations
    kept for the backward pass (every method back-propagates through the whole network) of about
    layers x batch x length x (34 x hidden + 5 x heads x length) x 2 B, plus the logits and their gradient.
    ``model`` is only inspected (the shared, read-only copy is fine)."""
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    total = sum(p.numel() for p in model.parameters())
    if config.method == "full":
        trainable = total
    elif config.method == "lora":
        trainable = sum(
            config.lora_r * (module.in_features + module.out_features)
            for name, module in model.named_modules()
            if name.rsplit(".", 1)[-1] in config.lora_targets and hasattr(module, "in_features")
        )
    else:
        trainable = config.virtual_tokens * text.hidden_size
    tokens = config.batch_size * config.max_length
    per_layer = tokens * (34 * text.hidden_size + 5 * text.num_attention_heads * config.max_length) * 2
    logits = tokens * text.vocab_size * 4 * 2
    return Estimate(
        trainable=trainable,
        total=total + (trainable if config.method != "full" else 0),
        weights_bytes=total * 4,
        gradients_bytes=trainable * 4,
        optimizer_bytes=trainable * 8,
        activations_bytes=text.num_hidden_layers * per_layer + logits,
    )
