"""Chunking: a document's pages cut into windows of tokens that overlap, each remembering where it came from.

Tokens are those of the embedding model's tokenizer, so a chunk never exceeds what the embedder reads (MiniLM reads
256 word pieces and silently drops the rest). A chunk's text is the exact span of the page it covers (offsets from the
tokenizer), so what the user sees, what is embedded and what the model is shown are the same characters.

Two ways to cut (``CHUNKINGS``): ``sections`` (the default) follows headings and keeps a table or list with its heading;
``windows`` cuts plain token windows (collections made before sections existed). A sections chunk carries a context
header (file, title, section) that the indexes read in front of its text.

Does not hold: extraction (``core.retrieval.extract``) or embedding and search (``core.retrieval.index``).
"""

from __future__ import annotations

import re
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
    context: str = ""  # the document title and section heading, indexed with the text (never shown as its text)


CHUNKINGS = ("sections", "windows")


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


# ---------------------------------------------------------------- sections: headings kept with their tables and lists

HEADING_MD = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
LIST_ITEM = re.compile(r"^\s*([-*+•]|\d{1,3}[.)])\s+\S")
TABLE_ROW = re.compile(r"^\s*\|")


@dataclass
class Block:
    kind: str  # heading, table, list, text
    start: int  # character offsets in the page
    end: int
    level: int = 0  # headings: 1 = the title, 2 and deeper = sections
    title: str = ""  # headings: their words


def _lines(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for line in text.split("\n"):
        spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans


def split_blocks(text: str) -> list[Block]:
    """A page as headings (markdown ``#``, underlined lines, or a short line standing alone without end punctuation, as
    HTML headings come out of extraction), tables (rows of ``|``), lists (``-``, ``*``, ``1.``) and paragraphs.
    Table rows or list items separated by blank lines (how HTML extracts) stay one block."""
    lines, blocks = _lines(text), []
    current: Block | None = None
    i = 0
    while i < len(lines):
        start, end = lines[i]
        line = text[start:end]
        nxt = text[lines[i + 1][0]:lines[i + 1][1]] if i + 1 < len(lines) else ""
        kind = ("blank" if not line.strip() else "heading" if HEADING_MD.match(line)
                else "underlined" if line.strip() and UNDERLINE.match(nxt) and not TABLE_ROW.match(line) else
                "table" if TABLE_ROW.match(line) else "list" if LIST_ITEM.match(line) else "text")
        if kind == "blank":
            if current is not None:
                blocks.append(current)
            current = None
        elif kind in ("heading", "underlined"):
            if current is not None:
                blocks.append(current)
            current = None
            if kind == "heading":
                match = HEADING_MD.match(line)
                blocks.append(Block("heading", start, end, len(match.group(1)), match.group(2).strip()))
            else:
                blocks.append(Block("heading", start, lines[i + 1][1], 1 if UNDERLINE.match(nxt).group(1)[0] == "=" else 2,
                                    line.strip()))
                i += 1
        elif current is not None and (current.kind == kind or (current.kind == "list" and kind == "text")):
            current.end = end  # the same block goes on (a list item's wrapped lines belong to it)
        else:
            if current is not None:
                blocks.append(current)
            current = Block(kind, start, end)
        i += 1
    if current is not None:
        blocks.append(current)
    return _merge_html_blocks(text, blocks)


def _merge_html_blocks(text: str, blocks: list[Block]) -> list[Block]:
    merged: list[Block] = []
    for n, block in enumerate(blocks):
        words = text[block.start:block.end].strip()
        if (block.kind == "text" and "\n" not in words and len(words) <= 70 and words[-1] not in ".,;:!?)\"'"
                and (words[0].isupper() or words[0].isdigit()) and n + 1 < len(blocks)):
            block = Block("heading", block.start, block.end, 2, words)  # a short line standing alone: a heading
        if merged and block.kind == merged[-1].kind and block.kind in ("table", "list"):
            merged[-1].end = block.end
        else:
            merged.append(block)
    return merged


def chunk_sections(pages: Sequence[Page], source: str, tokenizer: Any, size: int = 160, overlap: int = 32) -> list[Chunk]:
    """Chunks that follow the document's structure: a heading starts a new chunk and stays with what follows it, a
    table or list is never cut from its heading when the two fit in ``size`` tokens (a longer one is cut between rows,
    never inside one), and blocks of one section are packed together up to ``size``. A paragraph longer than ``size``
    is cut into token windows with ``overlap``. Each chunk's ``context`` names its document title and section, for
    the keyword and vector indexes (contextual chunk headers: "file: title — section"); its text is still the exact span
    of the page."""
    chunks: list[Chunk] = []
    title = ""
    for page in pages:
        title = _chunk_page(page, source, tokenizer, size, overlap, title, chunks)
    return chunks


def _chunk_page(page: Page, source: str, tokenizer: Any, size: int, overlap: int, title: str, chunks: list[Chunk]) -> str:
    """Append one page's section chunks to ``chunks``; returns the document title (found on an earlier page or this one)."""
    from bisect import bisect_left, bisect_right

    offsets = tokenizer(page.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
    if not offsets:
        return title
    starts, ends = [o[0] for o in offsets], [o[1] for o in offsets]

    def tokens(a: int, b: int) -> int:  # tokens whose characters lie in [a, b)
        return max(0, bisect_right(ends, b) - bisect_left(starts, a))

    section, parts = "", []  # parts: (start, end) spans of the chunk being filled; a heading first, if any
    headed = False  # parts holds only a heading so far

    def flush() -> None:
        if parts:
            a, b = parts[0][0], parts[-1][1]
            context = source + (f": {title}" if title else "") + (f" — {section}" if section and section != title else "")
            chunks.append(Chunk(page.text[a:b], source, page.page, len(chunks), a, b, tokens(a, b), context))
            parts.clear()

    for block in split_blocks(page.text):
        if block.kind == "heading":
            flush()
            title, section = (block.title, "") if not title else (title, block.title)
            parts.append((block.start, block.end))
            headed = True
            continue
        start = parts[0][0] if parts else block.start
        if parts and not headed and tokens(start, block.end) > size:
            flush()  # full: this block starts the next chunk
            start = block.start
        if tokens(start, block.end) <= size:
            parts.append((block.start, block.end))
        else:  # too long even alone (or with its heading): cut it, the heading staying with the first piece
            for a, b in _pieces(page.text, block, tokens, size, overlap, starts, ends, parts[0][0] if parts else None):
                parts.append((a, b))
                flush()
        headed = False
    flush()
    return title


def _pieces(text: str, block: Block, tokens: Any, size: int, overlap: int, starts: list[int], ends: list[int],
            head: int | None) -> list[tuple[int, int]]:
    """A block too long for one chunk, cut between lines (tables, lists) or into token windows (paragraphs); the
    first piece leaves room for a heading held before it (starting at ``head``)."""
    from bisect import bisect_left, bisect_right

    if block.kind in ("table", "list"):
        pieces, a = [], block.start
        for start, end in _lines(text[block.start:block.end]):
            s, e = block.start + start, block.start + end
            if s > a and tokens(head if head is not None and not pieces else a, e) > size:
                pieces.append((a, s - 1))
                a = s
        pieces.append((a, block.end))
        return [(x, y) for x, y in pieces if text[x:y].strip()]
    first, last = bisect_left(starts, block.start), bisect_right(ends, block.end)
    n = last - first
    room = max(size - (tokens(head, block.start) if head is not None else 0), overlap + 1)
    windows = [(0, min(room, n))]
    while windows[-1][1] < n:
        start = windows[-1][1] - overlap
        windows.append((start, min(start + size, n)))
    return [(starts[first + s], ends[first + e - 1]) for s, e in windows]
