"""The three objectives on real tokens: what goes in and what is scored."""

from __future__ import annotations

import random

import pytest
import torch

from core.pretraining import objectives
from tests.conftest import build_tiny_model, build_tiny_tokenizer

TEXT = "The teacher taught the student with the book, and the student took the book to the bank."


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def test_causal_targets_are_the_inputs_shifted_by_one(tokenizer):
    rows = objectives.causal_lm(tokenizer, TEXT)
    assert [r.target for r in rows[:-1]] == [r.input for r in rows[1:]]
    assert rows[-1].target is None


def test_causal_labels_give_the_loss_transformers_computes(tokenizer):
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    model = build_tiny_model(len(tokenizer))
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=x).logits[0]
        reference = model(input_ids=x, labels=x).loss  # transformers shifts inside the model
    ours = torch.nn.functional.cross_entropy(logits, torch.tensor(objectives.causal_lm_labels(ids)), ignore_index=-100)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_masking_follows_bert_rates_over_many_tokens():
    rng = random.Random(0)
    ids = list(range(100, 300)) * 100  # 20,000 positions
    inputs, labels, notes = objectives.mask_tokens(ids, 1000, 0.15, rng)
    chosen = [i for i, label in enumerate(labels) if label != objectives.IGNORE]
    assert abs(len(chosen) / len(ids) - 0.15) < 0.01
    share = {kind: sum(notes[i] == kind for i in chosen) / len(chosen) for kind in ("masked", "random", "kept")}
    assert abs(share["masked"] - 0.8) < 0.02 and abs(share["random"] - 0.1) < 0.015 and abs(share["kept"] - 0.1) < 0.015
    assert all(labels[i] == ids[i] for i in chosen)
    assert all(inputs[i] == ids[i] and labels[i] == objectives.IGNORE for i in range(len(ids)) if not notes[i])


def test_masked_view_scores_only_the_chosen_positions(tokenizer):
    rows = objectives.masked_lm(tokenizer, TEXT, seed=3)
    scored = [r for r in rows if r.target is not None]
    assert scored and all(r.target == r.token for r in scored)
    assert all(r.input == objectives.MASK for r in rows if r.note == "masked")
    assert all(r.input == r.token and not r.note for r in rows if r.target is None)


def test_the_same_seed_shows_the_same_masks(tokenizer):
    assert objectives.masked_lm(tokenizer, TEXT, seed=5) == objectives.masked_lm(tokenizer, TEXT, seed=5)


@pytest.mark.parametrize("seed", range(10))
def test_span_corruption_input_and_target_restore_the_text(tokenizer, seed):
    example = objectives.span_corruption(tokenizer, TEXT, seed=seed)
    pieces = [r.token for r in objectives.causal_lm(tokenizer, TEXT)]
    assert objectives.restore(example) == pieces
    sentinels = [p for p in example.target if p.startswith("<extra_id_")]
    assert sentinels == [objectives.sentinel(k) for k in range(len(example.spans) + 1)]
    assert all(b[0] > a[1] for a, b in zip(example.spans, example.spans[1:]))  # spans never touch


def test_span_corruption_cuts_about_the_noise_density():
    rng = random.Random(0)
    for length in (20, 57, 200):
        spans = objectives.choose_spans(length, 0.15, 3.0, rng)
        assert sum(end - start for start, end in spans) == round(length * 0.15)
        assert spans[0][0] > 0 and spans[-1][1] <= length


@pytest.mark.parametrize("text, message", [("", "Type a sentence"), ("   ", "Type a sentence"),
                                           ("a", "single token"), ("word " * 400, "at most 256")])
def test_bad_text_is_refused(tokenizer, text, message):
    with pytest.raises(ValueError, match=message):
        objectives.causal_lm(tokenizer, text)


def test_bad_rates_are_refused(tokenizer):
    with pytest.raises(ValueError, match="masking rate"):
        objectives.masked_lm(tokenizer, TEXT, rate=1.5)
    with pytest.raises(ValueError, match="Noise density"):
        objectives.span_corruption(tokenizer, TEXT, noise_density=0)
