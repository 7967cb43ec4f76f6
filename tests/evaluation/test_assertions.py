"""core.evaluation.assertions: each check against a reference (rouge-score for ROUGE-L), and clear errors."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from core.evaluation import Assertion, run_assertions
from core.evaluation.assertions import check


@pytest.mark.parametrize("kind, value, output, expected", [
    ("contains", "Paris", "The capital is paris.", True),
    ("contains", "Lyon", "The capital is Paris.", False),
    ("not_contains", "sorry", "Sorry, I cannot.", False),
    ("regex", r"\b\d{4}\b", "It opened in 1889.", True),
    ("regex", r"^Yes", "No, yes.", False),
    ("not_empty", "", "  \n ", False),
    ("max_length", "3", "one two three", True),
    ("max_length", "3", "one two three four", False),
])
def test_each_check(kind, value, output, expected):
    assert check(Assertion(kind, value), output, "") is expected


def test_rouge_l_threshold_agrees_with_rouge_score():
    reference, output = "Maya cannot come to the party.", "Maya will not come to the party on Saturday."
    f = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference, output)["rougeL"].fmeasure
    assert check(Assertion("rouge_l", str(round(f - 0.01, 3))), output, reference)
    assert not check(Assertion("rouge_l", str(round(f + 0.01, 3))), output, reference)


@pytest.mark.parametrize("kind, value, message", [
    ("regex", "([a-z", r"The regex '\(\[a-z' is not valid: unterminated character set"),
    ("rouge_l", "1.5", "between 0 and 1"),
    ("rouge_l", "high", "needs a number"),
    ("max_length", "2.5", "whole number"),
    ("contains", "", "needs a value"),
    ("shouts", "x", "Unknown assertion 'shouts'"),
])
def test_bad_assertions_are_clear_errors(kind, value, message):
    with pytest.raises(ValueError, match=message):
        Assertion(kind, value)


def test_pass_and_fail_counts_per_model_and_per_example():
    def ev(model, outputs):
        return {"model": model, "examples": [{"id": f"e{i}", "reference": "ref", "prediction": p} for i, p in enumerate(outputs)]}

    checks = [Assertion("not_empty"), Assertion("contains", "bank")]
    summary, rows = run_assertions([ev("A", ["the bank", "", "a river"]), ev("B", ["bank", "bank", "bank"])], checks)
    assert [(s["model"], s["passed"], s["failed"]) for s in summary] == [("A", 3, 3), ("B", 6, 0)]  # A: 2 + 0 + 1 (a river is not empty)
    assert summary[0]["✓ contains bank"] == 1 and summary[1]["pass rate"] == 1.0
    assert rows[1]["A passed"] == "0/2" and rows[1]["A failed"] == "not_empty, contains bank" and rows[1]["B passed"] == "2/2"


def test_no_assertions_is_refused():
    with pytest.raises(ValueError, match="at least one assertion"):
        run_assertions([], [])
