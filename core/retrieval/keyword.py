"""Keyword search: a BM25 index (the ``bm25s`` library) over a collection's chunks, beside its vectors.

BM25 scores a chunk by the query words it contains, weighted by how rare each word is in the collection (IDF) and
damped by the chunk's length, so an exact term the embedding blurs (a product code, a serial, a fee) still ranks its
chunk first. Words are lower-cased runs of letters and digits (``H2``, ``SK-10`` → ``sk``, ``10``), English stopwords
left out; each chunk is indexed with its context header (document title and section) in front of its text.

Holds: ``tokenize``, ``build_bm25``, ``bm25_scores``, ``save_bm25``/``load_bm25`` (numpy and JSON files written by
bm25s, never pickle). Does not hold: fusion with the vectors (``core.retrieval.hybrid``) or the collection's files
(``core.retrieval.storage``). bm25s is imported only inside functions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.retrieval.chunking import Chunk

if TYPE_CHECKING:
    import numpy as np

WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    stop = _stopwords()
    return [word for word in WORD.findall(text.lower()) if word not in stop]


def indexed_text(chunk: Chunk) -> str:
    """What both indexes read for a chunk: its context header (title and section), then its text."""
    return f"{chunk.context}\n{chunk.text}" if chunk.context else chunk.text


def build_bm25(chunks: Sequence[Chunk]) -> Any:
    """A bm25s index of the chunks, row i = chunk i (lucene variant, k1 1.5, b 0.75: the library's defaults)."""
    import bm25s

    index = bm25s.BM25()
    index.index([tokenize(indexed_text(c)) for c in chunks], show_progress=False)
    return index


def bm25_scores(index: Any, query: str) -> "np.ndarray":
    """The BM25 score of every chunk for the query (0 for chunks sharing no word with it)."""
    import numpy as np

    ids = index.get_tokens_ids(tokenize(query))  # words the collection never uses are left out
    if not ids:
        return np.zeros(index.scores["num_docs"], dtype=np.float32)
    return np.asarray(index.get_scores_from_ids(ids), dtype=np.float32)


def save_bm25(index: Any, folder: Path) -> None:
    index.save(str(folder), show_progress=False)


def load_bm25(folder: Path) -> Any:
    import bm25s

    return bm25s.BM25.load(str(folder), mmap=False)
