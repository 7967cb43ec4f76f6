"""Evaluation dashboard: models against models on benchmarks and metrics, down to each example."""

import streamlit as st

from core import store
from core.evaluation import JOB, EvalConfig
from core.models import BUNDLED, ModelError, check_loadable, finetuned_runs
from core.ui.evaluate import caveats, drilldown, history, leaderboard_section, newest_per_cell, pick_tasks, run_monitor
from core.ui.evaluate_compare import assertions_section, paired_section, pick_templates, template_grid
from core.ui.frame import run_inside_frame
from core.ui.runs import follow_run, start_into
from core.ui.state import current_model_name, current_precision
from core.ui.widgets import help_for

run_inside_frame()

st.title("Evaluation dashboard")
st.caption(
    "An LLM's output is not one of a few fixed classes, so evaluating it needs metrics (ROUGE for summaries, BLEU for "
    "translation) and benchmarks that test one skill on data the model has not seen. Compare the bundled models and "
    "every fine-tuned run on the same examples."
)
h = lambda name: help_for(EvalConfig, name)  # noqa: E731

with st.container(border=True):
    st.markdown("**New evaluation**")
    choices = [*BUNDLED, *finetuned_runs()]
    models = st.multiselect("Models", choices, default=[m for m in (current_model_name(),) if m in choices] or choices[:1],
                            key="evaluate.models", help=h("models"))
    other = st.text_input("Also evaluate (a hub id in the local cache, or a model folder)", key="evaluate.other",
                          placeholder="HuggingFaceTB/SmolLM2-360M or /path/to/model").strip()
    models = models + [other] if other else models
    tasks = pick_tasks()
    c1, c2, c3, c4 = st.columns(4)
    limit = c1.number_input("Examples per task", 0, 1000, 20, key="evaluate.limit", help=h("limit"))
    shots = c2.slider("Shots", 0, 8, 0, key="evaluate.shots", help=h("shots"))
    batch = c3.select_slider("Batch size", [1, 2, 4, 8, 16, 32], 8, key="evaluate.batch", help=h("batch_size"))
    max_new = c4.number_input("Max answer tokens", 1, 512, 48, key="evaluate.max_new", help=h("max_new_tokens"))
    templates = pick_templates()
    try:
        config = EvalConfig(models=tuple(models), tasks=tuple(tasks), limit=int(limit), shots=shots, batch_size=batch,
                            max_new_tokens=int(max_new), precision=current_precision(), templates=templates)
    except ValueError as err:
        st.warning(str(err))
        config = None
    if st.button("Run evaluation", type="primary", disabled=config is None, key="evaluate.start", icon=":material/leaderboard:"):
        try:
            for name in config.models:  # before the run starts: a model that cannot load fails here, not after the others
                check_loadable(name)
        except ModelError as err:
            st.error(str(err))
        else:
            start_into("evaluate.run", JOB, config.to_dict(), name="eval")
    st.caption("The evaluation runs in the background: leave the page and come back; results are saved as each "
               "model finishes each task. Command line: `lab eval --model NAME --task NAME --limit N`.")

if run_id := follow_run("evaluate.run", JOB):  # also after a reload, or one started in another tab
    run_monitor(run_id)

evaluations = store.list_evaluations()
board_tab, examples_tab, pair_tab, assert_tab, grid_tab, caveats_tab, history_tab = st.tabs(
    ["Leaderboard", "Examples", "Compare two", "Assertions", "Prompt grid", "Caveats", "History"])
with caveats_tab:
    caveats()
if not evaluations:
    board_tab.info("No evaluations yet: choose models and tasks above and run one.")
    st.stop()
latest = newest_per_cell(evaluations)
with board_tab:
    leaderboard_section(latest)
with examples_tab:
    drilldown(latest)
with pair_tab:
    paired_section(evaluations)
with assert_tab:
    assertions_section(latest)
with grid_tab:
    template_grid(latest)
with history_tab:
    history(evaluations)
