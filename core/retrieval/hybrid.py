"""Hybrid search: the dense (MiniLM + FAISS) and keyword (BM25) rankings of a collection fused by weighted
reciprocal rank fusion, as Open WebUI and most RAG stacks do.

RRF (Cormack, Clarke and Büttcher, 2009) scores a chunk by ``sum_r w_r / (k + rank_r)`` over the rankings ``r`` it
appears in (ranks from 1, ``k`` = 60 damps the top ranks). It needs no score calibration between cosine similarities
and BM25 scores, which live on different scales. ``dense_weight`` is the dense ranking's share; BM25 gets the rest.

Holds: ``SearchSettings``, ``rrf``, ``retrieve`` (one entry point for dense, BM25 and hybrid search). Does not hold:
either index (``core.retrieval.index``, ``core.retrieval.keyword``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from core.config import check_range
from core.retrieval.index import Collection, Hit, nearest, search

if TYPE_CHECKING:
    import numpy as np

RETRIEVERS = ("hybrid", "dense", "bm25")
RRF_K = 60
CANDIDATES = 50  # each ranking contributes its top 50 to the fusion


@dataclass(frozen=True)
class SearchSettings:
    retriever: str = field(
        default="hybrid",
        metadata={"help": "dense: MiniLM embeddings (meaning, paraphrase); bm25: keyword match (exact terms, codes, "
                          "numbers); hybrid: both rankings fused by reciprocal rank fusion (best on the bundled questions)."},
    )
    dense_weight: float = field(
        default=0.5,
        metadata={"help": "Hybrid only: the dense ranking's share in the fusion, 1 minus it the BM25 ranking's. 0.5 weighs "
                          "them equally; 1 is dense alone, 0 BM25 alone."},
    )
    rrf_k: int = field(default=RRF_K, metadata={"help": "RRF's constant: a larger k flattens the gap between top ranks."})

    def __post_init__(self) -> None:
        if self.retriever not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)}, got {self.retriever!r}")
        check_range("dense weight", self.dense_weight, 0, 1)
        check_range("RRF k", self.rrf_k, 1, 1000, integer=True)


def rrf(rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int = RRF_K) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of rankings (lists of ids, best first): (id, fused score), best first; ties
    keep the order of first appearance."""
    if len(rankings) != len(weights):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def bm25_ranking(collection: Collection, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk row, BM25 score) of the k best chunks that share a word with the query, best first."""
    import numpy as np

    from core.retrieval.keyword import bm25_scores

    if not collection.chunks:
        return []
    scores = bm25_scores(collection.bm25, query)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order if scores[i] > 0]


def retrieve(collection: Collection, query: str, query_vector: "np.ndarray | None", k: int = 4,
             settings: SearchSettings | None = None, min_score: float = 0.0) -> list[Hit]:
    """The k best chunks for the query by the chosen retriever. Scores: cosine for dense, BM25 for bm25, the fused
    RRF score for hybrid; ``min_score`` (a cosine) filters dense hits only."""
    settings = settings or SearchSettings()
    check_range("k", k, 1, 1000, integer=True)
    if settings.retriever == "dense" or (settings.retriever == "hybrid" and settings.dense_weight == 1):
        return search(collection, query_vector, k, min_score)
    keyword = bm25_ranking(collection, query, max(k, CANDIDATES))
    if settings.retriever == "bm25" or settings.dense_weight == 0:
        return [Hit(rank, score, collection.chunks[i]) for rank, (i, score) in enumerate(keyword[:k], start=1)]
    dense = [i for i, _ in nearest(collection, query_vector, max(k, CANDIDATES), min_score)]
    fused = rrf([dense, [i for i, _ in keyword]], [settings.dense_weight, 1 - settings.dense_weight], settings.rrf_k)
    return [Hit(rank, score, collection.chunks[i]) for rank, (i, score) in enumerate(fused[:k], start=1)]
