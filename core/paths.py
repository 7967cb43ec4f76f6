"""Where the lab keeps its files on disk.

Everything the app writes lives under one folder, ``LAB_HOME`` (default ``.lab/`` in the working directory):
the converted-model cache, runs, the database and indexes. This module only computes paths; it creates
folders on request and never deletes anything. Names that come from users or URLs (run ids) are checked here, so no
path built from one can point outside its folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# A run id is one plain folder name: letters, digits, dot, dash, underscore; no separators, no leading dot.
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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


def runs_dir() -> Path:
    return lab_home() / "runs"


def run_dir(run_id: str) -> Path:
    """The folder of a run, or ValueError when the id is not a plain name or leads outside the runs folder
    (``../x``, an absolute path, a symlink to elsewhere)."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or ".." in run_id:
        raise ValueError(f"{run_id!r} is not a run id (letters, digits, '.', '-' and '_' only).")
    root = runs_dir().resolve()
    folder = root / run_id
    if folder.resolve().parent != root:
        raise ValueError(f"Run {run_id!r} points outside {root}; it is not used.")
    return folder


def safe_name(text: str, limit: int = 64) -> str:
    """A plain file or folder name made from any text: unsafe characters become '-', at most ``limit`` long."""
    name = re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.") or "unnamed"
    return name[:limit].rstrip("-.") or "unnamed"
