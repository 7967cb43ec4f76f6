"""What every settings dataclass shares: reading it from a YAML/JSON dict and writing it back.

A config is a frozen dataclass beside the code it configures (``FinetuneConfig``, ``EvalConfig``, ``RewardConfig``);
its fields carry ``metadata={"help": ...}`` for the widgets, and ``__post_init__`` rejects bad values. Mixing in
``DictConfig`` gives it ``from_dict`` (unknown keys are an error that names them; lists become tuples where the field
is a tuple) and ``to_dict`` (tuples become lists, so YAML stays plain).

Does not hold: any one config's fields or checks.
"""

from __future__ import annotations

from dataclasses import asdict, fields
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
