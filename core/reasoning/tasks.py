"""The reasoning tasks and how an answer is read and scored.

``arithmetic.jsonl``: word problems of 1 to 4 steps with numeric answers, each with a worked chain of thought and a
PAL program (dev rows are the exemplars; test rows are scored). ``two_hop.jsonl``: questions over the bundled
Lumenfold knowledge base that need two lookups, with gold answers and the two source documents.

``extract_number`` reads the answer out of a model's text ("The answer is 12.50." first, else a number), and
``numbers_match`` compares numbers with a small tolerance; ``text_matches`` scores short text answers by normalised
containment of the gold answer or an alias, as the RAG page does.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from core.data import DATASETS_DIR, DataError

SPLITS = ("dev", "test")


@dataclass(frozen=True)
class Problem:
    id: str
    split: str
    category: str
    steps: int
    question: str
    answer: float
    cot: str
    program: str


@dataclass(frozen=True)
class HopQuestion:
    id: str
    split: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    bridge: str
    sources: tuple[str, ...]
    kind: str


def _rows(name: str) -> list[dict]:
    path = DATASETS_DIR / name
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{name}, line {number}: not JSON ({err.msg}).") from err
    return rows


@lru_cache(maxsize=1)
def _problems() -> tuple[Problem, ...]:
    return tuple(Problem(r["id"], r["split"], r["category"], int(r["steps"]), r["question"], float(r["answer"]), r["cot"],
                         r["program"]) for r in _rows("arithmetic.jsonl"))


@lru_cache(maxsize=1)
def _hop_questions() -> tuple[HopQuestion, ...]:
    return tuple(HopQuestion(r["id"], r["split"], r["question"], r["answer"], tuple(r.get("aliases", ())), r["bridge"],
                             tuple(h["source"] for h in r["hops"]), r["kind"]) for r in _rows("two_hop.jsonl"))


def load_problems(split: str | None = None) -> list[Problem]:
    """The arithmetic word problems, all or one split."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: choose dev or test.")
    return [p for p in _problems() if split is None or p.split == split]


def load_hop_questions(split: str | None = None) -> list[HopQuestion]:
    """The two-hop questions over the Lumenfold knowledge base, all or one split."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: choose dev or test.")
    return [q for q in _hop_questions() if split is None or q.split == split]


def find_task(task_id: str) -> Problem | HopQuestion:
    for task in (*_problems(), *_hop_questions()):
        if task.id == task_id:
            return task
    raise ValueError(f"No bundled problem has the id {task_id!r}.")


# ---------------------------------------------------------------- reading and scoring answers

NUMBER = r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # 1,234.50 is one number; "3,4" is two
ANSWER_IS = re.compile(r"answer(?:\s+is|\s*[:=])", re.IGNORECASE)
SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")


def _to_float(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("−", "-")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_number(text: str | None, prefer: str = "last") -> float | None:
    """The number a text gives as its answer: from its last "the answer is ..." sentence when it has one (the
    result after the last "=", as in "The answer is 40 - 20 = 20."), else the last number (``prefer="first"``: the
    first, for direct answers that go on talking). None when there is no number."""
    if not text:
        return None
    for match in reversed(list(ANSWER_IS.finditer(text))):
        sentence = SENTENCE_END.split(text[match.end():], maxsplit=1)[0]
        found = re.findall(NUMBER, sentence.rsplit("=", 1)[-1])
        if found:
            return _to_float(found[0])
    found = re.findall(NUMBER, text)
    if not found:
        return None
    return _to_float(found[-1] if prefer == "last" else found[0])


def numbers_match(predicted: float | None, gold: float) -> bool:
    """Equal to within a millionth (relative) or half a thousandth (absolute): 12.5 matches 12.50 and 12.5000001."""
    return predicted is not None and math.isclose(predicted, gold, rel_tol=1e-6, abs_tol=5e-4)


def squash(text: str) -> str:
    return " ".join(text.lower().replace("*", "").split())


def text_matches(text: str | None, gold: str, aliases: tuple[str, ...] = ()) -> bool:
    """The gold answer or an alias appears in the text (case, spacing and markdown bold ignored)."""
    return bool(text) and any(squash(option) in squash(text) for option in (gold, *aliases) if option.strip())


def format_number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
