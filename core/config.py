"""What every settings dataclass shares: reading it from a YAML/JSON dict and writing it back.

A config is a frozen dataclass beside the code it configures (``FinetuneConfig``, ``EvalConfig``, ``RewardConfig``);
its fields carry ``metadata={"help": ...}`` for the widgets, and ``__post_init__`` rejects bad values. Mixing in
``DictConfig`` gives it ``from_dict`` (unknown keys are an error that names them; lists become tuples where the field
is a tuple) and ``to_dict`` (tuples become lists, so YAML stays plain).

``check_range`` is the one check for a numeric setting: it refuses NaN, infinities, booleans and non-numbers, and
values outside the range, with a ValueError that names the setting and the value (so the CLI exits 2 and a page
shows one line).

Does not hold: any one config's fields or checks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from numbers import Integral, Real
from typing import Any, TypeVar

C = TypeVar("C", bound="DictConfig")
IGNORED_KEYS = {"target"}  # a run's config.yaml also names the job that reads it


class DictConfig:
    """Mixin for settings dataclasses; ``KIND`` names them in errors ("Unknown evaluation settings: colour")."""

    KIND = "config"

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known - IGNORED_KEYS)
        if unknown:
            raise ValueError(f"Unknown {cls.KIND} settings: {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]


def check_range(name: str, value: Any, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
                high_open: bool = False, integer: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number in the range (closed unless ``low_open``/``high_open``)."""
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name} must be {'a whole number' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        shown = lambda bound: "∞" if math.isinf(bound) else f"{bound:g}"  # noqa: E731
        raise ValueError(f"{name} must be in {left}{shown(low)}, {shown(high)}{right}, got {value!r}")
