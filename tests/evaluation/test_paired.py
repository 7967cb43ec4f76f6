"""core.evaluation.paired: the sign test against scipy on hand data, identical models, a clear shift, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from core.evaluation import EvalError, compare_pair


def evaluation(eid: int, model: str, values, metric: str = "rougeL_f", task: str = "dialogsum", ids=None) -> dict:
    ids = ids or [f"e{i}" for i in range(len(values))]
    return {"id": eid, "model": model, "task": task, "metrics": {metric: float(np.mean(values))},
            "examples": [{"id": i, "input": "", "reference": "", "prediction": "", "scores": {metric: float(v)}}
                         for i, v in zip(ids, values)]}


def test_the_sign_test_drops_ties_and_matches_scipy():
    a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.5]
    b = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.6, 0.8, 0.9, 0.6]  # 7 better, 1 worse, 2 tied
    result = compare_pair(evaluation(1, "A", a), evaluation(2, "B", b), "rougeL_f")
    assert (result.wins, result.losses, result.ties) == (7, 1, 2)
    assert result.sign_p == pytest.approx(binomtest(7, 8, 0.5).pvalue)
    assert result.difference == pytest.approx(np.mean(b) - np.mean(a))


def test_identical_models_are_not_distinguishable():
    values = list(np.random.default_rng(1).uniform(size=25))
    result = compare_pair(evaluation(1, "A", values), evaluation(2, "B", values), "rougeL_f")
    assert not result.significant and result.p_value == 1.0 and result.sign_p == 1.0
    assert "not distinguishable from noise" in result.verdict


def test_a_clear_shift_is_significant_and_the_verdict_names_the_better_model():
    rng = np.random.default_rng(2)
    a = rng.uniform(0.1, 0.5, size=40)
    b = a + 0.1 + rng.normal(0, 0.02, size=40)
    result = compare_pair(evaluation(1, "A", a), evaluation(2, "B", b), "rougeL_f", labels=("A", "B"))
    assert result.significant and result.p_value < 0.01 and result.ci_low > 0.05
    assert result.ci_low <= result.difference <= result.ci_high
    assert result.verdict.startswith("B is better than A on rougeL_f: +0.1") and "real" in result.verdict


def test_lower_perplexity_is_better():
    nll_a, nll_b = np.full(20, 30.0), np.full(20, 20.0)
    make = lambda eid, m, nll: {"id": eid, "model": m, "task": "general_text", "metrics": {}, "examples": [  # noqa: E731
        {"id": f"e{i}", "input": "", "reference": "", "prediction": "", "scores": {"perplexity": float(np.exp(x / 10)),
                                                                                   "nll": float(x + i), "tokens": 10.0}}
        for i, x in enumerate(nll)]}
    result = compare_pair(make(1, "A", nll_a), make(2, "B", nll_b), "perplexity", labels=("A", "B"))
    assert result.difference < 0 and result.wins == 20 and result.verdict.startswith("B is better than A")


def test_only_shared_examples_are_compared():
    a = evaluation(1, "A", [0.1, 0.2, 0.3], ids=["x", "y", "z"])
    b = evaluation(2, "B", [0.5, 0.2, 0.9], ids=["z", "y", "w"])
    result = compare_pair(a, b, "rougeL_f")
    assert result.n == 2 and result.difference == pytest.approx((0.5 + 0.2) / 2 - (0.3 + 0.2) / 2)


def test_different_tasks_are_refused():
    with pytest.raises(EvalError, match="different tasks"):
        compare_pair(evaluation(1, "A", [1, 0]), evaluation(2, "B", [1, 0], task="sentiment"), "rougeL_f")


def test_no_shared_examples_is_refused():
    with pytest.raises(EvalError, match="share no examples"):
        compare_pair(evaluation(1, "A", [1, 0], ids=["a", "b"]), evaluation(2, "B", [1, 0], ids=["c", "d"]), "rougeL_f")


def test_a_metric_the_examples_lack_is_refused():
    with pytest.raises(EvalError, match="no .acc_norm. score"):
        compare_pair(evaluation(1, "A", [1, 0]), evaluation(2, "B", [1, 0]), "acc_norm")


def test_under_the_null_about_five_percent_of_comparisons_are_significant():
    """Two models whose scores are draws from the same distribution: the bootstrap test's false-positive rate is
    close to its 5% level (200 simulated pairs; the binomial spread of that share is about 1.5 points)."""
    rng = np.random.default_rng(0)
    p_values = [compare_pair(evaluation(1, "A", rng.normal(0, 1, 30)), evaluation(2, "B", rng.normal(0, 1, 30)), "rougeL_f",
                             iters=200, seed=s).p_value for s in range(200)]
    assert 0.01 <= np.mean(np.array(p_values) < 0.05) <= 0.10


def test_corpus_bleu_is_compared_on_resampled_corpora_and_the_sign_test_on_sentence_bleu():
    from sacrebleu.metrics import BLEU

    references = ["the cat sat on the mat", "a dog runs in the park", "it is cold today", "we eat bread and cheese"]
    outputs_a = ["a cat is on a mat", "the dog is in a park", "today is cold", "we eat cheese"]

    def ev(eid, outputs):  # summaries store ROUGE only; BLEU comes from the texts
        return {"id": eid, "model": str(eid), "task": "dialogsum", "metrics": {}, "examples": [
            {"id": f"e{i}", "input": "", "reference": r, "prediction": p, "scores": {"rougeL_f": 0.0}}
            for i, (p, r) in enumerate(zip(outputs, references))]}

    result = compare_pair(ev(1, outputs_a), ev(2, references), "bleu")
    assert result.score_b == pytest.approx(100.0)
    assert result.score_a == pytest.approx(BLEU().corpus_score(outputs_a, [references]).score)
    assert (result.wins, result.losses, result.ties) == (4, 0, 0)
