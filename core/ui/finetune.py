"""Widgets of the Fine-tune runner page: the method panels, the dataset choice, and the live view of a run."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import jobs
from core.data import BUNDLED, DataError
from core.finetune import FinetuneConfig, load_pairs
from core.ui import charts
from core.ui.classroom import current_actor
from core.ui.runs import rerun_when_it_ends, run_controls
from core.ui.widgets import help_for, save_upload

METHOD_TITLES = {"full": "Full fine-tuning", "lora": "LoRA", "prompt_tuning": "Prompt tuning"}
DEFAULT_LR = {"full": 1e-5, "lora": 2e-4, "prompt_tuning": 3e-2}


def method_settings(method: str) -> dict[str, Any]:
    """The panel of the chosen method; returns its config fields."""
    h = lambda name: help_for(FinetuneConfig, name)  # noqa: E731
    with st.container(border=True):
        if method == "lora":
            c1, c2, c3 = st.columns(3)
            targets = st.multiselect("Target modules", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                     default=["q_proj", "v_proj"], key="finetune.lora_targets", help=h("lora_targets"))
            return {"lora_r": c1.select_slider("Rank r", [1, 2, 4, 8, 16, 32, 64], 8, key="finetune.lora_r", help=h("lora_r")),
                    "lora_alpha": c2.select_slider("Alpha", [1, 2, 4, 8, 16, 32, 64, 128], 16, key="finetune.lora_alpha", help=h("lora_alpha")),
                    "lora_dropout": c3.slider("Dropout", 0.0, 0.5, 0.05, 0.05, key="finetune.lora_dropout", help=h("lora_dropout")),
                    "lora_targets": tuple(targets) or ("q_proj",)}
        if method == "prompt_tuning":
            c1, c2 = st.columns([1, 2])
            return {"virtual_tokens": c1.slider("Virtual tokens", 1, 64, 16, key="finetune.virtual_tokens", help=h("virtual_tokens")),
                    "prompt_init_text": c2.text_input("Start from the embeddings of", "Summarize the dialogue:", key="finetune.init_text",
                                                      help=h("prompt_init_text"))}
        st.caption("Every weight of the model trains: the most memory, the most capacity, the most forgetting.")
        return {}


MIX_DEFAULT = {"dialogsum": 2.0, "sentiment": 1.0, "general_text": 1.0}


def pick_dataset() -> dict[str, Any]:
    """The data fields of the config: a bundled dataset, an uploaded {prompt, completion} file saved under LAB_HOME, or
    a weighted mix of the bundled sources (multi-task fine-tuning)."""
    source = st.radio("Training data", ["Bundled", "Upload", "Mix"], horizontal=True, key="finetune.source",
                      help="Mix: multi-task fine-tuning, the remedy for forgetting. " + (help_for(FinetuneConfig, "mix") or ""))
    if source == "Bundled":
        return {"dataset": st.selectbox("Dataset", [n for n, d in BUNDLED.items() if d.kind == "generation"], key="finetune.dataset",
                                        format_func=lambda n: f"{n}: {BUNDLED[n].description}")}
    if source == "Mix":
        return {"dataset": "dialogsum", "mix": pick_mix()}
    upload = st.file_uploader("JSONL or CSV with prompt and completion columns", type=["jsonl", "csv"], key="finetune.upload")
    if upload is None:
        st.info("Upload a file of {prompt, completion} rows, or pick a bundled dataset.")
        st.stop()
    path = save_upload(upload)
    try:
        pairs = load_pairs(str(path))
    except DataError as err:
        st.error(str(err))
        st.stop()
    st.caption(f"{len(pairs)} pairs")
    return {"dataset": str(path)}


def pick_mix() -> tuple[dict[str, Any], ...]:
    """A weight per bundled source; weight 0 leaves a source out."""
    from core.finetune.mixing import MIX_SOURCES, PROBE_TEXTS

    columns = st.columns(len(MIX_SOURCES))
    weights = {name: column.number_input(f"{name} weight", 0.0, 100.0, MIX_DEFAULT.get(name, 0.0), 0.5, key=f"finetune.mix.{name}")
               for column, name in zip(columns, MIX_SOURCES)}
    st.caption(f"Rows are drawn in proportion to the weights, none repeated. dialogsum and sentiment give their pool "
               f"splits as instructions; general_text gives paragraphs {PROBE_TEXTS + 1}-60 as plain text (all of it in "
               f"the loss). The forgetting meter probes paragraphs 1-{PROBE_TEXTS} and the sentiment test split, never "
               "trained on. The report scores dialogsum.")
    mix = tuple({"dataset": name, "weight": float(w)} for name, w in weights.items() if w > 0)
    if not mix:
        st.error("Give at least one dataset a weight above 0.")
        st.stop()
    return mix


@st.fragment(run_every=2)
def run_monitor(run_id: str) -> None:
    """The selected run, re-read every 2 s: state, progress with ETA, loss curves, cancel and resume."""
    try:
        run = jobs.get_run(run_id)
    except jobs.RunError as err:
        st.error(str(err))
        return
    rerun_when_it_ends(run)  # the comparison, the sidebar's new model and the runs table appear at once
    rows = run.progress()
    steps = [r for r in rows if "step" in r]
    last = steps[-1] if steps else {}
    speed = last.get("tokens_per_s")
    run_controls(run, "finetune", "Training", last.get("step", 0), f", {speed:,.0f} tokens/s" if speed else "", last.get("eta_s"))
    if any("loss" in r or "eval_loss" in r for r in steps):
        st.plotly_chart(charts.loss_chart({run_id: steps}), key=f"finetune.loss.{run_id}")
    with st.expander("Log"):
        st.code(run.log_tail(30) or " ", language=None)


def _comparison_dataset(run: jobs.Run) -> str:
    """The bundled dataset whose held-out split and prompt wording fit the run (an upload falls back to dialogsum)."""
    dataset = run.config.get("dataset")
    return dataset if dataset in BUNDLED else "dialogsum"


def comparison_panel(run: jobs.Run, precision: str) -> None:
    """For a finished run: base vs fine-tuned answers with ROUGE-L, and the forgetting meter, on demand."""
    from core.finetune.mixing import PROBE_TEXTS
    from core.finetune.report import compare, save_forgetting
    from core.models import RUN_PREFIX
    from core.ui.resources import shared_model

    st.subheader("Base against fine-tuned")
    c1, c2, c3 = st.columns(3)
    n_examples = c1.number_input("Held-out examples", 1, 50, 5, key="finetune.compare_n")
    n_texts = c2.number_input("General texts (forgetting)", 5, PROBE_TEXTS, 20, key="finetune.texts_n",
                              help=f"The first {PROBE_TEXTS} paragraphs of general_text: no mix trains on them.")
    n_reviews = c3.number_input("Sentiment reviews (forgetting)", 10, 200, 20, key="finetune.reviews_n")
    key = f"finetune.comparison.{run.id}.{n_examples}.{n_texts}.{n_reviews}"
    if st.button("Compare with the base model", key="finetune.compare", icon=":material/compare_arrows:"):
        base = shared_model(run.config["base_model"], precision)
        tuned = shared_model(RUN_PREFIX + run.id, precision)  # a separate copy: the shared base is never touched
        bar = st.progress(0.0)
        st.session_state[key] = compare(base, tuned, _comparison_dataset(run), int(n_examples), int(n_texts), int(n_reviews),
                                        on_progress=lambda text, fraction: bar.progress(fraction, text=text))
        save_forgetting(run.dir, st.session_state[key])  # for the table across runs
        bar.empty()
    result = st.session_state.get(key)
    if result is not None:
        comparison_results(result)
    own_inputs(run, precision)


def comparison_results(result: Any) -> None:
    columns = st.columns(len(result.forgetting) + 1)
    mean = lambda k: sum(r[k] for r in result.rows) / len(result.rows)  # noqa: E731
    columns[0].metric("ROUGE-L on held-out examples", f"{mean('rougeL_tuned'):.3f}",
                      delta=f"{mean('rougeL_tuned') - mean('rougeL_base'):+.3f} vs base")
    for column, (measure, values) in zip(columns[1:], result.forgetting.items()):
        higher_is_better = "accuracy" in measure
        column.metric(measure, f"{values['tuned']:.3f}", delta=f"{values['tuned'] - values['base']:+.3f} vs base",
                      delta_color="normal" if higher_is_better else "inverse")
    st.caption("Forgetting: a higher loss on general text, or a lower accuracy on a task the run never saw, is knowledge "
               "the fine-tuning overwrote. Full fine-tuning usually forgets most; LoRA and prompt tuning leave the base frozen.")
    st.dataframe(result.rows, hide_index=True)


def own_inputs(run: jobs.Run, precision: str) -> None:
    """The user's own inputs, answered by the base and the fine-tuned model side by side."""
    from core.finetune.report import side_by_side
    from core.models import RUN_PREFIX
    from core.ui.resources import shared_model

    text = st.text_area("Your own inputs (a blank line between two)", key="finetune.own_inputs",
                        placeholder="Ana: Can you feed the cat tonight?\nBo: Sure, I'll be home by six.")
    if st.button("Answer with both models", key="finetune.own_answer") and text.strip():
        try:
            rows = side_by_side(shared_model(run.config["base_model"], precision), shared_model(RUN_PREFIX + run.id, precision),
                                text.split("\n\n"), _comparison_dataset(run))
        except ValueError as err:
            st.error(str(err))
            return
        for row in rows:
            left, right = st.columns(2)
            left.text_area("Base model", row["base"], disabled=True, key=f"finetune.own.base.{hash(row['input'])}")
            right.text_area("Fine-tuned", row["tuned"], disabled=True, key=f"finetune.own.tuned.{hash(row['input'])}")


def forgetting_across_runs(runs: list[jobs.Run]) -> None:
    """The forgetting figures of every compared run side by side: full single-task, multi-task, LoRA..."""
    from core.finetune.report import forgetting_table

    rows = forgetting_table(runs)
    st.subheader("Forgetting across runs")
    if not rows:
        st.info("Compare a finished run with its base (above) and its forgetting figures appear here beside the others'. "
                "Train full single-task, multi-task (Training data → Mix) and LoRA to see the three remedies side by side.")
        return
    st.plotly_chart(forgetting_chart(rows), key="finetune.forgetting_runs")
    st.dataframe(rows, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.3f") for k in rows[0]
                                                       if isinstance(rows[0][k], float)})
    if len({(r["texts"], r["reviews"]) for r in rows}) > 1:
        st.warning("These runs were compared on different numbers of texts or reviews: compare like with like.")


def forgetting_chart(rows: list[dict[str, Any]]) -> Any:
    """Two panels: the change in general-text loss (up is forgetting) and in sentiment accuracy (down is forgetting)."""
    from plotly.subplots import make_subplots

    labels = [f"{charts.safe(r['remedy'])}<br>{charts.safe(r['run'][-22:])}" for r in rows]  # run ids are plain names
    fig = make_subplots(rows=1, cols=2, subplot_titles=("general-text loss change (up = forgetting)",
                                                        "sentiment accuracy change (down = forgetting)"))
    fig.add_bar(x=labels, y=[r["loss change"] for r in rows], marker_color="#d62728", row=1, col=1, showlegend=False)
    fig.add_bar(x=labels, y=[r["accuracy change"] for r in rows], marker_color="#1f77b4", row=1, col=2, showlegend=False)
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def export_panel(run: jobs.Run) -> None:
    """Download buttons for a finished run: the merged model, and the adapter alone (LoRA, prompt tuning)."""
    from core.finetune.export import check_finished, export_adapter

    st.subheader("Export")
    try:
        method = check_finished(run)
    except ValueError as err:
        st.error(str(err))
        return
    left, right = st.columns(2)
    if method in ("lora", "full"):
        with left:
            merged_download(run)
        left.caption("Safetensors, config and tokenizer: `AutoModelForCausalLM.from_pretrained(folder)`. "
                     + ("The LoRA is merged into a fresh float32 copy of the base in the background; the zip is kept "
                        "for later downloads." if method == "lora" else "Full fine-tuning: the run's weights as they are."))
    else:
        left.info("Prompt tuning's virtual tokens cannot be merged into the weights: download the adapter.")
    if method in ("lora", "prompt_tuning"):
        right.download_button("Adapter only (zip)", lambda: export_adapter(run).read_bytes(), f"{run.id}-adapter.zip",
                              "application/zip", key="finetune.export.adapter", icon=":material/download:", on_click="ignore")
        right.caption("adapter_model.safetensors and adapter_config.json: `PeftModel.from_pretrained(base, folder)` "
                      "on the base it was trained on.")
    else:
        right.info("Full fine-tuning has no adapter: every weight changed. Download the model.")


def merged_download(run: jobs.Run) -> None:
    """The merged zip's download button once it exists; before that, a button that starts the merge job, and its
    progress while it runs (polled every 2 s; the page reruns when it ends)."""
    from core.finetune.export import MERGE_JOB, merged_zip, start_merge

    done = merged_zip(run)
    if done.is_file():
        st.download_button(f"Merged model (zip, {done.stat().st_size / 2**20:,.0f} MiB)", lambda: done.read_bytes(),
                           done.name, "application/zip", key="finetune.export.merged", icon=":material/download:",
                           on_click="ignore")
        return
    mine = [r for r in jobs.list_runs(MERGE_JOB) if r.config.get("run") == run.id]
    if mine and not mine[0].finished:
        merge_monitor(mine[0].id)
        return
    if mine and mine[0].state == "failed":
        st.error(f"The last merge failed: {mine[0].status.get('error', 'no reason recorded')}")
    if st.button("Prepare the merged model", key="finetune.export.merge", icon=":material/merge:"):
        try:
            start_merge(run, actor=current_actor())
        except ValueError as err:
            st.error(str(err))
            return
        st.rerun()


@st.fragment(run_every=2)
def merge_monitor(merge_id: str) -> None:
    from core.finetune.export import MERGE_STAGES

    merge = jobs.get_run(merge_id)
    reports = merge.progress()
    stage = reports[-1]["step"] if reports else 0
    name = MERGE_STAGES[min(stage, len(MERGE_STAGES) - 1)]
    st.progress(min(stage / len(MERGE_STAGES), 1.0), text=f"Merging: {name} (step {stage + 1} of {len(MERGE_STAGES)})")
    rerun_when_it_ends(merge)
