"""Align: PPO & DPO. Steer a model with a reward (PPO, RLOO) or straight from preference pairs (DPO), and watch for
reward hacking while it happens."""

import streamlit as st

from core import jobs
from core.rlhf import align_runs
from core.rlhf.dpo import DPOConfig
from core.rlhf.ppo import PPOConfig
from core.rlhf.prompts import load_prompts
from core.rlhf.reward import load_preference_pairs
from core.rlhf.rewards import check_reward
from core.rlhf.rloo import RLOOConfig
from core.ui.align import (
    FOUR_MODELS,
    METHOD_TITLES,
    alarm_thresholds,
    align_monitor,
    dpo_settings,
    pick_policy,
    ppo_settings,
    rloo_settings,
    run_results,
    tradeoff_panel,
)
from core.ui.frame import run_inside_frame
from core.ui.runs import follow_run, start_into
from core.ui.widgets import help_for

run_inside_frame()

st.title("Align: PPO & DPO")
st.caption(
    "RLHF's last step changes the model. PPO samples answers, scores them with a reward, and moves the policy towards "
    "higher scores while a KL penalty (β) keeps it near the reference it started as. DPO skips the reward model and "
    "learns from preference pairs directly. RLOO is TRL's trainer, a cross-check on the same reward."
)
CONFIGS = {"ppo": PPOConfig, "dpo": DPOConfig, "rloo": RLOOConfig}
SETTINGS = {"ppo": ppo_settings, "dpo": dpo_settings, "rloo": rloo_settings}

with st.expander("The four models of a PPO step", expanded=False):
    st.graphviz_chart(FOUR_MODELS)
    st.markdown(
        "One copy of the weights serves two models: the **policy** is the base plus a LoRA adapter, the **reference** "
        "is the same base with the adapter switched off. The **value head** is hidden size + 1 numbers (577 for "
        "SmolLM2) on the policy's last hidden state. The **reward** is a reward-model run, the bundled sentiment classifier, or a rule."
    )
    alarm_thresholds()

c1, c2 = st.columns(2)
method = c1.segmented_control("Method", list(METHOD_TITLES), format_func=METHOD_TITLES.get, default="ppo",
                              key="align.method") or "ppo"
with c2:
    policy = pick_policy(lambda name: help_for(CONFIGS[method], name))
settings = SETTINGS[method](policy)

if st.button("Start aligning", type="primary", key="align.start", icon=":material/rocket_launch:"):
    try:
        config = CONFIGS[method](**settings)
        if method != "dpo":
            check_reward(config.reward)  # a reward model that cannot load: say so now, not in the run's log
            load_prompts(config.prompts)  # an empty or malformed prompt file: the same
        elif config.data == "labels":
            load_preference_pairs(config)  # too few labels: say so now
    except ValueError as err:
        st.error(str(err))
    else:
        start_into("align.run", align_runs.ALIGN_JOBS[method], config.to_dict(), name=method)

runs = align_runs.align_runs()
if runs:
    st.subheader("Runs")
    ids, methods = [r.id for r in runs], {r.id: align_runs.method_of(r) for r in runs}
    follow_run("align.run", align_runs.ALIGN_JOBS[method])  # after a reload: the run still going
    if st.session_state.get("align.run") not in ids:  # a run deleted meanwhile, or none chosen yet: the newest
        st.session_state["align.run"] = ids[0]
    selected = st.selectbox("Run", ids, key="align.run", format_func=lambda i: f"{i} ({methods[i]})")
    align_monitor(selected)
    run = jobs.get_run(selected)
    if run.state == "done":
        run_results(run)
    st.subheader("The β trade-off across runs")
    tradeoff_panel()
