"""Prompt sets for alignment: what the policy is asked during training, and the held-out prompts it is judged on.

``reviews``: 96 bundled requests for short reviews (72 train, 24 test), the sentiment demo. ``rlhf``: the 120 bundled
RLHF prompts (every fifth is held out). ``provocative``: 96 mild requests that invite a rude answer (72 train, 24
test), the detoxification lab and the constitution's red-team prompts. A path: a JSONL file with a "prompt" on each line (and optionally "split":
"train" or "test"), or a plain text file with one prompt per line; a fifth is held out unless the file says.

Does not hold: prompts for labelling (``core.store``) or for evaluation (``core.evaluation.tasks``).
"""

from __future__ import annotations

from pathlib import Path

from core.data import DATASETS_DIR, DataError, lines_or_jsonl

BUNDLED = {"reviews": "review_prompts.jsonl", "rlhf": "rlhf_prompts.jsonl", "provocative": "provocative_prompts.jsonl"}


def load_prompts(source: str) -> tuple[list[str], list[str]]:
    """(train, held-out) prompts, or DataError when there are none to train on."""
    path = DATASETS_DIR / BUNDLED[source] if source in BUNDLED else Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"Cannot read the prompts {source!r}: {err}") from err
    rows = lines_or_jsonl(text, path.name, "prompt")
    prompts = [r["prompt"].strip() for r in rows]
    if not any(prompts):
        raise DataError(f"{path.name} holds no prompts: one per line (text), or JSONL with a \"prompt\" on each line.")
    if any("split" in r for r in rows):
        train = [p for p, r in zip(prompts, rows) if p and r.get("split", "train") == "train"]
        held_out = [p for p, r in zip(prompts, rows) if p and r.get("split") == "test"]
    else:
        train = [p for i, p in enumerate(prompts) if p and i % 5 != 4]
        held_out = [p for i, p in enumerate(prompts) if p and i % 5 == 4]
    if not train:
        raise DataError(f"{path.name} has no training prompts (all {len(held_out)} are held out).")
    return train, held_out or train[:1]
