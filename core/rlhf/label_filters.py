"""Search and filters over stored rankings (the rows of ``core.store.list_rankings``): by annotator, prompt text,
flag, and only the comparisons where annotators disagree.

Holds: ``RankingFilter`` (the Data tab's widgets build it), ``filter_rankings``, ``disputed_comparisons``.
Does not hold: storage (``core.store``) or the agreement figures (``core.rlhf.agreement``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from core import store
from core.rlhf.agreement import disagreements


@dataclass(frozen=True)
class RankingFilter:
    annotator: str | None = None  # one annotator's rankings (any spelling of the name); None: everyone's
    text: str = ""  # a piece of the prompt, any case; "": every prompt
    flag: str | None = None  # rankings carrying this flag (one of core.store.FLAGS); None: flagged or not
    disagreement_only: bool = False  # only comparisons where two annotators made a different pairwise choice

    def __post_init__(self) -> None:
        if self.flag is not None and self.flag not in store.FLAGS:
            raise ValueError(f"Unknown flag {self.flag!r}: flags are {list(store.FLAGS)}.")
        if self.annotator is not None:
            object.__setattr__(self, "annotator", store.normalize_annotator(self.annotator))


def disputed_comparisons(rankings: Sequence[dict[str, Any]]) -> set[int]:
    """Ids of the comparisons on which at least two annotators chose differently for some pair of completions."""
    return {d["comparison_id"] for d in disagreements(rankings, top=len(rankings)) if d["disagreement"] > 0}


def filter_rankings(rankings: Sequence[dict[str, Any]], filters: RankingFilter) -> list[dict[str, Any]]:
    """The rankings that pass every filter, in their stored order. Disagreement is judged on all the rankings given,
    so "alice, disagreement only" is alice's rankings of the comparisons someone ranked differently."""
    disputed = disputed_comparisons(rankings) if filters.disagreement_only else set()
    needle = filters.text.strip().casefold()
    return [r for r in rankings
            if (filters.annotator is None or r["annotator"] == filters.annotator)
            and (not needle or needle in r["prompt"].casefold())
            and (filters.flag is None or filters.flag in (r.get("flags") or []))
            and (not filters.disagreement_only or r["comparison_id"] in disputed)]
