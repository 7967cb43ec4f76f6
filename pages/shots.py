"""Prompt shots: zero-, one- and few-shot prompts, what the model really receives, and accuracy as examples are added."""

import pandas as pd
import streamlit as st

from core.models import BUNDLED
from core.prompting import STRATEGIES, fit_prompt, generate_answer, max_answer_tokens, parse_label, score_labels, select_examples
from core.prompting.shots import MAX_K, ShotsConfig, metric_name, summarize
from core.ui import charts
from core.ui.frame import run_inside_frame
from core.ui.resources import shared_embedder, shared_model, text_embeddings
from core.ui.shots import colored_prompt, legend, pick_task, run_sweep
from core.ui.state import current_model_name, current_precision
from core.ui.widgets import current_model, help_for

run_inside_frame()

st.title("Prompt shots")
st.caption(
    "In-context learning: show the model a few solved examples in its prompt and it may do the task better, with no "
    "training at all. Small models may not benefit, and every example eats part of the context window."
)
loaded = current_model()
task = pick_task()
pool, test = task.split("pool"), task.split("test")
st.caption(f"{task.kind} · {len(pool)} pool examples to draw shots from · {len(test)} held-out test examples"
           + (f" · labels: {', '.join(task.labels)}" if task.labels else ""))

c1, c2, c3, c4 = st.columns(4)
strategies = [s for s in STRATEGIES if task.kind == "classification" or s != "balanced"]
strategy = c1.selectbox("Example selection", strategies, index=strategies.index("balanced") if "balanced" in strategies else 0,
                        key="shots.strategy", help=help_for(ShotsConfig, "strategy"))
scoring = c2.selectbox("Scoring", ["loglik", "generate"] if task.kind == "classification" else ["generate"], key="shots.scoring",
                       help=help_for(ShotsConfig, "scoring"))
chat = c3.toggle("Chat template", key="shots.chat", disabled=not loaded.info.has_chat_template, help=help_for(ShotsConfig, "chat"))
cot = c4.toggle("Think step by step", key="shots.cot", disabled=scoring != "generate", help=help_for(ShotsConfig, "cot"))
chat, cot = chat and loaded.info.has_chat_template, cot and scoring == "generate"
embedder = shared_embedder() if strategy == "similar" else None

one_tab, sweep_tab = st.tabs(["Try one input", "Experiment: accuracy against k"])

with one_tab:
    k = st.slider("Examples in the prompt (k)", 0, MAX_K, 2, key="shots.k")
    index = st.selectbox("Test input", range(len(test)), key="shots.index", format_func=lambda i: test[i].input[:90])
    example = test[index]
    query_vector = pool_vectors = None
    if strategy == "similar":
        pool_vectors, query_vector = text_embeddings(tuple(e.input for e in pool)), text_embeddings((example.input,))[0]
    shots = select_examples(pool, k, strategy, seed=index, labels=task.labels, query_vector=query_vector, pool_vectors=pool_vectors)
    try:
        prompt = fit_prompt(loaded, task, shots, example.input, max_answer_tokens(task, cot), chat=chat, cot=cot)
    except ValueError as err:
        st.error(str(err))
        st.stop()
    if len(shots) < k:
        st.warning(f"The pool has only {len(pool)} example(s) to draw from, so the prompt holds {len(shots)} shot(s), not {k}. "
                   "Upload more rows (or mark fewer as test) for more shots.")
    if prompt.dropped:
        st.warning(f"{prompt.dropped} example(s) were dropped so that the prompt and the answer fit the context window.")
    st.markdown(f"**The prompt the model receives** ({len(prompt.ids):,} tokens) {legend()}")
    with st.container(border=True, height=300):
        st.markdown(colored_prompt(prompt))
    with st.expander("Exact text"):
        st.code(prompt.text, language=None, wrap_lines=True)
    parts = {kind: n for kind, n in prompt.tokens_by_kind().items()} | {"answer": max_answer_tokens(task, cot)}
    st.plotly_chart(charts.context_window_bar(parts, loaded.info.context_window), key="shots.window")
    if st.button("Run the model on this prompt", type="primary", key="shots.run_one"):
        left, right = st.columns(2)
        if scoring == "loglik":
            scores = score_labels(loaded, prompt.ids, task.labels, chat=chat)
            left.metric("Answer (most likely label)", scores.best, delta="correct" if scores.best == example.target else f"expected {example.target}",
                        delta_color="normal" if scores.best == example.target else "inverse")
            right.plotly_chart(charts.label_probabilities_chart(scores.probabilities), key="shots.probabilities")
        else:
            with st.spinner("Generating..."):
                answer = generate_answer(loaded, prompt.ids, max_answer_tokens(task, cot), stop_at_newline=not (chat or cot))
            left.text_area("Model's answer", answer, disabled=True)
            right.text_area("Reference", example.target, disabled=True)
            if task.labels:
                st.caption(f"Label read from the answer: {parse_label(answer, task.labels)}")

with sweep_tab:
    c1, c2, c3 = st.columns([2, 1, 2])
    ks = c1.multiselect("k values", list(range(MAX_K + 1)), default=[0, 1, 2, 4, 8], key="shots.ks")
    n = c2.number_input("Test examples", 1, len(test), min(20, len(test)), key="shots.n", help=help_for(ShotsConfig, "n"))
    names = sorted({*BUNDLED, current_model_name()})
    chosen = c3.multiselect("Models", names, default=[current_model_name()], key="shots.models")
    if ks and max(ks) > len(pool):
        st.warning(f"The pool has only {len(pool)} example(s): every k above {len(pool)} uses {len(pool)} shot(s).")
    try:
        config = ShotsConfig(ks=tuple(sorted(ks)), n=int(n), strategy=strategy, scoring=scoring, chat=chat, cot=cot)
    except ValueError as err:
        st.error(str(err))
        st.stop()
    if st.button(f"Run {len(ks) * int(n) * len(chosen)} prompts", type="primary", key="shots.sweep", disabled=not chosen):
        run_sweep([(name, shared_model(name, current_precision())) for name in chosen], task, config, embedder)
    results = st.session_state.get("shots.results")
    if results:
        if st.session_state.get("shots.stop"):
            st.warning(f"Stopped: showing the {len(results)} prompts scored so far.")
        summary = pd.DataFrame(summarize(results))
        st.plotly_chart(charts.shots_chart(summary, metric_name(task)), key="shots.chart")
        table = pd.DataFrame([r.__dict__ for r in results]).drop(columns=["probabilities"])
        st.dataframe(summary, hide_index=True)
        with st.expander("Every prompt"):
            st.dataframe(table, hide_index=True)
        st.download_button("Download results (CSV)", table.to_csv(index=False), "shots.csv", "text/csv", key="shots.download")
