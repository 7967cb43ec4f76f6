"""Intellectual property, the measurable part: the longest run of words a model's output shares verbatim with the
training data of a fine-tuned run (memorised text is copied text).

Words are compared case-insensitively, with punctuation as separate words; the result names the training example
and quotes the shared span. Does not hold: the guardrail (``core.safety.guardrail``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Any, Sequence

WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    return WORD.findall(text)


def longest_overlap(output: str, texts: Sequence[str]) -> dict[str, Any]:
    """{"words": n, "span": the shared words as they appear in the output, "example": index of the training text}."""
    out = words(output)
    lowered = [w.lower() for w in out]
    best = {"words": 0, "span": "", "example": None}
    for index, text in enumerate(texts):
        other = [w.lower() for w in words(text)]
        match = SequenceMatcher(None, lowered, other, autojunk=False).find_longest_match(0, len(lowered), 0, len(other))
        if match.size > best["words"]:
            best = {"words": match.size, "span": " ".join(out[match.a:match.a + match.size]), "example": index}
    return best


def training_texts(run_id: str) -> list[str]:
    """The prompt + completion texts a fine-tune run trained on (its dataset, as the runner read it)."""
    from core import jobs
    from core.finetune.pairs import load_pairs

    config = jobs.get_run(run_id).config
    if "dataset" not in config:
        raise ValueError(f"Run {run_id} is not a fine-tune run: it has no training dataset.")
    return [p["prompt"] + " " + p["completion"] for p in load_pairs(config["dataset"])]
