"""Getting documents into a collection: extract, chunk, embed, then one short locked swap.

Extraction runs in a limited child process per file (``core.retrieval.extract``). Chunking and embedding, the slow
part, happen before the collection's lock is taken; the lock is held only to merge the new chunks into the current
version and save it, so a long upload never blocks another person's. Limits keep one upload from taking the machine
for an hour: ``MAX_CHUNKS_PER_FILE`` and ``MAX_CHUNKS_PER_UPLOAD`` (raise them with the environment variables of the
same name, prefixed ``LAB_``). Large uploads run as a background run (``INGEST_JOB``) with progress and Cancel.
A document whose name is already in the collection is replaced only when asked (``replace=True``); the bundled
collections are read-only.

Does not hold: extraction (``core.retrieval.extract``), storage (``core.retrieval.storage``), UI.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.classroom.accounts import Actor, acting, check_owner
from core.retrieval.chunking import Chunk, chunk_pages, chunk_sections
from core.retrieval.extract import Page
from core.retrieval.index import Collection, CollectionError, Settings
from core.retrieval.keyword import indexed_text
from core.retrieval.storage import collection_owner, list_collections, load_collection, locked, new_collection, record_owner, save_collection

if TYPE_CHECKING:
    from core.jobs import RunContext

INGEST_JOB = "core.retrieval.ingest:ingest_job"
BUNDLED_COLLECTIONS = ("lumenfold",)  # built from assets/knowledge/ and read-only for users
BACKGROUND_FROM_BYTES = 512 * 1024  # the page ingests uploads larger than this as a background run


def max_chunks_per_file() -> int:
    return int(os.environ.get("LAB_MAX_CHUNKS_PER_FILE", 4000))


def max_chunks_per_upload() -> int:
    return int(os.environ.get("LAB_MAX_CHUNKS_PER_UPLOAD", 8000))


Progress = Callable[[str, float], None]


class IngestStopped(CollectionError):
    """The ingestion was cancelled before the swap; the collection was not changed."""


def check_writable(name: str, actor: Actor | None = None) -> None:
    """Refuse a change to a bundled collection, or (OwnershipError) to another student's."""
    if name in BUNDLED_COLLECTIONS:
        raise CollectionError(f"The bundled collection {name!r} is read-only; add your files to a collection of your "
                              "own (type a new name to create one).")
    if name in list_collections():
        check_owner(actor, collection_owner(name), f"Collection {name!r}")


def _chunk(documents: Sequence[tuple[str, list[Page]]], settings: Settings, tokenizer: Any) -> list[Chunk]:
    """Every document's chunks, within the per-file and per-upload limits (each message names its limit)."""
    chunks: list[Chunk] = []
    per_file, per_upload = max_chunks_per_file(), max_chunks_per_upload()
    for source, pages in documents:
        chunker = chunk_sections if settings.chunking == "sections" else chunk_pages
        mine = chunker(pages, source, tokenizer, settings.chunk_size, settings.overlap)
        if len(mine) > per_file:
            raise CollectionError(f"{source} makes {len(mine):,} chunks, more than the {per_file:,} the lab takes per file "
                                  "(minutes of embedding each thousand on a CPU); split it, use larger chunks, or set "
                                  "LAB_MAX_CHUNKS_PER_FILE.")
        chunks += mine
    if len(chunks) > per_upload:
        raise CollectionError(f"These files make {len(chunks):,} chunks, more than the {per_upload:,} the lab takes in one "
                              "upload; add them in parts, or set LAB_MAX_CHUNKS_PER_UPLOAD.")
    return chunks


def _embed(texts: list[str], embedder: Any, report: Progress, should_stop: Callable[[], bool], batch_size: int) -> Any:
    import numpy as np

    parts = []
    for start in range(0, len(texts), batch_size):
        if should_stop():
            raise IngestStopped("Cancelled while embedding; the collection was not changed.")
        report(f"Embedding chunks {start + 1}-{min(start + batch_size, len(texts))} of {len(texts)}", start / max(len(texts), 1))
        parts.append(embedder.encode(texts[start:start + batch_size], batch_size=32, normalize_embeddings=True,
                                     convert_to_numpy=True))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 384), dtype=np.float32)


def add_documents(name: str, documents: Sequence[tuple[str, list[Page]]], embedder: Any, settings: Settings | None = None,
                  on_progress: Progress | None = None, batch_size: int = 64, replace_existing: bool = False,
                  should_stop: Callable[[], bool] | None = None, _bundled: bool = False,
                  actor: Actor | None = None) -> Collection:
    """Chunk, embed and index extracted documents into a collection (created with ``settings`` if new). A document
    whose name is already there is an error unless ``replace_existing``. Saved atomically; returns the new collection.
    A new collection belongs to the acting user; only they (or the teacher) may change it."""
    import numpy as np

    if not _bundled:
        check_writable(name, actor)
    sources = [source for source, _ in documents]
    if len(set(sources)) < len(sources):
        twice = sorted({s for s in sources if sources.count(s) > 1})
        raise CollectionError(f"Two files in one upload are called {', '.join(twice)}; rename one of them.")
    report, stop = on_progress or (lambda text, fraction: None), should_stop or (lambda: False)
    before = load_collection(name) if name in list_collections() else new_collection(name, settings or Settings())
    _check_replacements(before, [source for source, _ in documents], replace_existing)
    new_chunks = _chunk(documents, before.settings, embedder.tokenizer)
    vectors = _embed([indexed_text(c) for c in new_chunks], embedder, report, stop, batch_size)
    if stop():
        raise IngestStopped("Cancelled before saving; the collection was not changed.")
    report("Building the index and saving", 1.0)
    with locked(name):  # only the swap is locked: someone may have saved since `before` was read
        current = load_collection(name) if name in list_collections() else before
        if current.settings != before.settings:
            raise CollectionError(f"Collection {name!r} was re-created with other settings meanwhile; add the files again.")
        _check_replacements(current, [source for source, _ in documents], replace_existing)
        replaced = {source for source, _ in documents}
        keep = [i for i, c in enumerate(current.chunks) if c.source not in replaced]
        added = time.time()
        docs = [d for d in current.documents if d["source"] not in replaced] + [
            {"source": source, "pages": len(pages), "characters": sum(len(p.text) for p in pages),
             "chunks": sum(c.source == source for c in new_chunks), "added": added}
            for source, pages in documents]
        updated = replace(current, chunks=[current.chunks[i] for i in keep] + new_chunks,
                          vectors=np.concatenate([current.vectors[keep], vectors]).astype(np.float32), documents=docs,
                          _index=None, _bm25=None)
        saved = save_collection(updated)
        if not _bundled and collection_owner(name) is None:
            record_owner(name, acting(actor).name)
        return saved


def _check_replacements(collection: Collection, sources: list[str], replace_existing: bool) -> None:
    present = sorted({d["source"] for d in collection.documents} & set(sources))
    if present and not replace_existing:
        raise CollectionError(f"Collection {collection.name!r} already has {', '.join(present)}; choose to replace "
                              "documents of the same name (--replace on the command line), or rename the file.")


def remove_document(name: str, source: str, actor: Actor | None = None) -> Collection:
    check_writable(name, actor)
    with locked(name):
        collection = load_collection(name)
        if source not in {d["source"] for d in collection.documents}:
            raise CollectionError(f"Collection {name!r} has no document {source!r}.")
        keep = [i for i, c in enumerate(collection.chunks) if c.source != source]
        updated = replace(collection, chunks=[collection.chunks[i] for i in keep], vectors=collection.vectors[keep],
                          documents=[d for d in collection.documents if d["source"] != source], _index=None, _bm25=None)
        return save_collection(updated)


@dataclass
class IngestReport:
    collection: Collection | None  # None when no file gave text (the collection was not touched)
    added: list[str]
    errors: dict[str, str]  # file name -> why it was skipped
    replaced: list[str] = field(default_factory=list)  # documents of the same name that the new ones replaced


def ingest_files(name: str, files: Sequence[tuple[Path, str]], embedder: Any, settings: Settings | None = None,
                 on_progress: Progress | None = None, replace_existing: bool = False,
                 should_stop: Callable[[], bool] | None = None, actor: Actor | None = None) -> IngestReport:
    """Extract each (path, display name) in a child process with limits, then chunk, embed and index the ones that
    gave text. A bad file is skipped with its reason; when none gives text the collection is left as it was."""
    from core.retrieval.extract import ExtractError, extract_file

    check_writable(name, actor)
    report, stop = on_progress or (lambda text, fraction: None), should_stop or (lambda: False)
    documents, errors = [], {}
    for i, (path, display) in enumerate(files):
        if stop():
            raise IngestStopped("Cancelled while extracting; the collection was not changed.")
        report(f"Extracting {display} ({i + 1} of {len(files)})", i / max(len(files), 1) * 0.3)
        try:
            documents.append((display, extract_file(path, display)))
        except ExtractError as err:
            errors[display] = str(err)
    if not documents:
        return IngestReport(None, [], errors)
    existing = set()
    if name in list_collections():
        existing = {d["source"] for d in load_collection(name).documents}
    scaled = lambda text, fraction: report(text, 0.3 + 0.7 * fraction)  # noqa: E731
    collection = add_documents(name, documents, embedder, settings, scaled, replace_existing=replace_existing,
                               should_stop=stop, actor=actor)
    added = [d for d, _ in documents]
    return IngestReport(collection, added, errors, sorted(existing & set(added)))


def ingest_job(ctx: "RunContext") -> dict[str, Any]:
    """The background run for large uploads (``INGEST_JOB``): config {collection, files: [[path, name], ...],
    settings: {chunk_size, overlap, kind}, replace}. Cancel before the swap leaves the collection as it was."""
    from core.embeddings import load_embedder

    config = ctx.config
    files = [(Path(path), display) for path, display in config["files"]]
    settings = Settings(**config["settings"]) if config.get("settings") else None

    def progress(text: str, fraction: float) -> None:
        ctx.progress(text=text, fraction=round(fraction, 4))

    try:
        result = ingest_files(config["collection"], files, load_embedder(), settings, progress,
                              replace_existing=bool(config.get("replace")), should_stop=ctx.should_stop)
    except IngestStopped as stopped:
        return {"collection": config["collection"], "stopped": str(stopped)}
    if result.errors and not result.added:
        raise CollectionError("No file gave any text: " + " ".join(result.errors.values()))
    return {"collection": config["collection"], "added": result.added, "errors": result.errors,
            "replaced": result.replaced, "chunks": len(result.collection.chunks) if result.collection else 0}
