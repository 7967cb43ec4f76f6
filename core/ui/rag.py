"""Widgets of the RAG chat page: the collection and its settings, the sources of an answer, the retrieval inspector
(chunks, scores, the prompt coloured by source), documents, the chunk map and the retrieval test (with dense vs BM25
vs hybrid). The chat itself is in ``core.ui.rag_chat``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import streamlit as st

from core import jobs
from core.retrieval import hybrid, index, ingest, rag, storage
from core.retrieval.chunking import CHUNKINGS
from core.ui import charts
from core.ui.classroom import current_actor
from core.ui.guardrail import check, show_checked
from core.ui.resources import shared_embedder
from core.ui.runs import start_into
from core.ui.widgets import escape_markdown, help_for, save_upload

SOURCE_COLORS = ["blue", "green", "orange", "violet", "red", "gray"]


@st.cache_resource(show_spinner=False)
def _bundled_collection_ready() -> bool:
    """Build the bundled collection once per server (about 10 s of embedding)."""
    with st.spinner("First use: chunking and embedding the Lumenfold knowledge base (about 10 s)...", show_time=True):
        rag.ensure_bundled_collection(shared_embedder())
    return True


@st.cache_resource(show_spinner="Loading the collection...", max_entries=4)
def _loaded_collection(name: str, version: str) -> index.Collection:
    """Read from disk once per saved version, not on every rerun (each chat message is one). Shared: only searched."""
    return storage.load_collection(name)


def pick_collection() -> index.Collection:
    _bundled_collection_ready()
    names = storage.list_collections()
    if st.session_state.get("rag.select_next") in names:  # files just went into it: show that collection
        st.session_state["rag.collection"] = st.session_state.pop("rag.select_next")
    name = st.selectbox("Collection", names, index=names.index(rag.BUNDLED_COLLECTION) if rag.BUNDLED_COLLECTION in names else 0,
                        key="rag.collection", help="Lumenfold is a fictional company's handbook, products and history, written "
                        "for this lab: no model can know it. Add your own documents in the Documents tab.")
    try:
        return _loaded_collection(name, storage.current_version(name))
    except index.CollectionError as err:
        st.error(str(err))
        st.stop()


def colored_prompt(prompt: rag.RagPrompt) -> str:
    """Markdown of the prompt: each source on its own colour, instruction and question plain (all text escaped)."""
    out = []
    for part in prompt.parts:
        if not part.text:
            continue
        if part.kind == "source":
            color = SOURCE_COLORS[(part.source - 1) % len(SOURCE_COLORS)]
            out.append("  \n".join(f":{color}-background[{escape_markdown(line)}]" for line in part.text.splitlines() if line))
        else:
            out.append(f"**{escape_markdown(part.text.strip())}**" if part.kind == "question" else escape_markdown(part.text.strip()))
    return "\n\n".join(out)


def stream_answer(loaded: Any, prompt: rag.RagPrompt, guarded: bool = False, key: str = "rag.reveal") -> tuple[str, Any]:
    """Write the answer as it is generated (shown literally, never as markup); returns its text and, with the
    guardrail on, its verdict (the answer is then read whole before it is shown)."""
    if guarded:
        with st.spinner("Answering; the guardrail reads the answer before it is shown..."):
            answer = "".join(rag.answer_stream(loaded, prompt)).strip()
        [verdict] = check([answer], "RAG chat", "answer")
        show_checked(answer, verdict, key)
        return answer, verdict
    pieces: list[str] = []

    def escaped() -> Any:
        for piece in rag.answer_stream(loaded, prompt):
            pieces.append(piece)
            yield escape_markdown(piece)

    st.write_stream(escaped())
    return "".join(pieces).strip(), None


def show_sources(prompt_hits: list[index.Hit], answer: str) -> None:
    """Each source given to the model, marked as cited ([n] in the answer) or quoted (it shares a run of 3 words with
    the answer: the lab's check, since small models seldom write [n] themselves)."""
    cited, quoted = rag.citations(answer, len(prompt_hits)), rag.supporting_sources(answer, prompt_hits)
    used = [n for n in range(1, len(prompt_hits) + 1) if n in cited or n in quoted]
    if used:
        st.caption("Sources: " + " ".join(f"[{n}] {escape_markdown(prompt_hits[n - 1].chunk.source)}" for n in used))
    for number, hit in enumerate(prompt_hits, start=1):
        mark = "cited by the model" if number in cited else "quoted in the answer" if number in quoted else "not used"
        with st.expander(f"[{number}] {escape_markdown(hit.chunk.source)}, page {hit.chunk.page} · score {hit.score:.3f} · {mark}",
                         icon=":material/description:" if number in used else None):
            st.text(hit.chunk.text)


def documents_tab(collection: index.Collection) -> None:
    """Index statistics, the documents with a remove button, and uploads into a collection of the user's."""
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Documents", len(collection.documents))
    c2.metric("Chunks", f"{len(collection.chunks):,}")
    c3.metric("Index", collection.kind)
    c4.metric("Chunk size / overlap", f"{collection.settings.chunk_size} / {collection.settings.overlap}",
              help=f"Chunking: {collection.settings.chunking}")
    for kind, text in st.session_state.pop("rag.notices", []):  # the outcome of the last upload, kept across its rerun
        (st.success if kind == "success" else st.error)(text)
    st.dataframe(pd.DataFrame(collection.documents).drop(columns=["added"], errors="ignore"), hide_index=True)
    bundled = collection.name in ingest.BUNDLED_COLLECTIONS
    if collection.documents and not bundled:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        doomed = c1.selectbox("Remove a document", [d["source"] for d in collection.documents], key="rag.remove_doc")
        if c2.button("Remove", key="rag.remove", icon=":material/delete:"):
            try:
                ingest.remove_document(collection.name, doomed, actor=current_actor())
            except ValueError as err:  # another student's collection
                st.error(str(err))
            else:
                st.rerun()
    st.subheader("Add documents")
    if bundled:
        st.caption(f"{collection.name} is the bundled knowledge base and stays as shipped: your files go into a "
                   "collection of your own, created when you add them.")
    target = st.text_input("Into collection (a new name creates it)", "mine" if bundled else collection.name, key="rag.target")
    h = lambda name: help_for(index.Settings, name)  # noqa: E731
    new = target not in storage.list_collections()
    c1, c2, c3, c4 = st.columns(4)
    size = c1.select_slider("Chunk size (tokens)", [32, 64, 96, 128, 160, 200, 256], 160, key="rag.chunk_size",
                            help=h("chunk_size"), disabled=not new)
    overlap = c2.select_slider("Overlap (tokens)", [0, 8, 16, 32, 48, 64], 32, key="rag.overlap", help=h("overlap"), disabled=not new)
    chunking = c3.selectbox("Chunking", CHUNKINGS, key="rag.chunking", help=h("chunking"), disabled=not new)
    kind = c4.selectbox("Index", index.KINDS, key="rag.kind", help=h("kind"), disabled=not new)
    if not new:
        st.caption("Chunking and index settings are fixed when a collection is created; type a new name to choose them.")
    files = st.file_uploader("Files (txt, md, html, pdf)", type=["txt", "md", "markdown", "html", "htm", "pdf"], accept_multiple_files=True,
                             key="rag.upload")
    replace = st.checkbox("Replace documents of the same name", key="rag.replace",
                          help="Off: a file whose name is already in the collection is refused, so nothing is replaced by "
                          "accident. On: it replaces that document, and the page says which ones it replaced.")
    if st.button("Add to the collection", type="primary", disabled=not files, key="rag.add", icon=":material/upload_file:"):
        _add_files(target, files, (size, overlap, chunking, kind), replace)
    _ingest_monitor()


def _add_files(target: str, files: list[Any], settings_values: tuple[int, int, str, str], replace: bool) -> None:
    """Small uploads are ingested here with a progress bar; large ones as a background run the page follows."""
    try:
        settings = index.Settings(*settings_values)
        storage.check_name(target)
        paths = [(save_upload(upload), upload.name) for upload in files]
    except ValueError as err:
        st.error(str(err))
        return
    if sum(upload.size for upload in files) > ingest.BACKGROUND_FROM_BYTES:
        try:
            ingest.check_writable(target, current_actor())  # here: the run itself acts for whoever started it
        except ValueError as err:
            st.error(str(err))
            return
        config = {"collection": target, "files": [[str(p), n] for p, n in paths], "settings": dataclasses.asdict(settings),
                  "replace": replace}
        start_into("rag.ingest_run", ingest.INGEST_JOB, config, name=f"ingest-{target}")
        return
    bar = st.progress(0.0)
    try:
        report = ingest.ingest_files(target, paths, shared_embedder(), settings,
                                     lambda text, fraction: bar.progress(min(fraction, 1.0), text=text),
                                     replace_existing=replace, actor=current_actor())
    except ValueError as err:  # limits, read-only, a name already there, a full disk: nothing changed
        bar.empty()
        st.error(str(err))
        return
    bar.empty()
    _report(target, report.added, report.replaced, report.errors)


def _report(target: str, added: list[str], replaced: list[str], errors: dict[str, str]) -> None:
    """Keep the outcome for the next run and rerun the whole page, so the collection picker lists the new collection."""
    notices = [("error", error) for error in errors.values()]
    if added:
        notices.append(("success", f"Added {len(added)} file(s) to {escape_markdown(target)}: {escape_markdown(', '.join(added))}."
                        + (f" Replaced the earlier {escape_markdown(', '.join(replaced))}." if replaced else "")))
        st.session_state["rag.select_next"] = target
    st.session_state["rag.notices"] = notices
    st.rerun()


@st.fragment(run_every=1.0)
def _ingest_monitor() -> None:
    """The background ingestion this session started: progress, Cancel, and its outcome when it ends."""
    run_id = st.session_state.get("rag.ingest_run")
    if not run_id:
        return
    run = jobs.get_run(run_id)
    if not run.finished:
        last = (run.progress() or [{"text": "Starting...", "fraction": 0.0}])[-1]
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        c1.progress(min(float(last.get("fraction", 0.0)), 1.0), text=str(last.get("text", "")))
        if c2.button("Cancel", key="rag.ingest_cancel", icon=":material/stop:"):
            jobs.cancel_run(run_id, actor=current_actor())
        return
    del st.session_state["rag.ingest_run"]
    result = run.status.get("result") or {}
    if run.state == "done" and result.get("added"):
        _report(result["collection"], result["added"], result.get("replaced", []), result.get("errors", {}))
    elif run.state == "cancelled" or result.get("stopped"):
        st.info("Cancelled; the collection was not changed.")
    else:
        st.error(run.status.get("error", "The ingestion failed; see its log."))


def map_tab(collection: index.Collection, last: dict[str, Any] | None) -> None:
    if len(collection.chunks) < 3:
        st.info("The map needs at least three chunks.")
        return
    query = last["vector"][None, :] if last else None
    points, projected = index.pca_2d(collection.vectors, query)
    retrieved = [collection.chunks.index(h.chunk) for h in last["hits"] if h.chunk in collection.chunks] if last else []
    sources = [c.source for c in collection.chunks]
    if len(set(sources)) > 12:  # too many colours to tell apart: colour by the file name's first word (product-, policy-...)
        sources = [s.split("-")[0].split(".")[0] for s in sources]
    texts = [f"{c.source}: {c.text}" for c in collection.chunks]
    st.plotly_chart(charts.chunk_map(points, sources, texts, retrieved, None if projected is None else projected[0]), key="rag.map")
    st.caption("Each dot is a chunk, placed by the two main directions of its 384-dimensional MiniLM embedding (PCA). "
               "Chunks about the same thing sit together; the question's nearest chunks (ringed) are the ones retrieved. "
               "Two dimensions lose most of the distances, so a ringed chunk can look far from the star.")


def retrieval_test_tab(collection: index.Collection, loaded: Any, k: int, settings: hybrid.SearchSettings) -> None:
    questions = rag.load_questions()
    if collection.name != rag.BUNDLED_COLLECTION:
        st.info("The question set is about the bundled Lumenfold collection; choose it to run the test.")
        return
    st.caption(f"{len(questions)} questions written for the Lumenfold documents, each with its gold answer and source documents.")
    compare_retrievers(collection, questions, settings.dense_weight)
    if st.button(f"Measure retrieval with {settings.retriever} (hit@{k}, MRR)", key="rag.test_retrieval"):
        st.session_state["rag.retrieval_report"] = rag.retrieval_test(collection, shared_embedder(), questions, k, settings)
    report = st.session_state.get("rag.retrieval_report")
    if report is not None:
        c1, c2 = st.columns(2)
        c1.metric(f"hit@{report.k}", f"{report.hit_at_k:.2f}", help="Share of questions with a chunk of a gold document among the top k.")
        c2.metric("MRR", f"{report.mrr:.2f}", help="Mean of 1/rank of the first chunk from a gold document (0 if none in the top k).")
        st.dataframe(pd.DataFrame(report.rows), hide_index=True)
    n = st.slider("Questions to answer (spread over every topic)", 1, len(questions), 10, key="rag.test_n")
    if st.button(f"Answer {n} questions with and without retrieval", key="rag.test_answers"):
        bar = st.progress(0.0)
        rows = rag.answer_test(loaded, collection, shared_embedder(), rag.spread(questions, n), k,
                               on_progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total} questions"),
                               settings=settings)
        bar.empty()
        st.session_state["rag.answer_rows"] = rows
    rows = st.session_state.get("rag.answer_rows")
    if rows:
        c1, c2 = st.columns(2)
        c1.metric("Correct with retrieval", f"{sum(r['correct with'] for r in rows) / len(rows):.0%}")
        c2.metric("Correct without retrieval", f"{sum(r['correct without'] for r in rows) / len(rows):.0%}")
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    cases = rag.load_injection_cases()
    if st.button(f"Run the prompt-injection test ({len(cases)} documents with hidden instructions)", key="rag.test_injection"):
        bar = st.progress(0.0)
        st.session_state["rag.injection_rows"] = rag.injection_test(loaded, cases, lambda d, t: bar.progress(d / t, text=f"{d} of {t}"))
        bar.empty()
    rows = st.session_state.get("rag.injection_rows")
    if rows:
        st.metric("Answers that obeyed the document", f"{sum(r['obeyed the document'] for r in rows)} of {len(rows)}")
        st.dataframe(pd.DataFrame(rows), hide_index=True)


def compare_retrievers(collection: index.Collection, questions: list[rag.Question], dense_weight: float) -> None:
    """Dense, BM25 and hybrid on the bundled questions, side by side (a second each)."""
    if st.button("Compare dense, BM25 and hybrid (hit@1/3/5, MRR)", key="rag.compare", icon=":material/compare_arrows:"):
        st.session_state["rag.comparison"] = rag.compare_retrievers(collection, shared_embedder(), questions, dense_weight)
    table = st.session_state.get("rag.comparison")
    if table:
        frame = pd.DataFrame(table).set_index("retriever")
        st.dataframe(frame.style.format("{:.3f}").highlight_max(axis=0, color="#d6f5d6"))
        st.bar_chart(frame, stack=False, horizontal=True, height=260)
        st.caption("A hit: a chunk of one of the question's gold documents among the first k. BM25 finds exact terms "
                   "(codes, fees, names) that embeddings blur; dense search finds paraphrases; reciprocal rank fusion "
                   "of the two beats either here. Chunks carry their file, title and section for both indexes.")
