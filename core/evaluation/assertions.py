"""Assertions on model outputs, as promptfoo has them: checks each stored prediction must pass, with pass/fail counts.

| kind         | value             | passes when the output...                                   |
|--------------|-------------------|-------------------------------------------------------------|
| contains     | text              | contains the text (case-insensitive)                         |
| not_contains | text              | does not contain the text (case-insensitive)                 |
| regex        | a Python regex    | matches it somewhere (``re.search``)                         |
| rouge_l      | threshold 0-1     | has ROUGE-L F against the reference >= the threshold         |
| not_empty    | (none)            | has any non-space character                                  |
| max_length   | words             | has at most that many words                                  |

They run on stored results, so no model runs again. Holds: ``Assertion`` (validated), ``check`` and
``run_assertions``. Does not hold: the metrics (``core.evaluation.metrics``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.evaluation import metrics

KINDS: dict[str, str] = {
    "contains": "the output contains this text (case-insensitive)",
    "not_contains": "the output does not contain this text (case-insensitive)",
    "regex": "the output matches this regular expression (Python re.search)",
    "rouge_l": "ROUGE-L F of the output against the reference is at least this (0 to 1)",
    "not_empty": "the output is not empty",
    "max_length": "the output has at most this many words",
}
NEEDS_TEXT = ("contains", "not_contains", "regex")
NEEDS_NUMBER = ("rouge_l", "max_length")


@dataclass(frozen=True)
class Assertion:
    kind: str
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown assertion {self.kind!r}; choose one of {', '.join(KINDS)}.")
        if self.kind in NEEDS_TEXT and not self.value:
            raise ValueError(f"A {self.kind} assertion needs a value: {KINDS[self.kind]}.")
        if self.kind == "regex":
            try:
                re.compile(self.value)
            except re.error as err:
                raise ValueError(f"The regex {self.value!r} is not valid: {err}.") from None
        if self.kind == "rouge_l":
            number = _number(self.value, self.kind)
            if not 0.0 <= number <= 1.0:
                raise ValueError(f"A rouge_l threshold is between 0 and 1, got {self.value!r}.")
        if self.kind == "max_length" and (_number(self.value, self.kind) < 0 or not float(self.value).is_integer()):
            raise ValueError(f"max_length is a whole number of words >= 0, got {self.value!r}.")

    @property
    def label(self) -> str:
        return self.kind if self.kind == "not_empty" else f"{self.kind} {self.value}"


def _number(value: str, kind: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"A {kind} assertion needs a number, got {value!r}.") from None


def check(assertion: Assertion, prediction: str, reference: str) -> bool:
    """Whether one output passes one assertion."""
    kind, value = assertion.kind, assertion.value
    if kind == "contains":
        return value.lower() in prediction.lower()
    if kind == "not_contains":
        return value.lower() not in prediction.lower()
    if kind == "regex":
        return re.search(value, prediction) is not None
    if kind == "not_empty":
        return bool(prediction.strip())
    if kind == "max_length":
        return len(prediction.split()) <= int(float(value))
    return metrics.rouge([prediction], [reference])[0]["rougeL"]["f"] >= float(value)  # rouge_l


def run_assertions(evaluations: list[dict[str, Any]], assertions: list[Assertion],
                   labels: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every assertion on every stored output. Returns (per model: passed, failed, pass rate and each assertion's
    pass count; per example: how many of each model's assertions passed, and which failed)."""
    if not assertions:
        raise ValueError("Add at least one assertion.")
    labels = labels or [e["model"] for e in evaluations]
    summary, by_id = [], {}
    for label, evaluation in zip(labels, evaluations):
        totals = {a.label: 0 for a in assertions}
        passed = failed = 0
        for example in evaluation["examples"]:
            results = [check(a, example["prediction"], example["reference"]) for a in assertions]
            passed += sum(results)
            failed += len(results) - sum(results)
            for a, ok in zip(assertions, results):
                totals[a.label] += ok
            row = by_id.setdefault(example["id"], {"id": example["id"], "reference": example["reference"]})
            row[f"{label} output"] = example["prediction"]
            row[f"{label} passed"] = f"{sum(results)}/{len(results)}"
            row[f"{label} failed"] = ", ".join(a.label for a, ok in zip(assertions, results) if not ok)
        checks = passed + failed
        summary.append({"model": label, "passed": passed, "failed": failed, "pass rate": passed / checks if checks else 0.0,
                        **{f"✓ {name}": count for name, count in totals.items()}})
    return summary, list(by_id.values())
