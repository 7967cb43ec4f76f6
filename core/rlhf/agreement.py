"""Agreement between annotators on the pairwise choices they made about the same comparison.

For each pair of completions of a comparison ranked by two or more annotators, each annotator said A better, B
better, or tie. Reported: raw pairwise agreement, Cohen's kappa (two annotators), Fleiss' kappa (any number) and
Krippendorff's alpha (nominal; any number of annotators, each of whom ranked only some comparisons: a missing
ranking is a missing value, not a disagreement). Kappa and alpha correct for the agreement chance alone would give.
The kappas are written out here (tests check them against scikit-learn and statsmodels); alpha comes from the
``krippendorff`` package.

Holds: ``pair_choices``, ``Agreement``/``agreement``, ``cohen_kappa``, ``fleiss_kappa``, ``krippendorff_alpha``,
``disagreements``, ``annotator_agreement``. Does not hold: storage (``core.store``), filtering rankings (``core.rlhf.label_filters``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Sequence

CHOICES = ("a", "b", "tie")  # the nominal values of one pairwise choice


def pair_choices(order: Sequence[Sequence[int]]) -> dict[tuple[int, int], str]:
    """For each pair of completion ids (a < b): "a" if a ranked higher, "b" if b did, "tie" if in one group."""
    rank = {item: position for position, group in enumerate(order) for item in group}
    return {(a, b): "tie" if rank[a] == rank[b] else ("a" if rank[a] < rank[b] else "b") for a, b in combinations(sorted(rank), 2)}


@dataclass(frozen=True)
class Agreement:
    items: int  # (comparison, completion pair) items judged by at least two annotators
    pairwise: float  # share of annotator pairs that made the same choice on an item
    fleiss_kappa: float | None
    cohen_kappa: float | None  # only when exactly two annotators judged the shared items
    annotators: int
    krippendorff_alpha: float | None = None  # None when every choice is the same (alpha is then 0/0)


def agreement(rankings: Sequence[dict[str, Any]]) -> Agreement:
    """Agreement on the pairwise choices of comparisons ranked by two or more annotators."""
    by_item: dict[tuple[int, int, int], list[str]] = {}
    judges: dict[tuple[int, int, int], list[str]] = {}
    for r in rankings:
        for pair, choice in pair_choices(r["order"]).items():
            key = (r["comparison_id"], *pair)
            by_item.setdefault(key, []).append(choice)
            judges.setdefault(key, []).append(r["annotator"])
    items = {k: v for k, v in by_item.items() if len(v) >= 2}
    annotators = {a for k in items for a in judges[k]}
    if not items:
        return Agreement(0, float("nan"), None, None, len(annotators))
    agreeing = total = 0
    for choices in items.values():
        for x, y in combinations(choices, 2):
            agreeing += x == y
            total += 1
    two = len(annotators) == 2 and all(len(v) == 2 for v in items.values())
    cohen = cohen_kappa([v[0] for v in items.values()], [v[1] for v in items.values()]) if two else None
    by_annotator = [{k: c for k in items for who, c in zip(judges[k], by_item[k]) if who == a} for a in sorted(annotators)]
    alpha = krippendorff_alpha([[row.get(k) for k in items] for row in by_annotator])
    return Agreement(len(items), agreeing / total, fleiss_kappa(list(items.values())), cohen, len(annotators), alpha)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """(observed agreement - chance agreement) / (1 - chance agreement), chance from each rater's own label mix."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / n
    p1, p2 = Counter(first), Counter(second)
    chance = sum(p1[c] * p2[c] for c in set(p1) | set(p2)) / n**2
    return 1.0 if chance == 1 else (observed - chance) / (1 - chance)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> float:
    """Fleiss' kappa for items rated by any number (>= 2) of raters; categories are whatever labels occur."""
    categories = sorted({c for item in items for c in item})
    per_item, totals = [], Counter()
    for item in items:
        n = len(item)
        counts = Counter(item)
        totals.update(counts)
        per_item.append((sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))))
    observed = sum(per_item) / len(per_item)
    all_ratings = sum(totals.values())
    chance = sum((totals[c] / all_ratings) ** 2 for c in categories)
    return 1.0 if chance == 1 else (observed - chance) / (1 - chance)


def krippendorff_alpha(table: Sequence[Sequence[str | None]]) -> float | None:
    """Krippendorff's alpha, nominal level, of a table with one row per annotator and one column per item (a choice
    from CHOICES, or None where that annotator did not judge the item). None when it is undefined: every value the
    same, or no item judged twice."""
    import warnings

    import krippendorff
    import numpy as np

    code = {c: i for i, c in enumerate(CHOICES)}
    data = np.array([[np.nan if v is None else code[v] for v in row] for row in table], dtype=float)
    if data.size == 0 or not ((~np.isnan(data)).sum(axis=0) >= 2).any():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when there is one value only: reported as None
        alpha = krippendorff.alpha(reliability_data=data, value_domain=list(code.values()), level_of_measurement="nominal")
    return None if math.isnan(alpha) else float(alpha)


def disagreements(rankings: Sequence[dict[str, Any]], top: int = 20) -> list[dict[str, Any]]:
    """Comparisons ranked by several annotators, most disputed first (share of their pairwise choices that differ)."""
    by_comparison: dict[int, list[dict[str, Any]]] = {}
    for r in rankings:
        by_comparison.setdefault(r["comparison_id"], []).append(r)
    rows = []
    for comparison_id, group in by_comparison.items():
        if len(group) < 2:
            continue
        choices = [pair_choices(r["order"]) for r in group]
        differing = total = 0
        for x, y in combinations(choices, 2):
            for pair in x:
                differing += x[pair] != y[pair]
                total += 1
        rows.append({"comparison_id": comparison_id, "prompt": group[0]["prompt"], "annotators": len(group),
                     "disagreement": differing / total if total else 0.0})
    return sorted(rows, key=lambda r: -r["disagreement"])[:top]


def annotator_agreement(rankings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per annotator: how many rankings they made, how many of their pairwise choices someone else also judged
    (``shared``), and the share of those choices that the other annotators made too (``agreement``: over every
    (their choice, another annotator's choice) pair on the same item; None when nobody else judged their items)."""
    by_item: dict[tuple[int, int, int], list[tuple[str, str]]] = {}
    counts: Counter[str] = Counter()
    for r in rankings:
        counts[r["annotator"]] += 1
        for pair, choice in pair_choices(r["order"]).items():
            by_item.setdefault((r["comparison_id"], *pair), []).append((r["annotator"], choice))
    agreeing: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    for votes in by_item.values():
        for who, choice in votes:
            others = [c for other, c in votes if other != who]
            shared[who] += bool(others)
            judged[who] += len(others)
            agreeing[who] += sum(c == choice for c in others)
    return [{"annotator": who, "rankings": counts[who], "shared": shared[who],
             "agreement": agreeing[who] / judged[who] if judged[who] else None} for who in sorted(counts)]
