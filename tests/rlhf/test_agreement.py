"""core.rlhf.agreement against references: Cohen's kappa against scikit-learn, Fleiss' kappa against statsmodels,
Krippendorff's alpha against a hand computation with missing values."""

from __future__ import annotations

import random

import pytest

from core.rlhf.agreement import CHOICES, agreement, cohen_kappa, fleiss_kappa, krippendorff_alpha


def noisy_raters(seed: int, items: int, raters: int, noise: float) -> list[list[str]]:
    """items x raters choices: each item has a true choice, and each rater copies it or guesses with chance noise."""
    rng = random.Random(seed)
    table = []
    for _ in range(items):
        truth = rng.choice(CHOICES)
        table.append([rng.choice(CHOICES) if rng.random() < noise else truth for _ in range(raters)])
    return table


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("noise", [0.3, 1.0])  # some agreement, and none beyond chance
def test_cohen_kappa_equals_scikit_learn(seed, noise):
    from sklearn.metrics import cohen_kappa_score

    table = noisy_raters(seed, items=60, raters=2, noise=noise)
    first, second = [row[0] for row in table], [row[1] for row in table]
    assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("raters", [2, 3, 5])
def test_fleiss_kappa_equals_statsmodels(seed, raters):
    import numpy as np
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    table = noisy_raters(100 + seed, items=50, raters=raters, noise=0.5)
    codes = np.array([[CHOICES.index(c) for c in row] for row in table])
    counts, _categories = aggregate_raters(codes)
    assert fleiss_kappa(table) == pytest.approx(statsmodels_fleiss(counts, method="fleiss"), abs=1e-12)


# Five items, three annotators, None where one did not judge the item. By hand (Krippendorff's coincidences):
#   u1 a,a,- -> o_aa += 2            u2 a,b,- -> o_ab += 1, o_ba += 1      u3 b,b,b -> o_bb += 6/2 = 3
#   u4 tie,tie,a -> o_tt += 2/2, o_ta += 2/2, o_at += 2/2                 u5 a,-,- -> one value: not pairable
#   n_a = 2+1+1 = 4, n_b = 1+3 = 4, n_tie = 1+1 = 2, n = 10; observed off-diagonal = o_ab+o_ba+o_at+o_ta = 4;
#   expected off-diagonal = 2 (n_a n_b + n_a n_tie + n_b n_tie) = 2 (16 + 8 + 8) = 64
#   alpha = 1 - (n - 1) * 4 / 64 = 1 - 36/64 = 0.4375
HAND_TABLE = [  # rows: annotators; columns: items
    ["a", "a", "b", "tie", "a"],
    ["a", "b", "b", "tie", None],
    [None, None, "b", "a", None],
]


def test_krippendorff_alpha_by_hand_with_missing_values():
    assert krippendorff_alpha(HAND_TABLE) == pytest.approx(0.4375)


def test_agreement_reports_alpha_from_rankings_where_not_everyone_ranked_everything():
    # Each comparison shows two completions (10c, 10c+1): "a" ranks the first higher, "b" the second, "tie" ties them.
    orders = {"a": lambda c: [[10 * c], [10 * c + 1]], "b": lambda c: [[10 * c + 1], [10 * c]], "tie": lambda c: [[10 * c, 10 * c + 1]]}
    rankings = [{"comparison_id": item + 1, "annotator": name, "order": orders[choice](item + 1)}
                for name, row in zip(["ann", "bob", "cat"], HAND_TABLE) for item, choice in enumerate(row) if choice]
    result = agreement(rankings)
    assert result.items == 4 and result.annotators == 3  # u5 was ranked by one annotator only
    assert result.krippendorff_alpha == pytest.approx(0.4375)
    assert result.cohen_kappa is None  # three annotators


def test_alpha_is_undefined_when_every_choice_is_the_same_and_perfect_when_all_agree_on_varied_items():
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None  # no variation: 0/0
    assert krippendorff_alpha([["a", None], [None, "b"]]) is None  # no item judged twice
    assert krippendorff_alpha([["a", "b", "tie"], ["a", "b", "tie"]]) == pytest.approx(1.0)
