"""The lab's database: evaluation results, and the prompts, completions and rankings people label for RLHF.

SQLAlchemy 2 over SQLite in WAL mode at ``$LAB_HOME/lab.db`` by default, so readers never block the writer and a
class of users can work at once; any SQLAlchemy URL in ``$LAB_DB_URL`` (PostgreSQL for a class server) is used
instead. Tables are created on first use. Every write is one transaction: it is all there after the commit, or none
of it is. On SQLite each transaction starts with BEGIN IMMEDIATE, so concurrent writers queue (busy_timeout) instead
of failing with "database is locked" when a read turns into a write.

Holds: the engine and session per URL, the tables, and the functions that save, list, load and delete evaluations,
and that store prompts, completions, comparisons and rankings (a resubmitted ranking replaces the annotator's last).
Does not hold: computing results (``core.evaluation``) or turning rankings into pairs and agreement (``core.preferences``).
"""

from __future__ import annotations

import os
import threading
import unicodedata
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, event, func, select
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


class Prompt(Base):
    """A prompt to complete and rank: bundled (with its dataset id) or typed by a user."""

    __tablename__ = "rlhf_prompts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(50), default="")
    source: Mapped[str] = mapped_column(String(50), default="user")
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


class Completion(Base):
    """One model answer to a prompt, with how it was sampled."""

    __tablename__ = "rlhf_completions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("rlhf_prompts.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(300))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Comparison(Base):
    """A set of 2-4 completions of one prompt that annotators rank against each other."""

    __tablename__ = "rlhf_comparisons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("rlhf_prompts.id", ondelete="CASCADE"), index=True)
    completion_ids: Mapped[list[int]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


class Ranking(Base):
    """One annotator's order of a comparison's completions: groups of completion ids, best group first; the ids
    inside a group are tied. One row per (comparison, annotator): a resubmit replaces it."""

    __tablename__ = "rlhf_rankings"
    __table_args__ = (UniqueConstraint("comparison_id", "annotator", name="one_ranking_per_annotator"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("rlhf_comparisons.id", ondelete="CASCADE"), index=True)
    annotator: Mapped[str] = mapped_column(String(100), index=True)
    order: Mapped[list[list[int]]] = mapped_column("ranking", JSON)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # time spent ranking, as the page measured it
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


# ---------------------------------------------------------------- annotator names

ANNOTATOR_MAX = 64
_INVISIBLE = {"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"}  # control, format (zero-width...), private, unassigned


def normalize_annotator(name: str) -> str:
    """The one spelling of an annotator's name that is stored and compared, so that "Alice", " alice" and "ALICE"
    are one person: NFKC-normalised, trimmed, spaces collapsed, case-folded. Refuses (ValueError) blanks, names over
    ANNOTATOR_MAX characters, invisible characters (a zero-width space makes a second "alice"), and names that mix
    scripts, such as a Cyrillic "а" among Latin letters, which look like another annotator's name."""
    text = " ".join(unicodedata.normalize("NFKC", str(name or "")).split())
    if not text:
        raise ValueError("Type your name as the annotator first.")
    if len(text) > ANNOTATOR_MAX:
        raise ValueError(f"An annotator name has at most {ANNOTATOR_MAX} characters; got {len(text)}.")
    hidden = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in _INVISIBLE})
    if hidden:
        raise ValueError(f"The annotator name {text!r} holds invisible characters ({', '.join(hidden)}); type it plainly.")
    scripts = {unicodedata.name(c, "UNKNOWN").split()[0] for c in text if c.isalpha()}
    if len(scripts) > 1:
        raise ValueError(f"The annotator name {text!r} mixes {' and '.join(sorted(s.title() for s in scripts))} letters, "
                         "so it can look like someone else's name; type it in one script.")
    return text.casefold()


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
                event.listen(created, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
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
    connection.isolation_level = None  # the driver's own BEGIN is off: the "begin" event issues BEGIN IMMEDIATE


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


# ---------------------------------------------------------------- prompts, completions, comparisons, rankings


def add_prompts(rows: list[dict[str, Any]]) -> list[int]:
    """Insert prompts ({text, category?, source?, external_id?}); a prompt whose external_id exists is not repeated."""
    ids = []
    with session() as s, s.begin():
        for row in rows:
            existing = s.scalar(select(Prompt).where(Prompt.external_id == row["external_id"])) if row.get("external_id") else None
            if existing is None:
                existing = Prompt(text=row["text"], category=row.get("category", ""), source=row.get("source", "user"),
                                  external_id=row.get("external_id"))
                s.add(existing)
                s.flush()
            ids.append(existing.id)
    return ids


def add_comparison(prompt_id: int, completions: list[dict[str, Any]]) -> int:
    """Store completions ({text, model, settings, seed}) of a prompt and the comparison that shows them together."""
    if not 2 <= len(completions) <= 4:
        raise ValueError(f"A comparison shows 2 to 4 completions, got {len(completions)}.")
    with session() as s, s.begin():
        rows = [Completion(prompt_id=prompt_id, text=c["text"], model=c["model"], settings=c.get("settings", {}), seed=c.get("seed"))
                for c in completions]
        s.add_all(rows)
        s.flush()
        comparison = Comparison(prompt_id=prompt_id, completion_ids=[r.id for r in rows])
        s.add(comparison)
        s.flush()
        return comparison.id


def prompts_without_comparison() -> list[dict[str, Any]]:
    with session() as s:
        done = select(Comparison.prompt_id)
        rows = s.scalars(select(Prompt).where(Prompt.id.not_in(done)).order_by(Prompt.id))
        return [{"id": p.id, "text": p.text, "category": p.category} for p in rows]


def get_comparison(comparison_id: int) -> dict[str, Any]:
    with session() as s:
        comparison = s.get(Comparison, comparison_id)
        if comparison is None:
            raise KeyError(f"No comparison {comparison_id}")
        prompt = s.get(Prompt, comparison.prompt_id)
        completions = {c.id: c for c in s.scalars(select(Completion).where(Completion.id.in_(comparison.completion_ids)))}
        return {"id": comparison.id, "prompt_id": prompt.id, "prompt": prompt.text, "category": prompt.category,
                "completions": [{"id": i, "text": completions[i].text, "model": completions[i].model,
                                 "settings": completions[i].settings, "seed": completions[i].seed} for i in comparison.completion_ids]}


def next_comparison(annotator: str, exclude: set[int] | frozenset[int] = frozenset()) -> dict[str, Any] | None:
    """The comparison this annotator has not ranked (nor skipped) with the fewest rankings so far, oldest first."""
    annotator = normalize_annotator(annotator)
    with session() as s:
        mine = select(Ranking.comparison_id).where(Ranking.annotator == annotator)
        counts = (select(Comparison.id, func.count(Ranking.id).label("n")).outerjoin(Ranking, Ranking.comparison_id == Comparison.id)
                  .where(Comparison.id.not_in(mine)).group_by(Comparison.id).order_by("n", Comparison.id))
        if exclude:
            counts = counts.where(Comparison.id.not_in(list(exclude)))
        row = s.execute(counts.limit(1)).first()
    return get_comparison(row[0]) if row else None


def save_ranking(comparison_id: int, annotator: str, order: list[list[int]], seconds: float | None = None) -> int:
    """Store an annotator's ranking in one transaction: insert, or replace theirs if they ranked this before."""
    annotator = normalize_annotator(annotator)
    with session() as s, s.begin():
        comparison = s.get(Comparison, comparison_id)
        if comparison is None:
            raise ValueError(f"No comparison {comparison_id}.")
        flat = [i for group in order for i in group]
        if sorted(flat) != sorted(comparison.completion_ids) or any(not group for group in order):
            raise ValueError(f"A ranking must place each of the completions {comparison.completion_ids} exactly once; got {order}.")
        values = {"comparison_id": comparison_id, "annotator": annotator, "ranking": order, "seconds": seconds,
                  "updated": datetime.now(timezone.utc)}
        insert = _upsert_statement(s)(Ranking.__table__).values(**values)
        update = {k: insert.excluded[k] for k in ("ranking", "seconds", "updated")}
        s.execute(insert.on_conflict_do_update(index_elements=["comparison_id", "annotator"], set_=update))
        return s.scalar(select(Ranking.id).where(Ranking.comparison_id == comparison_id, Ranking.annotator == annotator))


def _upsert_statement(s: Session) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE: one statement, so a double submit can never make two rows."""
    name = s.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ValueError(f"Rankings need SQLite or PostgreSQL (upsert); {name} is not supported.")
    return insert


def list_rankings() -> list[dict[str, Any]]:
    """Every ranking with its prompt and completions, in the order they were first saved."""
    with session() as s:
        rows = s.execute(select(Ranking, Comparison, Prompt).join(Comparison, Ranking.comparison_id == Comparison.id)
                         .join(Prompt, Comparison.prompt_id == Prompt.id).order_by(Ranking.id)).all()
        completion_ids = {i for _, c, _ in rows for i in c.completion_ids}
        completions = {c.id: c for c in s.scalars(select(Completion).where(Completion.id.in_(completion_ids)))} if completion_ids else {}
        return [{"id": r.id, "comparison_id": c.id, "annotator": r.annotator, "order": r.order, "seconds": r.seconds,
                 "prompt": p.text, "category": p.category, "completions": {i: completions[i].text for i in c.completion_ids},
                 "models": {i: completions[i].model for i in c.completion_ids}, "settings": {i: completions[i].settings for i in c.completion_ids},
                 "seeds": {i: completions[i].seed for i in c.completion_ids}, "completion_ids": c.completion_ids}
                for r, c, p in rows]


def label_counts() -> dict[str, int]:
    with session() as s:
        return {"prompts": s.scalar(select(func.count(Prompt.id))), "comparisons": s.scalar(select(func.count(Comparison.id))),
                "rankings": s.scalar(select(func.count(Ranking.id))),
                "annotators": s.scalar(select(func.count(func.distinct(Ranking.annotator))))}


def import_rankings(records: list[dict[str, Any]]) -> int:
    """Store validated rankings ({prompt, category, annotator, completions, ranking by index}) in ONE transaction.
    Records with the same prompt and completion texts share one comparison (several annotators ranked it)."""
    with session() as s, s.begin():
        prompts: dict[str, Prompt] = {}
        comparisons: dict[tuple[str, tuple[str, ...]], Comparison] = {}
        for record in records:
            prompt = prompts.get(record["prompt"]) or s.scalar(select(Prompt).where(Prompt.text == record["prompt"]).limit(1))
            if prompt is None:
                prompt = Prompt(text=record["prompt"], category=record.get("category", ""), source="imported")
                s.add(prompt)
                s.flush()
            prompts[record["prompt"]] = prompt
            key = (record["prompt"], tuple(c["text"] for c in record["completions"]))
            comparison = comparisons.get(key)
            if comparison is None:
                rows = [Completion(prompt_id=prompt.id, text=c["text"], model=c.get("model", "imported"), settings=c.get("settings", {}),
                                   seed=c.get("seed")) for c in record["completions"]]
                s.add_all(rows)
                s.flush()
                comparison = comparisons[key] = Comparison(prompt_id=prompt.id, completion_ids=[r.id for r in rows])
                s.add(comparison)
                s.flush()
            ids = comparison.completion_ids
            order = [[ids[i] for i in group] for group in record["ranking"]]
            values = {"comparison_id": comparison.id, "annotator": record["annotator"], "ranking": order, "seconds": None,
                      "updated": datetime.now(timezone.utc)}
            insert = _upsert_statement(s)(Ranking.__table__).values(**values)
            s.execute(insert.on_conflict_do_update(index_elements=["comparison_id", "annotator"],
                                                   set_={k: insert.excluded[k] for k in ("ranking", "updated")}))
    return len(records)
