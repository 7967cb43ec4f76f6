"""Evaluation results in the database: save one (with its examples) in one transaction, list, load, delete.

Does not hold: computing them (``core.evaluation``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.classroom.accounts import Actor, acting, check_owner
from core.store.database import session, write_session, writes
from core.store.tables import EvalExample, Evaluation


@writes
def save_evaluation(model: str, task: str, metrics: dict[str, float], config: dict[str, Any], examples: list[dict[str, Any]],
                    seconds: float, run_id: str | None = None, actor: Actor | None = None) -> int:
    """Store one evaluation and its examples in one transaction, owned by the acting user; returns its id."""
    row = Evaluation(model=model, task=task, metrics=metrics, config=config, n=len(examples), seconds=seconds, run_id=run_id,
                     owner=acting(actor).name)
    row.examples = [
        EvalExample(position=i, example_id=str(e["id"]), input=e["input"], reference=e["reference"], prediction=e["prediction"],
                    scores=e["scores"])
        for i, e in enumerate(examples)
    ]
    with write_session() as s, s.begin():
        s.add(row)
    return row.id


def _summary(row: Evaluation) -> dict[str, Any]:
    return {"id": row.id, "model": row.model, "task": row.task, "metrics": row.metrics, "config": row.config, "n": row.n,
            "seconds": row.seconds, "run_id": row.run_id, "created": row.created,
            "owner": row.owner}


def list_evaluations(model: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """Summaries of stored evaluations, newest first."""
    query = select(Evaluation).order_by(Evaluation.id.desc())
    if model:
        query = query.where(Evaluation.model == model)
    if task:
        query = query.where(Evaluation.task == task)
    with session() as s:
        return [_summary(row) for row in s.scalars(query)]


def load_evaluation(evaluation_id: int) -> dict[str, Any]:
    """One evaluation with its examples (a list of dicts with id, input, reference, prediction, scores)."""
    with session() as s:
        row = s.get(Evaluation, evaluation_id)
        if row is None:
            raise KeyError(f"No evaluation {evaluation_id}")
        examples = [{"id": e.example_id, "input": e.input, "reference": e.reference, "prediction": e.prediction, "scores": e.scores}
                    for e in row.examples]
        return {**_summary(row), "examples": examples}


@writes
def delete_evaluation(evaluation_id: int, actor: Actor | None = None) -> None:
    """Delete an evaluation: only its owner or the teacher may."""
    actor = acting(actor)  # nobody signed in in a class: refused even when there is nothing to delete
    with write_session() as s, s.begin():
        row = s.get(Evaluation, evaluation_id)
        if row is not None:
            check_owner(actor, row.owner, f"Evaluation {evaluation_id}")
            s.delete(row)
