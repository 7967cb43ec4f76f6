"""Scores for model outputs, computed locally by the reference packages (nothing is fetched at run time).

Holds: ``accuracy``; ``exact_match`` (SQuAD-style normalisation); ``rouge`` (ROUGE-1, ROUGE-2, ROUGE-L, ROUGE-Lsum with
precision, recall and F, stemming on, from the rouge-score package) and ``mean_rouge``; ``bleu`` (corpus BLEU with its
signature, and per-sentence BLEU, from sacrebleu); ``perplexity`` of a model on a text set; ``choose`` (a
multiple-choice answer from each choice's log-likelihood, raw and length-normalised as lm-eval does); and
``overlapping_ngrams`` (which words of an output also occur in the reference, for highlighting); and
``output_flag`` (an output that is empty, or that echoes its input instead of answering: such outputs can top a
ROUGE leaderboard, since a copied dialogue shares many words with its summary).

Does not hold: running models over datasets (``core.evaluation``).
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from core.models import LoadedModel

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def _check_lengths(predictions: Sequence[object], references: Sequence[object]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("No examples to score.")


def accuracy(predictions: Sequence[str | None], references: Sequence[str]) -> float:
    _check_lengths(predictions, references)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """1.0 where the normalised prediction equals the normalised reference, else 0.0, per example."""
    _check_lengths(predictions, references)
    return [float(normalize_answer(p) == normalize_answer(r)) for p, r in zip(predictions, references)]


# ---------------------------------------------------------------- ROUGE (summaries)


def rouge(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, dict[str, float]]]:
    """Per-example ROUGE scores: {rouge type: {"precision", "recall", "f"}}. Lsum splits sentences on newlines.

    rouge-score's tokenizer keeps only ASCII letters and digits, so words in other scripts do not count (its
    documented behaviour, kept here so the figures match every paper that used it)."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    results = []
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # rouge-score takes (target, prediction)
        results.append({t: {"precision": s.precision, "recall": s.recall, "f": s.fmeasure} for t, s in scores.items()})
    return results


def mean_rouge(per_example: Sequence[dict[str, dict[str, float]]]) -> dict[str, float]:
    """The mean of each ROUGE type's precision, recall and F over examples, as flat keys ("rougeL_f")."""
    if not per_example:
        raise ValueError("No examples to score.")
    return {f"{t}_{part}": sum(e[t][part] for e in per_example) / len(per_example)
            for t in ROUGE_TYPES for part in ("precision", "recall", "f")}


# ---------------------------------------------------------------- BLEU (translation)


@dataclass(frozen=True)
class BleuResult:
    score: float  # 0-100, as sacrebleu reports it
    precisions: tuple[float, ...]  # 1- to 4-gram precisions, percent
    brevity_penalty: float
    signature: str  # how it was computed (tokenizer, smoothing, version): quote it with the score
    sentence_scores: tuple[float, ...]  # per-example sentence BLEU (effective order), for the drill-down


def bleu(predictions: Sequence[str], references: Sequence[str]) -> BleuResult:
    """Corpus BLEU with one reference per example (sacrebleu defaults: 13a tokenizer, exp smoothing)."""
    from sacrebleu.metrics import BLEU

    _check_lengths(predictions, references)
    corpus = BLEU()
    result = corpus.corpus_score(list(predictions), [list(references)])
    sentence = BLEU(effective_order=True)  # short sentences rarely have a 4-gram match; effective order is the usual fix
    per_example = tuple(sentence.sentence_score(p, [r]).score for p, r in zip(predictions, references))
    return BleuResult(result.score, tuple(result.precisions), result.bp, str(corpus.get_signature()), per_example)


# ---------------------------------------------------------------- perplexity


def token_nll(loaded: "LoadedModel", texts: Sequence[str]) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of the texts' tokens after their first, and how many tokens that is."""
    import torch

    device = next(loaded.model.parameters()).device
    window = loaded.info.context_window
    total, count = 0.0, 0
    with torch.inference_mode():
        for text in texts:
            ids = loaded.tokenizer(text)["input_ids"][:window]
            if len(ids) < 2:
                continue
            tensor = torch.tensor([ids], device=device)
            loss = loaded.model(input_ids=tensor, labels=tensor, use_cache=False).loss
            total += float(loss) * (len(ids) - 1)
            count += len(ids) - 1
    if count == 0:
        raise ValueError("The texts are too short to measure: each needs at least two tokens.")
    return total, count


def perplexity(loaded: "LoadedModel", texts: Sequence[str]) -> float:
    """exp(mean next-token loss) over all tokens of the texts: how surprised the model is, in effective choices per token."""
    total, count = token_nll(loaded, texts)
    return math.exp(total / count)


# ---------------------------------------------------------------- multiple choice


@dataclass(frozen=True)
class Choice:
    index: int  # argmax of the summed log-likelihoods ("acc")
    index_norm: int  # argmax of log-likelihood per character of the continuation ("acc_norm")


def choose(logliks: Sequence[float], continuations: Sequence[str]) -> Choice:
    """lm-eval's rule: acc takes the most likely choice; acc_norm divides each log-likelihood by the length in
    characters of the text that was scored, so long choices are not punished for having more tokens."""
    if not logliks or len(logliks) != len(continuations):
        raise ValueError(f"{len(logliks)} log-likelihoods for {len(continuations)} choices")
    normalised = [ll / max(len(text), 1) for ll, text in zip(logliks, continuations)]
    return Choice(max(range(len(logliks)), key=lambda i: logliks[i]), max(range(len(normalised)), key=lambda i: normalised[i]))


# ---------------------------------------------------------------- highlighting


def overlapping_ngrams(output: str, reference: str, n: int = 1) -> list[tuple[str, bool]]:
    """The output split into words (with their spacing), each marked True when it is part of an n-gram that also
    occurs in the reference (compared in lower case without punctuation, as ROUGE would)."""
    pieces = re.findall(r"\S+\s*", output)
    norm = lambda word: word.lower().strip(string.punctuation + "“”‘’«» \n\t")  # noqa: E731
    words = [norm(p) for p in pieces]
    ref_words = [norm(w) for w in reference.split()]
    ref_grams = {tuple(ref_words[i:i + n]) for i in range(len(ref_words) - n + 1)}
    marked = [False] * len(pieces)
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        if all(gram) and gram in ref_grams:
            for j in range(i, i + n):
                marked[j] = True
    return list(zip(pieces, marked))


ECHO_SHARE = 0.6  # an output that reproduces this share of its input's words, in order, echoes it


def output_flag(prediction: str, source: str) -> str:
    """"empty", "echo" (the output contains the input, or repeats at least ECHO_SHARE of its words in order), or ""."""
    from difflib import SequenceMatcher

    output_words, source_words = normalize_answer(prediction).split(), normalize_answer(source).split()
    if not output_words:
        return "empty"
    if not source_words:
        return ""
    if " ".join(source_words) in " ".join(output_words):
        return "echo"
    matcher = SequenceMatcher(None, source_words, output_words, autojunk=False)
    copied = sum(block.size for block in matcher.get_matching_blocks())
    return "echo" if copied / len(source_words) >= ECHO_SHARE else ""
