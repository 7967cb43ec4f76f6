"""The RAG chat itself: the retriever settings, past chats and "New chat", the turns (kept in the lab's database),
the follow-up question rewritten before retrieval, and citations that open their chunk.

Does not hold: collections, documents, the inspector or the tests of retrieval (``core.ui.rag``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import streamlit as st

from core.retrieval import chat, hybrid, index, rag
from core.retrieval.chunking import Chunk
from core.store import conversations
from core.ui.guardrail import blocked_prompt, show_checked
from core.ui.rag import show_sources, stream_answer
from core.ui.resources import text_embeddings
from core.ui.widgets import escape_markdown, help_for

CHAT = "rag.chat_id"  # the chat on screen; None: a new one, created by its first question
NEW = 0  # the picker's entry for a new chat (database ids start at 1)


def search_settings(container: Any = st) -> hybrid.SearchSettings:
    """The retriever and, for hybrid, the dense ranking's weight in the fusion."""
    h = lambda name: help_for(hybrid.SearchSettings, name)  # noqa: E731
    c1, c2 = container.columns(2)
    retriever = c1.selectbox("Retriever", hybrid.RETRIEVERS, key="rag.retriever", help=h("retriever"))
    weight = c2.slider("Dense weight in the fusion", 0.0, 1.0, 0.5, 0.05, key="rag.dense_weight", help=h("dense_weight"),
                       disabled=retriever != "hybrid")
    return hybrid.SearchSettings(retriever, weight)


def pick_chat() -> int | None:
    """Past chats (the latest opens after a reload) and a New chat button; returns the chat on screen."""
    chats = conversations.list_conversations()
    if CHAT not in st.session_state:
        st.session_state[CHAT] = chats[0]["id"] if chats else None
    ids = [NEW] + [c["id"] for c in chats]
    titles = {c["id"]: f"{c['title'] or 'Untitled'} ({c['turns'] // 2} question(s))" for c in chats}
    if st.session_state[CHAT] not in ids:  # deleted meanwhile
        st.session_state[CHAT] = None
    st.session_state["rag.chat_pick"] = st.session_state[CHAT] or NEW  # follow a chat just created, or New chat

    def picked() -> None:
        st.session_state[CHAT] = st.session_state["rag.chat_pick"] or None

    c1, c2, c3 = st.columns([4, 1, 1], vertical_alignment="bottom")
    picked_id = c1.selectbox("Chat", ids, key="rag.chat_pick", format_func=lambda i: titles.get(i, "New chat"),
                             on_change=picked, help="Every chat is kept in the lab's database: reload the page and it is "
                             "still here.")
    if c2.button("New chat", key="rag.new_chat", icon=":material/add_comment:"):
        st.session_state[CHAT] = None
        st.rerun()
    if c3.button("Delete", key="rag.delete_chat", icon=":material/delete:", disabled=picked_id == NEW):
        conversations.delete_conversation(picked_id)
        st.session_state[CHAT] = None
        st.rerun()
    return st.session_state[CHAT]


def _hits(sources: list[dict[str, Any]]) -> list[index.Hit]:
    return [index.Hit(s["rank"], s["score"], Chunk(**s["chunk"])) for s in sources]


def load_turns(chat_id: int | None) -> list[dict[str, Any]]:
    """The chat's turns as the page draws them (also kept in ``rag.history``)."""
    turns = []
    if chat_id is not None:
        try:
            stored = conversations.load_conversation(chat_id)["turns"]
        except KeyError:  # deleted in another tab
            st.session_state[CHAT], stored = None, []
        for t in stored:
            turns.append({"role": t["role"], "content": t["content"], "rewritten": t["rewritten"], "hits": _hits(t["sources"]),
                          "retrieval": t["meta"].get("retrieval", True), "verdict": t["meta"].get("verdict")})
    st.session_state["rag.history"] = turns
    return turns


def show_rewritten(rewritten: str | None, question: str) -> None:
    if rewritten and rewritten != question.strip():
        st.caption(f":material/manage_search: Searched as: {escape_markdown(rewritten)}",
                   help="A follow-up is rewritten by the model from the conversation into a question that stands alone, "
                        "and that is what retrieval searches for.")


def cited_chunks(hits: list[index.Hit], answer: str, key: str) -> None:
    """One button per source the answer cites ([n]) or quotes: it opens that source's chunk."""
    cited, quoted = rag.citations(answer, len(hits)), rag.supporting_sources(answer, hits)
    used = cited + [n for n in quoted if n not in cited]
    if not used:
        return
    row = st.container(horizontal=True)
    for n in used:
        hit = hits[n - 1]
        label = f"[{n}] {hit.chunk.source}" + ("" if n in cited else " (quoted)")
        with row.popover(label, icon=":material/format_quote:", key=f"{key}.cite.{n}"):
            st.caption(f"{escape_markdown(hit.chunk.source)}, page {hit.chunk.page}, chunk {hit.chunk.position} · "
                       f"score {hit.score:.3f}")
            st.text(hit.chunk.text)


def draw_turns(turns: list[dict[str, Any]]) -> None:
    for number, turn in enumerate(turns):
        with st.chat_message(turn["role"]):
            if turn.get("verdict"):  # answered with the guardrail on: masked if it was flagged
                show_checked(turn["content"], turn["verdict"], f"rag.reveal.{number}")
            elif turn["role"] == "user":
                st.text(turn["content"])
                show_rewritten(turn.get("rewritten"), turn["content"])
            else:
                st.markdown(escape_markdown(turn["content"]))
            if turn.get("hits"):
                cited_chunks(turn["hits"], turn["content"], f"rag.turn{number}")
                show_sources(turn["hits"], turn["content"])
            elif turn["role"] == "assistant":
                st.caption("Answered without retrieval" if not turn.get("retrieval", True) else "No source scored above the minimum.")


def ask(loaded: Any, collection: index.Collection, question: str, turns: list[dict[str, Any]], conversation: Any,
        k: int, min_score: float, use_retrieval: bool, settings: hybrid.SearchSettings, guarded: bool) -> dict[str, Any] | None:
    """One turn: rewrite a follow-up, retrieve, answer (streamed), save both turns; returns what the inspector shows."""
    if guarded and blocked_prompt(question, "RAG chat"):
        return None
    with conversation.chat_message("user"):
        st.text(question)
        with st.spinner("Rewriting the follow-up question from the conversation..."):
            searched = chat.rewrite_question(loaded, turns, question) if use_retrieval else question.strip()
        show_rewritten(searched, question)
    vector = text_embeddings((searched,))[0] if use_retrieval else None
    try:
        hits = hybrid.retrieve(collection, searched, vector, k, settings, min_score) if use_retrieval else []
        prompt = rag.build_rag_prompt(loaded, searched, hits, retrieval=use_retrieval)
    except ValueError as err:
        st.error(str(err))
        return None
    with conversation.chat_message("assistant"):
        answer, verdict = stream_answer(loaded, prompt, guarded, key=f"rag.reveal.{len(turns) + 1}")
        cited_chunks(prompt.hits, answer, f"rag.turn{len(turns) + 1}")
        show_sources(prompt.hits, answer)
    chat_id = st.session_state.get(CHAT) or conversations.create_conversation(collection.name, question)
    st.session_state[CHAT] = chat_id
    sources = [{"rank": h.rank, "score": h.score, "chunk": asdict(h.chunk)} for h in prompt.hits]
    conversations.append_turn(chat_id, "user", question, rewritten=searched if turns else None)
    conversations.append_turn(chat_id, "assistant", answer, sources=sources,
                              meta={"retrieval": use_retrieval, "retriever": settings.retriever, "verdict": verdict})
    st.session_state["rag.history"] = turns + [
        {"role": "user", "content": question, "rewritten": searched if turns else None, "hits": [], "retrieval": use_retrieval},
        {"role": "assistant", "content": answer, "hits": prompt.hits, "retrieval": use_retrieval, "verdict": verdict}]
    return {"question": searched, "hits": hits, "vector": vector, "prompt": prompt}
