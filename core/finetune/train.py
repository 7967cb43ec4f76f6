"""Fine-tuning as a background run: HF Trainer on the model a method built, with progress, cancel and resume.

``train_job`` runs under ``core.jobs`` in a child process: progress to progress.jsonl, cancel with a checkpoint,
resume from the last checkpoint, a NaN loss ends the run as failed. Artefacts are safetensors: a PEFT adapter
(``PeftModel.from_pretrained``) or a full model (``from_pretrained``) in ``<run>/model``.

Does not hold: the process machinery (``core.jobs``), the methods (``core.finetune.methods``), data
(``core.finetune.pairs``), UI.
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import checkpoints
from core.finetune.config import FinetuneConfig
from core.finetune.methods import count_parameters, prepare_model
from core.finetune.mixing import training_pairs
from core.finetune.pairs import tokenize_pairs

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.finetune.train:train_job"


def build_trainer(config: FinetuneConfig, output_dir: Path, extra_callbacks: list[Any] = ()) -> tuple[Any, Any]:
    """The model (fresh, float32) and a HF Trainer for a config. Used by the job and by plain scripts alike."""
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from core.models import load_model

    set_seed(config.seed)
    loaded = load_model(config.base_model, precision="float32")  # a private copy: never the app's shared model
    tokenizer = loaded.tokenizer
    model = prepare_model(loaded.model, config, tokenizer)
    rows = tokenize_pairs(tokenizer, training_pairs(config), config.max_length)
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
    collator = training_collator(tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation, data_collator=collator,
                      callbacks=list(extra_callbacks))
    return trainer, tokenizer


def training_collator(tokenizer: Any) -> Any:
    """Pads a batch; padded labels are -100, so padding is never in the loss (the data preview checks against it)."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)


def train_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``JOB``)."""
    config = FinetuneConfig.from_dict(ctx.config)
    # The folder itself is made by the Trainer's first save, on the main process: under accelerate the other processes
    # must not write into the output folder while the main one checks that it is empty.
    trainer, tokenizer = build_trainer(config, ctx.dir / "checkpoints", [run_callback(ctx)])
    trainable, total = count_parameters(trainer.model)
    if trainer.is_world_process_zero():
        ctx.progress(event="start", trainable=trainable, total=total)
    trainer.train(resume_from_checkpoint=checkpoints.resume_checkpoint(ctx))
    if ctx.should_stop():
        return {"stopped_at": trainer.state.global_step}
    main = trainer.is_world_process_zero()

    def save(folder: Path) -> None:
        trainer.save_model(str(folder))  # every process takes part; only the main one writes
        if main:
            tokenizer.save_pretrained(folder)

    final = checkpoints.save_final(ctx.dir, save, main=main)
    return {"steps": trainer.state.global_step, "trainable": trainable, "total": total, "model": str(final),
            "method": config.method, "base_model": config.base_model}


# What a run's progress file records from the trainer's logs (reward models add accuracy and margin; DPO its implicit
# rewards; RLOO its reward, KL, entropy and answer length, as TRL names them).
_DPO = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")
REPORTED = ("loss", "eval_loss", "learning_rate", "grad_norm", "accuracy", "margin", "eval_accuracy", "eval_margin", *_DPO,
            *("eval_" + k for k in _DPO), "reward", "reward_std", "kl", "entropy", "completions/mean_length")


def remaining_seconds(recent_steps: list[float], steps_left: int, eval_every: int | None, eval_s: float,
                      save_every: int | None, save_s: float) -> float:
    """What is left of a run: the steps at the pace of the recent ones (not the average since the start, which the
    first slow steps distort), the evaluations and checkpoints still due, and the final save of the model."""
    pace = sum(recent_steps) / len(recent_steps)
    evals = steps_left // eval_every if eval_every else 0
    saves = steps_left // save_every if save_every else 0
    return steps_left * pace + evals * eval_s + (saves + 1) * save_s


def run_callback(ctx: "RunContext") -> Any:
    """A TrainerCallback: progress to progress.jsonl, stop (with a checkpoint) on cancel, fail on a NaN/inf loss, and
    checkpoints that count only once complete (``core.checkpoints``)."""
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.first_step: int | None = None
            self.recent: deque[float] = deque(maxlen=10)  # the last steps' durations, eval and save excluded
            self.eval_s = self.save_s = 0.0
            self.mark = time.monotonic()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.mark = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            now = time.monotonic()
            self.recent.append(now - self.mark)
            self.mark = now  # an evaluation or a save may follow: they are timed from here
            if ctx.should_stop():
                control.should_save = True  # keep this step's work: resume starts here
                control.should_training_stop = True
            checkpoints.before_save(ctx.dir, state, control)
            return control

        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = time.monotonic()
            self.eval_s, self.mark = now - self.mark, now

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            now = time.monotonic()
            self.save_s, self.mark = now - self.mark, now
            checkpoints.after_save(ctx.dir, args, state)
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
            eta = remaining_seconds(list(self.recent), state.max_steps - state.global_step, args.eval_steps, self.eval_s,
                                    args.save_steps, self.save_s) if self.recent else None
            speed = (tokens - self.first_tokens) / elapsed if done and elapsed > 0 and tokens > self.first_tokens else None
            report = {k: logs[k] for k in REPORTED if k in logs}
            ctx.progress(step=state.global_step, max_steps=state.max_steps, eta_s=eta, tokens_per_s=speed, **report)

    return RunCallback()
