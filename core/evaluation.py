"""Evaluation: any model on any task, scored with the metric the task calls for, stored in the database.

Tasks (bundled in ``assets/datasets/``, or uploaded in the same schema):

| kind            | bundled         | the model...                                         | metrics                                   |
|-----------------|-----------------|------------------------------------------------------|-------------------------------------------|
| multiple_choice | knowledge_mc    | scores each choice by log-likelihood (lm-eval style)  | acc, acc_norm                             |
| classification  | sentiment       | scores each label by log-likelihood                   | accuracy                                  |
| summarization   | dialogsum       | writes a summary (greedy, batched)                    | ROUGE-1/2/L/Lsum P/R/F, BLEU              |
| translation     | translation     | writes a French translation (greedy, batched)         | BLEU (sacrebleu, with signature), exact   |
| perplexity      | general_text    | reads each text                                       | perplexity                                |

Holds: ``EvalTask`` and its loaders (bundled and uploads, with line-numbered errors), ``EvalConfig``, ``evaluate``
(one model on one task, with progress and stop), ``run_evaluations`` (a grid of models × tasks, each result saved as
it finishes) and ``eval_job`` (the same as a background run).
Does not hold: the metric formulas (``core.metrics``), the database (``core.store``) or any UI.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core import metrics, store
from core.data import DATASETS_DIR, DataError, Example, TaskData, read_records
from core.prompting import fit_prompt, score_labels

if TYPE_CHECKING:
    from core.jobs import RunContext
    from core.models import LoadedModel

JOB = "core.evaluation:eval_job"
KINDS = ("multiple_choice", "classification", "summarization", "translation", "perplexity")
# The fields each kind's file must have (the bundled files have them too); "split" is optional: pool/dev rows become
# few-shot examples, test rows are scored; without it every row is scored.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "multiple_choice": ("question", "choices", "answer"),
    "classification": ("text", "label"),
    "summarization": ("dialogue", "summary"),
    "translation": ("source", "target"),
    "perplexity": ("text",),
}
BUNDLED_TASKS: dict[str, tuple[str, str, str]] = {  # name -> (kind, file, description)
    "knowledge_mc": ("multiple_choice", "knowledge_mc.jsonl", "School-level multiple-choice questions in 5 subjects (MMLU-style)"),
    "sentiment": ("classification", "sentiment.jsonl", "Reviews to classify as positive or negative"),
    "dialogsum": ("summarization", "dialogsum.jsonl", "Everyday dialogues to summarize in one or two sentences"),
    "translation": ("translation", "translation.jsonl", "Everyday English sentences to translate into French"),
    "general_text": ("perplexity", "general_text.jsonl", "Encyclopedia-style paragraphs: how well does the model predict them?"),
}
HEADLINE = {  # the metric a leaderboard shows first for each kind; higher is better except perplexity
    "multiple_choice": "acc_norm", "classification": "accuracy", "summarization": "rougeL_f", "translation": "bleu",
    "perplexity": "perplexity",
}
LOWER_IS_BETTER = {"perplexity"}


class EvalError(ValueError):
    """An evaluation cannot run as asked (bad task file, a task the model cannot do); the message says why."""


@dataclass(frozen=True)
class Item:
    """One example: the input, the reference answer and, for multiple choice, the choices and the right one."""

    id: str
    input: str
    reference: str
    split: str = "test"
    choices: tuple[str, ...] = ()
    answer: int = -1
    subject: str = ""


@dataclass(frozen=True)
class EvalTask:
    name: str
    kind: str
    items: tuple[Item, ...]
    description: str = ""

    @property
    def test(self) -> list[Item]:
        return [i for i in self.items if i.split == "test"]

    @property
    def pool(self) -> list[Item]:
        return [i for i in self.items if i.split != "test"]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({i.reference for i in self.items})) if self.kind == "classification" else ()


# ---------------------------------------------------------------- loading tasks


def load_task(name: str) -> EvalTask:
    """A bundled task by name, or ``kind:path`` for a file in one of the SCHEMAS (e.g. ``summarization:my.jsonl``)."""
    if name in BUNDLED_TASKS:
        kind, file, description = BUNDLED_TASKS[name]
        return parse_task((DATASETS_DIR / file).read_bytes(), file, kind, name=name, description=description)
    kind, sep, path = name.partition(":")
    if not sep or kind not in KINDS:
        raise EvalError(f"Unknown task {name!r}; bundled tasks: {', '.join(BUNDLED_TASKS)}, or KIND:PATH with KIND one of {', '.join(KINDS)}.")
    file = Path(path)
    if not file.is_file():
        raise EvalError(f"No file {path!r} for task {name!r}.")
    return parse_task(file.read_bytes(), file.name, kind, name=name)


def parse_task(data: bytes, filename: str, kind: str, name: str | None = None, description: str = "") -> EvalTask:
    """Validate a task file (JSONL or CSV) of the given kind. Every problem names its line; nothing is half-loaded."""
    if kind not in KINDS:
        raise EvalError(f"Unknown task kind {kind!r}; choose one of {', '.join(KINDS)}.")
    try:
        records = read_records(data, filename)
    except DataError as err:
        raise EvalError(str(err)) from err
    items = [_item(row, kind, filename, index) for index, row in enumerate(records)]
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise EvalError(f"{filename}: the id {duplicate!r} appears more than once.")
    task = EvalTask(name or f"{kind}:{filename}", kind, tuple(items), description)
    if not task.test:
        raise EvalError(f"{filename}: no rows to score (every row's split is pool/dev; mark some as test).")
    if kind == "classification" and len(task.labels) < 2:
        raise EvalError(f"{filename}: every row has the same label; a classification task needs at least two.")
    return task


def _item(row: dict[str, Any], kind: str, filename: str, index: int) -> Item:
    line = row.get("_line", index + 1)
    where = f"{filename}, line {line}"
    missing = [f for f in SCHEMAS[kind] if row.get(f) is None or (isinstance(row.get(f), str) and not row[f].strip())]
    if missing:
        raise EvalError(f"{where}: missing {', '.join(repr(m) for m in missing)} (a {kind} task needs {', '.join(SCHEMAS[kind])}).")
    split = str(row.get("split") or "test").strip()
    split = "pool" if split in ("pool", "dev", "train") else split
    if split not in ("pool", "test"):
        raise EvalError(f"{where}: split must be pool, dev or test, got {split!r}.")
    item_id = str(row.get("id") or f"{kind}-{index + 1}")
    if kind != "multiple_choice":
        text_field, reference_field = {"classification": ("text", "label"), "summarization": ("dialogue", "summary"),
                                       "translation": ("source", "target"), "perplexity": ("text", "text")}[kind]
        return Item(item_id, str(row[text_field]).strip(), str(row[reference_field]).strip(), split)
    choices = row["choices"]
    if isinstance(choices, str):  # a CSV cell holding a JSON list
        try:
            choices = json.loads(choices)
        except json.JSONDecodeError as err:
            raise EvalError(f"{where}: choices must be a JSON list of strings.") from err
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c.strip() for c in choices):
        raise EvalError(f"{where}: choices must be a list of at least two non-empty strings.")
    choices = [c.strip() for c in choices]
    if len(set(choices)) != len(choices):
        raise EvalError(f"{where}: two choices are the same.")
    answer = _answer_index(row["answer"], choices, where)
    return Item(item_id, str(row["question"]).strip(), choices[answer], split, tuple(choices), answer, str(row.get("subject") or ""))


def _answer_index(answer: Any, choices: list[str], where: str) -> int:
    """The answer as a 0-based index, a letter (A, B, ...) or the text of the right choice."""
    text = str(answer).strip()
    if text.isdigit() and int(text) < len(choices):
        return int(text)
    if len(text) == 1 and text.upper().isalpha() and ord(text.upper()) - ord("A") < len(choices):
        return ord(text.upper()) - ord("A")
    if text in choices:
        return choices.index(text)
    raise EvalError(f"{where}: answer {answer!r} is not an index, a letter or one of the {len(choices)} choices.")


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class EvalConfig:
    models: tuple[str, ...] = field(default=("smollm2-135m-instruct",), metadata={"help": "Models to evaluate: bundled names, run:<id> for fine-tuned runs, hub ids or folders."})
    tasks: tuple[str, ...] = field(default=("sentiment",), metadata={"help": "Bundled task names, or KIND:PATH for a file of your own."})
    limit: int = field(default=20, metadata={"help": "Score the first N test examples of each task (0 = all). The same examples for every model."})
    shots: int = field(default=0, metadata={"help": "Examples from the task's pool/dev split put before each question (in-context learning)."})
    batch_size: int = field(default=8, metadata={"help": "Prompts generated together in one batch (summaries, translations)."})
    max_new_tokens: int = field(default=48, metadata={"help": "The longest answer the model may write."})
    precision: str = field(default="auto", metadata={"help": "auto = bfloat16 where supported; float32 is exact and slower."})

    def __post_init__(self) -> None:
        if not self.models or not self.tasks:
            raise ValueError("Choose at least one model and one task.")
        for name, value, low, high in (("limit", self.limit, 0, 100_000), ("shots", self.shots, 0, 8),
                                       ("batch_size", self.batch_size, 1, 64), ("max_new_tokens", self.max_new_tokens, 1, 512)):
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"target"}
        if unknown:
            raise ValueError(f"Unknown evaluation settings: {', '.join(sorted(unknown))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)


# ---------------------------------------------------------------- evaluating

Progress = Callable[[int, int], None]


@dataclass
class EvalResult:
    model: str
    task: str
    kind: str
    metrics: dict[str, float]
    examples: list[dict[str, Any]]  # id, input, reference, prediction, scores
    seconds: float
    config: dict[str, Any]
    complete: bool = True  # False when stopped early: the metrics cover the examples done


def evaluate(loaded: "LoadedModel", task: EvalTask, config: EvalConfig, on_progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None) -> EvalResult:
    """Score one model on one task's first ``config.limit`` test examples."""
    items = task.test[: config.limit or None]
    started = time.perf_counter()
    scorer = {"multiple_choice": _multiple_choice, "classification": _classification, "summarization": _generation,
              "translation": _generation, "perplexity": _perplexity}[task.kind]
    examples = scorer(loaded, task, items, config, on_progress or (lambda done, total: None), should_stop or (lambda: False))
    if not examples:
        raise EvalError(f"Stopped before the first example of {task.name} was scored.")
    settings = {k: v for k, v in config.to_dict().items() if k not in ("models", "tasks")}
    return EvalResult(loaded.info.name, task.name, task.kind, summarize(task.kind, examples), examples,
                      time.perf_counter() - started, settings, complete=len(examples) == len(items))


def _record(item: Item, prediction: str, scores: dict[str, float]) -> dict[str, Any]:
    return {"id": item.id, "input": item.input, "reference": item.reference, "prediction": prediction, "scores": scores}


def _as_task_data(task: EvalTask, template_name: str) -> TaskData:
    """The prompting module's view of a task, so prompts use the same words as the Prompt shots page and fine-tuning."""
    kind = "classification" if task.kind == "classification" else "generation"
    examples = tuple(Example(i.id, i.input, i.reference, i.split) for i in task.items)
    return TaskData(template_name, kind, examples, task.labels)


def _shots(task: EvalTask, position: int, k: int) -> list[Item]:
    """The same k pool examples for every model (a fixed rotation through the pool, so questions see different ones)."""
    pool = task.pool
    if not k or not pool:
        return []
    return [pool[(position * k + j) % len(pool)] for j in range(min(k, len(pool)))]


def _multiple_choice(loaded, task, items, config, on_progress, should_stop) -> list[dict[str, Any]]:
    examples = []
    for position, item in enumerate(items):
        if should_stop():
            break
        subject = item.subject.replace("_", " ") or "general knowledge"
        header = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
        shots = "".join(f"Question: {s.input}\nAnswer: {s.reference}\n\n" for s in _shots(task, position, config.shots))
        prompt_ids = loaded.tokenizer(header + shots + f"Question: {item.input}\nAnswer:")["input_ids"]
        _check_fits(loaded, item, len(prompt_ids) + max(len(loaded.tokenizer(" " + c)["input_ids"]) for c in item.choices))
        logliks = score_labels(loaded, prompt_ids, item.choices).logprobs
        picked = metrics.choose([logliks[c] for c in item.choices], [" " + c for c in item.choices])
        shown = item.input + "\n" + "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(item.choices))
        examples.append(_record(replace(item, input=shown), item.choices[picked.index_norm], {
            "acc": float(picked.index == item.answer), "acc_norm": float(picked.index_norm == item.answer),
            **{f"loglik_{chr(65 + i)}": logliks[c] for i, c in enumerate(item.choices)}}))
        on_progress(position + 1, len(items))
    return examples


def _classification(loaded, task, items, config, on_progress, should_stop) -> list[dict[str, Any]]:
    data = _as_task_data(task, task.name if task.name == "sentiment" else "classification")
    examples = []
    for position, item in enumerate(items):
        if should_stop():
            break
        shots = [Example(s.id, s.input, s.reference, s.split) for s in _shots(task, position, config.shots)]
        prompt = _fit(loaded, data, shots, item, 8)
        scores = score_labels(loaded, prompt.ids, task.labels)
        examples.append(_record(item, scores.best, {"accuracy": float(scores.best == item.reference),
                                                    **{f"p_{label}": p for label, p in scores.probabilities.items()}}))
        on_progress(position + 1, len(items))
    return examples


def _generation(loaded, task, items, config, on_progress, should_stop) -> list[dict[str, Any]]:
    from core.sampling import generate_batch

    data = _as_task_data(task, "dialogsum" if task.kind == "summarization" else "translation")
    predictions: list[str] = []
    for start in range(0, len(items), config.batch_size):
        if should_stop():
            break
        batch = items[start:start + config.batch_size]
        prompts = []
        for offset, item in enumerate(batch):
            shots = [Example(s.id, s.input, s.reference, s.split) for s in _shots(task, start + offset, config.shots)]
            prompts.append(_fit(loaded, data, shots, item, config.max_new_tokens).ids)
        predictions += generate_batch(loaded, prompts, config.max_new_tokens)
        on_progress(len(predictions), len(items))
    done = items[:len(predictions)]
    if not done:
        return []
    references = [i.reference for i in done]
    if task.kind == "translation":
        per_example = [{"bleu": s} for s in metrics.bleu(predictions, references).sentence_scores]
    else:
        per_example = [{f"{t}_{part}": v for t, parts in r.items() for part, v in parts.items()}
                       for r in metrics.rouge(predictions, references)]
    exact = metrics.exact_match(predictions, references)
    return [_record(item, p, {**s, "exact_match": e}) for item, p, s, e in zip(done, predictions, per_example, exact)]


def _perplexity(loaded, task, items, config, on_progress, should_stop) -> list[dict[str, Any]]:
    import math

    examples = []
    for position, item in enumerate(items):
        if should_stop():
            break
        total, count = metrics.token_nll(loaded, [item.input])
        examples.append(_record(item, "", {"perplexity": math.exp(total / count), "nll": total, "tokens": float(count)}))
        on_progress(position + 1, len(items))
    return examples


def _fit(loaded: "LoadedModel", data: TaskData, shots: list[Example], item: Item, answer_tokens: int) -> Any:
    try:
        return fit_prompt(loaded, data, shots, item.input, answer_tokens)
    except ValueError as err:
        raise EvalError(f"{loaded.info.name} cannot do example {item.id}: {err}") from err


def _check_fits(loaded: "LoadedModel", item: Item, tokens: int) -> None:
    if tokens > loaded.info.context_window:
        raise EvalError(f"{loaded.info.name} cannot do example {item.id}: it needs {tokens:,} tokens and the context "
                        f"window holds {loaded.info.context_window:,}.")


def summarize(kind: str, examples: list[dict[str, Any]]) -> dict[str, float]:
    """The task's metrics over its examples, plus how many outputs were empty (a model that says nothing scores 0)."""
    mean = lambda key: sum(e["scores"][key] for e in examples) / len(examples)  # noqa: E731
    empty = float(sum(not e["prediction"].strip() for e in examples)) if kind in ("summarization", "translation") else 0.0
    if kind == "multiple_choice":
        return {"acc": mean("acc"), "acc_norm": mean("acc_norm")}
    if kind == "classification":
        return {"accuracy": mean("accuracy")}
    if kind == "perplexity":
        import math

        total = sum(e["scores"]["nll"] for e in examples)
        return {"perplexity": math.exp(total / sum(e["scores"]["tokens"] for e in examples))}
    predictions, references = [e["prediction"] for e in examples], [e["reference"] for e in examples]
    corpus = metrics.bleu(predictions, references)
    result = {"bleu": corpus.score, "exact_match": mean("exact_match"), "empty_outputs": empty}
    if kind == "summarization":
        result.update(metrics.mean_rouge(metrics.rouge(predictions, references)))
    return result


# ---------------------------------------------------------------- grids of models × tasks, in the foreground or as a run


def run_evaluations(config: EvalConfig, on_progress: Callable[[dict[str, Any]], None] | None = None,
                    should_stop: Callable[[], bool] | None = None, run_id: str | None = None) -> list[int]:
    """Every model on every task; each finished (model, task) is saved to the database at once. Returns their ids."""
    from core.models import load_model

    stop = should_stop or (lambda: False)
    report = on_progress or (lambda event: None)
    tasks = [load_task(name) for name in config.tasks]  # a bad task file fails before any model loads
    saved = []
    for m, model_name in enumerate(config.models):
        if stop():
            break
        loaded = load_model(model_name, precision=config.precision)
        for t, task in enumerate(tasks):
            if stop():
                break
            cell = {"model": model_name, "task": task.name, "cell": m * len(tasks) + t, "cells": len(tasks) * len(config.models)}
            result = evaluate(loaded, task, config, lambda done, total: report({**cell, "done": done, "total": total}), stop)
            result.model = model_name  # the name the user chose (run:<id>, a hub id), not the loaded model's label
            saved.append(store.save_evaluation(model_name, task.name, result.metrics, {**result.config, "complete": result.complete},
                                               result.examples, result.seconds, run_id))
            report({**cell, "event": "saved", "evaluation": saved[-1], "metrics": result.metrics, "done": len(result.examples),
                    "total": len(result.examples)})
    return saved


def eval_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``core.evaluation:eval_job``)."""
    config = EvalConfig.from_dict(ctx.config)
    ids = run_evaluations(config, lambda event: ctx.progress(**event), ctx.should_stop, run_id=ctx.dir.name)
    return {"evaluations": ids}


# ---------------------------------------------------------------- reading results back


def leaderboard(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: each task's headline metric (the newest evaluation of that model on that task)."""
    rows: dict[str, dict[str, Any]] = {}
    for evaluation in sorted(evaluations, key=lambda e: e["id"]):
        kind = task_kind(evaluation["task"])
        metric = HEADLINE.get(kind, next(iter(evaluation["metrics"])))
        rows.setdefault(evaluation["model"], {"model": evaluation["model"]})[f"{evaluation['task']} · {metric}"] = evaluation["metrics"].get(metric)
    return list(rows.values())


def task_kind(task_name: str) -> str:
    if task_name in BUNDLED_TASKS:
        return BUNDLED_TASKS[task_name][0]
    return task_name.partition(":")[0]


def compare_examples(evaluations: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Examples of one task side by side: each model's output and score, and the largest gap between two models."""
    by_id: dict[str, dict[str, Any]] = {}
    for evaluation in evaluations:
        for example in evaluation["examples"]:
            row = by_id.setdefault(example["id"], {"id": example["id"], "input": example["input"], "reference": example["reference"]})
            row[f"{evaluation['model']} output"] = example["prediction"]
            row[f"{evaluation['model']} {metric}"] = example["scores"].get(metric)
    for row in by_id.values():
        scores = [v for k, v in row.items() if k.endswith(f" {metric}") and v is not None]
        row["gap"] = max(scores) - min(scores) if scores else 0.0
    return list(by_id.values())
