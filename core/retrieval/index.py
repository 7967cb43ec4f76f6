"""Collections in memory and their FAISS index: settings, chunks with their MiniLM vectors, and search.

Index kinds: ``exact`` (IndexFlatIP: inner product of unit vectors = cosine, exact) and ``hnsw`` (an approximate
graph index for large collections; no training step, recall set by ``ef_search``). ``auto`` picks exact below
``HNSW_FROM`` chunks.

Holds: ``Settings``, ``Collection``, ``Hit``, ``build_index``/``search`` and ``pca_2d`` for the chunk map.
Does not hold: saving and loading (``core.retrieval.storage``), adding documents (``core.retrieval.ingest``),
prompts or answers (``core.retrieval.rag``). faiss is imported only inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import check_range
from core.retrieval.chunking import Chunk, check_sizes
from core.retrieval.extract import SUFFIXES

if TYPE_CHECKING:
    import numpy as np

KINDS = ("auto", "exact", "hnsw")
HNSW_FROM = 20_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 384  # ef 384: recall@10 0.98 at 100k (benchmarks/retrieval.py)
SUFFIXES_HELP = "supported: " + ", ".join(SUFFIXES)


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


def pca_2d(vectors: "np.ndarray", extra: "np.ndarray | None" = None) -> tuple["np.ndarray", "np.ndarray | None"]:
    """The chunks' vectors (and extra points such as a query) projected on the collection's two main directions."""
    import numpy as np

    mean = vectors.mean(axis=0)
    _, _, components = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = components[:2].T
    return (vectors - mean) @ axes, None if extra is None else (extra - mean) @ axes
