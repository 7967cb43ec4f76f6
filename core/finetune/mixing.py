"""Multi-task fine-tuning data: several datasets mixed by weight, the course's remedy for catastrophic forgetting.

A mix is a list of ``{"dataset", "weight"}``. A dataset is a bundled task (``dialogsum``, ``sentiment``: their pool
split, in the words of the zero-shot prompt), ``general_text`` (plain paragraphs with an empty prompt, so the whole
text is in the loss: a replay of ordinary prose), or a {prompt, completion} file. The mixture takes from each source a
share of rows proportional to its weight, never repeating a row: the largest mixture that every source can fill (so a
small source with a large weight limits the total). Rows are drawn and shuffled with the run's seed.

The forgetting probe stays honest: the report measures general-text loss on the first ``PROBE_TEXTS`` paragraphs
(gen-001 to gen-030), and a mix only ever uses the others (gen-031 to gen-060). A mix with sentiment trains on its
pool split; the report's sentiment accuracy scores its test split (the point of multi-task tuning is that the second
task is kept, so that figure no longer measures a task the run never saw).

Does not hold: tokenising (``core.finetune.pairs``) or the config (``core.finetune.config``, which calls ``check_mix``).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import check_range
from core.data import BUNDLED, DATASETS_DIR
from core.finetune.pairs import load_pairs

if TYPE_CHECKING:
    from core.finetune.config import FinetuneConfig

GENERAL_TEXT = "general_text"
PROBE_TEXTS = 30  # general_text.jsonl's first 30 paragraphs: the forgetting probe, never trained on
MIX_SOURCES = (*BUNDLED, GENERAL_TEXT)


def general_texts() -> list[str]:
    """All 60 paragraphs of general_text.jsonl, in id order."""
    lines = (DATASETS_DIR / "general_text.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def probe_texts() -> list[str]:
    """The paragraphs the forgetting meter measures (a mix never contains them)."""
    return general_texts()[:PROBE_TEXTS]


def general_text_pairs() -> list[dict[str, str]]:
    """The paragraphs a mix may use, as pairs with an empty prompt: every token of the text is in the loss."""
    return [{"prompt": "", "completion": text} for text in general_texts()[PROBE_TEXTS:]]


def check_mix(mix: Any) -> tuple[dict[str, Any], ...]:
    """A mix as a tuple of {"dataset", "weight": float}, or ValueError naming the bad entry."""
    if not isinstance(mix, (list, tuple)):
        raise ValueError(f"mix must be a list of {{dataset, weight}}, got {mix!r}")
    checked, seen = [], set()
    for number, entry in enumerate(mix, start=1):
        if not isinstance(entry, dict) or set(entry) != {"dataset", "weight"}:
            raise ValueError(f"mix entry {number} must have exactly the keys dataset and weight, got {entry!r}")
        dataset, weight = entry["dataset"], entry["weight"]
        check_range(f"mix entry {number} ({dataset}) weight", weight, 0, math.inf, low_open=True)
        if not isinstance(dataset, str) or (dataset not in MIX_SOURCES and not Path(dataset).is_file()):
            raise ValueError(f"mix entry {number}: no dataset {dataset!r}; use one of {', '.join(MIX_SOURCES)} or a "
                             ".jsonl/.csv file of {prompt, completion} rows")
        if dataset in seen:
            raise ValueError(f"mix entry {number}: {dataset!r} is listed twice; give it one weight")
        seen.add(dataset)
        checked.append({"dataset": dataset, "weight": float(weight)})
    return tuple(checked)


def source_pairs(dataset: str) -> list[dict[str, str]]:
    """The rows one source offers a mix."""
    return general_text_pairs() if dataset == GENERAL_TEXT else load_pairs(dataset)


def mix_counts(sizes: dict[str, int], weights: dict[str, float]) -> dict[str, int]:
    """Rows to take from each source: shares proportional to the weights, the largest total no source runs out for,
    rounded by largest remainder so that the counts add up to that total."""
    total_weight = sum(weights.values())
    shares = {name: weights[name] / total_weight for name in weights}
    total = math.floor(min(sizes[name] / shares[name] for name in shares) + 1e-9)
    exact = {name: total * share for name, share in shares.items()}
    counts = {name: math.floor(value + 1e-9) for name, value in exact.items()}
    for name in sorted(exact, key=lambda n: counts[n] - exact[n])[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def mix_pairs(mix: tuple[dict[str, Any], ...], seed: int) -> list[dict[str, str]]:
    """The mixed training rows, each with a ``source`` key naming its dataset, shuffled with ``seed``."""
    rng = random.Random(seed)
    pools = {entry["dataset"]: source_pairs(entry["dataset"]) for entry in mix}
    counts = mix_counts({name: len(rows) for name, rows in pools.items()}, {e["dataset"]: e["weight"] for e in mix})
    mixed = [{**pools[name][i], "source": name} for name in pools for i in sorted(rng.sample(range(len(pools[name])), counts[name]))]
    rng.shuffle(mixed)
    return mixed


def training_pairs(config: "FinetuneConfig") -> list[dict[str, str]]:
    """What a run trains on: its mix when it has one, else its dataset. The trainer and the data preview both call
    this, so the preview shows the rows training uses."""
    return mix_pairs(config.mix, config.seed) if config.mix else load_pairs(config.dataset)
