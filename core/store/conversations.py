"""RAG chats in the database: create one, append turns, list, load and delete, each write one transaction.

A turn is a dict ``{"role", "content", "rewritten", "sources", "meta"}``; ``sources`` are plain dicts (rank, score
and the chunk's fields) so a chat reloads without its collection. Does not hold: retrieval or the question rewrite
(``core.retrieval``), or how a chat is drawn (``core.ui``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from core.store.database import session, write_session, writes
from core.store.tables import Conversation, ConversationTurn

TITLE_MAX = 200
ROLES = ("user", "assistant")


@writes
def create_conversation(collection: str, title: str = "") -> int:
    row = Conversation(collection=collection, title=" ".join(title.split())[:TITLE_MAX])
    with write_session() as s, s.begin():
        s.add(row)
    return row.id


@writes
def append_turn(conversation_id: int, role: str, content: str, rewritten: str | None = None,
                sources: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None) -> int:
    """Add a turn at the end of a chat; returns its position (0 for the first). The chat's title is its first question."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    with write_session() as s, s.begin():
        chat = s.get(Conversation, conversation_id)
        if chat is None:
            raise KeyError(f"No conversation {conversation_id}")
        position = s.scalar(select(func.count()).where(ConversationTurn.conversation_id == conversation_id)) or 0
        s.add(ConversationTurn(conversation_id=conversation_id, position=position, role=role, content=content,
                               rewritten=rewritten, sources=sources or [], meta=meta or {}))
        chat.updated = datetime.now(timezone.utc)
        if not chat.title and role == "user":
            chat.title = " ".join(content.split())[:TITLE_MAX]
    return position


def list_conversations(limit: int = 50) -> list[dict[str, Any]]:
    """Summaries of the chats, most recently continued first: id, title, collection, turns, created, updated."""
    counts = (select(ConversationTurn.conversation_id, func.count().label("n"))
              .group_by(ConversationTurn.conversation_id).subquery())
    query = (select(Conversation, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.conversation_id == Conversation.id)
             .order_by(Conversation.updated.desc(), Conversation.id.desc()).limit(limit))
    with session() as s:
        return [{"id": c.id, "title": c.title, "collection": c.collection, "turns": n, "created": c.created,
                 "updated": c.updated} for c, n in s.execute(query)]


def load_conversation(conversation_id: int) -> dict[str, Any]:
    """One chat with its turns in order."""
    with session() as s:
        chat = s.get(Conversation, conversation_id)
        if chat is None:
            raise KeyError(f"No conversation {conversation_id}")
        turns = [{"role": t.role, "content": t.content, "rewritten": t.rewritten, "sources": t.sources, "meta": t.meta}
                 for t in chat.turns]
        return {"id": chat.id, "title": chat.title, "collection": chat.collection, "created": chat.created,
                "updated": chat.updated, "turns": turns}


@writes
def delete_conversation(conversation_id: int) -> None:
    with write_session() as s, s.begin():
        chat = s.get(Conversation, conversation_id)
        if chat is not None:
            s.delete(chat)
