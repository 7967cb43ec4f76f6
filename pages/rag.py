"""RAG chat: answers grounded in the user's documents, with every step of retrieval shown."""

import streamlit as st

from core.retrieval import rag
from core.ui import charts
from core.ui.frame import run_inside_frame
from core.ui.guardrail import blocked_prompt, guardrail_switch
from core.ui.rag import (
    chat_history,
    colored_prompt,
    documents_tab,
    map_tab,
    pick_collection,
    retrieval_test_tab,
    retrieve,
    show_sources,
    stream_answer,
)
from core.ui.widgets import current_model, escape_markdown

run_inside_frame()

st.title("RAG chat")
st.caption(
    "A model knows only what it saw in training, and makes up the rest. Retrieval-augmented generation finds the "
    "passages of your documents closest to the question (MiniLM embeddings, FAISS) and puts them in the prompt as "
    "numbered sources, so the answer can use them and cite them."
)
loaded = current_model()
collection = pick_collection()
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
k = c1.slider("Chunks to retrieve (k)", 1, 10, 4, key="rag.k")
min_score = c2.slider("Minimum similarity", 0.0, 1.0, 0.2, 0.05, key="rag.min_score",
                      help="Chunks whose cosine similarity to the question is lower are not used.")
use_retrieval = c3.toggle("Use retrieval", True, key="rag.use_retrieval",
                          help="Off: the model answers from its own weights alone. Ask about Lumenfold and watch it invent.")
guarded = guardrail_switch("rag", c4)

chat_tab, inspector_tab, documents, map_view, test_tab = st.tabs(["Chat", "Retrieval inspector", "Documents", "Map", "Retrieval test"])

with chat_tab:
    conversation = st.container()  # drawn above the input box, new turns included
    with conversation:
        chat_history()
    question = st.chat_input("Ask about the documents, e.g. How long is the HiveScale H2 warranty?", key="rag.question")
    if question and guarded and blocked_prompt(question, "RAG chat"):
        question = None
    if question:
        hits, vector = retrieve(collection, question, k, min_score) if use_retrieval else ([], None)
        try:
            prompt = rag.build_rag_prompt(loaded, question, hits, retrieval=use_retrieval)
        except ValueError as err:
            st.error(str(err))
            st.stop()
        with conversation.chat_message("user"):
            st.text(question)
        with conversation.chat_message("assistant"):
            answer, verdict = stream_answer(loaded, prompt, guarded, key=f"rag.reveal.{len(st.session_state['rag.history']) + 1}")
            show_sources(prompt.hits, answer)
        st.session_state["rag.history"] += [{"role": "user", "content": question},
                                            {"role": "assistant", "content": answer, "hits": prompt.hits, "retrieval": use_retrieval,
                                             "verdict": verdict}]
        st.session_state["rag.last"] = {"question": question, "hits": hits, "vector": vector, "prompt": prompt}
    if st.session_state.get("rag.history") and st.button("Clear the chat", key="rag.clear"):
        st.session_state["rag.history"] = []
        st.rerun()

last = st.session_state.get("rag.last")
with inspector_tab:
    if not last:
        st.info("Ask a question in the Chat tab: its chunks, scores and the exact prompt appear here.")
    else:
        st.markdown(f"**Question:** {escape_markdown(last['question'])}")
        st.dataframe([{"rank": h.rank, "score": round(h.score, 3), "source": h.chunk.source, "page": h.chunk.page,
                       "chunk": h.chunk.position, "text": h.chunk.text} for h in last["hits"]], hide_index=True)
        prompt = last["prompt"]
        if prompt.dropped:
            st.warning(f"{prompt.dropped} retrieved chunk(s) did not fit the context window and were left out.")
        tokens = {}
        for part in prompt.parts:
            name = f"source {part.source}" if part.kind == "source" else part.kind
            tokens[name] = tokens.get(name, 0) + part.tokens
        st.plotly_chart(charts.context_window_bar(tokens, loaded.info.context_window), key="rag.window")
        st.markdown(f"**The prompt the model received** ({len(prompt.ids):,} tokens; each source on its own colour)")
        with st.container(border=True, height=400):
            st.markdown(colored_prompt(prompt))
with documents:
    documents_tab(collection)
with map_view:
    map_tab(collection, last if last and last.get("vector") is not None else None)
with test_tab:
    retrieval_test_tab(collection, loaded, k)
