"""RLHF: people rank a model's answers, rankings become preference pairs, and a reward model learns them."""

import streamlit as st

from core import jobs, store
from core.models import BUNDLED
from core.rlhf import JOB, METHODS, RewardConfig
from core.ui.frame import run_inside_frame
from core.ui.guardrail import guardrail_switch
from core.ui.rlhf import (
    annotator_name,
    guidelines,
    progress_panel,
    queue_panel,
    rank_comparison,
    reward_monitor,
    reward_results,
    show_message,
)
from core.ui.rlhf_data import data_tab
from core.ui.runs import start_into
from core.ui.state import current_model_name, current_precision
from core.ui.widgets import help_for

run_inside_frame()

st.title("RLHF: human feedback")
st.caption(
    "People rank several answers to the same prompt. Each ranking becomes pairs (better, worse), and a reward model "
    "learns to give the preferred answer the higher score: loss −log σ(r_chosen − r_rejected). That reward is what "
    "an RLHF step (PPO, or DPO straight from the pairs) then steers the model towards."
)
label_tab, data, reward_tab = st.tabs(["Label", "Data", "Reward model"])

with label_tab:
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    with c1:
        annotator = annotator_name()
    guarded = guardrail_switch("rlhf", c2)
    with st.expander("Guidelines: helpful, honest, harmless"):
        st.markdown(guidelines())
    queue_panel(current_model_name(), current_precision(), guarded)
    show_message()
    if not annotator:
        st.info("Type your name to start ranking. Your rankings are saved under it; a resubmit replaces your earlier ranking.")
    else:
        progress_panel(annotator)
        comparison = store.next_comparison(annotator, st.session_state.get("rlhf.skipped", set()))
        if comparison is None:
            st.info("Nothing left for you to rank. Add prompts and completions in the queue above, or come back later.")
        else:
            rank_comparison(comparison, annotator, guarded)

with data:
    data_tab()

with reward_tab:
    h = lambda name: help_for(RewardConfig, name)  # noqa: E731
    c1, c2, c3 = st.columns(3)
    base = c1.selectbox("Base model", list(BUNDLED), key="rlhf.base", help=h("base_model"))
    method = c2.segmented_control("Method", list(METHODS), default="lora", key="rlhf.method", help=h("method")) or "lora"
    source = c3.selectbox("Pairs", ["bundled", "labels"], key="rlhf.data", help=h("data"),
                          format_func={"bundled": "186 bundled pairs", "labels": "pairs ranked here"}.get)
    c1, c2, c3 = st.columns(3)
    steps = c1.number_input("Steps", 1, 2000, 60, key="rlhf.steps", help=h("max_steps"))
    lr = c2.number_input("Learning rate", 1e-6, 0.1, 2e-4 if method == "lora" else 1e-5, format="%.1e",
                         key=f"rlhf.lr.{method}", help=h("learning_rate"))
    batch = c3.select_slider("Batch size", [2, 4, 8, 16], 8, key="rlhf.batch", help=h("batch_size"))
    if st.button("Train the reward model", type="primary", key="rlhf.train", icon=":material/model_training:"):
        try:
            config = RewardConfig(base_model=base, method=method, data=source, max_steps=int(steps), learning_rate=float(lr), batch_size=batch)
            if source == "labels":
                from core.rlhf.reward import load_preference_pairs

                load_preference_pairs(config)  # too few labels: say so now, not in the run's log
        except ValueError as err:
            st.error(str(err))
        else:
            start_into("rlhf.reward_run", JOB, config.to_dict(), name=f"reward-{method}")
    runs = jobs.list_runs(JOB)
    if runs:
        ids = [r.id for r in runs]
        selected = st.selectbox("Run", ids, key="rlhf.run",
                                index=ids.index(st.session_state["rlhf.reward_run"]) if st.session_state.get("rlhf.reward_run") in ids else 0)
        reward_monitor(selected)
        if jobs.get_run(selected).state == "done":
            reward_results(jobs.get_run(selected))
            if st.button("Align a model with this reward model", key="rlhf.align", icon=":material/tune:"):
                st.session_state.update({"align.reward": f"run:{selected}", "align.method": "ppo", "align.prompts": "rlhf"})
                st.switch_page("pages/align.py")  # annotation -> reward model -> PPO, one path
