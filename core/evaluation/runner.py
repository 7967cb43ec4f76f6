"""Evaluations of models × tasks × prompt templates: the settings, the grid (each result saved as it finishes), the
background run, and reading results back as a leaderboard or side by side.

Holds: ``EvalConfig`` (with ``check_template``), ``run_evaluations``, ``eval_job`` (JOB), ``evaluation_label``,
``leaderboard`` and ``compare_examples``. Each (model, task, template) is its own stored evaluation, the template in
its config.
Does not hold: tasks (``core.evaluation.tasks``), scoring (``core.evaluation.scorers``) or the database (``core.store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from core import store
from core.config import DictConfig, check_range
from core.evaluation.metrics import output_flag
from core.evaluation.scorers import evaluate
from core.evaluation.tasks import HEADLINE, load_task, task_kind

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.evaluation.runner:eval_job"


@dataclass(frozen=True)
class EvalConfig(DictConfig):
    KIND = "evaluation"

    models: tuple[str, ...] = field(
        default=("smollm2-135m-instruct",),
        metadata={"help": "Models to evaluate: bundled names, run:<id> for fine-tuned runs, hub ids or folders."},
    )
    tasks: tuple[str, ...] = field(default=("sentiment",), metadata={"help": "Bundled task names, or KIND:PATH for a file of your own."})
    limit: int = field(default=20, metadata={"help": "Score the first N test examples of each task (0 = all). The same examples for every model."})
    shots: int = field(default=0, metadata={"help": "Examples from the task's pool/dev split put before each question (in-context learning)."})
    batch_size: int = field(default=8, metadata={"help": "Prompts generated together in one batch (summaries, translations)."})
    max_new_tokens: int = field(default=48, metadata={"help": "The longest answer the model may write."})
    precision: str = field(default="auto", metadata={"help": "auto = bfloat16 where supported; float32 is exact and slower."})
    templates: tuple[str, ...] = field(default=(), metadata={"help": "Prompt templates to try, each with an {input} placeholder "
                                       "(e.g. 'Question: {input}\\nAnswer:'); every (model, template) is saved as its own "
                                       "evaluation. Empty = the task's own prompt."})

    def __post_init__(self) -> None:
        if not self.models or not self.tasks:
            raise ValueError("Choose at least one model and one task.")
        for name, value, low, high in (("limit", self.limit, 0, 100_000), ("shots", self.shots, 0, 8),
                                       ("batch_size", self.batch_size, 1, 64), ("max_new_tokens", self.max_new_tokens, 1, 512)):
            check_range(name, value, low, high, integer=True)
        for template in self.templates:
            check_template(template)
        if len(set(self.templates)) != len(self.templates):
            raise ValueError("Two prompt templates are the same.")
        if self.templates and any(task_kind(t) == "perplexity" for t in self.tasks):
            raise ValueError("Prompt templates apply to tasks that answer a prompt, not to perplexity tasks.")


def check_template(template: str) -> None:
    """A prompt template has exactly the field {input} (write {{ and }} for literal braces); ValueError otherwise."""
    from string import Formatter

    try:
        names = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise ValueError(f"The template {template!r} has unbalanced braces ({err}); write {{{{ or }}}} for a literal brace.") from None
    if names.count("input") != 1 or set(names) != {"input"}:
        raise ValueError(f"A template needs the placeholder {{input}} exactly once and no other fields, got {template!r}.")


def evaluation_label(evaluation: dict[str, Any]) -> str:
    """How a leaderboard names an evaluation: its model, and its prompt template when it had one."""
    template = (evaluation.get("config") or {}).get("template")
    if not template:
        return evaluation["model"]
    short = " ".join(template.split())
    return f"{evaluation['model']} · “{short[:40]}{'…' if len(short) > 40 else ''}”"



# ---------------------------------------------------------------- grids of models × tasks, in the foreground or as a run


def run_evaluations(config: EvalConfig, on_progress: Callable[[dict[str, Any]], None] | None = None,
                    should_stop: Callable[[], bool] | None = None, run_id: str | None = None) -> list[int]:
    """Every model on every task; each finished (model, task) is saved to the database at once. Returns their ids."""
    from core.models import check_loadable, load_model

    stop = should_stop or (lambda: False)
    report = on_progress or (lambda event: None)
    tasks = [load_task(name) for name in config.tasks]  # a bad task file fails before any model loads
    for name in config.models:  # and so does a model that cannot be had (a hub id not cached, a missing folder...)
        check_loadable(name)
    saved = []
    templates = config.templates or (None,)
    cells = [(task, template) for task in tasks for template in templates]
    for m, model_name in enumerate(config.models):
        if stop():
            break
        loaded = load_model(model_name, precision=config.precision)
        for t, (task, template) in enumerate(cells):
            if stop():
                break
            cell = {"model": model_name, "task": task.name, "cell": m * len(cells) + t,
                    "cells": len(cells) * len(config.models), "template": template}

            def on_example(done: int, total: int, cell: dict[str, Any] = cell) -> None:
                report({**cell, "done": done, "total": total})

            result = evaluate(loaded, task, config, on_example, stop, template=template)
            result.model = model_name  # the name the user chose (run:<id>, a hub id), not the loaded model's label
            settings = {**{k: v for k, v in result.config.items() if k != "templates"}, "complete": result.complete,
                        **({"template": template} if template else {})}
            saved.append(store.save_evaluation(model_name, task.name, result.metrics, settings, result.examples, result.seconds,
                                               run_id))
            report({**cell, "event": "saved", "evaluation": saved[-1], "metrics": result.metrics, "done": len(result.examples),
                    "total": len(result.examples)})
    return saved


def eval_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``JOB``)."""
    config = EvalConfig.from_dict(ctx.config)
    ids = run_evaluations(config, lambda event: ctx.progress(**event), ctx.should_stop, run_id=ctx.dir.name)
    return {"evaluations": ids}


# ---------------------------------------------------------------- reading results back


def leaderboard(evaluations: list[dict[str, Any]], errors: dict[int, dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """One row per model: each task's headline metric (the newest evaluation of that model on that task), its
    standard error when ``errors`` (evaluation id -> ``stats.stderrs``) has one, and a ``warning`` when some of its
    outputs were empty or echoed their input (their ROUGE or BLEU is not a summary's)."""
    rows: dict[str, dict[str, Any]] = {}
    for evaluation in sorted(evaluations, key=lambda e: e["id"]):
        kind = task_kind(evaluation["task"])
        metric = HEADLINE.get(kind, next(iter(evaluation["metrics"])))
        label = evaluation_label(evaluation)
        row = rows.setdefault(label, {"model": label, "warning": ""})
        row[f"{evaluation['task']} · {metric}"] = evaluation["metrics"].get(metric)
        if errors is not None:
            row[f"{evaluation['task']} · {metric} ± SE"] = (errors.get(evaluation["id"]) or {}).get(metric)
        problems = [f"{int(evaluation['metrics'][key])}/{evaluation['n']} {what}" for key, what in
                    (("empty_outputs", "empty"), ("echoed_outputs", "echo the input")) if evaluation["metrics"].get(key)]
        if problems:
            row["warning"] = "; ".join(filter(None, [row["warning"], f"⚠ {evaluation['task']}: {', '.join(problems)}"]))
    return list(rows.values())


def compare_examples(evaluations: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Examples of one task side by side: each model's output and score, and the largest gap between two models;
    for generated outputs also each model's ``flag`` ("empty", "echo" or "", from ``metrics.output_flag``)."""
    by_id: dict[str, dict[str, Any]] = {}
    for evaluation in evaluations:
        generated = task_kind(evaluation.get("task", "")) in ("summarization", "translation")
        label = evaluation_label(evaluation)
        for example in evaluation["examples"]:
            row = by_id.setdefault(example["id"], {"id": example["id"], "input": example["input"], "reference": example["reference"]})
            row[f"{label} output"] = example["prediction"]
            if generated:
                row[f"{label} flag"] = output_flag(example["prediction"], example["input"])
            row[f"{label} {metric}"] = example["scores"].get(metric)
    for row in by_id.values():
        scores = [v for k, v in row.items() if k.endswith(f" {metric}") and v is not None]
        row["gap"] = max(scores) - min(scores) if scores else 0.0
    return list(by_id.values())
