"""Training a small decoder-only model from random weights: its config, the training loop and the background job.

The model is a Llama (RMSNorm, rotary positions, SwiGLU MLP, tied input and output embeddings) of 0.1 to 10 M
parameters, on the corpus of ``core.pretraining.corpus``. The loop is nanoGPT's: random windows of the token
stream, AdamW, a linear warm-up then a cosine decay to a tenth of the peak rate, and the validation loss on fixed
windows of the held-out packages. The job reports the loss against tokens seen, writes a sample of generated text
every ``sample_every`` steps (watch it learn to spell), checkpoints so a cancelled run resumes, and saves the
finished model with its tokenizer as ``model/`` (safetensors), which puts it in the sidebar's model picker.

Does not hold: the corpus (``corpus``) or the scaling sweep (``scaling``, which reuses ``train_steps``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.checkpoints import mark_complete, resume_point, save_final, saving
from core.pretraining import corpus

if TYPE_CHECKING:
    from core.classroom.accounts import Actor
    from core.jobs import RunContext

JOB = "core.pretraining.scratch:pretrain_job"
MIN_PARAMS, MAX_PARAMS = 100_000, 10_000_000


def _help(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass
class ScratchConfig:
    """A from-scratch run: the model's shape and how long and how fast it trains."""

    layers: int = _help("Decoder layers (transformer blocks).", default=4)
    hidden: int = _help("Width of the residual stream (embedding size).", default=128)
    heads: int = _help("Attention heads; the width must divide by it.", default=4)
    context: int = _help("Tokens the model sees at once (its context window).", default=128)
    tokens: int = _help("Training tokens in all: steps = tokens / (batch x context).", default=2_000_000)
    batch_size: int = _help("Windows of text per step.", default=16)
    learning_rate: float = _help("Peak AdamW learning rate (small models like large ones).", default=3e-3)
    warmup_share: float = _help("Share of the steps spent warming the learning rate up.", default=0.05)
    eval_every: int = _help("Steps between validation losses.", default=50)
    sample_every: int = _help("Steps between samples of generated text.", default=100)
    prompt: str = _help("What the samples start from.", default="The function returns")
    seed: int = _help("Seed for the weights and the order of the data.", default=0)
    vocab_size: int = corpus.VOCAB_SIZE

    def __post_init__(self) -> None:
        limits = {"layers": (1, 12), "hidden": (16, 512), "heads": (1, 16), "context": (16, 1024),
                  "batch_size": (1, 256), "eval_every": (1, 100_000), "sample_every": (1, 100_000)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}.")
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ValueError(f"The width ({self.hidden}) must split into {self.heads} heads of an even size "
                             "(rotary positions rotate pairs of dimensions).")
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 0.1):
            raise ValueError(f"The learning rate must be in (0, 0.1], got {self.learning_rate}.")
        if not 0 <= self.warmup_share < 1:
            raise ValueError(f"The warm-up share must be in [0, 1), got {self.warmup_share}.")
        if self.tokens < self.batch_size * self.context:
            raise ValueError(f"{self.tokens:,} tokens is less than one step of {self.batch_size} x {self.context}.")
        if not MIN_PARAMS <= self.params <= MAX_PARAMS:
            raise ValueError(f"This shape has {self.params:,} parameters; choose one with "
                             f"{MIN_PARAMS:,} to {MAX_PARAMS:,} (fewer layers or a smaller width).")

    @property
    def intermediate(self) -> int:
        return intermediate_size(self.hidden)

    @property
    def params(self) -> int:
        return count_params(self.layers, self.hidden, self.vocab_size)

    @property
    def max_steps(self) -> int:
        return max(1, self.tokens // (self.batch_size * self.context))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScratchConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def intermediate_size(hidden: int) -> int:
    """Llama's SwiGLU width: 8/3 of the residual width (so its three matrices cost what a 4x GELU MLP's two do),
    rounded up to a multiple of 8."""
    return -(-8 * hidden // 3 // 8) * 8


def count_params(layers: int, hidden: int, vocab: int) -> int:
    """Parameters of the model ``build_model`` makes: the (tied) embedding, per layer q/k/v/o, the three MLP
    matrices and two RMSNorm weights, and the final norm."""
    per_layer = 4 * hidden * hidden + 3 * hidden * intermediate_size(hidden) + 2 * hidden
    return vocab * hidden + layers * per_layer + hidden


def build_model(config: ScratchConfig) -> Any:
    return build_llama(config.layers, config.hidden, config.heads, config.context, config.vocab_size, config.seed)


def build_llama(layers: int, hidden: int, heads: int, context: int, vocab: int, seed: int = 0) -> Any:
    """A Llama with random weights (transformers' own initialisation, seeded)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate_size(hidden), num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=context,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0, rope_theta=10_000.0,
    )
    return LlamaForCausalLM(llama)


# ---------------------------------------------------------------- the loop


@dataclass
class LoopSettings:
    steps: int
    batch_size: int
    context: int
    learning_rate: float
    warmup_steps: int
    eval_every: int = 0  # 0: only at the end
    eval_windows: int = 128  # validation windows of `context` tokens, the same ones at every evaluation
    seed: int = 0


def learning_rate(step: int, s: LoopSettings) -> float:
    """Linear warm-up to the peak, then a cosine down to a tenth of it at the last step."""
    if step < s.warmup_steps:
        return s.learning_rate * (step + 1) / s.warmup_steps
    progress = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    return s.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def windows(tokens: Any, starts: Any, context: int) -> tuple[Any, Any]:
    """Inputs and next-token targets for windows of the token stream beginning at ``starts``."""
    import numpy as np
    import torch

    idx = np.asarray(starts)[:, None] + np.arange(context + 1)
    block = torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))
    return block[:, :-1], block[:, 1:]


def evaluate(model: Any, tokens: Any, s: LoopSettings) -> float:
    """Mean loss on fixed windows, spread evenly over the held-out stream (the same windows at every evaluation)."""
    import numpy as np
    import torch

    count = s.eval_windows
    starts = np.linspace(0, len(tokens) - s.context - 2, count).astype(np.int64)
    model.eval()
    losses = []
    with torch.no_grad():
        for i in range(0, count, s.batch_size):
            x, y = windows(tokens, starts[i:i + s.batch_size], s.context)
            losses.append(loss_of(model, x, y).item())
    model.train()
    return float(sum(losses) / len(losses))


def loss_of(model: Any, x: Any, y: Any) -> Any:
    import torch.nn.functional as F

    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))


def train_steps(model: Any, train: Any, val: Any, s: LoopSettings, optimizer: Any = None, start: int = 0,
                on_step: Callable[[int, float, float], None] | None = None,
                on_eval: Callable[[int, float], None] | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> tuple[int, Any]:
    """Train from step ``start`` to ``s.steps`` (or until ``should_stop``); returns the steps done and the
    optimizer. ``on_step(step, loss, lr)`` after each step; ``on_eval(step, val_loss)`` every ``eval_every`` steps
    and at the end. A NaN or infinite loss stops the run with a ValueError (lower the learning rate)."""
    import torch

    if len(train) <= s.context + 1 or len(val) <= s.context + 1:
        raise ValueError(f"The corpus has too few tokens for a context of {s.context}.")
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=s.learning_rate, betas=(0.9, 0.95),
                                               weight_decay=0.1)
    model.train()
    step = start
    while step < s.steps and not should_stop():
        rng = torch.Generator().manual_seed(s.seed * 1_000_003 + step)  # the data order survives a resume
        starts = torch.randint(0, len(train) - s.context - 1, (s.batch_size,), generator=rng).numpy()
        x, y = windows(train, starts, s.context)
        lr = learning_rate(step, s)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = loss_of(model, x, y)
        if not torch.isfinite(loss):
            raise ValueError(f"The loss became {loss.item()} at step {step + 1}: lower the learning rate.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if on_step:
            on_step(step, loss.item(), lr)
        if on_eval and ((s.eval_every and step % s.eval_every == 0) or step == s.steps):
            on_eval(step, evaluate(model, val, s))
    return step, optimizer


def sample_text(model: Any, tokenizer: Any, prompt: str, new_tokens: int = 40, seed: int = 0) -> str:
    """A sample at temperature 0.8 (top-k 40) from ``prompt``, without touching the training RNG."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    model.eval()
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(ids, max_new_tokens=new_tokens, do_sample=True, temperature=0.8, top_k=40,
                             pad_token_id=tokenizer.eos_token_id)
    model.train()
    return tokenizer.decode(out[0], skip_special_tokens=True)


# ---------------------------------------------------------------- the job


def run_config(config: ScratchConfig) -> dict[str, Any]:
    """What ``core.jobs.start_run`` records for a from-scratch run: the model picker reads ``task`` and
    ``method`` to list its model as a pre-trained, full-weight model."""
    return {**asdict(config), "task": "pretrain", "method": "full", "max_steps": config.max_steps,
            "params": config.params}


def start_pretrain(config: ScratchConfig, actor: "Actor | None" = None) -> Any:
    from core import jobs

    return jobs.start_run(JOB, run_config(config), name=f"scratch-{config.params // 1000}k", actor=actor)


def pretrain_job(ctx: "RunContext") -> dict[str, Any]:
    import torch

    config = ScratchConfig.from_dict(ctx.config)
    manifest = corpus.build_corpus(on_progress=lambda stage, share: ctx.progress(event="corpus", stage=stage,
                                                                                 share=share))
    tokenizer = corpus.load_tokenizer()
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"The corpus tokenizer has {len(tokenizer):,} tokens but the model's vocabulary is "
                         f"{config.vocab_size:,}.")
    train, val = corpus.load_tokens("train"), corpus.load_tokens("val")
    model = build_model(config)
    s = LoopSettings(config.max_steps, config.batch_size, config.context, config.learning_rate,
                     int(config.warmup_share * config.max_steps), config.eval_every, seed=config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.learning_rate, betas=(0.9, 0.95), weight_decay=0.1)
    start = _restore(ctx, model, optimizer)
    tokens_per_step = config.batch_size * config.context
    ctx.progress(event="start", params=config.params, corpus_tokens=manifest["train_tokens"], step=start)
    clock = {"t": time.time(), "since": start}

    def on_step(step: int, loss: float, lr: float) -> None:
        speed = (step - clock["since"]) * tokens_per_step / max(time.time() - clock["t"], 1e-9)
        ctx.progress(step=step, max_steps=s.steps, tokens=step * tokens_per_step, loss=loss, lr=lr,
                     tokens_per_s=speed, eta_s=(s.steps - step) * tokens_per_step / max(speed, 1e-9))
        if step % config.sample_every == 0 or step == s.steps:
            ctx.progress(step=step, tokens=step * tokens_per_step, sample=sample_text(
                model, tokenizer, config.prompt, seed=config.seed))

    def on_eval(step: int, val_loss: float) -> None:
        ctx.progress(step=step, tokens=step * tokens_per_step, val_loss=val_loss)
        _checkpoint(ctx, model, optimizer, step)

    if start == 0:  # the untrained model's loss: about ln(vocab), a uniform guess
        on_eval(0, evaluate(model, val, s))
    done, _ = train_steps(model, train, val, s, optimizer, start, on_step, on_eval, ctx.should_stop)
    if done < s.steps:
        _checkpoint(ctx, model, optimizer, done)
        return {"steps": done, "stopped": True}

    def save(folder: Path) -> None:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))

    save_final(ctx.dir, save)
    return {"steps": done, "params": config.params, "tokens": done * tokens_per_step}


def _checkpoint(ctx: "RunContext", model: Any, optimizer: Any, step: int) -> None:
    import shutil

    import torch

    folder = ctx.checkpoints / f"checkpoint-{step}"
    with saving(ctx.dir):
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step},
                   folder / "state.pt")
        mark_complete(folder)
        for old in ctx.checkpoints.glob("checkpoint-*"):  # keep the newest only: tiny models, frequent saves
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)


def _restore(ctx: "RunContext", model: Any, optimizer: Any) -> int:
    import torch

    if not ctx.resume:
        return 0
    folder, _ = resume_point(ctx.checkpoints)
    if folder is None:
        return 0
    state = torch.load(folder / "state.pt", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    ctx.progress(event="resume", checkpoint=folder.name)
    return int(state["step"])
