"""The lab's database: evaluation results (and, as the lab grows, the other records several people share).

SQLAlchemy 2 over SQLite in WAL mode at ``$LAB_HOME/lab.db`` by default, so readers never block the writer and a
class of users can work at once; any SQLAlchemy URL in ``$LAB_DB_URL`` (PostgreSQL for a class server) is used
instead. Tables are created on first use. Every write is one transaction: it is all there after the commit, or none
of it is.

Holds: the engine and session per URL, the tables, and the functions that save, list, load and delete evaluations.
Does not hold: computing the results (``core.evaluation``).
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from core.paths import ensure_dir, lab_home


class Base(DeclarativeBase):
    pass


class Evaluation(Base):
    """One model on one task: the summary metrics and the settings that produced them."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(300), index=True)
    task: Mapped[str] = mapped_column(String(200), index=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    n: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))
    examples: Mapped[list["EvalExample"]] = relationship(back_populates="evaluation", cascade="all, delete-orphan",
                                                         order_by="EvalExample.position")


class EvalExample(Base):
    """One example of an evaluation: what went in, what should have come out, what did, and its scores."""

    __tablename__ = "eval_examples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    example_id: Mapped[str] = mapped_column(String(200))
    input: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    prediction: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, float]] = mapped_column(JSON)
    evaluation: Mapped[Evaluation] = relationship(back_populates="examples")


# ---------------------------------------------------------------- engine


def database_url() -> str:
    """``$LAB_DB_URL``, or SQLite at ``$LAB_HOME/lab.db``."""
    return os.environ.get("LAB_DB_URL") or f"sqlite:///{ensure_dir(lab_home()) / 'lab.db'}"


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine() -> Engine:
    """The engine for the current URL, with the tables created (one per URL per process)."""
    url = database_url()
    with _engines_lock:
        if url not in _engines:
            created = create_engine(url, pool_pre_ping=True)
            if created.dialect.name == "sqlite":
                event.listen(created, "connect", _sqlite_pragmas)
            Base.metadata.create_all(created)
            _engines[url] = created
        return _engines[url]


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL: readers and one writer at once; busy_timeout: a second writer waits its turn instead of failing with
    # "database is locked"; foreign keys: deleting an evaluation deletes its examples.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session() -> Session:
    return Session(engine(), expire_on_commit=False)


# ---------------------------------------------------------------- evaluations


def save_evaluation(model: str, task: str, metrics: dict[str, float], config: dict[str, Any], examples: list[dict[str, Any]],
                    seconds: float, run_id: str | None = None) -> int:
    """Store one evaluation and its examples in one transaction; returns its id."""
    row = Evaluation(model=model, task=task, metrics=metrics, config=config, n=len(examples), seconds=seconds, run_id=run_id)
    row.examples = [
        EvalExample(position=i, example_id=str(e["id"]), input=e["input"], reference=e["reference"], prediction=e["prediction"],
                    scores=e["scores"])
        for i, e in enumerate(examples)
    ]
    with session() as s, s.begin():
        s.add(row)
    return row.id


def _summary(row: Evaluation) -> dict[str, Any]:
    return {"id": row.id, "model": row.model, "task": row.task, "metrics": row.metrics, "config": row.config, "n": row.n,
            "seconds": row.seconds, "run_id": row.run_id, "created": row.created}


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


def delete_evaluation(evaluation_id: int) -> None:
    with session() as s, s.begin():
        row = s.get(Evaluation, evaluation_id)
        if row is not None:
            s.delete(row)
