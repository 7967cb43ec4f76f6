"""core.safety.guardrail: the classifier's figures on the held-out split, hard negatives, batching, the CLI and the
detoxification reward. Figures are checked against scikit-learn's metrics and the library's own predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.safety import guardrail as g

F1_FLOOR = 0.80  # measured 0.852 (precision 0.839, recall 0.867 on 210 test texts); the floor allows about 8 more errors


def test_the_test_split_f1_is_reported_and_above_the_floor(guardrail):
    w = guardrail.weights
    assert w["test"] == len(g.load_rows("test")) and w["train"] == len(g.load_rows("train"))
    assert w["test_metrics"]["f1"] >= F1_FLOOR, w["test_metrics"]
    assert 0.05 < w["threshold"] < 0.95 and w["C"] in g.C_GRID


def test_the_reported_metrics_are_what_sklearn_computes_on_the_test_split(guardrail):
    from sklearn.metrics import f1_score, precision_score, recall_score

    rows = g.load_rows("test")
    flagged = [v["toxic"] for v in guardrail.score([r["text"] for r in rows])]
    truth = [r["label"] == "toxic" for r in rows]
    m = guardrail.weights["test_metrics"]
    assert m["f1"] == pytest.approx(f1_score(truth, flagged))
    assert m["precision"] == pytest.approx(precision_score(truth, flagged))
    assert m["recall"] == pytest.approx(recall_score(truth, flagged))


def test_hard_negatives_are_not_flagged(guardrail):
    # the issue's own examples, which are not in the data as written here
    for text in ("kill the process", "this bug is murder", "that talk killed"):
        assert not guardrail.score([text])[0]["toxic"], text
    rows = [r for r in g.load_rows("test") if r["category"] == "hard_negative"]
    flagged = sum(v["toxic"] for v in guardrail.score([r["text"] for r in rows]))
    assert flagged / len(rows) <= 0.2, f"{flagged} of {len(rows)} hard negatives flagged"
    assert guardrail.weights["hard_negatives_flagged"] == flagged


def test_plain_insults_and_threats_are_flagged_with_a_reason(guardrail):
    verdicts = guardrail.score(["You're a useless idiot and everyone knows it.", "Say that again and I'll make you regret it."])
    assert all(v["toxic"] for v in verdicts)
    assert all(v["reason"] for v in verdicts)


def test_logits_probability_and_verdict_agree(guardrail):
    [v] = guardrail.score(["Tommy loves television."])
    assert set(v) == {"text", "logits", "toxic_probability", "toxic", "reason"}
    log_odds = v["logits"]["toxic"] - v["logits"]["not toxic"]
    assert v["toxic_probability"] == pytest.approx(1 / (1 + math.exp(-log_odds)))
    assert v["toxic"] is (v["toxic_probability"] >= guardrail.threshold) and not v["toxic"]


def test_the_library_comparison_is_its_own_predictions_on_the_same_split(guardrail):
    from profanity_check import predict_prob

    lib = guardrail.weights["library"]
    rows = g.load_rows("test")
    probabilities = predict_prob([r["text"] for r in rows])
    truth = [r["label"] == "toxic" for r in rows]
    assert lib["test_metrics"] == pytest.approx(g.metrics_at(truth, probabilities >= lib["threshold"]))
    assert lib["name"].startswith("alt-profanity-check")


def test_best_threshold_maximises_f1_on_a_hand_checked_case():
    truth, p = [False, False, True, True, True], [0.1, 0.6, 0.4, 0.7, 0.9]
    # cut 0.4: precision 3/4, recall 1 -> F1 0.857; cut 0.7: 2/2, 2/3 -> 0.8; cut 0.6: 2/3, 2/3 -> 0.667
    assert g.best_threshold(truth, p) == pytest.approx(0.4)


def test_empty_input_is_a_clear_error_and_an_empty_text_is_not_flagged(guardrail):
    with pytest.raises(ValueError, match="No texts"):
        guardrail.score([])
    assert not guardrail.score(["", "   "])[0]["toxic"]
    with pytest.raises(ValueError, match="string"):
        guardrail.score([None])  # type: ignore[list-item]


def test_many_texts_are_scored_in_batches_with_progress(guardrail):
    texts = [r["text"] for r in g.load_rows()] * 2
    n = len(texts)
    seen = []
    verdicts = guardrail.score(texts, lambda done, total: seen.append((done, total)))
    assert len(verdicts) == n and [v["text"] for v in verdicts] == texts
    assert seen == [(min(end, n), n) for end in range(g.BATCH, n + g.BATCH, g.BATCH)]
    assert [v["toxic"] for v in verdicts[:n // 2]] == [v["toxic"] for v in verdicts[n // 2:]]


def test_the_guardrail_reward_is_the_not_toxic_logit(guardrail):
    from core.rlhf import rewards

    assert "guardrail" in rewards.reward_choices()
    texts = ["Have a lovely day.", "You're a useless idiot."]
    scores = rewards.load_reward("guardrail").score(["p", "p"], texts)
    assert scores == pytest.approx([v["logits"]["not toxic"] for v in guardrail.score(texts)])
    assert scores[0] > scores[1]


def test_the_cli_prints_json_per_text(guardrail, capsys):
    from core.cli import main

    assert main(["safety", "score", "kill the process", "You're a useless idiot.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [v["toxic"] for v in out] == [False, True]
    assert set(out[0]["logits"]) == {"not toxic", "toxic"}
    assert main(["safety", "score"]) == 2
    assert "Give texts" in capsys.readouterr().err


def test_a_file_of_texts_malformed_or_empty_is_refused_with_the_line(tmp_path):
    from core.data import DataError

    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"txt": "no"}\n')
    (tmp_path / "ok.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(DataError, match="empty"):
        g.read_texts(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="line 2"):
        g.read_texts(tmp_path / "bad.jsonl")
    assert g.read_texts(tmp_path / "ok.jsonl") == ["a", "b"]


def test_the_cache_is_written_once_and_read_back(lab_home, guardrail):
    first = g.guardrail_weights()
    assert (lab_home / "safety" / f"guardrail-v{g.VERSION}.json").exists()
    assert np.allclose(first["coef"], g.guardrail_weights()["coef"])
    assert np.allclose(first["coef"], guardrail.weights["coef"], atol=1e-5)  # training is deterministic
