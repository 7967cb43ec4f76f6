"""Scores for model outputs: accuracy, and ROUGE from the rouge-score package (computed locally, never fetched).

Holds: ``accuracy`` and ``rouge`` (ROUGE-1, ROUGE-2, ROUGE-L, ROUGE-Lsum with precision, recall and F, stemming on).
"""

from __future__ import annotations

from typing import Sequence

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def accuracy(predictions: Sequence[str | None], references: Sequence[str]) -> float:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("No examples to score.")
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def rouge(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, dict[str, float]]]:
    """Per-example ROUGE scores: {rouge type: {"precision", "recall", "f"}}. Lsum splits sentences on newlines."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    results = []
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # rouge-score takes (target, prediction)
        results.append({t: {"precision": s.precision, "recall": s.recall, "f": s.fmeasure} for t, s in scores.items()})
    return results
