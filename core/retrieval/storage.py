"""Collections on disk: ``$LAB_HOME/collections/<name>/``, saved atomically, loaded with checks, locked to change.

Each save writes a complete new version folder (``index.faiss``, ``vectors.npy``, ``bm25/``: the keyword index as
numpy and JSON files, ``meta.json``: settings, documents and every chunk's text and origin; JSON, never pickle) under
a temporary name, renames it into place, and only then
points ``CURRENT`` at it (a one-file atomic replace). A crash, a kill or a full disk at any moment leaves ``CURRENT``
on a complete version: the old one or the new one; a full disk says so in one line (``DiskFullError``), and the next
save removes what an interrupted one left. On load the index's vector count must equal the metadata's rows.
Changing a collection holds its lock (``locked``), so two people adding at once both land.

Does not hold: what a collection is (``core.retrieval.index``) or how documents get in (``core.retrieval.ingest``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator

from core.classroom.accounts import Actor, check_owner
from core.files import disk_full_guard, fsync, remove_leftovers
from core.paths import ensure_dir, lab_home
from core.retrieval.chunking import Chunk
from core.retrieval.index import Collection, CollectionError, Settings
from core.retrieval.keyword import load_bm25, save_bm25

SCHEMA = 1
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def collections_dir() -> Path:
    return lab_home() / "collections"


def list_collections() -> list[str]:
    folder = collections_dir()
    return sorted(p.name for p in folder.iterdir() if (p / "CURRENT").exists()) if folder.exists() else []


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise CollectionError(f"Collection name {name!r}: use 1-40 lower-case letters, digits, - or _, starting with a letter or digit.")
    return name


def new_collection(name: str, settings: Settings) -> Collection:
    import numpy as np

    return Collection(check_name(name), settings, [], np.zeros((0, 384), dtype=np.float32), [])


def current_version(name: str) -> str:
    """The saved version a collection's CURRENT points at ("" if none): a cache key that changes with every save."""
    pointer = collections_dir() / check_name(name) / "CURRENT"
    return pointer.read_text().strip() if pointer.exists() else ""


def load_collection(name: str) -> Collection:
    import faiss
    import numpy as np

    folder = collections_dir() / check_name(name)
    pointer = folder / "CURRENT"
    if not pointer.exists():
        raise CollectionError(f"No collection {name!r}; collections: {', '.join(list_collections()) or 'none yet'}.")
    version_dir = folder / pointer.read_text().strip()
    try:
        meta = json.loads((version_dir / "meta.json").read_text())
        vectors = np.load(version_dir / "vectors.npy", allow_pickle=False)
        index = faiss.read_index(str(version_dir / "index.faiss"))
        bm25 = load_bm25(version_dir / "bm25") if (version_dir / "bm25").is_dir() else None  # None: built on first use
    except (OSError, ValueError, RuntimeError) as err:
        raise CollectionError(f"Collection {name!r} cannot be read ({err}).") from err
    if meta.get("schema") != SCHEMA:
        raise CollectionError(f"Collection {name!r} has schema {meta.get('schema')}; this version reads schema {SCHEMA}.")
    chunks = [Chunk(**c) for c in meta["chunks"]]
    if not index.ntotal == len(chunks) == len(vectors) == meta["count"]:
        raise CollectionError(f"Collection {name!r} is inconsistent: {index.ntotal} vectors in the index, {len(chunks)} "
                              f"chunks in the metadata, {len(vectors)} stored vectors. Rebuild it.")
    if bm25 is not None and bm25.scores["num_docs"] != len(chunks):
        bm25 = None  # stale: rebuilt from the chunks
    settings = {"chunking": "windows", **meta["settings"]}  # saved before sections chunking: windows
    return Collection(name, Settings(**settings), chunks, vectors, meta["documents"], meta["version"], index, bm25)


def save_collection(collection: Collection) -> Collection:
    """Write a new version folder, then switch CURRENT to it in one atomic rename; older versions are removed.
    Call it holding ``locked(collection.name)``. On a full disk: DiskFullError, and the previous version stays."""
    import faiss
    import numpy as np

    folder = ensure_dir(collections_dir() / collection.name)
    remove_leftovers(folder)  # .v*.tmp and .CURRENT.*.tmp of saves that were interrupted
    version = collection.version + 1
    final = folder / f"v{version:06d}"
    tmp = folder / f".v{version:06d}.{os.getpid()}.tmp"
    pointer_tmp = folder / f".CURRENT.{os.getpid()}.tmp"
    meta = {"schema": SCHEMA, "name": collection.name, "version": version, "kind": collection.kind, "count": len(collection.chunks),
            "dim": int(collection.vectors.shape[1]), "settings": asdict(collection.settings), "documents": collection.documents,
            "chunks": [asdict(c) for c in collection.chunks], "saved": time.time()}
    try:
        with disk_full_guard(f"collection {collection.name!r}"):
            tmp.mkdir()
            faiss.write_index(collection.index, str(tmp / "index.faiss"))
            if collection.chunks:
                save_bm25(collection.bm25, tmp / "bm25")
            with open(tmp / "vectors.npy", "wb") as out:
                np.save(out, collection.vectors, allow_pickle=False)
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
            for path in tmp.rglob("*"):
                fsync(path)
            shutil.rmtree(final, ignore_errors=True)  # a version folder left by a crash between the two renames
            os.rename(tmp, final)
            pointer_tmp.write_text(final.name)
            fsync(pointer_tmp)
            os.replace(pointer_tmp, folder / "CURRENT")  # the commit point
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        pointer_tmp.unlink(missing_ok=True)
        if current_version(collection.name) != final.name:
            shutil.rmtree(final, ignore_errors=True)  # renamed into place but never committed
        raise
    fsync(folder)
    for old in folder.iterdir():  # earlier versions
        if old.name not in (final.name, "CURRENT", ".lock") and old.name.startswith("v") and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return replace(collection, version=version)


OWNER_FILE = "OWNER"  # the account that created the collection (none: made before classes existed; the teacher's)


def collection_owner(name: str) -> str | None:
    path = collections_dir() / check_name(name) / OWNER_FILE
    return path.read_text(encoding="utf-8").strip() or None if path.exists() else None


def record_owner(name: str, owner: str) -> None:
    (collections_dir() / check_name(name) / OWNER_FILE).write_text(owner, encoding="utf-8")


def delete_collection(name: str, actor: Actor | None = None) -> None:
    """Delete a collection: only its owner or the teacher may."""
    if name in list_collections():
        check_owner(actor, collection_owner(name), f"Collection {name!r}")
    shutil.rmtree(collections_dir() / check_name(name), ignore_errors=True)


@contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock on a collection across processes, for load-change-save."""
    folder = ensure_dir(collections_dir() / check_name(name))
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
