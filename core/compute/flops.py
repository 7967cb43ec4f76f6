"""Compute: FLOPs to train and to generate, the Chinchilla compute-optimal size, its loss fit, and training time.

Holds: ``training_flops`` (6 N D), ``inference_flops`` (2 N per token), ``chinchilla_optimal`` and
``chinchilla_for_params`` (20 tokens per parameter), ``chinchilla_loss`` (Hoffmann et al. 2022's fitted law) and
``training_time``.

Does not hold: memory (``core.compute.memory``) or the scaling-law sweep that trains small models
(``core.pretraining``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOKENS_PER_PARAM = 20  # Chinchilla's compute-optimal ratio (Hoffmann et al. 2022)
# Hoffmann et al. 2022, eq. 10 (approach 3): L(N, D) = E + A / N^alpha + B / D^beta.
CHINCHILLA_FIT = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _positive(name: str, value: float) -> float:
    """A positive, finite number from a user; ValueError names it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def training_flops(params: float, tokens: float) -> float:
    """C = 6 N D: a forward pass costs 2 FLOPs per parameter per token (a multiply and an add), the backward pass twice
    that."""
    return 6 * _positive("params", params) * _positive("tokens", tokens)


def inference_flops(params: float, tokens: float = 1) -> float:
    """2 N FLOPs per generated token (the forward pass only; attention over the context is left out)."""
    return 2 * _positive("params", params) * _positive("tokens", tokens)


@dataclass(frozen=True)
class ChinchillaPoint:
    """A compute-optimal model: its size, the tokens to train it on, the compute that takes and the predicted loss."""

    params: float
    tokens: float
    flops: float
    loss: float

    def to_json(self) -> dict[str, float]:
        return {"params": self.params, "tokens": self.tokens, "flops": self.flops, "loss": self.loss,
                "tokens_per_param": self.tokens / self.params}


def chinchilla_optimal(compute: float) -> ChinchillaPoint:
    """The model and data sizes a compute budget should buy: with C = 6 N D and D = 20 N, N = sqrt(C / 120)."""
    compute = _positive("compute", compute)
    n = math.sqrt(compute / (6 * TOKENS_PER_PARAM))
    d = TOKENS_PER_PARAM * n
    return ChinchillaPoint(params=n, tokens=d, flops=compute, loss=chinchilla_loss(n, d))


def chinchilla_for_params(params: float) -> ChinchillaPoint:
    """The reverse: a model of N parameters wants D = 20 N tokens, which costs C = 6 N D."""
    n = _positive("params", params)
    d = TOKENS_PER_PARAM * n
    return ChinchillaPoint(params=n, tokens=d, flops=training_flops(n, d), loss=chinchilla_loss(n, d))


def chinchilla_loss(params: float, tokens: float) -> float:
    """Predicted pre-training loss (nats per token on MassiveText) of N parameters trained on D tokens."""
    n, d, fit = _positive("params", params), _positive("tokens", tokens), CHINCHILLA_FIT
    return fit["E"] + fit["A"] / n ** fit["alpha"] + fit["B"] / d ** fit["beta"]


def training_time(flops: float, gpus: int, peak_flops_per_gpu: float, utilisation: float = 0.4) -> float:
    """Seconds of wall-clock time: flops / (gpus x peak FLOP/s x utilisation). Model FLOPs utilisation of 30-50 % is
    typical for large training runs; ``utilisation`` must lie in (0, 1]."""
    flops, peak, util = _positive("flops", flops), _positive("peak_flops_per_gpu", peak_flops_per_gpu), \
        _positive("utilisation", utilisation)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ValueError(f"gpus must be a whole number of at least 1, got {gpus!r}.")
    if util > 1:
        raise ValueError(f"utilisation is a share of the peak, at most 1, got {utilisation!r}.")
    return flops / (gpus * peak * util)
