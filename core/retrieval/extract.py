"""Text out of documents: txt, md, html and pdf, each page with its number; run in a child process with limits.

``extract_pages`` does the work in-process (for trusted files and tests); ``extract_file`` runs it in a child process
with a CPU-time, wall-time and memory limit, so a hostile or broken upload (a PDF bomb, a parser loop) fails that
file with a clear message and never takes the app down. Every failure is an ``ExtractError`` naming the file.

Does not hold: chunking (``core.retrieval.chunking``) or indexing (``core.retrieval.index``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
TIME_LIMIT_S = 30
MEMORY_LIMIT_MB = 1024
# The largest file the lab takes, in MiB: uploads of every kind (.streamlit/config.toml's server.maxUploadSize matches
# it; a test checks) and files the CLI ingests. A text or PDF this large already means minutes of embedding on a CPU.
MAX_FILE_MB = 50


class ExtractError(ValueError):
    """A document gives no usable text; the message names the file and says why."""


@dataclass(frozen=True)
class Page:
    text: str
    page: int  # 1-based; text files are one page


def extract_pages(data: bytes, filename: str) -> list[Page]:
    """The text of a document, page by page. Raises ExtractError for empty, binary, non-UTF-8, encrypted or corrupt files."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise ExtractError(f"{filename}: unsupported type {suffix or '(none)'}; use {', '.join(SUFFIXES)}.")
    if not data.strip():
        raise ExtractError(f"{filename} is empty.")
    if suffix == ".pdf":
        pages = _pdf_pages(data, filename)
    else:
        if b"\x00" in data[:8192]:
            raise ExtractError(f"{filename} looks like a binary file (it contains NUL bytes), not {suffix} text.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ExtractError(f"{filename} is not UTF-8 text (byte {err.start} cannot be decoded); save it as UTF-8.") from err
        pages = [Page(_html_text(text) if suffix in (".html", ".htm") else text, 1)]
    pages = [Page(_tidy(p.text), p.page) for p in pages]
    pages = [p for p in pages if p.text]
    if not pages:
        raise ExtractError(f"{filename} contains no text" + (" (a scanned PDF has only images: run OCR first)." if suffix == ".pdf" else "."))
    return pages


def _pdf_pages(data: bytes, filename: str) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractError(f"{filename} is an encrypted PDF; remove its password and upload it again.")
        return [Page(page.extract_text() or "", number) for number, page in enumerate(reader.pages, start=1)]
    except ExtractError:
        raise
    except LimitReachedError as err:  # a "PDF bomb": a few KB that inflate to gigabytes
        raise ExtractError(f"{filename} was refused: pypdf stopped reading it ({err}). Its streams inflate to far more "
                           "data than the file holds, which is what a PDF bomb does.") from err
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise ExtractError(f"{filename} is not a readable PDF ({type(err).__name__}: {err}).") from err


class _TextOfHTML(HTMLParser):
    """Visible text of an HTML page: scripts and styles dropped, block elements on their own lines."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title", "section", "article", "table", "ul", "ol"}
    HIDDEN = {"script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextOfHTML()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _tidy(text: str) -> str:
    """Spaces within lines collapsed, at most one blank line in a row, no trailing space."""
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip()


# ---------------------------------------------------------------- in a child process


def extract_file(path: Path, filename: str | None = None, time_limit: float = TIME_LIMIT_S, memory_mb: int = MEMORY_LIMIT_MB) -> list[Page]:
    """extract_pages on a file, in a child process limited to ``time_limit`` seconds and ``memory_mb`` MiB."""
    name = filename or path.name
    size = path.stat().st_size
    if size > MAX_FILE_MB * 2**20:
        raise ExtractError(f"{name}: {size / 2**20:.0f} MiB is more than the {MAX_FILE_MB} MiB the lab takes per file; "
                           "split it, or raise MAX_FILE_MB in core/retrieval/extract.py and server.maxUploadSize.")
    with tempfile.TemporaryDirectory(prefix="lab-extract-") as scratch:
        # The pages go to a file, not a pipe: a long document is never held twice in the app's memory.
        output = Path(scratch) / "pages.json"
        command = [sys.executable, "-m", "core.retrieval.extract", str(path), name, str(memory_mb), str(int(time_limit) + 1),
                   str(output)]
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        try:
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=time_limit, env=env,
                                  cwd=root)
        except subprocess.TimeoutExpired:
            raise ExtractError(f"{name}: extracting its text took longer than {time_limit:.0f} s; the file was skipped.") from None
        if done.returncode == 0:
            return [Page(**p) for p in json.loads(output.read_text(encoding="utf-8"))]
    if done.returncode == 3:  # the child's ExtractError: its message is the reason
        raise ExtractError(done.stderr.decode("utf-8", "replace").strip().splitlines()[-1])
    if b"MemoryError" in done.stderr:
        raise ExtractError(f"{name}: extracting its text needed more than {memory_mb} MiB; the file was skipped.")
    raise ExtractError(f"{name}: the text extractor stopped (exit status {done.returncode}); the file was skipped.")


def _child(argv: list[str]) -> int:
    import resource

    path, name, memory_mb, cpu_s, output = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4]
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    try:
        pages = extract_pages(Path(path).read_bytes(), name)
    except ExtractError as err:
        print(str(err), file=sys.stderr)
        return 3
    Path(output).write_text(json.dumps([asdict(p) for p in pages], ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
