"""Merge and export a finished fine-tuning run as a zip of safetensors that ``from_pretrained`` loads.

- ``export_merged``: a LoRA run folded into its base (``merge_and_unload`` on a fresh float32 copy of the base, never
  a shared one), saved with ``save_pretrained`` (safetensors, config, generation config) and the tokenizer; a full
  fine-tuning run is already a whole model, so its ``model/`` folder is zipped as it is. Unzipped, the folder loads
  with ``AutoModelForCausalLM.from_pretrained``.
- ``export_adapter``: a LoRA or prompt-tuning run's adapter alone (``adapter_model.safetensors`` and
  ``adapter_config.json``), for ``PeftModel.from_pretrained(base, folder)``.

Each zip holds one folder named after the run and export, and is kept in ``<run>/exports/`` (written under a
temporary name and renamed, so a zip there is always whole; a second request reuses it).

Does not hold: loading runs as models (``core.models.runs``) or the buttons (``core.ui.finetune``).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.jobs import Run

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
MERGEABLE = ("lora", "full")  # full: already a whole model


def check_finished(run: "Run") -> str:
    """The run's method, or ValueError when it is not a finished fine-tuning run with a model."""
    if run.state != "done":
        raise ValueError(f"Run {run.id} is {run.state}: only a finished run can be exported.")
    method = run.config.get("method")
    if method not in ("full", "lora", "prompt_tuning") or not (run.dir / "model").is_dir():
        raise ValueError(f"Run {run.id} is not a fine-tuning run with a saved model; nothing to export.")
    return method


def export_merged(run: "Run") -> Path:
    """A zip of the run as one plain model (see the module docstring)."""
    method = check_finished(run)
    if method not in MERGEABLE:
        raise ValueError(f"Run {run.id} used {method}: its virtual tokens cannot be merged into the weights. "
                         "Download the adapter and load it with PeftModel.from_pretrained.")
    target = _exports(run) / f"{run.id}-merged.zip"
    if target.is_file():
        return target
    if method == "full":
        return _zip_folder(run.dir / "model", target, f"{run.id}-merged", None)
    with tempfile.TemporaryDirectory(dir=_exports(run)) as tmp:
        folder = Path(tmp) / "merged"
        merged, tokenizer = merge_run(run)
        merged.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return _zip_folder(folder, target, f"{run.id}-merged", None)


def merge_run(run: "Run") -> tuple[Any, Any]:
    """A finished LoRA run merged into a fresh float32 copy of its base: a plain transformers model."""
    from core.finetune.methods import merge_lora
    from core.models import load_model

    if check_finished(run) != "lora":
        raise ValueError(f"Run {run.id} used {run.config.get('method')}, not LoRA: there is no adapter to merge.")
    base = load_model(run.config["base_model"], precision="float32")  # a private copy: merging changes its weights
    return merge_lora(base.model, str(run.dir / "model")).eval(), base.tokenizer


def export_adapter(run: "Run") -> Path:
    """A zip of the run's adapter alone (LoRA or prompt tuning)."""
    method = check_finished(run)
    if method == "full":
        raise ValueError(f"Run {run.id} is full fine-tuning: it has no adapter, every weight changed. "
                         "Download the model instead.")
    missing = [name for name in ADAPTER_FILES if not (run.dir / "model" / name).is_file()]
    if missing:
        raise ValueError(f"Run {run.id}'s model folder lacks {', '.join(missing)}.")
    target = _exports(run) / f"{run.id}-adapter.zip"
    if target.is_file():
        return target
    return _zip_folder(run.dir / "model", target, f"{run.id}-adapter", ADAPTER_FILES)


def _exports(run: "Run") -> Path:
    folder = run.dir / "exports"
    folder.mkdir(exist_ok=True)
    return folder


def _zip_folder(folder: Path, target: Path, top: str, only: tuple[str, ...] | None) -> Path:
    """Zip ``folder``'s files (or only those named) under a top folder ``top``; weights are stored, not deflated
    (float weights barely compress and deflating 500 MB takes long)."""
    from core.files import disk_full_guard

    files = [p for p in sorted(folder.iterdir()) if p.is_file() and (only is None or p.name in only)]
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with disk_full_guard(f"the export {target.name}"), zipfile.ZipFile(tmp, "w") as archive:
            for path in files:
                stored = path.suffix == ".safetensors"
                archive.write(path, f"{top}/{path.name}", compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def unpack(archive: Path, into: Path) -> Path:
    """Unzip an export and return its model folder (what ``from_pretrained`` takes)."""
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        tops = {name.split("/", 1)[0] for name in names}
        if len(tops) != 1 or any(name.startswith("/") or ".." in name.split("/") for name in names):
            raise ValueError(f"{archive.name} is not an export of this lab (one folder of files).")
        zipped.extractall(into)
    return into / tops.pop()

