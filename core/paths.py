"""Where the lab keeps its files on disk.

Everything the app writes lives under one folder, ``LAB_HOME`` (default ``.lab/`` in the working directory):
the converted-model cache, runs, the database and indexes. This module only computes paths; it creates
folders on request and never deletes anything.
"""

from __future__ import annotations

import os
from pathlib import Path


def lab_home() -> Path:
    """The root folder for everything the lab writes (``$LAB_HOME``, default ``./.lab``)."""
    return Path(os.environ.get("LAB_HOME", ".lab")).expanduser().resolve()


def models_dir() -> Path:
    """Converted model weights (safetensors). ``$LAB_MODEL_CACHE`` overrides it, so tests can share one cache."""
    override = os.environ.get("LAB_MODEL_CACHE")
    return Path(override).expanduser().resolve() if override else lab_home() / "models"


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
