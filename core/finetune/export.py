"""Merge and export a finished fine-tuning run as a zip of safetensors that ``from_pretrained`` loads.

- ``export_merged``: a LoRA run folded into its base (``merge_and_unload`` on a fresh float32 copy of the base, never
  a shared one), saved with ``save_pretrained`` (safetensors, config, generation config) and the tokenizer; a full
  fine-tuning run is already a whole model, so its ``model/`` folder is zipped as it is. Unzipped, the folder loads
  with ``AutoModelForCausalLM.from_pretrained``.
- ``export_adapter``: a LoRA or prompt-tuning run's adapter alone (``adapter_model.safetensors`` and
  ``adapter_config.json``), for ``PeftModel.from_pretrained(base, folder)``.

Each zip holds one folder named after the run and export, and is kept in ``<run>/exports/`` (written under a
temporary name and renamed, so a zip there is always whole; a second request reuses it). Making the merged zip takes
a minute or more for SmolLM2 (load the base, merge, save 540 MB), so the page runs it as a background job,
``merge_job``, with a progress report per stage.

Does not hold: loading runs as models (``core.models.runs``) or the buttons (``core.ui.finetune``).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.classroom.accounts import Actor
    from core.jobs import Run, RunContext

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
MERGEABLE = ("lora", "full")  # full: already a whole model
MERGE_JOB = "core.finetune.export:merge_job"
MERGE_STAGES = ("loading the base and merging the adapter", "saving the merged model", "zipping")


def check_finished(run: "Run") -> str:
    """The run's method, or ValueError when it is not a finished fine-tuning run with a model."""
    if run.state != "done":
        raise ValueError(f"Run {run.id} is {run.state}: only a finished run can be exported.")
    method = run.config.get("method")
    if method not in ("full", "lora", "prompt_tuning") or not (run.dir / "model").is_dir():
        raise ValueError(f"Run {run.id} is not a fine-tuning run with a saved model; nothing to export.")
    return method


def merged_zip(run: "Run") -> Path:
    """Where the run's merged zip is (or will be) kept."""
    return run.dir / "exports" / f"{run.id}-merged.zip"


def export_merged(run: "Run", on_stage: Callable[[int, str], None] | None = None) -> Path:
    """A zip of the run as one plain model (see the module docstring). ``on_stage(i, name)`` hears each of
    ``MERGE_STAGES`` as it starts."""
    method = check_finished(run)
    if method not in MERGEABLE:
        raise ValueError(f"Run {run.id} used {method}: its virtual tokens cannot be merged into the weights. "
                         "Download the adapter and load it with PeftModel.from_pretrained.")
    stage = on_stage or (lambda i, name: None)
    target = _exports(run) / merged_zip(run).name
    if target.is_file():
        return target
    if method == "full":
        stage(2, MERGE_STAGES[2])
        return _zip_folder(run.dir / "model", target, f"{run.id}-merged", None)
    with tempfile.TemporaryDirectory(dir=_exports(run)) as tmp:
        folder = Path(tmp) / "merged"
        stage(0, MERGE_STAGES[0])
        merged, tokenizer = merge_run(run)
        stage(1, MERGE_STAGES[1])
        merged.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        stage(2, MERGE_STAGES[2])
        return _zip_folder(folder, target, f"{run.id}-merged", None)


def merge_job(ctx: "RunContext") -> dict[str, Any]:
    """Background job: the merged zip of the finished run ``ctx.config["run"]``, one progress line per stage."""
    from core import jobs

    run = jobs.get_run(ctx.config["run"])
    path = export_merged(run, on_stage=lambda i, name: ctx.progress(step=i, stage=name))
    ctx.progress(step=len(MERGE_STAGES), stage="done")
    return {"zip": str(path), "size_bytes": path.stat().st_size}


def start_merge(run: "Run", actor: "Actor | None" = None) -> "Run":
    """The merge job of ``run``: the one already going (another tab, another person), else a new one."""
    from core import jobs

    check_finished(run)
    for active in jobs.active_runs(MERGE_JOB):
        if active.config.get("run") == run.id:
            return active
    return jobs.start_run(MERGE_JOB, {"run": run.id, "max_steps": len(MERGE_STAGES)}, name=f"merge-{run.id[-20:]}", actor=actor)


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


def export_model(run: "Run") -> Path:
    """A zip of the run's whole model folder as it is (a full, pruned, distilled or quantised model), kept for later."""
    if not (run.dir / "model" / "config.json").is_file():
        raise ValueError(f"Run {run.id} has no saved model to download (it did not finish, or saved an adapter).")
    target = _exports(run) / f"{run.id}-model.zip"
    if target.is_file():
        return target
    return _zip_folder(run.dir / "model", target, f"{run.id}-model", None)


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

