"""Collections: chunks of the user's documents, their MiniLM vectors and a FAISS index, saved atomically.

A collection lives in ``$LAB_HOME/collections/<name>/``. Each save writes a complete new version folder
(``index.faiss``, ``vectors.npy``, ``meta.json``: settings, documents and every chunk's text and origin; JSON, never
pickle) under a temporary name, renames it into place, and only then points ``CURRENT`` at it (a one-file atomic
replace). A crash or a kill at any moment leaves ``CURRENT`` on a complete version: the old one or the new one. On
load the index's vector count must equal the metadata's rows. Adding or removing documents holds a lock on the
collection, so two people adding at once both land.

Index kinds: ``exact`` (IndexFlatIP: inner product of unit vectors = cosine, exact) and ``hnsw`` (an approximate
graph index for large collections; no training step, recall set by ``ef_search``). ``auto`` picks exact below
``HNSW_FROM`` chunks.

Holds: ``Settings``, ``Collection``, ``build_index``/``search``, versioned saves and loads, ``add_documents`` and
``remove_document``, ``ingest_files`` (each file extracted in a limited child process, then chunked, embedded and
indexed) and ``pca_2d`` for the chunk map.
Does not hold: how text is extracted or chunked (sibling modules), prompts or answers (``core.retrieval.rag``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from core.config import check_range
from core.paths import ensure_dir, lab_home
from core.retrieval.chunking import Chunk, check_sizes, chunk_pages
from core.retrieval.extract import SUFFIXES, Page

if TYPE_CHECKING:
    import numpy as np

SCHEMA = 1
KINDS = ("auto", "exact", "hnsw")
HNSW_FROM = 20_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 384  # ef 384: recall@10 0.98 at 100k (benchmarks/retrieval.py)
SUFFIXES_HELP = "supported: " + ", ".join(SUFFIXES)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class CollectionError(ValueError):
    """A collection cannot be created, found, loaded or changed; the message says why."""


@dataclass(frozen=True)
class Settings:
    chunk_size: int = field(
        default=160,
        metadata={"help": "Tokens per chunk (MiniLM reads at most 256). Smaller chunks: sharper matches, less context each."},
    )
    overlap: int = field(
        default=32,
        metadata={"help": "Tokens shared by neighbouring chunks, so a sentence cut at a boundary is whole in one of them."},
    )
    kind: str = field(
        default="auto",
        metadata={"help": "exact: every vector compared (best for small collections); hnsw: an approximate graph, fast for "
                          "large ones; auto: exact below 20,000 chunks."},
    )

    def __post_init__(self) -> None:
        check_sizes(self.chunk_size, self.overlap)
        if self.kind not in KINDS:
            raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {self.kind!r}")


@dataclass
class Collection:
    name: str
    settings: Settings
    chunks: list[Chunk]
    vectors: "np.ndarray"  # (chunks, 384) float32, unit length
    documents: list[dict[str, Any]]  # source, pages, chunks, characters, added
    version: int = 0
    _index: Any = None

    @property
    def kind(self) -> str:
        if self.settings.kind != "auto":
            return self.settings.kind
        return "hnsw" if len(self.chunks) >= HNSW_FROM else "exact"

    @property
    def index(self) -> Any:
        if self._index is None:
            self._index = build_index(self.vectors, self.kind)
        return self._index


@dataclass(frozen=True)
class Hit:
    rank: int  # 1 = best
    score: float  # cosine similarity, -1 to 1
    chunk: Chunk


# ---------------------------------------------------------------- FAISS


def build_index(vectors: "np.ndarray", kind: str) -> Any:
    import faiss
    import numpy as np

    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 384
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "exact":
        index = faiss.IndexFlatIP(dim)
    else:
        raise CollectionError(f"Unknown index kind {kind!r}")
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def search_vectors(index: Any, queries: "np.ndarray", k: int) -> tuple["np.ndarray", "np.ndarray"]:
    """Scores and row ids of the k nearest vectors to each query (row id -1 where fewer than k exist)."""
    import numpy as np

    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def search(collection: Collection, query_vector: "np.ndarray", k: int = 4, min_score: float = 0.0) -> list[Hit]:
    """The k chunks most similar to the query (cosine), best first, dropping those below ``min_score``."""
    check_range("k", k, 1, 1000, integer=True)
    check_range("min_score", min_score, -1, 1)
    if not collection.chunks:
        return []
    scores, ids = search_vectors(collection.index, query_vector.reshape(1, -1), min(k, len(collection.chunks)))
    hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0 and s >= min_score]
    return [Hit(rank, score, collection.chunks[i]) for rank, (score, i) in enumerate(hits, start=1)]


# ---------------------------------------------------------------- storage


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
    except (OSError, ValueError, RuntimeError) as err:
        raise CollectionError(f"Collection {name!r} cannot be read ({err}).") from err
    if meta.get("schema") != SCHEMA:
        raise CollectionError(f"Collection {name!r} has schema {meta.get('schema')}; this version reads schema {SCHEMA}.")
    chunks = [Chunk(**c) for c in meta["chunks"]]
    if not index.ntotal == len(chunks) == len(vectors) == meta["count"]:
        raise CollectionError(f"Collection {name!r} is inconsistent: {index.ntotal} vectors in the index, {len(chunks)} "
                              f"chunks in the metadata, {len(vectors)} stored vectors. Rebuild it.")
    return Collection(name, Settings(**meta["settings"]), chunks, vectors, meta["documents"], meta["version"], index)


def save_collection(collection: Collection) -> Collection:
    """Write a new version folder, then switch CURRENT to it in one atomic rename; older versions are removed."""
    import faiss
    import numpy as np

    folder = ensure_dir(collections_dir() / collection.name)
    version = collection.version + 1
    final = folder / f"v{version:06d}"
    tmp = folder / f".v{version:06d}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    meta = {"schema": SCHEMA, "name": collection.name, "version": version, "kind": collection.kind, "count": len(collection.chunks),
            "dim": int(collection.vectors.shape[1]), "settings": asdict(collection.settings), "documents": collection.documents,
            "chunks": [asdict(c) for c in collection.chunks], "saved": time.time()}
    faiss.write_index(collection.index, str(tmp / "index.faiss"))
    with open(tmp / "vectors.npy", "wb") as out:
        np.save(out, collection.vectors, allow_pickle=False)
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
    for path in tmp.iterdir():
        _fsync(path)
    shutil.rmtree(final, ignore_errors=True)  # a version folder left by a crash between the two renames
    os.rename(tmp, final)
    pointer_tmp = folder / f".CURRENT.{os.getpid()}.tmp"
    pointer_tmp.write_text(final.name)
    _fsync(pointer_tmp)
    os.replace(pointer_tmp, folder / "CURRENT")  # the commit point
    _fsync(folder)
    for old in folder.iterdir():  # earlier versions and leftovers of interrupted saves
        if old.name not in (final.name, "CURRENT", ".lock") and (old.name.startswith(("v", ".v")) and old.is_dir()):
            shutil.rmtree(old, ignore_errors=True)
    return replace(collection, version=version)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_collection(name: str) -> None:
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


# ---------------------------------------------------------------- adding and removing documents

Progress = Callable[[str, float], None]


def add_documents(name: str, documents: Sequence[tuple[str, list[Page]]], embedder: Any, settings: Settings | None = None,
                  on_progress: Progress | None = None, batch_size: int = 64) -> Collection:
    """Chunk, embed and index extracted documents into a collection (created with ``settings`` if new). A document
    whose name is already there replaces the old one. Saved atomically; returns the new collection."""
    import numpy as np

    report = on_progress or (lambda text, fraction: None)
    with locked(name):
        try:
            collection = load_collection(name)
        except CollectionError:
            if name in list_collections():
                raise
            collection = new_collection(name, settings or Settings())
        s = collection.settings
        tokenizer = embedder.tokenizer
        new_chunks: list[Chunk] = []
        for source, pages in documents:
            new_chunks += chunk_pages(pages, source, tokenizer, s.chunk_size, s.overlap)
        texts = [c.text for c in new_chunks]
        parts = []
        for start in range(0, len(texts), batch_size):
            report(f"Embedding chunks {start + 1}-{min(start + batch_size, len(texts))} of {len(texts)}", start / max(len(texts), 1))
            parts.append(embedder.encode(texts[start:start + batch_size], batch_size=32, normalize_embeddings=True, convert_to_numpy=True))
        replaced = {source for source, _ in documents}
        keep = [i for i, c in enumerate(collection.chunks) if c.source not in replaced]
        vectors = np.concatenate([collection.vectors[keep], *parts]).astype(np.float32) if parts else collection.vectors[keep]
        added = time.time()
        docs = [d for d in collection.documents if d["source"] not in replaced] + [
            {"source": source, "pages": len(pages), "characters": sum(len(p.text) for p in pages),
             "chunks": sum(c.source == source for c in new_chunks), "added": added}
            for source, pages in documents]
        report("Building the index and saving", 1.0)
        updated = replace(collection, chunks=[collection.chunks[i] for i in keep] + new_chunks, vectors=vectors, documents=docs, _index=None)
        return save_collection(updated)


def remove_document(name: str, source: str) -> Collection:
    with locked(name):
        collection = load_collection(name)
        if source not in {d["source"] for d in collection.documents}:
            raise CollectionError(f"Collection {name!r} has no document {source!r}.")
        keep = [i for i, c in enumerate(collection.chunks) if c.source != source]
        updated = replace(collection, chunks=[collection.chunks[i] for i in keep], vectors=collection.vectors[keep],
                          documents=[d for d in collection.documents if d["source"] != source], _index=None)
        return save_collection(updated)


@dataclass
class IngestReport:
    collection: Collection | None  # None when no file gave text (the collection was not touched)
    added: list[str]
    errors: dict[str, str]  # file name -> why it was skipped


def ingest_files(name: str, files: Sequence[tuple[Path, str]], embedder: Any, settings: Settings | None = None,
                 on_progress: Progress | None = None) -> IngestReport:
    """Extract each (path, display name) in a child process with limits, then chunk, embed and index the ones that
    gave text. A bad file is skipped with its reason; when none gives text the collection is left as it was."""
    from core.retrieval.extract import ExtractError, extract_file

    report = on_progress or (lambda text, fraction: None)
    documents, errors = [], {}
    for i, (path, display) in enumerate(files):
        report(f"Extracting {display} ({i + 1} of {len(files)})", i / max(len(files), 1) * 0.3)
        try:
            documents.append((display, extract_file(path, display)))
        except ExtractError as err:
            errors[display] = str(err)
    if not documents:
        return IngestReport(None, [], errors)
    scaled = lambda text, fraction: report(text, 0.3 + 0.7 * fraction)  # noqa: E731
    collection = add_documents(name, documents, embedder, settings, scaled)
    return IngestReport(collection, [d for d, _ in documents], errors)


def pca_2d(vectors: "np.ndarray", extra: "np.ndarray | None" = None) -> tuple["np.ndarray", "np.ndarray | None"]:
    """The chunks' vectors (and extra points such as a query) projected on the collection's two main directions."""
    import numpy as np

    mean = vectors.mean(axis=0)
    _, _, components = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = components[:2].T
    return (vectors - mean) @ axes, None if extra is None else (extra - mean) @ axes
