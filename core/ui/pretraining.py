"""Widgets of the Pre-training & scaling page: the three objectives on a typed sentence, a model trained from
scratch in the background (loss against tokens, samples as it learns), and the Chinchilla sweep (IsoFLOP valleys
and the fitted exponents, with a bundled measured result). Tokens and samples are shown in tables or ``st.code``,
never as HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core import jobs
from core.pretraining import corpus, objectives, scaling, scratch
from core.ui.classroom import current_actor
from core.ui.pretraining_charts import isoflop_chart, optimum_chart, pretrain_loss_chart
from core.ui.resources import shared_model
from core.ui.runs import follow_run, rerun_when_it_ends, run_controls, show_queue
from core.ui.widgets import escape_markdown, help_for, human_count

MEASURED = Path(__file__).resolve().parents[2] / "assets" / "measured" / "scaling_quick.json"
EXAMPLE = "I sat on the river bank and watched the water, then walked to the bank to open an account."


# ---------------------------------------------------------------- Objectives


def objectives_tab(model_name: str, precision: str) -> None:
    st.caption("What each pre-training objective asks the model to predict, on your sentence and with the "
               "sidebar model's tokenizer. Pre-training is self-supervised: the text is its own answer key.")
    text = st.text_area("Sentence", EXAMPLE, key="pretrain.text", height=70, max_chars=2000)
    tokenizer = shared_model(model_name, precision).tokenizer
    causal, masked, span = st.tabs(["Causal LM", "Masked LM", "Span corruption"])
    try:
        with causal:
            st.markdown("Each position sees only the tokens before it and is scored on the next one: the targets "
                        "are the inputs shifted by one. Every position trains the model.")
            _positions_table(objectives.causal_lm(tokenizer, text), "predicts")
        with masked:
            c1, c2 = st.columns(2)
            rate = c1.slider("Masking rate", 0.05, 0.5, 0.15, 0.05, key="pretrain.mask_rate")
            seed = c2.number_input("Seed", 0, 10_000, 0, key="pretrain.mask_seed", help="Another seed, other masks.")
            rows = objectives.masked_lm(tokenizer, text, rate, int(seed))
            st.markdown(f"{sum(r.target is not None for r in rows)} of {len(rows)} positions chosen; of those 80% "
                        f"become {objectives.MASK}, 10% a random token, 10% stay. Only chosen positions are scored, "
                        "and the model sees both sides of each.")
            _positions_table(rows, "must recover")
        with span:
            c1, c2, c3 = st.columns(3)
            density = c1.slider("Noise density", 0.05, 0.5, 0.15, 0.05, key="pretrain.noise")
            mean_span = c2.slider("Mean span length", 1.0, 8.0, 3.0, 0.5, key="pretrain.span")
            seed = c3.number_input("Seed", 0, 10_000, 0, key="pretrain.span_seed")
            example = objectives.span_corruption(tokenizer, text, density, mean_span, int(seed))
            st.markdown("**Encoder input** (each cut span is one sentinel):")
            st.code("".join(example.input), language=None, wrap_lines=True)
            st.markdown("**Decoder target** (each sentinel, then the span it stands for):")
            st.code("".join(example.target), language=None, wrap_lines=True)
    except ValueError as err:
        st.error(str(err))
    st.table(pd.DataFrame(objectives.FAMILIES, columns=["Objective", "Model families", "Good at"]).set_index("Objective"))


def _positions_table(rows: list[objectives.Position], verb: str) -> None:
    st.dataframe(pd.DataFrame([{"#": r.index, "token": repr(r.token), "input": repr(r.input),
                                verb: "" if r.target is None else repr(r.target), "what happened": r.note}
                               for r in rows]).drop(columns=[] if any(r.note for r in rows) else ["what happened"]),
                 hide_index=True, height=min(38 + 35 * len(rows), 420))


# ---------------------------------------------------------------- Train from scratch

WIDTHS = [32, 48, 64, 96, 128, 192, 256, 384, 512]
CONTEXTS = [32, 64, 128, 256, 512]
TOKENS = [250_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000]


def scratch_tab() -> None:
    st.caption("A decoder-only Llama trained from random weights on the docstrings of Python and its installed "
               "packages (about 17 M tokens, built once on this machine) with a 1,024-token vocabulary. The "
               "validation loss is measured on whole packages it never sees.")
    c1, c2, c3, c4 = st.columns(4)
    layers = c1.slider("Layers", 1, 12, 4, key="pretrain.layers", help=help_for(scratch.ScratchConfig, "layers"))
    width = c2.select_slider("Width", WIDTHS, 128, key="pretrain.width", help=help_for(scratch.ScratchConfig, "hidden"))
    heads_choices = [h for h in (1, 2, 4, 8, 16) if width % h == 0 and (width // h) % 2 == 0]
    heads = c3.select_slider("Heads", heads_choices, heads_choices[min(2, len(heads_choices) - 1)],
                             key=f"pretrain.heads.{width}", help=help_for(scratch.ScratchConfig, "heads"))
    context = c4.select_slider("Context", CONTEXTS, 128, key="pretrain.context",
                               help=help_for(scratch.ScratchConfig, "context"))
    c1, c2, c3, c4 = st.columns(4)
    tokens = c1.select_slider("Training tokens", TOKENS, 2_000_000, key="pretrain.tokens", format_func=human_count,
                              help=help_for(scratch.ScratchConfig, "tokens"))
    lr = c2.number_input("Learning rate", 1e-5, 0.1, 3e-3, format="%.1e", key="pretrain.lr",
                         help=help_for(scratch.ScratchConfig, "learning_rate"))
    batch = c3.select_slider("Batch", [4, 8, 16, 32, 64], 16, key="pretrain.batch",
                             help=help_for(scratch.ScratchConfig, "batch_size"))
    prompt = c4.text_input("Sample prompt", "The function returns", key="pretrain.prompt", max_chars=200)
    try:
        config = scratch.ScratchConfig(layers=layers, hidden=width, heads=heads, context=context, tokens=tokens,
                                       learning_rate=lr, batch_size=batch, prompt=prompt or "The")
    except ValueError as err:
        st.error(str(err))
        config = None
    if config is not None:
        st.caption(f"{human_count(config.params)} parameters ({human_count(config.vocab_size * width)} in the "
                   f"embedding) · {config.max_steps:,} steps · about {6 * config.params * tokens:.1e} training "
                   f"FLOPs (6·N·D) · {tokens / config.params:.0f} tokens per parameter (Chinchilla: 20)."
                   + corpus_note())
    if st.button("Train from scratch", type="primary", key="pretrain.start", disabled=config is None,
                 icon=":material/rocket_launch:"):
        try:
            st.session_state["pretrain.run"] = scratch.start_pretrain(config, actor=current_actor()).id
        except ValueError as err:  # the queue is full, or this student already has a run waiting
            st.error(str(err))
    run_id = follow_run("pretrain.run", scratch.JOB)
    if run_id:
        _scratch_monitor(run_id)


@st.fragment(run_every=2)
def _scratch_monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    rows = run.progress()
    corpus_rows = [r for r in rows if r.get("event") == "corpus"]
    steps = [r for r in rows if "step" in r and "max_steps" in r]
    if corpus_rows and not steps and not run.finished:
        st.progress(corpus_rows[-1]["share"], text=f"Building the corpus (once per machine): "
                    f"{escape_markdown(corpus_rows[-1]['stage'])}")
    last = steps[-1] if steps else {}
    extra = f", {last['tokens_per_s']:,.0f} tokens/s" if last.get("tokens_per_s") else ""
    run_controls(run, "pretrain", "Training", last.get("step", 0), extra, last.get("eta_s"))
    if steps or any("val_loss" in r for r in rows):
        st.plotly_chart(pretrain_loss_chart(rows), key=f"pretrain.loss.{run_id}")
    samples = [r for r in rows if "sample" in r]
    if samples:
        st.markdown(f"**Samples as it learns** (temperature 0.8, the same seed each time). Latest, at step "
                    f"{samples[-1]['step']:,}:")
        st.code(samples[-1]["sample"], language=None, wrap_lines=True)
        st.dataframe(pd.DataFrame([{"step": r["step"], "tokens": human_count(r["tokens"]), "sample": r["sample"]}
                                   for r in reversed(samples)]), hide_index=True)
    if run.state == "done":
        st.success(f"Finished: pick **Pre-trained: {run_id}** in the sidebar to generate with it.")
    rerun_when_it_ends(run)


# ---------------------------------------------------------------- Scaling laws


def scaling_tab() -> None:
    st.caption("Chinchilla's IsoFLOP experiment: at each compute budget C, models of several sizes N each train "
               "on D = C / (6N) tokens, so every run costs the same. The loss against N is a valley; its bottom is "
               "the compute-optimal size. How N_opt and D_opt grow with C is the scaling law.")
    c1, c2 = st.columns([1, 3])
    preset = c1.radio("Preset", list(scaling.PRESETS), key="pretrain.preset", horizontal=True, format_func=str.title)
    plan, measured = scaling.plan(scaling.PRESETS[preset]), bundled_sweep()
    tokens = sum(r["tokens"] for r in plan)
    pace = ""
    if measured is not None:  # the bundled run's pace on this kind of machine, scaled by the tokens to train
        done = sum(p["tokens"] for p in measured["points"])
        pace = f", about {measured['wall_s'] * tokens / done / 60:.0f} min on {measured['machine']}"
    c2.caption(f"{len(plan)} models at budgets {', '.join(f'{b:.0e}' for b in scaling.PRESETS[preset].budgets)} "
               f"FLOPs, {human_count(tokens)} tokens in all{pace}.{corpus_note()}")
    if st.button("Run the sweep", type="primary", key="pretrain.sweep", icon=":material/query_stats:"):
        try:
            st.session_state["pretrain.sweep_run"] = scaling.start_sweep(preset, actor=current_actor()).id
        except ValueError as err:
            st.error(str(err))
    run_id = follow_run("pretrain.sweep_run", scaling.JOB)
    if run_id:
        _sweep_monitor(run_id)
    elif measured is not None:
        st.info(f"A finished example, measured on {measured['machine']} on {measured['date']} "
                f"({measured['preset']} preset, {measured['wall_s'] / 60:.1f} min). Run the sweep to measure your own.")
        show_sweep(measured["points"], "bundled")


def corpus_note() -> str:
    """Said before the first run on a machine: it also builds the corpus."""
    built = (corpus.corpus_dir() / "manifest.json").is_file()
    return "" if built else " The first run also builds the corpus (about 2 minutes, once per machine)."


def bundled_sweep() -> dict[str, Any] | None:
    return json.loads(MEASURED.read_text()) if MEASURED.exists() else None


@st.fragment(run_every=3)
def _sweep_monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    live = [r for r in run.progress() if "point" in r]
    points, total = scaling.read_points(run.dir), run.config.get("max_steps", 1)
    text = {"running": "Sweeping", "queued": "Starting"}.get(run.state, run.state.capitalize())
    show_queue(run)
    text += f": {len(points)} of {total} models trained"
    if live and not run.finished:
        now = live[-1]
        text += (f"; now N = {now['params']:,} on {human_count(now['tokens'])} tokens, step {now['step']} of "
                 f"{now['steps']}")
    st.progress(min(len(points) / total, 1.0), text=text)
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Cancel", key=f"pretrain.sweep.cancel.{run_id}", disabled=run.finished, icon=":material/stop:",
                 help="The models already trained stay, and Resume trains only the rest."):
        jobs.cancel_run(run_id, actor=current_actor())
        st.rerun(scope="fragment")
    if c2.button("Resume", key=f"pretrain.sweep.resume.{run_id}", disabled=run.state not in ("cancelled", "failed"),
                 icon=":material/play_arrow:"):
        jobs.resume_run(run_id, actor=current_actor())
        st.rerun(scope="fragment")
    if points:
        show_sweep(points, run_id)
    rerun_when_it_ends(run)


def show_sweep(points: list[dict], key: str) -> None:
    result = scaling.fit(points)
    c1, c2, c3 = st.columns(3)
    c1.metric("N_opt ∝ C^a", "—" if result.a is None else f"a = {result.a:.2f}", help="Chinchilla: a ≈ 0.50")
    c2.metric("D_opt ∝ C^b", "—" if result.b is None else f"b = {result.b:.2f}", help="Chinchilla: b ≈ 0.50")
    c3.metric("Tokens per parameter at the optimum", " / ".join(f"{t:.0f}" for t in result.tokens_per_param) or "—",
              help="One figure per budget, smallest first. Chinchilla: about 20.")
    st.plotly_chart(isoflop_chart(points, result.profiles), key=f"pretrain.isoflop.{key}")
    outside = [p for p in result.profiles if p.n_opt is not None and not p.inside]
    flat = [p for p in result.profiles if p.n_opt is None]
    if outside:
        st.warning("At " + ", ".join(f"{p.budget:.0e}" for p in outside) + " FLOPs the fitted minimum lies outside "
                   "the sizes trained: it is an extrapolation, and the sweep did not bracket the valley there.")
    if flat:
        st.caption("No valley yet at " + ", ".join(f"{p.budget:.0e}" for p in flat) + " FLOPs (fewer than three "
                   "sizes finished, or the losses curve the wrong way).")
    st.plotly_chart(optimum_chart(result.profiles, result.a, result.b), key=f"pretrain.optimum.{key}")
    table = pd.DataFrame(points)[["budget", "params", "layers", "hidden", "tokens", "batch_size", "steps", "loss",
                                  "seconds"]]
    st.dataframe(table.assign(budget=[f"{b:.0e}" for b in table["budget"]]), hide_index=True)
    st.download_button("Download the points (JSONL)", "\n".join(json.dumps(p) for p in points),
                       file_name="chinchilla-sweep.jsonl", key=f"pretrain.download.{key}", icon=":material/download:")
