"""Evaluation tasks: the bundled ones and uploads in the same schema, validated with line-numbered errors.

| kind            | bundled         | the model...                                         | metrics                                   |
|-----------------|-----------------|------------------------------------------------------|-------------------------------------------|
| multiple_choice | knowledge_mc    | scores each choice by log-likelihood (lm-eval style)  | acc, acc_norm                             |
| classification  | sentiment       | scores each label by log-likelihood                   | accuracy                                  |
| summarization   | dialogsum       | writes a summary (greedy, batched)                    | ROUGE-1/2/L/Lsum P/R/F, BLEU              |
| translation     | translation     | writes a French translation (greedy, batched)         | BLEU (sacrebleu, with signature), exact   |
| perplexity      | general_text    | reads each text                                       | perplexity                                |

Holds: ``EvalTask`` and ``Item``, ``load_task`` (a bundled name or ``KIND:PATH``), ``parse_task`` (bytes of a JSONL or
CSV upload), the schemas, and each kind's headline metric. Does not hold: scoring (``core.evaluation.scorers``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.data import DATASETS_DIR, DataError, read_records

KINDS = ("multiple_choice", "classification", "summarization", "translation", "perplexity")
# The fields each kind's file must have (the bundled files have them too); "split" is optional: pool/dev rows become
# few-shot examples, test rows are scored; without it every row is scored.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "multiple_choice": ("question", "choices", "answer"),
    "classification": ("text", "label"),
    "summarization": ("dialogue", "summary"),
    "translation": ("source", "target"),
    "perplexity": ("text",),
}
BUNDLED_TASKS: dict[str, tuple[str, str, str]] = {  # name -> (kind, file, description)
    "knowledge_mc": ("multiple_choice", "knowledge_mc.jsonl", "School-level multiple-choice questions in 5 subjects (MMLU-style)"),
    "sentiment": ("classification", "sentiment.jsonl", "Reviews to classify as positive or negative"),
    "dialogsum": ("summarization", "dialogsum.jsonl", "Everyday dialogues to summarize in one or two sentences"),
    "translation": ("translation", "translation.jsonl", "Everyday English sentences to translate into French"),
    "general_text": ("perplexity", "general_text.jsonl", "Encyclopedia-style paragraphs: how well does the model predict them?"),
}
HEADLINE = {  # the metric a leaderboard shows first for each kind; higher is better except perplexity
    "multiple_choice": "acc_norm", "classification": "accuracy", "summarization": "rougeL_f", "translation": "bleu",
    "perplexity": "perplexity",
}
LOWER_IS_BETTER = {"perplexity"}


class EvalError(ValueError):
    """An evaluation cannot run as asked (bad task file, a task the model cannot do); the message says why."""


@dataclass(frozen=True)
class Item:
    """One example: the input, the reference answer and, for multiple choice, the choices and the right one."""

    id: str
    input: str
    reference: str
    split: str = "test"
    choices: tuple[str, ...] = ()
    answer: int = -1
    subject: str = ""


@dataclass(frozen=True)
class EvalTask:
    name: str
    kind: str
    items: tuple[Item, ...]
    description: str = ""

    @property
    def test(self) -> list[Item]:
        return [i for i in self.items if i.split == "test"]

    @property
    def pool(self) -> list[Item]:
        return [i for i in self.items if i.split != "test"]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({i.reference for i in self.items})) if self.kind == "classification" else ()


# ---------------------------------------------------------------- loading tasks


def load_task(name: str) -> EvalTask:
    """A bundled task by name, or ``kind:path`` for a file in one of the SCHEMAS (e.g. ``summarization:my.jsonl``)."""
    if name in BUNDLED_TASKS:
        kind, file, description = BUNDLED_TASKS[name]
        return parse_task((DATASETS_DIR / file).read_bytes(), file, kind, name=name, description=description)
    kind, sep, path = name.partition(":")
    if not sep or kind not in KINDS:
        raise EvalError(f"Unknown task {name!r}; bundled tasks: {', '.join(BUNDLED_TASKS)}, or KIND:PATH with KIND one of {', '.join(KINDS)}.")
    file = Path(path)
    if not file.is_file():
        raise EvalError(f"No file {path!r} for task {name!r}.")
    return parse_task(file.read_bytes(), file.name, kind, name=name)


def parse_task(data: bytes, filename: str, kind: str, name: str | None = None, description: str = "") -> EvalTask:
    """Validate a task file (JSONL or CSV) of the given kind. Every problem names its line; nothing is half-loaded."""
    if kind not in KINDS:
        raise EvalError(f"Unknown task kind {kind!r}; choose one of {', '.join(KINDS)}.")
    try:
        records = read_records(data, filename)
    except DataError as err:
        raise EvalError(str(err)) from err
    items = [_item(row, kind, filename, index) for index, row in enumerate(records)]
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise EvalError(f"{filename}: the id {duplicate!r} appears more than once.")
    task = EvalTask(name or f"{kind}:{filename}", kind, tuple(items), description)
    if not task.test:
        raise EvalError(f"{filename}: no rows to score (every row's split is pool/dev; mark some as test).")
    if kind == "classification" and len(task.labels) < 2:
        raise EvalError(f"{filename}: every row has the same label; a classification task needs at least two.")
    return task


def _item(row: dict[str, Any], kind: str, filename: str, index: int) -> Item:
    line = row.get("_line", index + 1)
    where = f"{filename}, line {line}"
    missing = [f for f in SCHEMAS[kind] if row.get(f) is None or (isinstance(row.get(f), str) and not row[f].strip())]
    if missing:
        raise EvalError(f"{where}: missing {', '.join(repr(m) for m in missing)} (a {kind} task needs {', '.join(SCHEMAS[kind])}).")
    split = str(row.get("split") or "test").strip()
    split = "pool" if split in ("pool", "dev", "train") else split
    if split not in ("pool", "test"):
        raise EvalError(f"{where}: split must be pool, dev or test, got {split!r}.")
    item_id = str(row.get("id") or f"{kind}-{index + 1}")
    if kind != "multiple_choice":
        text_field, reference_field = {"classification": ("text", "label"), "summarization": ("dialogue", "summary"),
                                       "translation": ("source", "target"), "perplexity": ("text", "text")}[kind]
        return Item(item_id, str(row[text_field]).strip(), str(row[reference_field]).strip(), split)
    choices = row["choices"]
    if isinstance(choices, str):  # a CSV cell holding a JSON list
        try:
            choices = json.loads(choices)
        except json.JSONDecodeError as err:
            raise EvalError(f"{where}: choices must be a JSON list of strings.") from err
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c.strip() for c in choices):
        raise EvalError(f"{where}: choices must be a list of at least two non-empty strings.")
    choices = [c.strip() for c in choices]
    if len(set(choices)) != len(choices):
        raise EvalError(f"{where}: two choices are the same.")
    answer = _answer_index(row["answer"], choices, where)
    return Item(item_id, str(row["question"]).strip(), choices[answer], split, tuple(choices), answer, str(row.get("subject") or ""))


def _answer_index(answer: Any, choices: list[str], where: str) -> int:
    """The answer as a 0-based index, a letter (A, B, ...) or the text of the right choice."""
    text = str(answer).strip()
    if text.isdigit() and int(text) < len(choices):
        return int(text)
    if len(text) == 1 and text.upper().isalpha() and ord(text.upper()) - ord("A") < len(choices):
        return ord(text.upper()) - ord("A")
    if text in choices:
        return choices.index(text)
    raise EvalError(f"{where}: answer {answer!r} is not an index, a letter or one of the {len(choices)} choices.")


def task_kind(task_name: str) -> str:
    if task_name in BUNDLED_TASKS:
        return BUNDLED_TASKS[task_name][0]
    return task_name.partition(":")[0]
