"""Pieces several command groups share: model and sampling options, argument types, reading a YAML config."""

from __future__ import annotations

import argparse
from pathlib import Path

from core import models


def add_model_and_sampling(p: argparse.ArgumentParser, default_temperature: float) -> None:
    p.add_argument("--model", default=models.DEFAULT_MODEL, help="bundled name, local folder or hub id")
    p.add_argument("--prompt", required=True)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--temperature", type=float, default=default_temperature, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="1 = off")
    p.add_argument("--min-p", type=float, default=0.0, help="0 = off")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="1 = off")
    p.add_argument("--seed", type=int, default=None)
    add_precision(p)


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=models.PRECISIONS, default="auto")


def sampling_settings(args: argparse.Namespace):
    """The SamplingSettings the options above describe (validated there)."""
    from core.sampling import SamplingSettings

    return SamplingSettings(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        do_sample=args.temperature > 0,
        seed=args.seed,
    )


def int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def read_settings(path: Path) -> dict:
    """A YAML config file's settings (a mapping), or ValueError saying why it cannot be read."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"Cannot read {path}: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold settings (a YAML mapping).")
    return raw
