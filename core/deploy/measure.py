"""The measurements every variant gets, beside its base model's, in one run on one machine.

- size: bytes in memory (every parameter and buffer, a shared tensor once) and on disk (the saved safetensors);
- speed: greedy tokens/s of the app's generator over ``new_tokens`` tokens (eager: a compiled step would favour
  whichever model compiled; the Generate page's compiled speed is in benchmarks/models.py);
- quality: perplexity on the bundled general text (the evaluation task's first ``text_limit`` paragraphs, at most
  gen-001..gen-030, which no variant trains on) and
  accuracy (acc) on the first ``mc_limit`` knowledge_mc questions, scored like the Evaluation dashboard scores them.

Ratios are variant / base, measured here: a base's perplexity and accuracy do not change between runs and are kept in
``$LAB_HOME/deploy/baselines.json``; its speed does, with the machine's load, so it is timed again next to the variant.

Holds: ``LIMITS``/``check_limits``, ``Measurement``, ``measure`` (one model), ``disk_bytes``, ``base_measurement`` and ``ratios``.
Does not hold: making variants (``quantize``, ``prune``, ``distill``) or the comparison table (``compare``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.files import write_json_atomic
from core.paths import ensure_dir, lab_home

if TYPE_CHECKING:
    from core.models import LoadedModel

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass(frozen=True)
class Measurement:
    memory_bytes: int
    disk_bytes: int | None
    tokens_per_s: float
    perplexity: float
    accuracy: float  # knowledge_mc acc
    seconds: float  # how long measuring took

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# default, low, high. Perplexity reads general_text gen-001.. only up to gen-030: nothing here trains on those (pruning
# scores layers on gen-031..038; distillation and healing train on gen-031..060).
LIMITS = {"new_tokens": (32, 1, 512), "text_limit": (20, 1, 30), "mc_limit": (40, 1, 150)}


def check_limits(limits: dict[str, Any]) -> dict[str, int]:
    """Measurement limits made whole (defaults filled in) and checked."""
    from core.config import check_range

    unknown = sorted(set(limits) - set(LIMITS))
    if unknown:
        raise ValueError(f"Unknown measurement settings: {', '.join(unknown)}")
    for name, value in limits.items():
        check_range(name, value, LIMITS[name][1], LIMITS[name][2], integer=True)
    return {name: int(limits.get(name, default)) for name, (default, _, _) in LIMITS.items()}


def memory_bytes(model: Any) -> int:
    tensors = {t.data_ptr(): t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers())}
    return sum(tensors.values())


def disk_bytes(folder: str | Path | None) -> int | None:
    if folder is None or not Path(folder).is_dir():
        return None
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def tokens_per_s(loaded: "LoadedModel", new_tokens: int = 32) -> float:
    """Greedy decoding speed of core.sampling.stream_generate, after a short warm-up."""
    from core.sampling import SamplingSettings, encode_prompt, stream_generate

    greedy = SamplingSettings(temperature=0)
    ids = encode_prompt(loaded, PROMPT, chat=loaded.info.has_chat_template)
    for _ in stream_generate(loaded, ids, greedy, max_new_tokens=2, stop_at_eos=False):
        pass
    start = time.perf_counter()
    count = sum(1 for _ in stream_generate(loaded, ids, greedy, max_new_tokens=new_tokens, stop_at_eos=False))
    return count / (time.perf_counter() - start)


def quality(loaded: "LoadedModel", text_limit: int = 20, mc_limit: int = 40) -> tuple[float, float]:
    """(perplexity on general text, knowledge_mc accuracy), scored as the Evaluation dashboard scores them."""
    from core.evaluation.runner import EvalConfig
    from core.evaluation.scorers import evaluate
    from core.evaluation.tasks import load_task

    name = loaded.info.name
    text = evaluate(loaded, load_task("general_text"), EvalConfig(models=(name,), tasks=("general_text",), limit=text_limit))
    mc = evaluate(loaded, load_task("knowledge_mc"), EvalConfig(models=(name,), tasks=("knowledge_mc",), limit=mc_limit))
    return text.metrics["perplexity"], mc.metrics["acc"]


def measure(loaded: "LoadedModel", folder: str | Path | None = None, new_tokens: int = 32, text_limit: int = 20,
            mc_limit: int = 40) -> Measurement:
    start = time.perf_counter()
    perplexity, accuracy = quality(loaded, text_limit, mc_limit)
    speed = tokens_per_s(loaded, new_tokens)
    return Measurement(memory_bytes(loaded.model), disk_bytes(folder), round(speed, 2), perplexity, accuracy,
                       round(time.perf_counter() - start, 1))


def base_measurement(name: str, new_tokens: int = 32, text_limit: int = 20, mc_limit: int = 40,
                     loaded: "LoadedModel | None" = None) -> Measurement:
    """The float32 base model's measurement: quality from the cache when it is there, speed timed now."""
    from core.models import load_model

    loaded = loaded or load_model(name, precision="float32")
    path = ensure_dir(lab_home() / "deploy") / "baselines.json"
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    key = f"{name}|{text_limit}|{mc_limit}"
    if key not in cache:
        perplexity, accuracy = quality(loaded, text_limit, mc_limit)
        cache[key] = {"perplexity": perplexity, "accuracy": accuracy}
        write_json_atomic(path, cache)
    start = time.perf_counter()
    speed = tokens_per_s(loaded, new_tokens)
    return Measurement(memory_bytes(loaded.model), None, round(speed, 2), cache[key]["perplexity"],
                       cache[key]["accuracy"], round(time.perf_counter() - start, 1))


def ratios(variant: Measurement, base: Measurement) -> dict[str, Any]:
    """The fields the CLI's JSON and the comparison share: the variant's numbers, the base's, and variant / base."""
    return {
        "size_bytes": variant.memory_bytes, "size_bytes_base": base.memory_bytes,
        "size_ratio": round(variant.memory_bytes / base.memory_bytes, 4),
        "disk_bytes": variant.disk_bytes,
        "perplexity": round(variant.perplexity, 3), "perplexity_base": round(base.perplexity, 3),
        "perplexity_ratio": round(variant.perplexity / base.perplexity, 4),
        "tokens_per_s": variant.tokens_per_s, "tokens_per_s_base": base.tokens_per_s,
        "speedup": round(variant.tokens_per_s / base.tokens_per_s, 3) if base.tokens_per_s else None,
        "accuracy": round(variant.accuracy, 4), "accuracy_base": round(base.accuracy, 4),
    }
