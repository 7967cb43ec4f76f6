"""The Optimise & deploy page's pieces: a form per method, the run monitor, the comparison, answers side by side.

Every variant starts through ``core.deploy.variants.start_variant`` (checked first, so a bad setting is one line
here, not a failed run) and is followed by ``run_monitor``; the comparison reads the finished runs' results.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import jobs, models
from core.deploy import quantize, variants
from core.deploy.distill import DistillConfig
from core.deploy.prune import PruneConfig
from core.ui import charts
from core.ui.classroom import current_actor
from core.ui.runs import follow_run, rerun_when_it_ends, show_queue
from core.ui.state import current_model_name
from core.ui.widgets import escape_markdown, help_for

RUN_KEY = "deploy.run"
PROMPTS = ("What is the capital of France?", "Give me two tips for a good night's sleep.",
           "Explain in one sentence what a lighthouse does.")


def source_models(key: str, label: str = "Model") -> str:
    """A bundled model or a finished run to make a variant of; the sidebar's model first."""
    current = current_model_name()
    choices = list(dict.fromkeys(c for c in (current, *models.BUNDLED, *models.finetuned_runs()) if c))
    return st.selectbox(label, choices, key=key, format_func=_label, help="The sidebar's model, a bundled model, or a "
                        "finished run.")


def _label(name: str) -> str:
    if name in models.BUNDLED:
        return models.BUNDLED[name].title
    return f"{name} ({models.run_kind(name).lower()})" if name.startswith(models.RUN_PREFIX) else name


def start(kind: str, settings: dict[str, Any], key: str, label: str) -> None:
    """The Start button of a method: check, start, follow; a bad setting is shown and nothing starts."""
    if st.button(label, key=key, type="primary", icon=":material/rocket_launch:"):
        try:
            st.session_state[RUN_KEY] = variants.start_variant(kind, settings, actor=current_actor()).id
        except ValueError as err:  # ModelError too: a model that is not there, a run that is not a model
            st.error(str(err))


# ---------------------------------------------------------------- the forms


def quantize_form() -> None:
    c1, c2 = st.columns(2)
    with c1:
        base = source_models("deploy.q_model")
    scheme = c2.radio("Method", list(quantize.METHODS), key="deploy.q_method", horizontal=True,
                      help=help_for(quantize.QuantizeConfig, "scheme"))
    c2.caption(quantize.METHODS[scheme])
    start("quantize", {"base_model": base, "scheme": scheme}, "deploy.q_start", "Quantise")


def prune_form() -> None:
    h = lambda name: help_for(PruneConfig, name)  # noqa: E731
    base = source_models("deploy.p_model")
    c1, c2, c3 = st.columns(3)
    drop = c1.number_input("Layers to drop", 0, 200, 6, key="deploy.p_drop", help=h("drop_layers"))
    mlp = c2.slider("MLP channels to remove", 0.0, 0.9, 0.0, 0.05, key="deploy.p_mlp", help=h("mlp_fraction"))
    sparsity = c3.slider("Magnitude zeros", 0.0, 0.99, 0.0, 0.05, key="deploy.p_sparsity", help=h("sparsity"))
    start("prune", {"base_model": base, "drop_layers": int(drop), "mlp_fraction": mlp, "sparsity": sparsity},
          "deploy.p_start", "Prune")


def distil_form() -> None:
    h = lambda name: help_for(DistillConfig, name)  # noqa: E731
    teacher = source_models("deploy.d_teacher", "Teacher")
    c1, c2, c3, c4 = st.columns(4)
    drop = c1.number_input("Student: layers dropped", 1, 200, 10, key="deploy.d_drop", help=h("drop_layers"))
    steps = c2.number_input("Steps", 1, 5000, 10, key="deploy.d_steps", help=h("max_steps"))
    temperature = c3.number_input("Temperature τ", 0.1, 20.0, 2.0, 0.5, key="deploy.d_temperature", help=h("temperature"))
    alpha = c4.slider("α (distillation share)", 0.05, 1.0, 0.9, 0.05, key="deploy.d_alpha", help=h("alpha"))
    settings = {"teacher": teacher, "drop_layers": int(drop), "max_steps": int(steps), "temperature": temperature,
                "alpha": alpha}
    left, right = st.columns(2)
    with left:
        start("distil", {**settings, "mode": "distil"}, "deploy.d_start", "Distil")
    with right:
        if st.button("Baseline: hard labels, same budget", key="deploy.d_hard", icon=":material/balance:",
                     help=h("mode")):
            try:
                st.session_state[RUN_KEY] = variants.start_variant("distil", {**settings, "mode": "hard"}, actor=current_actor()).id
            except ValueError as err:
                st.error(str(err))


# ---------------------------------------------------------------- the run


@st.fragment(run_every=2)
def run_monitor() -> None:
    """The variant run this session follows: its stage, its losses (distillation), Cancel, and the result."""
    run_id = follow_run(RUN_KEY, variants.JOB)
    if not run_id:
        return
    try:
        run = jobs.get_run(run_id)
    except jobs.RunError:
        st.session_state.pop(RUN_KEY, None)
        return
    rerun_when_it_ends(run)
    rows = run.progress()
    stage = next((r.get("message") or r.get("stage") for r in reversed(rows) if r.get("message") or r.get("stage")), "")
    with st.container(border=True):
        state = {"running": "Running", "queued": "Starting"}.get(run.state, run.state.capitalize())
        show_queue(run)
        st.markdown(f"**{variants.TITLES.get(run.config.get('variant'), 'Variant')} · run {run.id}** · {state}"
                    + (f" · {escape_markdown(str(stage))}" if stage and not run.finished else ""))
        losses = [r for r in rows if "loss" in r]
        if losses:
            st.line_chart(pd.DataFrame(losses).set_index("step")[["loss"]], height=180)
        if run.state == "failed":
            st.error(run.status.get("error", "failed"))
        elif run.state == "done":
            result_summary(run.status.get("result") or {})
        if not run.finished and st.button("Cancel", key=f"deploy.cancel.{run.id}", icon=":material/stop:"):
            jobs.cancel_run(run.id, actor=current_actor())
            st.rerun(scope="fragment")


def result_summary(result: dict[str, Any]) -> None:
    if "size_ratio" not in result:
        st.info("Stopped before it was measured.")
        return
    c = st.columns(4)
    c[0].metric("Memory", f"{result['size_bytes'] / 2**20:.0f} MiB", f"{result['size_ratio']:.2f}x base", delta_color="off")
    c[1].metric("Tokens/s", f"{result['tokens_per_s']:.1f}", f"{result['speedup']:.2f}x base", delta_color="off")
    c[2].metric("Perplexity", f"{result['perplexity']:.2f}", f"{result['perplexity_ratio']:.2f}x base", delta_color="off")
    c[3].metric("knowledge_mc acc", f"{result['accuracy']:.0%}", f"base {result['accuracy_base']:.0%}", delta_color="off")
    if "logit_error" in result:
        st.caption(f"Logits move by at most {result['logit_error']:.1%} of the largest; the most likely token agrees "
                   f"at {result['top1_agreement']:.0%} of positions.")
    if result.get("dropped_layers"):
        st.caption(f"Dropped layers {result['dropped_layers']} (by saliency, below).")


def saliency_chart(result: dict[str, Any]) -> go.Figure:
    """Block Influence per layer, the dropped ones in red."""
    scores, dropped = result["saliency"], set(result.get("dropped_layers") or [])
    fig = go.Figure(go.Bar(x=list(range(len(scores))), y=scores,
                           marker_color=["#d62728" if i in dropped else "#1f77b4" for i in range(len(scores))]))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="layer",
                      yaxis_title="1 − cos(input, output)", title="Layer saliency (red: dropped)")
    return fig


# ---------------------------------------------------------------- compare


def comparison_table(rows: list[dict[str, Any]]) -> None:
    table = pd.DataFrame(rows)
    table["memory MiB"] = (table["size_bytes"] / 2**20).round(1)
    table["disk MiB"] = (table["disk_bytes"] / 2**20).round(1)
    shown = table[["model", "variant", "memory MiB", "disk MiB", "tokens_per_s", "perplexity", "accuracy", "pareto"]]
    st.dataframe(shown.round(3), hide_index=True, key="deploy.table",
                 column_config={"pareto": st.column_config.CheckboxColumn("Pareto front"),
                                "tokens_per_s": st.column_config.NumberColumn("tokens/s", format="%.1f"),
                                "accuracy": st.column_config.NumberColumn("knowledge_mc acc", format="%.2f")})
    st.download_button("The comparison (CSV)", table.to_csv(index=False), "variants.csv", "text/csv",
                       key="deploy.table_csv", icon=":material/download:")


def comparison_chart(rows: list[dict[str, Any]]) -> go.Figure:
    """Memory against perplexity, one marker per model (size = tokens/s), the Pareto front joined per base."""
    fig = go.Figure()
    for base in dict.fromkeys(r["base_model"] for r in rows):
        group = [r for r in rows if r["base_model"] == base]
        front = sorted((r for r in group if r["pareto"]), key=lambda r: r["size_bytes"])
        top = max(r["tokens_per_s"] for r in group) or 1
        fig.add_scatter(x=[r["size_bytes"] / 2**20 for r in group], y=[r["perplexity"] for r in group], mode="markers",
                        name=charts.safe(base), text=[charts.safe(f"{r['variant']} · {r['tokens_per_s']:.1f} tok/s")
                                                      for r in group],
                        marker=dict(size=[12 + 24 * r["tokens_per_s"] / top for r in group],
                                    symbol=["star" if r["pareto"] else "circle" for r in group]),
                        hovertemplate="%{text}<br>%{x:.0f} MiB, perplexity %{y:.2f}<extra></extra>")
        fig.add_scatter(x=[r["size_bytes"] / 2**20 for r in front], y=[r["perplexity"] for r in front], mode="lines",
                        line=dict(dash="dot"), name=charts.safe(f"{base}: Pareto front"), hoverinfo="skip")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="memory (MiB)",
                      yaxis_title="perplexity on general text (lower is better)",
                      title="Smaller and better is down-left; marker size = tokens/s; stars = Pareto front")
    return fig


def downloads(rows: list[dict[str, Any]]) -> None:
    from core.finetune.export import export_model

    names = [r["model"] for r in rows if r["model"].startswith(models.RUN_PREFIX)]
    if not names:
        return
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox("Variant", names, key="deploy.download_choice",
                        format_func=lambda n: next(f"{n} ({r['variant']})" for r in rows if r["model"] == n))
    run = jobs.get_run(name.removeprefix(models.RUN_PREFIX))
    with c2:
        st.write("")
        st.download_button("Download (zip)", lambda: export_model(run).read_bytes(), f"{run.id}-model.zip",
                           "application/zip", key="deploy.download", icon=":material/download:",
                           help="config.json, safetensors and the tokenizer; a quantised variant also has lowbit.json "
                           "(load it with core.models.lowbit.load_lowbit).")


def side_by_side(rows: list[dict[str, Any]]) -> None:
    """Answers of a variant and its base to the same prompts (greedy, so the difference is the model's)."""
    from core.sampling import SamplingSettings, generate_text
    from core.ui.resources import shared_model

    names = [r["model"] for r in rows if r["model"].startswith(models.RUN_PREFIX)]
    if not names:
        return
    name = st.selectbox("Variant to read", names, key="deploy.answers_choice")
    base = next(r["base_model"] for r in rows if r["model"] == name)
    if not st.button("Answer the prompts with both", key="deploy.answers", icon=":material/compare_arrows:"):
        return
    greedy = SamplingSettings(temperature=0)
    answers = []
    for model_name in (base, name):
        loaded = shared_model(model_name, "float32")
        chat = loaded.info.has_chat_template
        answers.append([generate_text(loaded, prompt, greedy, max_new_tokens=40, chat=chat) for prompt in PROMPTS])
    st.dataframe(pd.DataFrame({"prompt": PROMPTS, f"base: {base}": answers[0], f"variant: {name}": answers[1]}),
                 hide_index=True, key="deploy.answers_table")
