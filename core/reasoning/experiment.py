"""Accuracy of methods × models on a task's test split, as a background run (``JOB``), and the summary with errors.

The run writes one row per (model, method, problem) to ``results.jsonl`` as it goes, so a cancelled run keeps what
it finished and a resumed one skips it; progress events say how far it is. ``summarise`` gives the accuracy of each
model and method with its binomial standard error, sqrt(p(1 - p) / n), as lm-eval reports it, and ``fixed_by``
lists the problems one method got right where another got them wrong (where PAL fixed chain-of-thought arithmetic).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.files import read_jsonl_rows
from core.reasoning.methods import methods_for, task_tools

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.reasoning.experiment:experiment_job"
BATCH = 8  # questions per batch for the single-completion methods


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """The experiment's settings with defaults, or a ValueError that says what is wrong."""
    kind = config.get("task", "arithmetic")
    methods = list(config.get("methods") or [])
    models = list(config.get("models") or [])
    if not models:
        raise ValueError("Choose at least one model.")
    if not methods:
        raise ValueError("Choose at least one method.")
    unknown = [m for m in methods if m not in methods_for(kind)]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} do not apply to {kind} tasks: choose from {', '.join(methods_for(kind))}.")
    limit = config.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"The limit must be a whole number of problems, 1 or more; got {limit!r}.")
    return {"task": kind, "methods": methods, "models": models, "limit": limit, "split": config.get("split", "test"),
            "k": int(config.get("k", 5)), "max_steps": int(config.get("max_steps", 6)), "seed": int(config.get("seed", 0)),
            "precision": config.get("precision", "auto")}


def tasks_for(config: dict[str, Any]) -> list[Any]:
    from core.reasoning.tasks import load_hop_questions, load_problems

    rows = (load_problems if config["task"] == "arithmetic" else load_hop_questions)(config["split"])
    return rows[: config["limit"]] if config["limit"] else rows


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """The answers written so far; a line torn by a kill is skipped, so a resume answers that problem again."""
    return read_jsonl_rows(Path(run_dir) / "results.jsonl")


def experiment_job(ctx: "RunContext") -> dict[str, Any]:
    from core.models import load_model
    from core.reasoning.llm import LabModel
    from core.reasoning.methods import is_correct, solve_many

    config = check_config(ctx.config)
    tasks = tasks_for(config)
    done = {(r["model"], r["method"], r["id"]) for r in read_results(ctx.dir)} if ctx.resume else set()
    total = len(tasks) * len(config["methods"]) * len(config["models"])
    count = min(len(done), total)  # a resumed run may hold rows beyond this grid (a larger limit before)
    ctx.progress(event="start", total=total, done=count)
    with open(ctx.dir / "results.jsonl", "a", encoding="utf-8") as out:
        for model_name in config["models"]:
            model = LabModel(load_model(model_name, precision=config["precision"]))
            options = task_tools(config["task"], model)
            for method in config["methods"]:
                todo = [t for t in tasks if (model.name, method, t.id) not in done]
                size = BATCH if method in ("direct", "cot", "cot-fewshot", "pal") else 1
                for start in range(0, len(todo), size):
                    if ctx.should_stop():
                        return {"stopped_at": count, "total": total}
                    batch = todo[start:start + size]
                    solutions = solve_many(model, method, [t.question for t in batch], config["task"], **options,
                                           k=config["k"], seed=config["seed"] + start, max_steps=config["max_steps"])
                    for task, solution in zip(batch, solutions):
                        row = {"model": model.name, "method": method, "id": task.id, "correct": is_correct(solution, task),
                               "gold": task.answer, "answer": solution.answer, "error": solution.error,
                               "seconds": solution.seconds, "steps": getattr(task, "steps", None),
                               "output": solution.output, "trace": solution.trace}
                        out.write(json.dumps(row, default=str) + "\n")
                        out.flush()
                        count += 1
                    ctx.progress(done=count, total=total, model=model.name, method=method)
            del model, options
    return {"results": str(ctx.dir / "results.jsonl"), "summary": summarise(read_results(ctx.dir))}


def standard_error(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else 0.0


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy ± standard error, mean seconds and how many answers could not be read, per model and method."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["method"]), []).append(row)
    out = []
    for (model, method), items in groups.items():
        n = len(items)
        p = sum(bool(r["correct"]) for r in items) / n
        out.append({"model": model, "method": method, "n": n, "accuracy": round(p, 4),
                    "standard_error": round(standard_error(p, n), 4),
                    "unreadable": sum(r["answer"] is None for r in items),
                    "seconds": round(sum(r["seconds"] for r in items) / n, 3)})
    return out


def fixed_by(rows: Sequence[dict[str, Any]], better: str, worse: str, model: str) -> list[str]:
    """Problems ``better`` got right where ``worse`` got them wrong, for one model."""
    right = {r["id"] for r in rows if r["model"] == model and r["method"] == better and r["correct"]}
    wrong = {r["id"] for r in rows if r["model"] == model and r["method"] == worse and not r["correct"]}
    return sorted(right & wrong)


def slip_report(rows: Sequence[dict[str, Any]], model: str) -> dict[str, dict[str, int]]:
    """Per chain-of-thought method, for one model: wrong answers, how many wrote out a wrong sum on the way
    (``cot.arithmetic_slips``), and how many of those PAL got right."""
    from core.reasoning.cot import arithmetic_slips

    pal_right = {r["id"] for r in rows if r["model"] == model and r["method"] == "pal" and r["correct"]}
    report = {}
    for method in ("cot", "cot-fewshot", "self-consistency"):
        wrong = [r for r in rows if r["model"] == model and r["method"] == method and not r["correct"]]
        if not wrong:
            continue
        slipped = [r["id"] for r in wrong if arithmetic_slips(r.get("output") or "")]
        report[method] = {"wrong": len(wrong), "with_slip": len(slipped), "pal_right": len(set(slipped) & pal_right)}
    return report


def rescore(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arithmetic rows read again from their stored outputs with the current answer reader (PAL's come from the
    sandbox and stay), so rows saved before a reader fix are scored like new ones."""
    from core.reasoning.cot import majority
    from core.reasoning.tasks import extract_number, format_number, numbers_match

    out = []
    for row in rows:
        row = dict(row)
        if isinstance(row["gold"], (int, float)) and row["method"] != "pal":
            if row["method"] == "self-consistency":
                value, _ = majority([extract_number(t["output"]) for t in row["trace"] if "chain" in t])
            else:
                text = row["answer"] if row["method"] == "react" else row["output"]
                value = extract_number(text, "first" if row["method"] == "direct" else "last")
            row["answer"] = format_number(value) if value is not None else None
            row["correct"] = numbers_match(value, float(row["gold"]))
        out.append(row)
    return out
