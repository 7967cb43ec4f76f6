"""Standard errors of evaluation metrics, computed from the stored per-example scores (so old evaluations get them too).

As lm-eval reports them: a metric that is the mean of per-example scores (accuracy, acc_norm, exact match, ROUGE,
which here is averaged per example) gets lm-eval's ``mean_stderr``, the sample standard deviation (n - 1) over
sqrt(n); for a 0/1 score that is sqrt(p(1 - p) / (n - 1)). A corpus-level metric (BLEU from summed n-gram counts,
perplexity from summed log-likelihoods) gets a bootstrap standard error: the examples are resampled with replacement
(seeded), the metric recomputed on each resample, and the sample standard deviation of those values taken, as
lm-eval's ``bootstrap_stderr`` does for bleu, chrf, ter and perplexity.

Holds: ``statistic`` (a metric as a function of resampling counts), ``resample_counts``, ``mean_stderr``,
``bootstrap_stderr`` and ``stderrs`` (every metric of one evaluation). Does not hold: paired comparisons
(``core.evaluation.paired``) or the metric formulas (``core.evaluation.metrics``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.evaluation.tasks import EvalError

if TYPE_CHECKING:
    import numpy as np

BOOTSTRAP_ITERS = 1000
SEED = 1234  # lm-eval seeds its bootstrap too: the same evaluation always gets the same error bar
CORPUS_METRICS = ("bleu", "perplexity")  # not means of per-example scores: these are bootstrapped

Statistic = Callable[["np.ndarray"], "np.ndarray"]  # (resamples, n) counts -> (resamples,) metric values


def mean_stderr(values: Sequence[float]) -> float:
    """lm-eval's ``mean_stderr``: sample standard deviation (ddof 1) / sqrt(n). NaN with fewer than two values."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def resample_counts(n: int, iters: int = BOOTSTRAP_ITERS, seed: int = SEED) -> "np.ndarray":
    """How often each of n examples is drawn in each of ``iters`` resamples with replacement: shape (iters, n).
    The draws are ``default_rng(seed).integers(0, n, (iters, n))``, so a test can redo them directly."""
    import numpy as np

    if n < 1:
        raise EvalError("No examples to resample.")
    draws = np.random.default_rng(seed).integers(0, n, (iters, n))
    counts = np.zeros((iters, n))
    np.add.at(counts, (np.repeat(np.arange(iters), n), draws.ravel()), 1.0)
    return counts


def _bleu_statistic(examples: list[dict[str, Any]]) -> Statistic:
    """Corpus BLEU of a resample, from sacrebleu's per-sentence n-gram counts summed with the resampling weights
    (exactly sacrebleu's corpus_score of the resampled corpus, without retokenising it 1000 times)."""
    import numpy as np
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    stats = np.array(bleu._extract_corpus_statistics([e["prediction"] for e in examples], [[e["reference"] for e in examples]]),
                     dtype=float)
    return lambda counts: np.array([bleu._compute_score_from_stats(list(row)).score for row in counts @ stats])


def statistic(metric: str, examples: list[dict[str, Any]]) -> Statistic:
    """The metric as a function of resampling counts; ``statistic(m, ex)(ones((1, n)))`` is the metric itself."""
    import numpy as np

    if not examples:
        raise EvalError("No examples to score.")
    if metric == "bleu":
        return _bleu_statistic(examples)
    if metric == "perplexity":
        nll = np.array([e["scores"]["nll"] for e in examples], dtype=float)
        tokens = np.array([e["scores"]["tokens"] for e in examples], dtype=float)
        return lambda counts: np.exp((counts @ nll) / (counts @ tokens))
    missing = [e["id"] for e in examples if metric not in e["scores"]]
    if missing:
        raise EvalError(f"Example {missing[0]} has no {metric!r} score.")
    values = np.array([e["scores"][metric] for e in examples], dtype=float)
    return lambda counts: (counts @ values) / counts.sum(axis=1)


def bootstrap_stderr(metric: str, examples: list[dict[str, Any]], iters: int = BOOTSTRAP_ITERS, seed: int = SEED) -> float:
    """Sample standard deviation (ddof 1) of the metric over seeded bootstrap resamples of the examples."""
    import numpy as np

    if len(examples) < 2:
        return math.nan
    return float(np.std(statistic(metric, examples)(resample_counts(len(examples), iters, seed)), ddof=1))


def stderrs(evaluation: dict[str, Any], iters: int = BOOTSTRAP_ITERS, seed: int = SEED) -> dict[str, float]:
    """The standard error of each of an evaluation's metrics that has one (counts such as empty_outputs do not):
    bootstrap for BLEU and perplexity, ``mean_stderr`` of the per-example scores for the rest."""
    examples = evaluation["examples"]
    result: dict[str, float] = {}
    for metric in evaluation["metrics"]:
        if metric in CORPUS_METRICS:
            needs = ("nll", "tokens") if metric == "perplexity" else ()
            if all(k in e["scores"] for e in examples for k in needs):
                result[metric] = bootstrap_stderr(metric, examples, iters, seed)
        elif examples and all(metric in e["scores"] for e in examples):
            result[metric] = mean_stderr([float(e["scores"][metric]) for e in examples])
    return result
