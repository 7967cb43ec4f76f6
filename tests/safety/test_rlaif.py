"""core.safety.rlaif: the judge prompt, p(A)/p(B) read from the model's own logits, the A/B swap combined as
documented, undecided judges, and agreement with people's pairs."""

from __future__ import annotations

import pytest

from core.data import DataError
from core.safety import rlaif
from core.safety.constitution import load_constitution


def test_the_judge_prompt_ends_where_the_letter_goes(tiny_wide_loaded):
    text = rlaif.judge_text(tiny_wide_loaded.tokenizer, "Q?", "first", "second", rlaif.HHH)
    assert text.endswith("<|im_start|>assistant\n" + rlaif.ANSWER_PREFIX)
    assert "(A) first\n(B) second\nAnswer with A or B." in text and rlaif.HHH in text


def test_option_probabilities_are_the_models_softmax_renormalised(tiny_wide_loaded):
    import torch

    text = rlaif.judge_text(tiny_wide_loaded.tokenizer, "Q?", "first", "second", rlaif.HHH)
    got = rlaif.read_options(tiny_wide_loaded, text)
    a, b = rlaif.option_tokens(tiny_wide_loaded.tokenizer)
    ids = tiny_wide_loaded.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        probs = torch.softmax(tiny_wide_loaded.model(input_ids=ids).logits[0, -1], -1)
    assert got["p_a"] == pytest.approx(float(probs[a] / (probs[a] + probs[b])), abs=1e-5)
    assert got["p_a"] + got["p_b"] == pytest.approx(1.0)
    assert got["mass"] == pytest.approx(float(probs[a] + probs[b]), abs=1e-6)


def test_the_swapped_passes_are_averaged_as_documented():
    first_at_a = {"p_a": 0.9, "p_b": 0.1, "named": True, "top_token": "A"}
    first_at_b = {"p_a": 0.8, "p_b": 0.2, "named": True, "top_token": "A"}  # the judge likes slot A whatever is there
    combined = rlaif.combine(first_at_a, first_at_b)
    assert combined["soft"] == pytest.approx((0.9 + 0.2) / 2)
    assert combined["position_a"] == pytest.approx((0.9 + 0.8) / 2) and combined["decided"]


def test_swapping_the_answers_gives_the_complementary_label(tiny_wide_loaded):
    one = rlaif.judge_pair(tiny_wide_loaded, "Q?", "The capital of France is Paris.", "I took my money to the bank.")
    other = rlaif.judge_pair(tiny_wide_loaded, "Q?", "I took my money to the bank.", "The capital of France is Paris.")
    assert one["soft"] == pytest.approx(1 - other["soft"], abs=1e-5)


def test_a_judge_that_names_neither_letter_is_undecided_and_left_out():
    neither = {"p_a": 0.5, "p_b": 0.5, "named": False, "top_token": "The"}
    verdict = rlaif.combine(neither, neither)
    assert not verdict["decided"] and "neither A nor B" in verdict["note"]
    rows = [{**verdict, "agree": True, "aspect": "helpful"},
            {**rlaif.combine({"p_a": 0.7, "p_b": 0.3, "named": True, "top_token": "A"},
                             {"p_a": 0.4, "p_b": 0.6, "named": True, "top_token": "B"}), "agree": True, "aspect": "honest"}]
    summary = rlaif.summarise(rows)
    assert summary["undecided"] == 1 and summary["decided"] == 1 and summary["agreement"] == 1.0
    assert rlaif.summarise([rows[0]])["agreement"] is None


def test_questions_follow_the_pairs_aspect_or_the_chosen_principle():
    principles = load_constitution()
    by_id = {p.id: p.judge for p in principles}
    assert rlaif.question_for("harmless", principles) == by_id["harmful"]
    assert rlaif.question_for("honest", principles) == by_id["dishonest"]
    assert rlaif.question_for("helpful", principles) == rlaif.HHH
    assert rlaif.question_for("harmless", principles, "rude") == by_id["rude"]
    with pytest.raises(ValueError, match="No principle"):
        rlaif.question_for(None, principles, "nope")


def test_agreement_on_the_bundled_pairs(tiny_wide_loaded):
    pairs = rlaif.human_pairs("bundled", 6)
    seen = []
    result = rlaif.agreement(tiny_wide_loaded, pairs, load_constitution(), progress=lambda d, t: seen.append(d))
    assert result["pairs"] == 6 and seen == list(range(1, 7))
    assert result["decided"] + result["undecided"] == 6
    decided = [r for r in result["rows"] if r["decided"]]
    if decided:
        assert result["agreement"] == pytest.approx(sum(r["soft"] > 0.5 for r in decided) / len(decided))
    assert all(p["chosen"] != p["rejected"] for p in rlaif.ai_pairs(result["rows"]))


def test_no_labels_yet_is_a_clear_error():
    with pytest.raises(DataError, match="No ranked pairs"):
        rlaif.human_pairs("labels")
