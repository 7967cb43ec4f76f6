"""The lab's tables: evaluations and their examples; prompts, completions, comparisons and rankings for RLHF;
settings the whole lab shares; a class's accounts.

Does not hold: the engine (``core.store.database``) or the functions that read and write rows.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)  # who made it (None: before classes existed)
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
    # sha256 of the text, indexed: imports find a prompt by its text without scanning the table
    text_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True,
                                                  default=lambda ctx: text_hash(ctx.get_current_parameters()["text"]))
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
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)  # the annotator's optional note
    flags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # from core.store.labels.FLAGS


class Setting(Base):
    """One setting the whole lab shares (every session, every annotator), such as the labelling overlap k."""

    __tablename__ = "lab_settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Conversation(Base):
    """A RAG chat: its turns in order, the collection it asked, and when it was last added to."""

    __tablename__ = "rag_conversations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    collection: Mapped[str] = mapped_column(String(100), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc), index=True)
    turns: Mapped[list["ConversationTurn"]] = relationship(back_populates="conversation", cascade="all, delete-orphan",
                                                          order_by="ConversationTurn.position")


class ConversationTurn(Base):
    """One message of a RAG chat: the user's question (with the standalone question retrieval used) or the answer
    (with the sources it was given: chunk text and origin, so a citation still opens after the collection changes)."""

    __tablename__ = "rag_turns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("rag_conversations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))  # user, assistant
    content: Mapped[str] = mapped_column(Text)
    rewritten: Mapped[str | None] = mapped_column(Text, nullable=True)  # user turns after the first: the standalone question
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # retrieval on/off, retriever, guardrail verdict
    conversation: Mapped[Conversation] = relationship(back_populates="turns")


class Account(Base):
    """A member of a class who signs in: the name (also their annotator name), the role, a bcrypt hash of the password,
    and the sign-in guard (wrong passwords in a row, locked until a Unix time). ``core.classroom.accounts`` uses it."""

    __tablename__ = "class_accounts"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))  # teacher, student
    password_hash: Mapped[str] = mapped_column(String(100))
    must_change: Mapped[bool] = mapped_column(Boolean, default=True)  # a one-time password: choose a new one first
    failed: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[float] = mapped_column(Float, default=0.0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))
