"""core.evaluation.stats: standard errors against a hand computation (numpy) and the bootstrap against a direct
re-implementation and against its statistical expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation import stats


def evaluation(metrics: dict, scores: list[dict], predictions=None, references=None) -> dict:
    n = len(scores)
    predictions = predictions or [""] * n
    references = references or [""] * n
    return {"id": 1, "model": "m", "task": "t", "metrics": metrics,
            "examples": [{"id": f"e{i}", "input": "", "reference": r, "prediction": p, "scores": s}
                         for i, (s, p, r) in enumerate(zip(scores, predictions, references))]}


def test_binomial_stderr_of_an_accuracy_is_sqrt_p_1_minus_p_over_n_minus_1():
    hits = [1.0] * 13 + [0.0] * 7
    p, n = 13 / 20, 20
    assert stats.mean_stderr(hits) == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))
    assert stats.mean_stderr(hits) == pytest.approx(np.std(hits, ddof=1) / math.sqrt(n))


def test_every_mean_metric_gets_the_sample_std_over_sqrt_n_and_counts_get_none():
    rng = np.random.default_rng(0)
    rouge = rng.uniform(size=30)
    exact = (rng.uniform(size=30) > 0.7).astype(float)
    e = evaluation({"rougeL_f": rouge.mean(), "exact_match": exact.mean(), "empty_outputs": 0.0},
                   [{"rougeL_f": float(r), "exact_match": float(x)} for r, x in zip(rouge, exact)])
    se = stats.stderrs(e)
    assert se["rougeL_f"] == pytest.approx(rouge.std(ddof=1) / math.sqrt(30))
    assert se["exact_match"] == pytest.approx(exact.std(ddof=1) / math.sqrt(30))
    assert "empty_outputs" not in se


def test_one_example_has_no_standard_error():
    assert math.isnan(stats.mean_stderr([1.0]))


def test_bleu_bootstrap_equals_sacrebleu_on_each_resample_redone_directly():
    from sacrebleu.metrics import BLEU

    predictions = ["the cat sat on the mat", "a dog runs in the park", "it is cold today", "we eat bread and cheese",
                   "the train leaves at noon", "she reads a long book"]
    references = ["the cat sat on a mat", "the dog runs in a park", "today it is very cold", "we eat cheese and bread",
                  "the train leaves at noon", "she is reading a book"]
    e = evaluation({"bleu": 0.0}, [{"bleu": 0.0}] * 6, predictions, references)
    iters, seed = 200, 7
    draws = np.random.default_rng(seed).integers(0, 6, (iters, 6))  # the same draws, scored by sacrebleu itself
    direct = [BLEU().corpus_score([predictions[i] for i in row], [[references[i] for i in row]]).score for row in draws]
    assert stats.bootstrap_stderr("bleu", e["examples"], iters, seed) == pytest.approx(np.std(direct, ddof=1), rel=1e-9)
    full = stats.statistic("bleu", e["examples"])(np.ones((1, 6)))[0]
    assert full == pytest.approx(BLEU().corpus_score(predictions, [references]).score)


def test_bootstrap_stderr_of_a_mean_approaches_std_over_sqrt_n():
    values = np.random.default_rng(3).normal(0.4, 0.2, size=2000)
    examples = [{"id": str(i), "scores": {"x": float(v)}} for i, v in enumerate(values)]
    expected = values.std(ddof=1) / math.sqrt(len(values))
    assert stats.bootstrap_stderr("x", examples, iters=1000, seed=0) == pytest.approx(expected, rel=0.08)


def test_perplexity_is_bootstrapped_from_summed_log_likelihoods():
    nll, tokens = [12.0, 30.0, 8.0, 20.0], [10.0, 15.0, 8.0, 12.0]
    e = evaluation({"perplexity": math.exp(sum(nll) / sum(tokens))},
                   [{"perplexity": math.exp(a / b), "nll": a, "tokens": b} for a, b in zip(nll, tokens)])
    draws = np.random.default_rng(5).integers(0, 4, (300, 4))
    direct = [math.exp(sum(nll[i] for i in row) / sum(tokens[i] for i in row)) for row in draws]
    assert stats.stderrs(e, iters=300, seed=5)["perplexity"] == pytest.approx(np.std(direct, ddof=1))


def test_the_same_seed_gives_the_same_error_bar():
    examples = [{"id": str(i), "scores": {"x": float(i % 3)}} for i in range(40)]
    assert stats.bootstrap_stderr("x", examples) == stats.bootstrap_stderr("x", examples)
