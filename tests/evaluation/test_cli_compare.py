"""``lab eval-compare``: the paired comparison of two saved evaluations from the command line."""

from __future__ import annotations

import json

from scipy.stats import binomtest

from core import store
from core.cli import main


def _save(model: str, task: str, values: list[float]) -> int:
    examples = [{"id": f"e{i}", "input": "", "reference": "", "prediction": "", "scores": {"accuracy": v}} for i, v in enumerate(values)]
    return store.save_evaluation(model, task, {"accuracy": sum(values) / len(values)}, {}, examples, 1.0)


def test_eval_compare_prints_the_verdict_and_the_sign_test(capsys):
    a = _save("A", "sentiment", [0, 0, 1, 0, 1, 0, 0, 1, 0, 0])
    b = _save("B", "sentiment", [1, 1, 1, 1, 1, 0, 1, 1, 1, 1])
    assert main(["eval-compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["wins"], result["losses"], result["ties"]) == (6, 0, 4)
    assert result["sign_p"] == binomtest(6, 6, 0.5).pvalue and result["metric"] == "accuracy"


def test_eval_compare_of_different_tasks_is_one_clear_line(capsys):
    a, b = _save("A", "sentiment", [1, 0]), _save("B", "knowledge_mc", [1, 0])
    assert main(["eval-compare", str(a), str(b)]) == 2
    assert "different tasks" in capsys.readouterr().err


def test_eval_compare_of_a_missing_evaluation_is_one_clear_line(capsys):
    assert main(["eval-compare", "41", "42"]) == 2
    assert "No evaluation 41" in capsys.readouterr().err
