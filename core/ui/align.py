"""The alignment page's pieces: the four models of a PPO step, the settings of each method, the run monitor with its
curves and alarms, before/after answers, and the β trade-off across runs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import jobs, models
from core.rlhf import align_runs, hacking
from core.rlhf.dpo import LOSS_TYPES, DPOConfig
from core.rlhf.ppo import PPOConfig
from core.rlhf.rewards import describe, reward_choices
from core.rlhf.rloo import RLOOConfig
from core.ui import charts
from core.ui.runs import rerun_when_it_ends, run_controls
from core.ui.widgets import help_for, save_upload

METHOD_TITLES = {"ppo": "PPO (this lab's loop)", "dpo": "DPO (TRL)", "rloo": "RLOO (TRL)"}
PRESETS = {"kl": "KL penalty (β = 0.1)", "no_kl": "No KL penalty (β = 0): watch it hack"}
PROMPT_SETS = {"reviews": "96 review requests (sentiment demo)", "rlhf": "120 RLHF prompts",
               "provocative": "96 provocative requests (detox lab)", "upload": "Upload a file"}

FOUR_MODELS = """digraph {
  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef4fb", fontname="sans-serif", fontsize=11];
  prompts [label="prompts", shape=note, fillcolor="#ffffff"];
  policy [label="policy\\nbase + LoRA (trained)"]; reference [label="reference\\nsame base, adapter off (frozen)"];
  reward [label="reward\\nscores the whole answer"]; value [label="value head\\npredicts the reward to come"];
  ppo [label="PPO update\\nclipped loss + value loss", shape=ellipse, fillcolor="#fdf1e6"];
  prompts -> policy [label="1 sample answers"]; policy -> reward [label="2 score"];
  policy -> reference [label="3 log π_ref: KL penalty"]; policy -> value [label="4 V(s)"];
  reward -> ppo; reference -> ppo; value -> ppo [label="GAE advantages"]; ppo -> policy [label="5 K epochs"];
}"""


def pick_policy(h: Any) -> str:
    """Bundled models and fine-tuned runs; the sidebar's model first chosen (also a folder typed there)."""
    from core.ui.state import current_model_name

    choices = [*models.BUNDLED, *models.finetuned_runs()]
    current = current_model_name()
    if current and current not in choices:
        choices.append(current)
    if st.session_state.get("align.policy") not in choices:
        st.session_state["align.policy"] = current if current in choices else choices[0]
    return st.selectbox("Policy", choices, key="align.policy", help=h("policy"))


def pick_reward(h: Any) -> str:
    choices = reward_choices()
    if st.session_state.get("align.reward") not in choices:  # a run chosen on the RLHF page that is gone, or nothing yet
        st.session_state.pop("align.reward", None)
    return st.selectbox("Reward", choices, key="align.reward", help=h("reward"), format_func=lambda n: f"{n}: {describe(n)}")


def pick_prompts(h: Any) -> str:
    choice = st.selectbox("Prompts", list(PROMPT_SETS), format_func=PROMPT_SETS.get, key="align.prompts", help=h("prompts"))
    if choice != "upload":
        return choice
    upload = st.file_uploader("Prompts file (JSONL with a \"prompt\" per line, or one prompt per line)", type=["jsonl", "txt"],
                              key="align.prompt_file")
    if upload is None:
        st.info("Choose a file of prompts, or a bundled set.")
        st.stop()
    return str(save_upload(upload))


def ppo_settings(policy: str) -> dict[str, Any]:
    h = lambda name: help_for(PPOConfig, name)  # noqa: E731
    c1, c2 = st.columns(2)
    with c1:
        reward = pick_reward(h)
    with c2:
        prompts = pick_prompts(h)
    preset = st.segmented_control("Preset", list(PRESETS), format_func=PRESETS.get, default="kl", key="align.preset") or "kl"
    c1, c2, c3, c4 = st.columns(4)
    steps = c1.number_input("Steps", 1, 1000, 30, key="align.steps", help=h("max_steps"))
    batch = c2.select_slider("Batch (answers per step)", [2, 4, 8, 16, 32], 8, key="align.batch", help=h("batch_size"))
    tokens = c3.select_slider("New tokens", [8, 16, 32, 48, 64, 128], 32, key="align.tokens", help=h("max_new_tokens"))
    beta = c4.number_input("β (KL weight)", 0.0, 10.0, 0.1 if preset == "kl" else 0.0, 0.05, key=f"align.beta.{preset}",
                           help=h("beta"))
    with st.expander("More settings"):
        c1, c2, c3, c4 = st.columns(4)
        lr = c1.number_input("Learning rate", 1e-7, 0.1, 3e-4, format="%.1e", key="align.lr", help=h("learning_rate"))
        epochs = c2.number_input("PPO epochs (K)", 1, 16, 2, key="align.epochs", help=h("ppo_epochs"))
        clip = c3.number_input("Clip range ε", 0.01, 1.0, 0.2, 0.05, key="align.clip", help=h("clip_range"))
        vf = c4.number_input("Value loss weight", 0.0, 10.0, 0.1, 0.05, key="align.vf", help=h("vf_coef"))
        entropy = c1.number_input("Entropy bonus", 0.0, 1.0, 0.0, 0.01, key="align.entropy", help=h("entropy_coef"))
        eos = c2.number_input("Missing-EOS penalty", 0.0, 10.0, 0.0, 0.5, key="align.eos", help=h("missing_eos_penalty"))
        adaptive = c3.toggle("Adaptive β", False, key="align.adaptive", help=h("adaptive_kl"))
        target = c4.number_input("Target KL", 0.1, 100.0, 6.0, key="align.target_kl", help=h("target_kl"))
        seed = c1.number_input("Seed", 0, 2**31 - 1, 0, key="align.seed", help=h("seed"))
    mini = max(1, batch // 2)
    return dict(policy=policy, reward=reward, prompts=prompts, max_steps=int(steps), batch_size=batch, mini_batch_size=mini,
                max_new_tokens=tokens, beta=float(beta), learning_rate=float(lr), ppo_epochs=int(epochs), clip_range=float(clip),
                vf_coef=float(vf), entropy_coef=float(entropy), missing_eos_penalty=float(eos), adaptive_kl=adaptive,
                target_kl=float(target), seed=int(seed))


def dpo_settings(policy: str) -> dict[str, Any]:
    h = lambda name: help_for(DPOConfig, name)  # noqa: E731
    c1, c2, c3 = st.columns(3)
    data = c1.selectbox("Pairs", ["bundled", "labels"], key="align.dpo_data", help=h("data"),
                        format_func={"bundled": "186 bundled pairs", "labels": "pairs ranked in this lab"}.get)
    loss = c2.selectbox("Loss", LOSS_TYPES, key="align.loss", help=h("loss_type"))
    beta = c3.number_input("β", 0.01, 10.0, 0.1, 0.05, key="align.dpo_beta", help=h("beta"))
    c1, c2, c3 = st.columns(3)
    steps = c1.number_input("Steps", 1, 2000, 30, key="align.dpo_steps", help=h("max_steps"))
    lr = c2.number_input("Learning rate", 1e-7, 0.1, 1e-4, format="%.1e", key="align.dpo_lr", help=h("learning_rate"))
    batch = c3.select_slider("Batch (pairs)", [2, 4, 8, 16], 4, key="align.dpo_batch", help=h("batch_size"))
    return dict(policy=policy, data=data, loss_type=loss, beta=float(beta), max_steps=int(steps), learning_rate=float(lr),
                batch_size=batch)


def rloo_settings(policy: str) -> dict[str, Any]:
    h = lambda name: help_for(RLOOConfig, name)  # noqa: E731
    c1, c2 = st.columns(2)
    with c1:
        reward = pick_reward(h)
    with c2:
        prompts = pick_prompts(h)
    c1, c2, c3, c4 = st.columns(4)
    steps = c1.number_input("Steps", 1, 1000, 30, key="align.rloo_steps", help=h("max_steps"))
    k = c2.select_slider("Answers per prompt (k)", [2, 4, 8], 2, key="align.rloo_k", help=h("num_generations"))
    beta = c3.number_input("β (KL weight)", 0.0, 10.0, 0.1, 0.05, key="align.rloo_beta", help=h("beta"))
    lr = c4.number_input("Learning rate", 1e-7, 0.1, 3e-4, format="%.1e", key="align.rloo_lr", help=h("learning_rate"))
    return dict(policy=policy, reward=reward, prompts=prompts, max_steps=int(steps), num_generations=k, batch_size=max(8, k),
                beta=float(beta), learning_rate=float(lr))


CURVES = (("objective/scores", "Score (the reward)", None), ("objective/kl", "KL to the reference", "kl"),
          ("policy/entropy_avg", "Entropy per token", None), ("tokens/responses_len_mean", "Answer length (tokens)", None),
          ("loss/value_avg", "Value loss", None), ("policy/clipfrac_avg", "Clip fraction", None),
          ("rewards/accuracies", "DPO: reward accuracy", None), ("rewards/margins", "DPO: reward margin", None),
          ("loss", "Loss", None))


@st.fragment(run_every=2)
def align_monitor(run_id: str) -> None:
    """The selected run, re-read every 2 s: progress, cancel and resume, curves with alarm bands, alarms, samples."""
    try:
        run = jobs.get_run(run_id)
    except jobs.RunError as err:
        st.error(str(err))
        return
    rerun_when_it_ends(run)
    rows = align_runs.curves(run)
    last = rows[-1] if rows else {}
    run_controls(run, "align", "Aligning", last.get("step", 0), eta_s=last.get("eta_s"))
    settings = hacking.AlarmSettings()
    bands = {"kl": (settings.kl_max, max([settings.kl_max * 1.5] + [r.get("objective/kl", 0) for r in rows]))}
    shown = [(key, title, band) for key, title, band in CURVES if any(key in r for r in rows)]
    for start in range(0, len(shown), 3):
        for column, (key, title, band) in zip(st.columns(3), shown[start:start + 3]):
            column.plotly_chart(charts.align_chart(rows, key, title, bands.get(band)), key=f"align.curve.{run_id}.{key}")
    if shown and any(key == "objective/kl" for key, _, _ in shown):
        st.caption(f"Shaded: KL above {settings.kl_max:g} nats, where TRL's advice says the policy has drifted too far.")
    if last.get("alarms"):
        for alarm in last["alarms"]:
            st.warning(f"**{alarm['title']}** ({alarm['value']:.2f} against {alarm['bound']:g}): {alarm['why']}.", icon=":material/warning:")
    elif rows and "objective/kl" in last:
        st.success("No reward-hacking alarm on the last step.", icon=":material/check:")
    if last.get("samples"):
        st.caption(f"Answers sampled at step {last['step']}, with their scores")
        st.dataframe(last["samples"], hide_index=True, column_order=["score", "prompt", "completion"],
                     column_config={"score": st.column_config.NumberColumn(format="%.2f", width="small"),
                                    "prompt": st.column_config.TextColumn(width="medium"),
                                    "completion": st.column_config.TextColumn(width="large")})
    with st.expander("Log"):
        st.code(run.log_tail(30) or " ", language=None)


def alarm_thresholds() -> None:
    settings = hacking.AlarmSettings()
    st.dataframe([{"alarm": name, "bound": getattr(settings, name), "meaning": help_for(hacking.AlarmSettings, name)}
                  for name in settings.to_dict()], hide_index=True)


def run_results(run: jobs.Run) -> None:
    result = run.status.get("result") or {}
    pairs = align_runs.before_after(run)
    if pairs:
        c1, c2, c3 = st.columns(3)
        c1.metric("Held-out score before", f"{result.get('heldout_before', float('nan')):.2f}")
        c2.metric("Held-out score after", f"{result.get('heldout_after', float('nan')):.2f}",
                  delta=f"{result.get('heldout_after', 0) - result.get('heldout_before', 0):+.2f}")
        c3.metric("KL (last 5 steps)", f"{result.get('kl_last5', float('nan')):.2f}")
        st.caption("The reference (before) and the aligned policy (after) answer held-out prompts with the same seed.")
        st.dataframe(pairs, hide_index=True, column_order=["before_score", "after_score", "prompt", "before", "after"],
                     column_config={"before_score": st.column_config.NumberColumn("score before", format="%.2f", width="small"),
                                    "after_score": st.column_config.NumberColumn("score after", format="%.2f", width="small"),
                                    "prompt": st.column_config.TextColumn(width="medium"),
                                    "before": st.column_config.TextColumn("before (reference)", width="large"),
                                    "after": st.column_config.TextColumn("after (policy)", width="large")})
    elif result:
        st.json({k: v for k, v in result.items() if k != "model"})


def tradeoff_panel() -> None:
    summaries = [s for run in align_runs.align_runs() if (s := align_runs.summary(run))]
    if not summaries:
        st.caption("Finished PPO and RLOO runs appear here as points: how much score each bought with how much KL.")
        return
    st.plotly_chart(charts.reward_kl_chart(summaries), key="align.tradeoff")
    st.dataframe(summaries, hide_index=True)
