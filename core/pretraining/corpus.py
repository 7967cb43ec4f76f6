"""The pre-training corpus: English prose that needs no download, a tokenizer trained on it, and its tokens.

The prose is the docstrings of the Python standard library and of the packages installed beside the lab (``ast``
reads them; nothing is imported), plus the lab's own knowledge base. Docstrings that are not English prose (too
short, mostly code, symbols or another script) are dropped, exact duplicates (after folding whitespace and case)
are kept once, and whole packages are held out for validation, so the validation loss measures text from libraries
the model never saw rather than near-copies of its training lines. The corpus is built once per machine under
``$LAB_HOME/pretraining/corpus-v<N>/`` (``docs.jsonl``, ``manifest.json``), with a byte-level BPE tokenizer trained
on its training split and the token streams ``train.bin`` / ``val.bin`` (uint16, documents joined by
``<|endoftext|>``, nanoGPT's layout).

Does not hold: the model or the training loop (``core.pretraining.scratch``).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import re
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from core.files import write_json_atomic
from core.paths import ensure_dir, lab_home

VERSION = 1
EOS = "<|endoftext|>"
VOCAB_SIZE = 1024  # small, so the embedding does not dwarf a 100k-parameter model; it still spells words in pieces
VAL_SHARE = 0.05  # of the characters, as whole packages
KNOWLEDGE = Path(__file__).resolve().parents[2] / "assets" / "knowledge"
FUNCTION_WORDS = frozenset("the a an of to is are be and or in on for if this that with it as by not from at "
                           "which when can will its their should may".split())
_SKIP_DIRS = {"site-packages", "__pycache__", "test", "tests", "testing", "idlelib", "lib2to3", "pydoc_data",
              "ensurepip", "turtledemo", "_vendor", "vendored", "_vendored"}
LICENCE = ("Docstrings keep their authors' licences: the Python Software Foundation License for the standard "
           "library and each installed package's own licence (see its dist-info) for the rest. The corpus is "
           "extracted on this machine for training here and is not redistributed with the lab.")


@dataclass(frozen=True)
class Document:
    source: str  # "stdlib/json", "pkg/numpy", "lab/knowledge"
    text: str


# ---------------------------------------------------------------- extraction


def docstrings(path: Path) -> list[str]:
    """The cleaned docstrings of a module and of every class and function in it; [] if it does not parse."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = (ast.get_docstring(node, clean=True) for node in ast.walk(tree) if isinstance(node, kinds))
    return [strip_examples(text) for text in found if text]


def strip_examples(text: str) -> str:
    """A docstring without its doctest lines (``>>>`` and ``...`` prompts and the output right after them)."""
    kept, in_example = [], False
    for line in inspect.cleandoc(text).splitlines():
        stripped = line.strip()
        if stripped.startswith((">>>", "... ")) or stripped == "...":
            in_example = True
            continue
        if in_example and stripped:
            continue  # the example's printed output
        in_example = False
        kept.append(line)
    return "\n".join(kept).strip()


def is_english_prose(text: str) -> bool:
    """Cheap and explainable: long enough, ASCII, mostly letters, and with English's little words in it."""
    if len(text) < 80:
        return False
    if sum(ch.isascii() for ch in text) < 0.97 * len(text):
        return False
    visible = [ch for ch in text if not ch.isspace()]
    if sum(ch.isalpha() for ch in visible) < 0.7 * len(visible):
        return False
    words = re.findall(r"[A-Za-z]+", text.lower())
    return len(words) >= 12 and sum(w in FUNCTION_WORDS for w in words) >= 0.12 * len(words)


def python_packages(roots: Iterable[tuple[str, Path]] | None = None) -> list[tuple[str, Path]]:
    """(name, path) of each top-level module or package under the standard library and site-packages, sorted."""
    if roots is None:
        paths = sysconfig.get_paths()
        roots = [("stdlib", Path(paths["stdlib"])), ("pkg", Path(paths["purelib"]))]
    found = []
    for kind, root in roots:
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            name = entry.name.removesuffix(".py")
            if name in _SKIP_DIRS or name.startswith(("_", ".")) or "-" in name or "." in name:
                continue  # private modules, dist-info folders, test suites
            if (entry.is_dir() and any(entry.glob("*.py"))) or entry.suffix == ".py":
                found.append((f"{kind}/{name}", entry))
    return found


def package_documents(name: str, path: Path) -> list[Document]:
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*.py") if not _SKIP_DIRS.intersection(p.relative_to(path).parts[:-1]))
    return [Document(name, text) for file in files for text in docstrings(file) if is_english_prose(text)]


def knowledge_documents(folder: Path = KNOWLEDGE) -> list[Document]:
    return [Document("lab/knowledge", p.read_text(encoding="utf-8").strip())
            for p in sorted(folder.rglob("*")) if p.suffix in (".md", ".txt")]


def deduplicate(docs: Iterable[Document]) -> list[Document]:
    """Each text once (whitespace and case folded), in first-seen order."""
    seen, kept = set(), []
    for doc in docs:
        key = hashlib.sha1(" ".join(doc.text.lower().split()).encode()).digest()
        if key not in seen:
            seen.add(key)
            kept.append(doc)
    return kept


def held_out_sources(docs: list[Document], share: float = VAL_SHARE) -> set[str]:
    """Whole packages for validation, taken in a fixed pseudo-random order (by the hash of their name) until they
    hold about ``share`` of the characters; a package bigger than twice the target is never held out."""
    sizes: dict[str, int] = {}
    for doc in docs:
        sizes[doc.source] = sizes.get(doc.source, 0) + len(doc.text)
    target, held, total = share * sum(sizes.values()), set(), 0
    for source in sorted(sizes, key=lambda s: hashlib.sha1(s.encode()).hexdigest()):
        if source.startswith("lab/") or sizes[source] > 2 * target or total + sizes[source] > 1.5 * target:
            continue
        held.add(source)
        total += sizes[source]
        if total >= target:
            break
    return held


# ---------------------------------------------------------------- building and reading


def corpus_dir() -> Path:
    return lab_home() / "pretraining" / f"corpus-v{VERSION}"


def build_corpus(folder: Path | None = None, packages: list[tuple[str, Path]] | None = None,
                 on_progress: Callable[[str, float], None] | None = None,
                 vocab_size: int = VOCAB_SIZE) -> dict[str, Any]:
    """Extract, filter, deduplicate and split the corpus, train the tokenizer and write the token streams; returns
    the manifest. Skipped when ``folder`` already holds a finished build. Two runs that start at once on a fresh
    machine do not both build: the second waits on a lock and reads the first one's corpus. The build goes into a
    temporary folder renamed into place, so a killed build leaves no half-written corpus behind."""
    import fcntl
    import shutil

    folder = folder or corpus_dir()
    if (folder / "manifest.json").is_file():
        return read_manifest(folder)
    ensure_dir(folder.parent)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes or the process dies
        except BlockingIOError:
            if on_progress:
                on_progress("Waiting for another run that is building the corpus", 0.0)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "manifest.json").is_file():
            return read_manifest(folder)
        tmp = folder.parent / f".{folder.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)  # an unfinished build from before the lock existed
        manifest = _build(ensure_dir(tmp), packages, on_progress or (lambda stage, share: None), vocab_size)
        tmp.rename(folder)
        return manifest


def _build(folder: Path, packages: list[tuple[str, Path]] | None, report: Callable[[str, float], None],
           vocab_size: int) -> dict[str, Any]:
    started = time.time()
    packages = python_packages() if packages is None else packages
    docs: list[Document] = knowledge_documents()
    for i, (name, path) in enumerate(packages):
        docs.extend(package_documents(name, path))
        report(f"Reading docstrings: {name}", 0.7 * (i + 1) / max(len(packages), 1))
    extracted = len(docs)
    docs = deduplicate(docs)
    held = held_out_sources(docs)
    splits = {"train": [d for d in docs if d.source not in held], "val": [d for d in docs if d.source in held]}
    if not splits["train"] or not splits["val"]:
        raise ValueError(f"The corpus is too small to split: {len(docs)} documents from {len(packages)} packages.")
    with (folder / "docs.jsonl").open("w", encoding="utf-8") as out:
        for split, items in splits.items():
            for d in items:
                out.write(json.dumps({"split": split, "source": d.source, "text": d.text}) + "\n")
    report("Training the tokenizer", 0.75)
    tokenizer = train_tokenizer([d.text for d in splits["train"]], vocab_size)
    tokenizer.save_pretrained(str(folder / "tokenizer"))
    report("Tokenizing", 0.85)
    counts = {split: write_tokens(tokenizer, [d.text for d in items], folder / f"{split}.bin")
              for split, items in splits.items()}
    manifest = {
        "version": VERSION, "built": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.time() - started, 1),
        "packages": len({d.source for d in docs}), "extracted_docstrings": extracted, "documents": len(docs),
        "val_sources": sorted(held), "vocab_size": len(tokenizer), "licence": LICENCE,
        **{f"{split}_documents": len(items) for split, items in splits.items()},
        **{f"{split}_characters": sum(len(d.text) for d in items) for split, items in splits.items()},
        **{f"{split}_tokens": n for split, n in counts.items()},
    }
    write_json_atomic(folder / "manifest.json", manifest)
    return manifest


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    return json.loads(((folder or corpus_dir()) / "manifest.json").read_text())


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (GPT-2's scheme: any text encodes, no unknown token) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def write_tokens(tokenizer: Any, texts: list[str], path: Path) -> int:
    """Every text's tokens followed by EOS, as one uint16 stream; returns the token count."""
    import numpy as np

    eos = tokenizer.convert_tokens_to_ids(EOS)
    with path.open("wb") as out:
        count = 0
        for start in range(0, len(texts), 2048):
            batch = tokenizer(texts[start:start + 2048], add_special_tokens=False)["input_ids"]
            ids = np.fromiter((t for seq in batch for t in (*seq, eos)), dtype=np.uint16)
            ids.tofile(out)
            count += len(ids)
    return count


def load_tokens(split: str, folder: Path | None = None) -> Any:
    """The token stream of a split as a read-only numpy memmap."""
    import numpy as np

    return np.memmap((folder or corpus_dir()) / f"{split}.bin", dtype=np.uint16, mode="r")


def load_tokenizer(folder: Path | None = None) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str((folder or corpus_dir()) / "tokenizer"))
