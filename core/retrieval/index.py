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
from core.retrieval.chunking import CHUNKINGS, Chunk, check_sizes
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
    chunking: str = field(
        default="sections",
        metadata={"help": "sections: a chunk follows the document's headings and keeps a table or list with its heading, "
                          "and is indexed with its file, title and section in front; windows: plain token windows."},
    )
    kind: str = field(
        default="auto",
        metadata={"help": "exact: every vector compared (best for small collections); hnsw: an approximate graph, fast for "
                          "large ones; auto: exact below 20,000 chunks."},
    )

    def __post_init__(self) -> None:
        check_sizes(self.chunk_size, self.overlap)
        if self.chunking not in CHUNKINGS:
            raise ValueError(f"chunking must be one of {', '.join(CHUNKINGS)}, got {self.chunking!r}")
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
    _bm25: Any = None  # the keyword index (core.retrieval.keyword), built on first use when not saved

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

    @property
    def bm25(self) -> Any:
        """The BM25 index of the chunks: loaded with the collection, or built from its chunks (collections saved
        before hybrid search have none; building one takes milliseconds per thousand chunks)."""
        if self._bm25 is None:
            from core.retrieval.keyword import build_bm25

            self._bm25 = build_bm25(self.chunks)
        return self._bm25


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
    found = nearest(collection, query_vector, k, min_score)
    return [Hit(rank, score, collection.chunks[i]) for rank, (i, score) in enumerate(found, start=1)]


def nearest(collection: Collection, query_vector: "np.ndarray", k: int, min_score: float = 0.0) -> list[tuple[int, float]]:
    """(chunk row, cosine) of the k nearest chunks at or above ``min_score``, best first."""
    if not collection.chunks:
        return []
    scores, ids = search_vectors(collection.index, query_vector.reshape(1, -1), min(k, len(collection.chunks)))
    return [(int(i), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0 and s >= min_score]


def pca_2d(vectors: "np.ndarray", extra: "np.ndarray | None" = None) -> tuple["np.ndarray", "np.ndarray | None"]:
    """The chunks' vectors (and extra points such as a query) projected on the collection's two main directions."""
    import numpy as np

    mean = vectors.mean(axis=0)
    _, _, components = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = components[:2].T
    return (vectors - mean) @ axes, None if extra is None else (extra - mean) @ axes
