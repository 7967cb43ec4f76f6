"""RAG chat: answers grounded in the user's documents, with every step of retrieval shown."""

import streamlit as st

from core.ui import charts
from core.ui.frame import run_inside_frame
from core.ui.guardrail import guardrail_switch
from core.ui.rag import colored_prompt, documents_tab, map_tab, pick_collection, retrieval_test_tab
from core.ui.rag_chat import ask, draw_turns, load_turns, pick_chat, search_settings
from core.ui.widgets import current_model, escape_markdown

run_inside_frame()

st.title("RAG chat")
st.caption(
    "A model knows only what it saw in training, and makes up the rest. Retrieval-augmented generation finds the "
    "passages of your documents that match the question (keywords with BM25, meaning with MiniLM embeddings and FAISS, "
    "or both fused) and puts them in the prompt as numbered sources, so the answer can use them and cite them."
)
loaded = current_model()
collection = pick_collection()
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
k = c1.slider("Chunks to retrieve (k)", 1, 10, 4, key="rag.k")
min_score = c2.slider("Minimum similarity", 0.0, 1.0, 0.2, 0.05, key="rag.min_score",
                      help="Dense hits whose cosine similarity to the question is lower are not used (BM25 hits are "
                           "kept whenever they share a word with the question).")
use_retrieval = c3.toggle("Use retrieval", True, key="rag.use_retrieval",
                          help="Off: the model answers from its own weights alone. Ask about Lumenfold and watch it invent.")
guarded = guardrail_switch("rag", c4)
with st.expander("Retrieval settings", icon=":material/tune:"):
    settings = search_settings()

chat_tab, inspector_tab, documents, map_view, test_tab = st.tabs(["Chat", "Retrieval inspector", "Documents", "Map", "Retrieval test"])

with chat_tab:
    turns = load_turns(pick_chat())
    conversation = st.container()  # drawn above the input box, new turns included
    with conversation:
        draw_turns(turns)
    question = st.chat_input("Ask about the documents, e.g. How long is the HiveScale H2 warranty?", key="rag.question")
    if question:
        last = ask(loaded, collection, question, turns, conversation, k, min_score, use_retrieval, settings, guarded)
        if last:
            st.session_state["rag.last"] = last

last = st.session_state.get("rag.last")
with inspector_tab:
    if not last:
        st.info("Ask a question in the Chat tab: its chunks, scores and the exact prompt appear here.")
    else:
        st.markdown(f"**Question searched:** {escape_markdown(last['question'])}")
        st.dataframe([{"rank": h.rank, "score": round(h.score, 3), "source": h.chunk.source, "page": h.chunk.page,
                       "chunk": h.chunk.position, "section": h.chunk.context, "text": h.chunk.text} for h in last["hits"]],
                     hide_index=True)
        scores = {"dense": "cosine similarity", "bm25": "BM25 score", "hybrid": "the fused RRF score"}[settings.retriever]
        st.caption(f"Scores: {scores}.")
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
    retrieval_test_tab(collection, loaded, k, settings)
