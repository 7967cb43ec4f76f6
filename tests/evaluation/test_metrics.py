"""core.evaluation.metrics against the reference packages (rouge-score, sacrebleu) and hand-computed values."""

from __future__ import annotations

import math

import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from core.evaluation import metrics

CASES = [
    ("The cat sat on the mat.", "A cat was sitting on the mat."),
    ("", "The meeting moved to Friday."),
    ("The meeting moved to Friday.", ""),
    ("", ""),
    ("Le café est très chaud.", "Le café était très chaud."),
    ("東京は日本の首都です。", "東京は首都です。"),
    ("Running runners ran.\nThey stopped.", "The runner runs.\nThey stop."),
    ("repeat repeat repeat", "repeat"),
]


def test_rouge_equals_rouge_score_exactly():
    predictions, references = zip(*CASES)
    ours = metrics.rouge(list(predictions), list(references))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    for (prediction, reference), mine in zip(CASES, ours):
        theirs = scorer.score(reference, prediction)
        for rouge_type, score in theirs.items():
            assert mine[rouge_type] == {"precision": score.precision, "recall": score.recall, "f": score.fmeasure}


def test_mean_rouge_averages_each_part():
    per_example = metrics.rouge(["the cat sat", "a dog"], ["the cat sat", "the cat"])
    mean = metrics.mean_rouge(per_example)
    assert mean["rouge1_f"] == pytest.approx((1.0 + 0.0) / 2)
    assert mean["rougeL_precision"] == pytest.approx((per_example[0]["rougeL"]["precision"] + per_example[1]["rougeL"]["precision"]) / 2)


def test_bleu_equals_sacrebleu_corpus_and_sentence_scores():
    predictions, references = map(list, zip(*CASES))
    ours = metrics.bleu(predictions, references)
    reference_metric = BLEU()
    corpus = reference_metric.corpus_score(predictions, [references])
    assert ours.score == corpus.score
    assert ours.precisions == tuple(corpus.precisions)
    assert ours.brevity_penalty == corpus.bp
    assert ours.signature == str(reference_metric.get_signature()) and "tok:13a" in ours.signature
    sentence = BLEU(effective_order=True)
    assert ours.sentence_scores == tuple(sentence.sentence_score(p, [r]).score for p, r in CASES)


def test_bleu_of_a_perfect_translation_is_100_and_of_nothing_is_0():
    assert metrics.bleu(["Il fait très beau aujourd'hui."], ["Il fait très beau aujourd'hui."]).score == pytest.approx(100.0)
    assert metrics.bleu([""], ["Il fait beau."]).score == 0.0


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        metrics.bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="No examples"):
        metrics.exact_match([], [])


def test_exact_match_ignores_case_punctuation_and_articles():
    assert metrics.exact_match(["The Eiffel Tower!", "Paris", ""], ["eiffel tower", "Lyon", ""]) == [1.0, 0.0, 1.0]


def test_choose_normalises_by_characters_as_lm_eval_does():
    # acc: -10 > -12 picks the first; acc_norm: -10/5 = -2.0 < -12/20 = -0.6 picks the second.
    picked = metrics.choose([-10.0, -12.0], [" four", " a much longer answer"])
    assert picked.index == 0 and picked.index_norm == 1
    with pytest.raises(ValueError, match="2 log-likelihoods for 1 choices"):
        metrics.choose([-1.0, -2.0], ["x"])


def test_perplexity_is_exp_of_the_mean_token_loss(tiny_loaded):
    import torch

    texts = ["The capital of France is Paris.", "I took my money to the bank."]
    total, count = 0.0, 0
    for text in texts:
        ids = tiny_loaded.tokenizer(text)["input_ids"]
        with torch.no_grad():
            logprobs = tiny_loaded.model(input_ids=torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        total -= sum(float(logprobs[i, token]) for i, token in enumerate(ids[1:]))
        count += len(ids) - 1
    assert metrics.perplexity(tiny_loaded, texts) == pytest.approx(math.exp(total / count), rel=1e-5)


def test_perplexity_of_texts_too_short_is_a_clear_error(tiny_loaded):
    with pytest.raises(ValueError, match="too short"):
        metrics.perplexity(tiny_loaded, [""])


def test_overlapping_words_are_marked():
    marked = metrics.overlapping_ngrams("The meeting was NOT moved.", "The meeting was moved to Friday.")
    assert [word.strip() for word, hit in marked if hit] == ["The", "meeting", "was", "moved."]
    bigrams = metrics.overlapping_ngrams("the meeting was not moved", "the meeting was moved", n=2)
    assert [word.strip() for word, hit in bigrams if hit] == ["the", "meeting", "was"]
    assert "".join(word for word, _ in marked) == "The meeting was NOT moved."


def test_output_flag_tells_empty_and_echoed_outputs_from_summaries():
    dialogue = "#Person1#: Are you coming to the party on Saturday? #Person2#: No, I have to work all weekend."
    assert metrics.output_flag("   ", dialogue) == "empty"
    assert metrics.output_flag(dialogue, dialogue) == "echo"
    assert metrics.output_flag("Summary: " + dialogue + " That is all.", dialogue) == "echo"  # output ⊇ input
    assert metrics.output_flag(dialogue[:70], dialogue) == "echo"  # most of it, in order
    assert metrics.output_flag("Person2 cannot come to the party because they have to work.", dialogue) == ""
