"""Chunking: a document's pages cut into windows of tokens that overlap, each remembering where it came from.

Tokens are those of the embedding model's tokenizer, so a chunk never exceeds what the embedder reads (MiniLM reads
256 word pieces and silently drops the rest). A chunk's text is the exact span of the page it covers (offsets from the
tokenizer), so what the user sees, what is embedded and what the model is shown are the same characters.

Does not hold: extraction (``core.retrieval.extract``) or embedding and search (``core.retrieval.index``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from core.config import check_range
from core.retrieval.extract import Page


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str  # the document's file name
    page: int
    position: int  # 0, 1, 2... within the document
    start: int  # character offsets of the text in its page
    end: int
    tokens: int


def check_sizes(size: int, overlap: int) -> None:
    check_range("chunk size", size, 16, 512, integer=True)
    check_range("overlap", overlap, 0, 511, integer=True)
    if overlap >= size:
        raise ValueError(f"overlap must be at least 0 and smaller than the chunk size ({size}), got {overlap}")


def token_windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of ``size`` tokens, each starting ``size - overlap`` after the previous; the last
    window ends at the last token (it may be shorter)."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"overlap must be at least 0 and smaller than the chunk size ({size}), got {overlap}")
    windows, start, step = [], 0, size - overlap
    while True:
        end = min(start + size, n_tokens)
        windows.append((start, end))
        if end >= n_tokens:
            return windows
        start += step


def chunk_pages(pages: Sequence[Page], source: str, tokenizer: Any, size: int = 160, overlap: int = 32) -> list[Chunk]:
    """Every page cut into token windows; positions count on across pages."""
    chunks: list[Chunk] = []
    for page in pages:
        offsets = tokenizer(page.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
        if not offsets:
            continue
        for start, end in token_windows(len(offsets), size, overlap):
            first, last = offsets[start][0], offsets[end - 1][1]
            chunks.append(Chunk(page.text[first:last], source, page.page, len(chunks), first, last, end - start))
    return chunks
