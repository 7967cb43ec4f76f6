"""Number formats: how many bits a value takes, what range and precision that buys, and what storing a number costs.

Holds: ``NumberFormat`` (the bit layout and the range derived from it), ``FORMATS`` (fp32, fp16, bf16, fp8-e4m3, int8,
int4), ``store`` (round one value through a format and report the error) and ``bytes_per_param``.

Does not hold: quantising a whole model (``core.deploy``) or memory totals (``core.compute.memory``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class NumberFormat:
    """One way to store a number. Float ranges are derived from the bit layout (tests check them against torch.finfo).

    For the integer formats ``max_value`` is the largest quantised level used by symmetric quantisation (127 for int8,
    7 for int4: -128 / -8 is left out so that zero sits in the middle); ``min_normal`` and ``epsilon`` are None."""

    name: str
    bits: int
    sign_bits: int
    exponent_bits: int
    mantissa_bits: int
    kind: Literal["float", "int"]
    max_value: float
    min_normal: float | None
    epsilon: float | None
    torch_dtype: str | None  # the name of the torch dtype that rounds like this format (None for int4)

    @property
    def bytes_per_value(self) -> float:
        return self.bits / 8


def _float(name: str, exponent_bits: int, mantissa_bits: int, torch_dtype: str,
           finite_only: bool = False) -> NumberFormat:
    """A binary float: value = (1 + mantissa / 2^m) x 2^(exponent - bias). IEEE formats keep the all-ones exponent for
    inf and NaN; "fn" formats (fp8-e4m3fn) have no inf and use all-ones exponent and mantissa for NaN only."""
    bias = 2 ** (exponent_bits - 1) - 1
    if finite_only:  # top exponent usable, but its top mantissa pattern is NaN: largest mantissa is all ones minus one
        max_exponent, max_fraction = 2**exponent_bits - 1 - bias, (2**mantissa_bits - 2) / 2**mantissa_bits
    else:
        max_exponent, max_fraction = 2**exponent_bits - 2 - bias, (2**mantissa_bits - 1) / 2**mantissa_bits
    return NumberFormat(
        name=name, bits=1 + exponent_bits + mantissa_bits, sign_bits=1, exponent_bits=exponent_bits,
        mantissa_bits=mantissa_bits, kind="float", max_value=(1 + max_fraction) * 2.0**max_exponent,
        min_normal=2.0 ** (1 - bias), epsilon=2.0**-mantissa_bits, torch_dtype=torch_dtype,
    )


def _int(name: str, bits: int) -> NumberFormat:
    return NumberFormat(name=name, bits=bits, sign_bits=1, exponent_bits=0, mantissa_bits=bits - 1, kind="int",
                        max_value=float(2 ** (bits - 1) - 1), min_normal=None, epsilon=None,
                        torch_dtype="int8" if bits == 8 else None)


FORMATS: dict[str, NumberFormat] = {
    f.name: f
    for f in (
        _float("fp32", 8, 23, "float32"),
        _float("fp16", 5, 10, "float16"),
        _float("bf16", 8, 7, "bfloat16"),
        _float("fp8-e4m3", 4, 3, "float8_e4m3fn", finite_only=True),
        _int("int8", 8),
        _int("int4", 4),
    )
}
# Other spellings people type for the same formats.
ALIASES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "fp8": "fp8-e4m3", "e4m3": "fp8-e4m3"}


def get_format(name: str) -> NumberFormat:
    key = ALIASES.get(name, name)
    if key not in FORMATS:
        raise ValueError(f"Unknown number format {name!r}; choose one of {', '.join(FORMATS)}.")
    return FORMATS[key]


def bytes_per_param(precision: str) -> float:
    """Bytes one weight takes in a precision: fp32 4, fp16/bf16 2, fp8/int8 1, int4 0.5. (A quantised tensor also
    keeps a scale per block of weights; that small extra is not counted here.)"""
    return get_format(precision).bytes_per_value


@dataclass(frozen=True)
class Stored:
    """A value, what a format stores for it, and the rounding error."""

    value: float
    stored: float
    abs_error: float
    rel_error: float  # abs_error / |value| (0 when value is 0)
    format: str
    scale: float | None = None  # integer formats: the step between quantised levels (absmax / qmax)
    level: int | None = None  # integer formats: the integer actually kept


def _check_finite(name: str, x: float) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}.") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x}.")
    return x


def store(value: float, fmt: str, absmax: float | None = None) -> Stored:
    """Round ``value`` through ``fmt``.

    Floats go through the real torch dtype (round to nearest even); a value that overflows the format (it would become
    inf, or NaN in fp8-e4m3) raises ValueError. Integers use symmetric absmax quantisation, as int8/int4 weight
    quantisation does per tensor or block: scale = absmax / qmax, level = round(value / scale), stored = level x scale.
    ``absmax`` is the largest magnitude in the block the value belongs to; it defaults to 1.0 (weights of trained models
    mostly lie in [-1, 1]). A value outside [-absmax, absmax] raises ValueError (it would be clipped)."""
    f = get_format(fmt)
    value = _check_finite("value", value)
    if f.kind == "float":
        import torch

        if absmax is not None:
            raise ValueError(f"absmax is for integer formats; {f.name} is a float format.")
        # Past the largest value plus half a step, rounding overflows: IEEE formats give inf; torch saturates
        # fp8-e4m3fn at 448 instead, which would hide the overflow, so the limit is checked here for every format.
        half_step = 2.0 ** math.floor(math.log2(f.max_value)) * f.epsilon / 2
        if abs(value) >= f.max_value + half_step:
            raise ValueError(f"{value} overflows {f.name}: its largest finite value is {f.max_value:g}.")
        stored = torch.tensor(value, dtype=torch.float64).to(getattr(torch, f.torch_dtype)).double().item()
        scale = level = None
    else:
        absmax = 1.0 if absmax is None else _check_finite("absmax", absmax)
        if absmax <= 0:
            raise ValueError(f"absmax must be positive, got {absmax}.")
        if abs(value) > absmax:
            raise ValueError(f"{value} lies outside [-absmax, absmax] = [{-absmax}, {absmax}]; "
                             f"{f.name} would clip it.")
        scale = absmax / f.max_value
        level = int(round(value / scale))  # Python rounds halves to even, as torch.round does
        stored = level * scale
    error = abs(stored - value)
    return Stored(value=value, stored=stored, abs_error=error, rel_error=error / abs(value) if value else 0.0,
                  format=f.name, scale=scale, level=level)
