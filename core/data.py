"""Datasets for prompting, fine-tuning and evaluation: the bundled JSONL files and the user's uploads.

Holds: ``TaskData`` (examples with an input, a target and a split), the bundled datasets in ``assets/datasets/``,
reading uploaded CSV/JSONL bytes, and validation that reports bad rows by line number.

Uploads are kept under ``$LAB_HOME/uploads/`` by ``save_upload``: named by a hash of their bytes and a safe,
length-limited form of the name they were sent with (which may hold ``/``, be 300 characters long or be empty);
the name as sent is kept beside it for display (``upload_name``).

Does not hold: prompt building (``core.prompting``) or training (``core.finetune``).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DATASETS_DIR = Path(__file__).resolve().parents[1] / "assets" / "datasets"
Kind = Literal["classification", "generation"]
SPLITS = ("pool", "test")  # pool: where few-shot examples (and training data) come from; test: held out


class DataError(ValueError):
    """A dataset or an upload cannot be used; the message says which line or column and why."""


@dataclass(frozen=True)
class Example:
    id: str
    input: str
    target: str
    split: str


@dataclass(frozen=True)
class TaskData:
    """A task's examples. Classification targets are one of ``labels``; generation targets are free text."""

    name: str
    kind: Kind
    examples: tuple[Example, ...]
    labels: tuple[str, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[Example]:
        return [e for e in self.examples if e.split == name]


@dataclass(frozen=True)
class BundledDataset:
    file: str
    kind: Kind
    input: str
    target: str
    description: str


BUNDLED: dict[str, BundledDataset] = {
    "sentiment": BundledDataset("sentiment.jsonl", "classification", "text", "label",
                                "320 short reviews (films, products, restaurants, apps, hotels), positive or negative"),
    "dialogsum": BundledDataset("dialogsum.jsonl", "generation", "dialogue", "summary",
                                "160 everyday dialogues, each with a one-to-two-sentence summary"),
}


def load_bundled(name: str) -> TaskData:
    """One of the datasets shipped in assets/datasets/ (written for this project; see each file's .md)."""
    if name not in BUNDLED:
        raise DataError(f"Unknown dataset {name!r}; bundled datasets: {', '.join(BUNDLED)}")
    spec = BUNDLED[name]
    records = read_records((DATASETS_DIR / spec.file).read_bytes(), spec.file)
    return build_task(records, name, spec.kind, spec.input, spec.target, split_column="split", description=spec.description)


def read_records(data: bytes, filename: str) -> list[dict[str, Any]]:
    """Rows of a CSV (header line first) or JSONL (one object per line) file, as dicts. Raises DataError."""
    if not data.strip():
        raise DataError(f"{filename} is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{filename} is not UTF-8 text (byte {err.start} cannot be decoded); save it as UTF-8.") from err
    if filename.lower().endswith((".jsonl", ".json", ".ndjson")):
        return _read_jsonl(text, filename)
    if filename.lower().endswith((".csv", ".tsv")):
        return _read_csv(text, filename, "\t" if filename.lower().endswith(".tsv") else ",")
    raise DataError(f"{filename}: use a .csv or .jsonl file.")


def lines_or_jsonl(text: str, name: str, key: str) -> list[dict[str, Any]]:
    """Rows of a file that holds one item per line (each becomes ``{key: line}``), or JSONL with a ``key`` string on
    each line (a file is JSONL when its first line starts with "{"). DataError names the file and the bad line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{name} is empty: one {key} per line, or JSONL with a \"{key}\" on each line.")
    if not lines[0].lstrip().startswith("{"):
        return [{key: line} for line in lines]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{name}, line {number}: not JSON ({err.msg}).") from None
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            raise DataError(f"{name}, line {number}: needs a \"{key}\" string.")
        rows.append(row)
    return rows


def json_value(line: str) -> Any:
    """One line of JSONL, or DataError with the reason ("not valid JSON (...)", "the JSON is nested too deeply")."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"not valid JSON ({err.msg})") from err
    except RecursionError:
        raise DataError("the JSON is nested too deeply to read") from None


def _read_jsonl(text: str, filename: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json_value(line)
        except DataError as err:
            raise DataError(f"{filename}, line {number}: {err}.") from err
        if not isinstance(row, dict):
            raise DataError(f"{filename}, line {number}: expected a JSON object, got {type(row).__name__}.")
        rows.append({**row, "_line": number})
    return rows


CSV_FIELD_MAX = 1_000_000  # characters in one CSV cell (the csv module's own default is 131,072)


def _read_csv(text: str, filename: str, delimiter: str) -> list[dict[str, Any]]:
    csv.field_size_limit(CSV_FIELD_MAX)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows = []
    try:
        if not reader.fieldnames:
            raise DataError(f"{filename} has no header line.")
        for row in reader:
            if None in row:
                raise DataError(f"{filename}, line {reader.line_num}: more values than columns in the header.")
            rows.append({**row, "_line": reader.line_num})
    except csv.Error as err:  # a cell over CSV_FIELD_MAX, a NUL byte, an unclosed quote at the end
        raise DataError(f"{filename}, line {reader.line_num}: not readable as CSV ({err}).") from None
    return rows


def columns_of(records: list[dict[str, Any]]) -> list[str]:
    """The column names present in the records, in first-seen order (for the upload's column mapping)."""
    seen: dict[str, None] = {}
    for row in records:
        seen.update(dict.fromkeys(k for k in row if k != "_line"))
    return list(seen)


def build_task(
    records: list[dict[str, Any]],
    name: str,
    kind: Kind,
    input_column: str,
    target_column: str,
    split_column: str | None = None,
    test_fraction: float = 0.6,
    seed: int = 0,
    description: str = "",
) -> TaskData:
    """Validate records and make a TaskData. Without a split column, a seeded shuffle assigns pool and test."""
    if not records:
        raise DataError(f"{name} has no rows.")
    columns = columns_of(records)
    for needed in (input_column, target_column, split_column):
        if needed and needed not in columns:
            raise DataError(f"{name} has no column {needed!r}; its columns are: {', '.join(columns)}.")
    examples = []
    for index, row in enumerate(records):
        line = row.get("_line", index + 1)
        values = {}
        for column in (input_column, target_column):
            value = row.get(column)
            if value is None or not str(value).strip():
                raise DataError(f"{name}, line {line}: column {column!r} is empty.")
            values[column] = str(value).strip()
        split = str(row.get(split_column, "")).strip() if split_column else ""
        if split_column and split not in SPLITS:
            raise DataError(f"{name}, line {line}: split must be one of {', '.join(SPLITS)}, got {split!r}.")
        examples.append(Example(str(row.get("id", f"{name}-{index + 1}")), values[input_column], values[target_column], split))
    if not split_column:
        examples = _assign_splits(examples, test_fraction, seed)
    labels: tuple[str, ...] = ()
    if kind == "classification":
        labels = tuple(sorted({e.target for e in examples}))
        if len(labels) < 2:
            raise DataError(f"{name}: every row has the label {labels[0]!r}; a classification task needs at least two labels.")
        if len(labels) > 20:
            raise DataError(f"{name}: {len(labels)} different labels; is {target_column!r} really a label column?")
    for split in SPLITS:
        if not any(e.split == split for e in examples):
            raise DataError(f"{name}: no rows in the {split!r} split.")
    return TaskData(name, kind, tuple(examples), labels, description)


def _assign_splits(examples: list[Example], test_fraction: float, seed: int) -> list[Example]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_test = min(max(1, round(len(examples) * test_fraction)), len(examples) - 1)
    test = set(order[:n_test])
    return [Example(e.id, e.input, e.target, "test" if i in test else "pool") for i, e in enumerate(examples)]


# ---------------------------------------------------------------- uploads

UPLOAD_NAME_MAX = 80


def save_upload(data: bytes, filename: str) -> Path:
    """Keep an upload's bytes under $LAB_HOME/uploads/ and return the path (a child process can read it; the same
    upload twice is one file). The stored name is safe whatever was sent; ``upload_name(path)`` gives the original."""
    import hashlib

    from core.files import disk_full_guard, write_bytes_atomic
    from core.paths import ensure_dir, lab_home, safe_name

    original = str(filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
    stem, dot, suffix = original.rpartition(".")
    suffix = safe_name(suffix, 10).lower() if dot and stem else ""
    base = safe_name(stem if dot and stem else original, UPLOAD_NAME_MAX - len(suffix) - 1)
    folder = ensure_dir(lab_home() / "uploads")
    path = folder / f"{hashlib.sha256(data).hexdigest()[:12]}-{base}{'.' + suffix if suffix else ''}"
    with disk_full_guard(f"the upload {original!r}"):
        write_bytes_atomic(path, data)
        write_bytes_atomic(path.with_name(path.name + ".name"), original[:500].encode())
    return path


def upload_name(path: Path) -> str:
    """The name an upload was sent with (its stored file name if that was not recorded)."""
    sidecar = Path(path).with_name(Path(path).name + ".name")
    return sidecar.read_text(errors="replace") if sidecar.is_file() else Path(path).name
