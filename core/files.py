"""Writing files so that a crash, a kill or a full disk never leaves half of one behind.

Holds: ``write_bytes_atomic`` / ``write_json_atomic`` (a temporary file in the same folder, fsync, then one rename:
a reader sees the old file or the new one), ``DiskFullError`` and ``disk_full_guard`` (a full disk or a file-size
limit, however the library reports it, becomes one plain message saying that nothing changed),
``remove_leftovers`` (temporary files of interrupted saves, removed by the next save), and ``read_jsonl_rows`` (the
rows a job appends one line at a time, read while a line may be half-written).

Does not hold: what is written (each module knows its own files) or where (``core.paths``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from core.paths import lab_home

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_FULL_WORDS = ("no space left on device", "disk quota exceeded", "file too large", "database or disk is full")


class DiskFullError(ValueError):
    """The disk (or a quota, or a file-size limit) is full; whatever was being saved was not, and nothing changed."""


def is_disk_full(err: BaseException) -> bool:
    """Whether an exception means "no room": OSError's errno, or the words faiss, numpy and SQLite put in theirs."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in _FULL:
            return True
        if any(words in str(err).lower() for words in _FULL_WORDS):
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False


@contextmanager
def disk_full_guard(what: str) -> Iterator[None]:
    """Turn a full-disk failure inside the block into DiskFullError; anything else passes through unchanged."""
    try:
        yield
    except Exception as err:  # OSError, faiss's RuntimeError, SQLAlchemy's OperationalError...: re-raised unless disk-full
        if isinstance(err, DiskFullError) or not is_disk_full(err):
            raise
        raise DiskFullError(f"Disk full: {what} was not saved and nothing changed. Free some space where the lab "
                            f"keeps its files ({lab_home()}) and try again.") from err


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """A reader sees the old file or the new one, never half of one."""
    write_bytes_atomic(path, json.dumps(data, indent=2, default=str).encode())


def read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """The complete rows of a JSON-lines file that a job appends to (progress, results): a line being written at
    this moment, or torn by a kill, is skipped; no file is no rows."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


_BUILD_LOCK = threading.RLock()  # re-entrant: a build may ask for another artefact


def cached_json(path: Path, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A JSON artefact under LAB_HOME (a small trained classifier, say): built and written atomically the first time it
    is asked for, read back afterwards; one builder at a time within a process."""
    with _BUILD_LOCK:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, json.dumps(build()).encode())
        return json.loads(path.read_text())


def remove_leftovers(folder: Path, pattern: str = ".*.tmp") -> list[str]:
    """Remove the temporary files and folders interrupted saves left in ``folder`` (call it holding the folder's
    lock, so no save in progress owns them). Returns their names."""
    removed = []
    for leftover in folder.glob(pattern) if folder.is_dir() else []:
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        removed.append(leftover.name)
    return removed
