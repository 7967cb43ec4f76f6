"""Memory calculators: what running or training a model holds in memory, part by part, and per device when sharded.

Holds: ``Breakdown`` (named parts in bytes), ``inference_memory``, ``training_memory``, ``shard`` (DDP, ZeRO 1-3,
FSDP),
``fits``, and the course's own rule of thumb (``COURSE_BYTES_PER_PARAM``, ``course_training_memory``).

Does not hold: the model's shape and parameter count (``core.compute.shapes``), bytes per number format
(``core.compute.formats``) or measuring real memory (``core.compute.measure``; tests and benchmarks/compute.py check
these numbers against it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from core.compute.formats import bytes_per_param
from core.compute.shapes import ModelShape

INFERENCE_PRECISIONS = ("fp32", "fp16", "bf16", "fp8-e4m3", "int8", "int4")
TRAINING_PRECISIONS = ("fp32", "bf16-mixed", "bf16")
OPTIMIZERS = ("adamw", "adam8bit", "sgd")
METHODS = ("full", "lora", "prompt")
STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp")
# Which parts each strategy splits across devices (ZeRO, Rajbhandari et al. 2020). The fp32 master weights belong to
# the optimizer state there, so stage 1 already shards them. Activations, logits and the KV cache are never sharded.
SHARDED_PARTS = {
    "ddp": (),
    "zero1": ("optimizer_bytes", "master_weights_bytes"),
    "zero2": ("optimizer_bytes", "master_weights_bytes", "gradients_bytes"),
    "zero3": ("optimizer_bytes", "master_weights_bytes", "gradients_bytes", "weights_bytes"),
}
SHARDED_PARTS["fsdp"] = SHARDED_PARTS["zero3"]  # FSDP full-shard is ZeRO-3
# The course's rule of thumb for training in fp32 with Adam, in bytes per parameter: 4 + 20 = 24 B.
COURSE_BYTES_PER_PARAM = {"weights_bytes": 4, "gradients_bytes": 4, "optimizer_bytes": 8,
                          "activations_and_temporaries_bytes": 8}


@dataclass(frozen=True)
class Breakdown:
    """Memory by part, in bytes, in a fixed order (zero parts are kept so tables line up)."""

    parts: dict[str, int]
    params: int
    trainable_params: int
    notes: tuple[str, ...] = ()
    devices: int = 1
    strategy: str = ""

    @property
    def total_bytes(self) -> int:
        return sum(self.parts.values())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.parts, "total_bytes": self.total_bytes, "params": self.params,
                               "trainable_params": self.trainable_params}
        if self.strategy:
            out |= {"devices": self.devices, "strategy": self.strategy}
        return out | {"notes": list(self.notes)}


def _count(name: str, value: Any) -> int:
    """A positive whole number from a user (batch, length, rank, GPUs); ValueError names it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 1 \
            or value != int(value):
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}.")
    return int(value)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {', '.join(allowed)}.")
    return value


def kv_cache_bytes(shape: ModelShape, batch: int, seq_len: int, kv_bytes: float) -> int:
    """2 (keys and values) x batch x kv_heads x head_dim x bytes x the tokens each layer keeps. A full-attention layer
    keeps all ``seq_len`` tokens; a sliding-window layer keeps min(seq_len, window - 1): measured on transformers 5.24,
    whose DynamicSlidingWindowLayer keeps the last window - 1 keys (the next query adds itself to make the window)."""
    shape.require_architecture("The KV cache")
    kept = sum(min(seq_len, shape.sliding_window - 1) if sliding else seq_len for sliding in shape.sliding_layers)
    return math.ceil(2 * batch * shape.kv_heads * shape.head_dim * kept * kv_bytes)


def inference_activations_bytes(shape: ModelShape, batch: int, seq_len: int, act_bytes: float,
                                logits: str = "all", attention_scores: bool = False) -> int:
    """The peak of one forward pass over batch x seq_len tokens without autograd (a prefill), beyond weights and cache:
    the residual stream and its normed copy (2 x b x s x hidden) plus the widest temporaries of one layer, either the
    gated MLP (gate, up and their product: 3 x b x s x intermediate) or attention's q, k, v and output, whichever is
    larger; plus the logits (b x s x vocab with ``logits="all"``, as ``model(input_ids)`` returns them; b x vocab with
    ``"last"``, as ``generate`` asks for). ``attention_scores=True`` adds one layer's b x heads x s x s scores, which
    eager attention materialises; SDPA (the default) works in blocks and does not."""
    shape.require_architecture("Activations")
    tokens = batch * seq_len
    mlp = 3 * tokens * shape.intermediate
    attention = tokens * (2 * shape.heads + 2 * shape.kv_heads) * shape.head_dim
    scores = batch * shape.heads * seq_len * seq_len if attention_scores else 0
    logit_rows = tokens if logits == "all" else batch
    return math.ceil(act_bytes * (2 * tokens * shape.hidden + max(mlp, attention) + scores + logit_rows * shape.vocab))


def inference_memory(shape: ModelShape, precision: str = "fp32", batch: int | None = 1, seq_len: int | None = 2048,
                     kv_precision: str | None = None, logits: str = "all", attention_scores: bool = False) -> Breakdown:
    """Weights in ``precision``, the KV cache after ``seq_len`` tokens and the forward pass's peak activations
    (``inference_activations_bytes``). Activations and the cache are 4 B in fp32 and 2 B otherwise (int8/int4 and fp8
    weights are computed with in 16 bits); ``kv_precision`` overrides the cache's format. ``batch=None, seq_len=None``
    counts the weights only (all a shape from ``shape_for_params`` can give)."""
    _choice("precision", precision, INFERENCE_PRECISIONS)
    _choice("logits", logits, ("all", "last"))
    parts = {"weights_bytes": math.ceil(shape.params * bytes_per_param(precision)), "kv_cache_bytes": 0,
             "activations_bytes": 0}
    notes = []
    if batch is None and seq_len is None:
        notes.append("weights only: the KV cache and activations need a batch and a sequence length")
    else:
        batch, seq_len = _count("batch", batch), _count("seq_len", seq_len)
        act_bytes = 4 if precision == "fp32" else 2
        kv_bytes = bytes_per_param(kv_precision) if kv_precision else act_bytes
        parts["kv_cache_bytes"] = kv_cache_bytes(shape, batch, seq_len, kv_bytes)
        parts["activations_bytes"] = inference_activations_bytes(shape, batch, seq_len, act_bytes, logits,
                                                                 attention_scores)
    return Breakdown(parts=parts, params=shape.params, trainable_params=0, notes=tuple(notes))


def trainable_params(shape: ModelShape, method: str, lora_r: int = 8,
                     lora_targets: tuple[str, ...] = ("q_proj", "v_proj"), virtual_tokens: int = 20) -> int:
    """Parameters a method trains: all (full); r x (in + out) per targeted linear per layer (LoRA's A and B);
    virtual_tokens x hidden (prompt tuning's soft prompt)."""
    _choice("method", method, METHODS)
    if method == "full":
        return shape.params
    if method == "lora":
        rank = _count("lora_r", lora_r)
        targets = (lora_targets,) if isinstance(lora_targets, str) else tuple(lora_targets)
        if not targets:
            raise ValueError("LoRA needs at least one target layer (e.g. q_proj, v_proj).")
        shape.require_architecture("LoRA's matrices")
        return shape.layers * sum(rank * sum(shape.linear(t)) for t in targets)
    shape.require_architecture("Prompt tuning's soft prompt")
    return _count("virtual_tokens", virtual_tokens) * shape.hidden


def training_activations_bytes(shape: ModelShape, batch: int, seq_len: int, act_bytes: float, recompute: bool) -> int:
    """Korthikanti et al. 2022 ("Reducing activation recomputation in large transformer models"), per layer and in
    16-bit: s x b x h x (34 + 5 x a x s / h) bytes kept for the backward pass (a GPT block with dropout, attention
    scores stored); with full recomputation only each layer's input, 2 x s x b x h. Scaled by act_bytes / 2 for fp32.
    (The logits are counted apart, by ``logits_bytes``.)"""
    shape.require_architecture("Activations")
    s, b, h, a = seq_len, batch, shape.hidden, shape.heads
    per_layer = 2 * s * b * h if recompute else s * b * h * (34 + 5 * a * s / h)
    return math.ceil(shape.layers * per_layer * act_bytes / 2)


def logits_bytes(shape: ModelShape, batch: int, seq_len: int) -> int:
    """b x s x vocab, twice (the logits and the log-softmax the loss keeps), in fp32 (the loss upcasts)."""
    shape.require_architecture("The logits")
    return 2 * 4 * batch * seq_len * shape.vocab


def training_memory(shape: ModelShape, precision: str = "fp32", optimizer: str = "adamw", method: str = "full",
                    lora_r: int = 8, lora_targets: tuple[str, ...] = ("q_proj", "v_proj"), virtual_tokens: int = 20,
                    batch: int | None = None, seq_len: int | None = None, recompute: bool = False) -> Breakdown:
    """Memory to train, part by part.

    - weights: every parameter (frozen ones too) in the working precision: 4 B in fp32, 2 B in bf16 and bf16-mixed;
    - gradients: trainable parameters only, in the working precision;
    - optimizer states per trainable parameter: AdamW two moments (8 B in fp32; in pure bf16 they take the parameters'
      dtype, 4 B), 8-bit Adam 2 B, SGD momentum 4 B (2 B in pure bf16);
    - master weights: bf16-mixed keeps an fp32 copy of the trainable weights (4 B), as in ZeRO's 2 + 2 + 12 = 16 B;
    - activations (Korthikanti et al., ``training_activations_bytes``) and logits, when batch and seq_len are given.
    fp32 + AdamW is 4 + 4 + 8 = 16 B/param before activations; the course's 24 B adds 8 B/param for activations and
    temporaries (``course_training_memory``). LoRA and prompt tuning use the same activation formula (the backward
    pass still runs through every layer, though frozen linears need not keep their inputs), so it leans high.
    Measured by benchmarks/compute.py on SmolLM2 (batch 4 x 256, fp32): estimate / measured 1.13 full and 1.09 LoRA
    with eager attention, 1.27 and 1.28 with SDPA, which keeps no attention scores (the 5 a s / h term)."""
    _choice("precision", precision, TRAINING_PRECISIONS)
    _choice("optimizer", optimizer, OPTIMIZERS)
    trainable = trainable_params(shape, method, lora_r, lora_targets, virtual_tokens)
    total = shape.params + (trainable if method != "full" else 0)
    work = 4 if precision == "fp32" else 2
    state = 2 if precision == "bf16" else 4  # pure bf16 keeps the states in the parameters' dtype
    state_bytes = {"adamw": 2 * state, "adam8bit": 2, "sgd": state}
    parts = {
        "weights_bytes": total * work,
        "gradients_bytes": trainable * work,
        "optimizer_bytes": trainable * state_bytes[optimizer],
        "master_weights_bytes": trainable * 4 if precision == "bf16-mixed" else 0,
        "activations_bytes": 0,
        "logits_bytes": 0,
    }
    notes = [f"{method}: {trainable:,} of {total:,} parameters trainable"]
    if batch is None and seq_len is None:
        notes.append("no activations counted: give a batch and a sequence length (and a model's shape); the "
                     "course's rule of thumb allows 8 B/param for activations and temporaries (24 B/param in all)")
    else:
        batch, seq_len = _count("batch", batch), _count("seq_len", seq_len)
        parts["activations_bytes"] = training_activations_bytes(shape, batch, seq_len, work, recompute)
        parts["logits_bytes"] = logits_bytes(shape, batch, seq_len)
    return Breakdown(parts=parts, params=total, trainable_params=trainable, notes=tuple(notes))


def course_training_memory(params: float = 1e9) -> Breakdown:
    """The course's figure for training in fp32 with Adam: 4 B/param of weights + 20 B/param of extras (gradients 4,
    Adam 8, activations and temporaries 8) = 24 B/param, about 24 GB for 1 B parameters. The first three parts are
    ``training_memory``'s own; the last is the course's allowance where we would need a batch and a length."""
    from core.compute.shapes import shape_for_params

    shape = shape_for_params(params)
    ours = training_memory(shape, "fp32", "adamw")
    extra = "activations_and_temporaries_bytes"
    parts = {k: v for k, v in ours.parts.items() if v} | {extra: shape.params * COURSE_BYTES_PER_PARAM[extra]}
    return Breakdown(parts=parts, params=shape.params, trainable_params=shape.params,
                     notes=("the course's rule of thumb: 4 + 20 bytes per parameter",))


def shard(breakdown: Breakdown, gpus: int, strategy: str) -> Breakdown:
    """The per-device memory when ``gpus`` devices train together: DDP keeps a full replica everywhere; ZeRO-1 splits
    the optimizer states (and fp32 master weights), ZeRO-2 also the gradients, ZeRO-3 / FSDP also the weights.
    Activations, logits and the KV cache belong to each device's own batch and are never split."""
    gpus = _count("gpus", gpus)
    _choice("strategy", strategy, STRATEGIES)
    split = SHARDED_PARTS[strategy]
    parts = {k: math.ceil(v / gpus) if k in split else v for k, v in breakdown.parts.items()}
    return replace(breakdown, parts=parts, devices=gpus, strategy=strategy,
                   notes=breakdown.notes + (f"per device of {gpus} with {strategy}",))


def fits(per_device_bytes: float, gib: float) -> bool:
    """Whether ``per_device_bytes`` fit in a device of ``gib`` GiB (2^30 bytes)."""
    for name, value in (("per_device_bytes", per_device_bytes), ("gib", gib)):
        if not isinstance(value, (int, float)) or value != value or value < 0 or (name == "gib" and value == 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return per_device_bytes <= gib * 2**30


__all__ = ["Breakdown", "COURSE_BYTES_PER_PARAM", "course_training_memory", "fits", "inference_memory", "shard",
           "trainable_params", "training_memory"]
