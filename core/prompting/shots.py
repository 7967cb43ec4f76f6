"""The k-shot experiment: how a model's score changes as examples are added to its prompt.

Holds: ``ShotsConfig`` (validated), ``run_shots`` (every test example at every k, with a progress callback and a stop
check) and ``summarize`` (score and prompt tokens per model and k). Used by the Prompt shots page and `python -m core shots`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from core.config import check_range
from core.data import TaskData
from core.evaluation.metrics import rouge
from core.prompting.prompts import (
    STRATEGIES,
    embed_examples,
    fit_prompt,
    generate_answer,
    max_answer_tokens,
    parse_label,
    score_labels,
    select_examples,
)

if TYPE_CHECKING:
    from core.models import LoadedModel

MAX_K = 8


@dataclass(frozen=True)
class ShotsConfig:
    ks: tuple[int, ...] = field(default=(0, 1, 2, 4, 8), metadata={"help": "Numbers of examples (shots) to try, 0 to 8."})
    n: int = field(default=20, metadata={"help": "How many held-out test examples to score at each k."})
    strategy: str = field(
        default="balanced",
        metadata={"help": "random: a seeded draw from the pool; balanced: as many of each label; similar: the pool examples"
                          " closest to the input (MiniLM embeddings)."},
    )
    scoring: str = field(
        default="loglik",
        metadata={"help": "loglik: the label the model finds most likely (classification only); generate: let it write an "
                          "answer and read the label from it."},
    )
    chat: bool = field(default=False, metadata={"help": "Use the model's chat template (instruct models): examples become earlier turns."})
    cot: bool = field(default=False, metadata={"help": "Ask the model to think step by step before answering (generate scoring only)."})
    seed: int = field(default=0, metadata={"help": "Fixes which test examples and which shots are drawn."})

    def __post_init__(self) -> None:
        if not self.ks:
            raise ValueError("Choose at least one k.")
        for k in self.ks:
            check_range("k", k, 0, MAX_K, integer=True)
        check_range("n", self.n, 1, 100_000, integer=True)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.scoring not in ("loglik", "generate"):
            raise ValueError(f"scoring must be 'loglik' or 'generate', got {self.scoring!r}")
        if self.cot and self.scoring != "generate":
            raise ValueError("Chain of thought needs scoring='generate': the model must write its reasoning.")


@dataclass(frozen=True)
class ShotResult:
    model: str
    k: int
    example_id: str
    input: str
    target: str
    prediction: str
    score: float  # 1/0 for classification, ROUGE-L F for summaries
    prompt_tokens: int
    dropped: int  # shots dropped to fit the context window
    probabilities: dict[str, float] | None = None


def run_shots(
    loaded: "LoadedModel",
    task: TaskData,
    config: ShotsConfig,
    embedder: Any = None,
    on_progress: Callable[[int, int, ShotResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[ShotResult]:
    """Score ``config.n`` test examples at every k. ``on_progress(done, total, result)`` hears of each result as it
    comes; the run stops early (returning what it has) when should_stop() is True."""
    if config.strategy == "balanced" and task.kind != "classification":
        raise ValueError("Balanced selection needs a classification task; use random or similar.")
    if config.strategy == "similar" and embedder is None:
        raise ValueError("Similar selection needs the embedding model.")
    loglik = config.scoring == "loglik" and task.kind == "classification"
    pool, test = task.split("pool"), task.split("test")
    test = random.Random(config.seed).sample(test, min(config.n, len(test)))
    pool_vectors = embed_examples(embedder, pool) if config.strategy == "similar" else None
    query_vectors = embed_examples(embedder, test) if config.strategy == "similar" else None
    results: list[ShotResult] = []
    total, done = len(test) * len(config.ks), 0
    for i, example in enumerate(test):
        for k in config.ks:
            if should_stop and should_stop():
                return results
            shots = select_examples(
                pool, k, config.strategy, seed=config.seed * 1000 + i, labels=task.labels,
                query_vector=None if query_vectors is None else query_vectors[i], pool_vectors=pool_vectors,
            )
            answer_room = max_answer_tokens(task, config.cot)
            prompt = fit_prompt(loaded, task, shots, example.input, answer_room, chat=config.chat, cot=config.cot)
            probabilities = None
            if loglik:
                scores = score_labels(loaded, prompt.ids, task.labels, chat=config.chat)
                prediction, probabilities = scores.best, scores.probabilities
            else:
                prediction = generate_answer(loaded, prompt.ids, answer_room, stop_at_newline=not (config.chat or config.cot))
            result = ShotResult(
                model=loaded.info.name, k=k, example_id=example.id, input=example.input, target=example.target,
                prediction=prediction, score=_score(task, prediction, example.target, parse=not loglik),
                prompt_tokens=len(prompt.ids), dropped=prompt.dropped, probabilities=probabilities,
            )
            results.append(result)
            done += 1
            if on_progress:
                on_progress(done, total, result)
    return results


def _score(task: TaskData, prediction: str, target: str, parse: bool) -> float:
    if task.kind == "classification":
        label = parse_label(prediction, task.labels) if parse else prediction
        return float(label == target)
    return rouge([prediction], [target])[0]["rougeL"]["f"]


def summarize(results: list[ShotResult]) -> list[dict[str, Any]]:
    """One row per (model, k): mean score, mean prompt tokens, examples scored, shots dropped."""
    groups: dict[tuple[str, int], list[ShotResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.k), []).append(r)
    return [
        {
            "model": model,
            "k": k,
            "score": sum(r.score for r in rows) / len(rows),
            "prompt_tokens": sum(r.prompt_tokens for r in rows) / len(rows),
            "n": len(rows),
            "dropped": sum(r.dropped for r in rows),
        }
        for (model, k), rows in sorted(groups.items())
    ]


def metric_name(task: TaskData) -> str:
    return "accuracy" if task.kind == "classification" else "ROUGE-L F"
