"""Paired comparison of two evaluations on the same task and examples: is B's difference from A real or noise?

Two tests, both on the examples the two evaluations share (matched by example id):

- a **paired bootstrap**: resample the shared examples with replacement (seeded), recompute the metric for A and for B
  on the same resample, and read the 95% confidence interval of B - A off the percentiles; the two-sided p-value is the
  share of resampled differences at least as far from the observed one as the observed one is from 0 (the
  "shift to the null" rule of Berg-Kirkpatrick et al., 2012; sacrebleu's paired bootstrap is of the same family).
  Corpus metrics (BLEU, perplexity) are recomputed on each resample, the rest are means of per-example scores;
- a **sign test**: on how many examples B scored better than A and on how many worse (ties dropped), a two-sided
  binomial test against 1/2 (``scipy.stats.binomtest``).

Holds: ``PairedComparison`` and ``compare_pair``. Does not hold: standard errors of one evaluation
(``core.evaluation.stats``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.evaluation.stats import BOOTSTRAP_ITERS, SEED, resample_counts, statistic
from core.evaluation.tasks import LOWER_IS_BETTER, EvalError

ALPHA = 0.05


@dataclass(frozen=True)
class PairedComparison:
    metric: str
    a: str  # the two evaluations' labels
    b: str
    n: int  # shared examples
    score_a: float
    score_b: float
    difference: float  # B - A
    ci_low: float
    ci_high: float
    p_value: float  # paired bootstrap, two-sided
    wins: int  # examples where B is better than A (by the metric's direction)
    losses: int
    ties: int
    sign_p: float  # sign test, two-sided
    lower_is_better: bool = False

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA and not (self.ci_low <= 0.0 <= self.ci_high)

    @property
    def verdict(self) -> str:
        """One sentence a student can read: who is better, by how much, and whether that is more than noise."""
        figures = (f"{self.difference:+.3g}, 95% CI [{self.ci_low:.3g}, {self.ci_high:.3g}], {format_p(self.p_value)}; "
                   f"sign test {self.wins} better / {self.losses} worse / {self.ties} tied, {format_p(self.sign_p)}")
        if not self.significant:
            return (f"{self.b} and {self.a} are not distinguishable from noise on {self.metric} over {self.n} "
                    f"examples ({figures}).")
        b_better = (self.difference < 0) if self.lower_is_better else (self.difference > 0)
        better, worse = (self.b, self.a) if b_better else (self.a, self.b)
        return f"{better} is better than {worse} on {self.metric}: {figures}. The difference is real."


def format_p(p: float) -> str:
    """A p-value as a paper writes it: p<0.001 below that (1,000 resamples cannot resolve smaller ones)."""
    return "p<0.001" if p < 0.001 else f"p={p:.3g}"


def _pair(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if a["task"] != b["task"]:
        raise EvalError(f"Evaluations {a['id']} and {b['id']} are on different tasks ({a['task']!r} and {b['task']!r}); "
                        "a paired comparison needs the same examples.")
    by_id = {e["id"]: e for e in b["examples"]}
    shared = [e["id"] for e in a["examples"] if e["id"] in by_id]
    if not shared:
        raise EvalError(f"Evaluations {a['id']} and {b['id']} share no examples (none of their example ids match).")
    a_ids = {e["id"]: e for e in a["examples"]}
    return [a_ids[i] for i in shared], [by_id[i] for i in shared]


def compare_pair(a: dict[str, Any], b: dict[str, Any], metric: str, iters: int = BOOTSTRAP_ITERS, seed: int = SEED,
                 labels: tuple[str, str] | None = None) -> PairedComparison:
    """B against A on ``metric`` over their shared examples: mean difference, paired bootstrap CI and p, sign test.
    ``a`` and ``b`` are evaluations with their examples (``store.load_evaluation``)."""
    import numpy as np
    from scipy.stats import binomtest

    if iters < 100:
        raise EvalError(f"Use at least 100 bootstrap resamples, got {iters}.")
    examples_a, examples_b = _pair(a, b)
    n = len(examples_a)
    stat_a, stat_b = statistic(metric, examples_a), statistic(metric, examples_b)
    ones = np.ones((1, n))
    score_a, score_b = float(stat_a(ones)[0]), float(stat_b(ones)[0])
    observed = score_b - score_a
    counts = resample_counts(n, iters, seed)
    diffs = stat_b(counts) - stat_a(counts)
    low, high = np.percentile(diffs, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    p_value = float((1 + np.sum(np.abs(diffs - observed) >= abs(observed) - 1e-12)) / (iters + 1))
    lower = metric in LOWER_IS_BETTER
    per_a, per_b = _per_example(examples_a, metric), _per_example(examples_b, metric)
    better = [(y < x) if lower else (y > x) for x, y in zip(per_a, per_b)]
    ties = sum(x == y for x, y in zip(per_a, per_b))
    wins = sum(better)
    losses = n - ties - wins
    sign_p = float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
    label_a, label_b = labels or (f"#{a['id']} {a['model']}", f"#{b['id']} {b['model']}")
    return PairedComparison(metric, label_a, label_b, n, score_a, score_b, observed, float(low), float(high), min(p_value, 1.0),
                            wins, losses, ties, sign_p, lower)


def _per_example(examples: list[dict[str, Any]], metric: str) -> list[float]:
    """Each example's own score for the sign test: sentence BLEU for BLEU (as sacrebleu computes it for translations,
    also where only ROUGE was stored, as for summaries), each text's perplexity for perplexity, else the stored score."""
    if metric == "bleu":
        from core.evaluation.metrics import bleu

        return list(bleu([e["prediction"] for e in examples], [e["reference"] for e in examples]).sentence_scores)
    missing = [e["id"] for e in examples if metric not in e["scores"]]
    if missing:
        raise EvalError(f"Example {missing[0]} has no {metric!r} score.")
    return [float(e["scores"][metric]) for e in examples]
