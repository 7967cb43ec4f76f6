"""Checkpoints that count only once they are complete, so a kill at any moment leaves a run that resumes.

HF Trainer writes ``checkpoint-N/`` in place: weights, then optimizer, scheduler and RNG state, then
``trainer_state.json`` last, then it rotates old checkpoints. A SIGKILL in the middle leaves a folder that
``get_last_checkpoint`` would still pick, and every resume after it would fail. Here a checkpoint is complete when
its marker (written by ``CheckpointCallback.on_save``, after the Trainer finished it) is there, or, for checkpoints
written before markers existed, when its ``trainer_state.json`` parses and names step N. ``resume_point`` takes
the newest complete one and removes the incomplete ones after it, saying which.

While a save is in progress the run's folder holds a ``saving`` flag; ``core.jobs.cancel_run`` waits for it to go
before it ever sends SIGKILL. Every job that checkpoints (fine-tuning, reward models, the alignment runs) uses this.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from core.jobs import RunContext

MARKER = ".complete"
SAVING_FLAG = "saving"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def is_complete(folder: Path) -> bool:
    if (folder / MARKER).is_file():
        return True
    match = _CHECKPOINT.match(folder.name)
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(match) and state.get("global_step") == int(match.group(1))


def mark_complete(folder: Path) -> None:
    (folder / MARKER).write_text("complete\n")


def resume_point(checkpoints: Path) -> tuple[Path | None, list[str]]:
    """The newest complete checkpoint (None if there is none) and the names of the incomplete ones newer than it,
    which are removed so that a later save of the same step starts from an empty folder."""
    found = sorted((int(m.group(1)), p) for p in checkpoints.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()) \
        if checkpoints.is_dir() else []
    skipped = []
    for _, folder in reversed(found):
        if is_complete(folder):
            return folder, skipped
        skipped.append(folder.name)
        shutil.rmtree(folder, ignore_errors=True)
    return None, skipped


def resume_checkpoint(ctx: "RunContext") -> str | None:
    """What ``trainer.train(resume_from_checkpoint=...)`` should get for this run, reported in its progress."""
    if not ctx.resume:
        return None
    folder, skipped = resume_point(ctx.checkpoints)
    if skipped or folder:
        ctx.progress(event="resume", checkpoint=folder.name if folder else None, skipped=skipped)
        print(f"resuming from {folder.name if folder else 'the start'}"
              + (f"; skipped incomplete {', '.join(skipped)}" if skipped else ""), flush=True)
    return str(folder) if folder else None


@contextmanager
def saving(run_dir: Path) -> Iterator[None]:
    """Mark a save in progress, so that cancel waits for it instead of killing the process in the middle."""
    flag = run_dir / SAVING_FLAG
    flag.write_text(str(os.getpid()))
    try:
        yield
    finally:
        flag.unlink(missing_ok=True)


def save_final(run_dir: Path, save: Any, main: bool = True, name: str = "model") -> Path:
    """Write a run's final artefact into a temporary folder and rename it into place: ``<run>/model`` is complete
    or absent, never half there. ``save(folder)`` does the writing; under DDP or FSDP every process calls this
    (they all take part in gathering the weights) and only the main one (``main``) renames."""
    final, tmp = run_dir / name, run_dir / f".{name}.tmp"
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    with saving(run_dir) if main else nullcontext():
        save(tmp)
        if main:
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
    return final


def before_save(run_dir: Path, state: Any, control: Any) -> None:
    """For a TrainerCallback's on_step_end, after it made its own choices: raise the saving flag if a save follows."""
    if control.should_save and state.is_world_process_zero:
        (run_dir / SAVING_FLAG).write_text(str(os.getpid()))


def after_save(run_dir: Path, args: Any, state: Any) -> None:
    """For a TrainerCallback's on_save (called once the Trainer has written the checkpoint): mark it, lower the flag."""
    if state.is_world_process_zero:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            mark_complete(folder)
        (run_dir / SAVING_FLAG).unlink(missing_ok=True)
