"""Knowledge distillation: a smaller student trained on the teacher's next-token distributions (Hinton et al. 2015).

- ``DistillConfig``: the settings. The teacher is SmolLM2-135M-Instruct by default; the student is a named model of
  the same vocabulary or, by default, the teacher itself with its ``drop_layers`` least salient decoder layers removed
  (``core.deploy.prune``: the same Block Influence scores on the same texts as a prune run, so a distilled student
  starts where the pruned variant stops).
- The loss, per token: ``alpha · τ² · KL(p_teacher^τ ‖ p_student^τ) + (1 − alpha) · cross-entropy(next token)``, the
  forward KL of the temperature-softened distributions (τ² keeps its gradients the size of the hard loss's). Mode
  ``hard`` is the baseline at the same budget: the same student, texts, steps, batch and learning rate, cross-entropy
  alone (the teacher is never run).
- The texts: general_text paragraphs gen-031..gen-060 to train on (the ones a fine-tune mix may replay), and
  gen-001..gen-030 held out: the forgetting probe, which nothing trains on, where ``kl_to_teacher`` measures the
  student before and after (and where the comparison table measures perplexity). ``data`` may name a JSONL file of
  ``{"text"}`` rows to train on instead; the held-out texts stay the same.
- The trainer is a ``transformers.Trainer`` with this loss, not TRL's: trl 1.16's ``DistillationTrainer`` is
  on-policy only (the student first writes every completion it learns from: 38 to 119 s a step for 4 completions of
  32 tokens on the shared 2 cores, with a 20-layer student that writes little but noise at the start), and has no
  hard-label loss for the baseline; ``trl.experimental.gkd.GKDTrainer`` with ``lmbda=0`` is supervised, but its loss
  ignores the temperature (only sampling uses it), has no hard-label term either and is experimental. Here both
  modes run on the same Trainer, texts and settings: the comparison is at equal budget.
- ``distill_job``: the background run (``JOB``) that saves the student to ``<run>/model``.

Does not hold: choosing or dropping layers (``core.deploy.prune``), measuring size and speed or comparing variants
(``core.deploy.measure``, ``core.deploy.compare``), UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.config import DictConfig, check_range
from core.data import DataError

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.deploy.distill:distill_job"
MODES = ("distil", "hard")
GENERAL_TEXT = "general_text"
TRAIN_TEXTS = slice(30, 60)  # gen-031..gen-060: trained on
HELD_OUT_TEXTS = slice(0, 30)  # gen-001..gen-030: the forgetting probe, never trained on
KL_BATCH = 8


@dataclass(frozen=True)
class DistillConfig(DictConfig):
    KIND = "distillation"

    teacher: str = field(default="smollm2-135m-instruct", metadata={
        "help": "The model to learn from: bundled, a full run (run:<id>) or a folder."})
    student: str = field(default="", metadata={
        "help": "The model that learns (same vocabulary as the teacher); empty: the teacher with drop_layers layers "
                "removed by saliency."})
    drop_layers: int = field(default=10, metadata={
        "help": "Decoder layers removed from the student before training, the least salient first (SmolLM2 has 30)."})
    mode: str = field(default="distil", metadata={
        "help": "distil: learn the teacher's distributions (mixed with the next token by alpha). hard: the next token "
                "only, the baseline at the same budget."})
    data: str = field(default=GENERAL_TEXT, metadata={
        "help": "general_text: paragraphs gen-031..gen-060 (gen-001..gen-030 held out); or a JSONL file of {text} rows."})
    max_steps: int = field(default=30, metadata={"help": "Optimizer steps."})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW step size (every weight of the student trains)."})
    batch_size: int = field(default=4, metadata={"help": "Texts per step."})
    max_length: int = field(default=128, metadata={"help": "Tokens kept of each text."})
    temperature: float = field(default=2.0, metadata={
        "help": "τ: softens both distributions before the KL, so the teacher's small probabilities teach too."})
    alpha: float = field(default=0.9, metadata={
        "help": "Weight of the distillation loss; 1 − alpha goes to the next-token loss (ignored in hard mode)."})
    seed: int = field(default=0, metadata={"help": "Fixes the data order."})
    task: str = field(default="deploy", metadata={"help": "Marks a deploy run."})
    method: str = field(default="full", metadata={"help": "full: the run saves a whole model."})
    variant: str = field(default="distil", metadata={"help": "Which kind of variant this run makes."})
    base_model: str = field(default="", metadata={"help": "The teacher (filled in): what the run loader calls its base."})

    def __post_init__(self) -> None:
        for name in ("teacher", "student", "data", "mode", "base_model"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not self.teacher.strip():
            raise ValueError("teacher must name a model (bundled, run:<id> or a folder).")
        if self.base_model and self.base_model != self.teacher:
            raise ValueError(f"base_model is the teacher ({self.teacher!r}), got {self.base_model!r}")
        object.__setattr__(self, "base_model", self.teacher)
        for name, expected in (("task", "deploy"), ("method", "full"), ("variant", "distil")):
            if getattr(self, name) != expected:
                raise ValueError(f"A distillation config has {name}: {expected}, got {getattr(self, name)!r}.")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.data != GENERAL_TEXT and not Path(self.data).is_file():
            raise ValueError(f"data must be {GENERAL_TEXT} or an existing JSONL file of {{text}} rows, got {self.data!r}")
        for name, value, low, high in (("drop_layers", self.drop_layers, 0, 10_000), ("max_steps", self.max_steps, 1, 100_000),
                                       ("batch_size", self.batch_size, 1, 256), ("max_length", self.max_length, 8, 8192),
                                       ("seed", self.seed, 0, 2**32 - 1)):
            check_range(name, value, low, high, integer=True)
        check_range("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)
        check_range("temperature", self.temperature, 0, 100, low_open=True)
        check_range("alpha", self.alpha, 0, 1)
        if not self.student.strip() and self.drop_layers == 0:
            raise ValueError("With no student named, the student is the teacher minus drop_layers layers: drop at least 1 "
                             "(or name a smaller student).")
        if self.mode == "distil" and self.alpha == 0:
            raise ValueError("alpha 0 leaves no distillation loss: that is mode hard.")


# ---------------------------------------------------------------- texts


def general_texts() -> list[str]:
    from core.finetune.mixing import general_texts as texts

    return texts()


def held_out_texts() -> list[str]:
    """gen-001..gen-030, where the student's KL to the teacher is measured."""
    return general_texts()[HELD_OUT_TEXTS]


def training_texts(data: str = GENERAL_TEXT) -> list[str]:
    """gen-031..gen-060, or the ``text`` of every row of a JSONL file (DataError naming a bad line)."""
    if data == GENERAL_TEXT:
        return general_texts()[TRAIN_TEXTS]
    texts = []
    for number, line in enumerate(Path(data).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{data} line {number} is not JSON: {err}") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(f"{data} line {number} needs a non-empty string field 'text'.")
        texts.append(row["text"])
    if not texts:
        raise DataError(f"{data} has no rows to train on.")
    return texts


# ---------------------------------------------------------------- vocabulary and KL


def check_same_vocabulary(teacher_tokenizer: Any, student_tokenizer: Any) -> None:
    """Raise ValueError unless both tokenizers map the same strings to the same ids: the KL compares distributions
    over token ids, so the i-th logit must mean the same token for both models."""
    teacher_vocab, student_vocab = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
    if teacher_vocab == student_vocab:
        return
    differing = sorted(t for t in set(teacher_vocab) | set(student_vocab) if teacher_vocab.get(t) != student_vocab.get(t))
    raise ValueError(
        f"The teacher and the student have different vocabularies ({len(teacher_vocab):,} and {len(student_vocab):,} "
        f"tokens; {len(differing):,} differ, e.g. {differing[0]!r}): distillation compares their next-token "
        "distributions id by id, so the student must use the teacher's tokenizer (e.g. a layer-pruned copy of it).")


def _check_same_logits(teacher: Any, student: Any) -> None:
    sizes = [m.get_output_embeddings().weight.shape[0] for m in (teacher, student)]
    if sizes[0] != sizes[1]:
        raise ValueError(f"The teacher predicts over {sizes[0]:,} token ids and the student over {sizes[1]:,}: "
                         "distillation needs the same vocabulary.")


def token_kl(student_logits: Any, teacher_logits: Any, mask: Any, temperature: float = 1.0) -> Any:
    """Mean over the masked positions of KL(softmax(teacher/τ) ‖ softmax(student/τ)), in float32, in nats."""
    import torch.nn.functional as F

    student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    per_token = (teacher.exp() * (teacher - student)).sum(-1)
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp_min(1)


def _batches(tokenizer: Any, texts: Sequence[str], max_length: int, size: int) -> Any:
    for start in range(0, len(texts), size):
        yield _encode(tokenizer, texts[start:start + size], max_length)


def _encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, Any]:
    import torch

    rows = [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": mask}


def kl_to_teacher(student: Any, teacher: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 128) -> float:
    """Mean per-token KL(teacher ‖ student) in nats over every predicted token of ``texts`` (τ = 1, float32, no grad)."""
    import torch

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("The KL needs at least one non-empty text.")
    _check_same_logits(teacher, student)
    total = tokens = 0.0
    was_training = student.training
    student.eval()
    device = next(student.parameters()).device
    try:
        with torch.no_grad():
            for batch in _batches(tokenizer, texts, max_length, KL_BATCH):
                batch = {k: v.to(device) for k, v in batch.items()}
                mask = batch["attention_mask"][:, 1:]
                if not mask.sum():
                    continue
                s, t = (m(**batch, use_cache=False).logits[:, :-1] for m in (student, teacher))
                total += float(token_kl(s, t, mask)) * float(mask.sum())
                tokens += float(mask.sum())
    finally:
        student.train(was_training)
    if not tokens:
        raise ValueError("The texts have no tokens to predict (each needs at least two).")
    return total / tokens


# ---------------------------------------------------------------- models


def build_student(config: DistillConfig, teacher: Any, teacher_tokenizer: Any) -> tuple[Any, list[int]]:
    """A private float32 student and the teacher-layer indices dropped from it (never the teacher object itself)."""
    from core.deploy import prune

    if config.student.strip():
        from core.models import load_model

        loaded = load_model(config.student, precision="float32")
        check_same_vocabulary(teacher_tokenizer, loaded.tokenizer)
        student = prune.private_copy(loaded.model)
    else:
        student = prune.private_copy(teacher)
    _check_same_logits(teacher, student)
    dropped: list[int] = []
    if config.drop_layers:
        n = len(prune.decoder_layers(student))
        if config.drop_layers >= n:
            raise ValueError(f"Cannot drop {config.drop_layers} of the student's {n} layers: at least one must stay "
                             f"(drop at most {n - 1}).")
        scores = prune.layer_saliency(student, teacher_tokenizer, prune.default_saliency_texts())
        dropped = prune.least_salient_layers(scores, config.drop_layers)
        prune.drop_layers(student, dropped)
    return student, dropped


def check_distill_config(config: dict[str, Any]) -> dict[str, Any]:
    """A distillation config made whole and checked before a run starts (the layer count is read from the model's
    config.json, or by loading it), or ValueError."""
    from core.deploy.prune import base_layers

    settings = DistillConfig.from_dict({k: v for k, v in config.items() if v is not None})
    if settings.drop_layers:
        name = settings.student.strip() or settings.teacher
        n = base_layers(name)
        if settings.drop_layers >= n:
            raise ValueError(f"Cannot drop {settings.drop_layers} of the {n} layers of {name}: at least one must stay "
                             f"(drop at most {n - 1}).")
    return settings.to_dict()


# ---------------------------------------------------------------- training


def build_trainer(config: DistillConfig, student: Any, teacher: Any, tokenizer: Any, output_dir: Path,
                  callbacks: Sequence[Any] = ()) -> Any:
    """A transformers Trainer whose loss is the distillation loss (or, in hard mode, the next-token loss alone)."""
    import torch
    import torch.nn.functional as F
    from transformers import Trainer, TrainingArguments, set_seed

    set_seed(config.seed)
    texts = training_texts(config.data)
    rows = [{"text": t} for t in texts]
    alpha = config.alpha if config.mode == "distil" else 0.0
    temperature = config.temperature

    class DistillTrainer(Trainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
            logits, mask = outputs.logits[:, :-1], inputs["attention_mask"][:, 1:]
            labels = inputs["input_ids"][:, 1:].masked_fill(mask == 0, -100)
            hard = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))
            loss = hard
            if alpha > 0:
                with torch.no_grad():
                    teacher_logits = teacher(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                             use_cache=False).logits[:, :-1]
                soft = token_kl(logits, teacher_logits, mask, temperature) * temperature**2
                loss = alpha * soft + (1 - alpha) * hard
            return (loss, outputs) if return_outputs else loss

    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, weight_decay=0.0, logging_steps=1, save_strategy="no", seed=config.seed,
        report_to=[], use_cpu=not torch.cuda.is_available(), bf16=False, disable_tqdm=True, dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = DistillTrainer(model=student, args=args, train_dataset=rows, callbacks=list(callbacks),
                             data_collator=lambda batch: _encode(tokenizer, [r["text"] for r in batch], config.max_length))
    teacher.to(args.device).eval()  # run under no_grad: its weights get no gradients
    return trainer


def distill_job(ctx: "RunContext") -> dict[str, Any]:
    """The background run (``JOB``): build the student, measure its KL, train, measure again, save ``<run>/model``."""
    import time

    from core import checkpoints
    from core.deploy.prune import decoder_layers, private_copy
    from core.finetune.train import run_callback
    from core.models import load_model

    config = DistillConfig.from_dict({k: v for k, v in ctx.config.items() if v is not None})
    started = time.monotonic()
    ctx.progress(step=0, stage="load", message=f"Loading the teacher {config.teacher} (float32)")
    loaded = load_model(config.teacher, precision="float32")
    teacher, tokenizer = private_copy(loaded.model), loaded.tokenizer  # private: requires_grad and .to() change it
    ctx.progress(step=0, stage="student", message="Building the student")
    student, dropped = build_student(config, teacher, tokenizer)
    layers = len(decoder_layers(student))
    if ctx.should_stop():
        return {"mode": config.mode, "layers": layers, "dropped_layers": dropped, "stopped_at": 0}
    held_out = held_out_texts()
    kl_before = kl_to_teacher(student, teacher, tokenizer, held_out, config.max_length)
    ctx.progress(step=0, stage="kl", kl_to_teacher=kl_before, layers=layers, dropped_layers=dropped,
                 message=f"Held-out KL to the teacher before training: {kl_before:.4f} nats/token")
    result: dict[str, Any] = {"mode": config.mode, "teacher": config.teacher, "layers": layers,
                              "teacher_layers": len(decoder_layers(teacher)), "dropped_layers": dropped,
                              "kl_before": kl_before, "variant": "distil"}
    if ctx.should_stop():
        return {**result, "stopped_at": 0}
    trainer = build_trainer(config, student, teacher, tokenizer, ctx.dir / "checkpoints", [run_callback(ctx)])
    trained = time.monotonic()
    trainer.train(resume_from_checkpoint=checkpoints.resume_checkpoint(ctx))
    seconds_per_step = (time.monotonic() - trained) / max(trainer.state.global_step, 1)
    if ctx.should_stop():
        return {**result, "stopped_at": trainer.state.global_step}
    student.eval()
    kl_after = kl_to_teacher(student, teacher, tokenizer, held_out, config.max_length)
    ctx.progress(step=trainer.state.global_step, stage="kl", kl_to_teacher=kl_after,
                 message=f"Held-out KL to the teacher after training: {kl_after:.4f} nats/token")

    def save(folder: Path) -> None:
        student.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    final = checkpoints.save_final(ctx.dir, save)
    return {**result, "kl_after": kl_after, "steps": trainer.state.global_step, "model": str(final),
            "seconds_per_step": round(seconds_per_step, 3), "seconds": round(time.monotonic() - started, 2)}
