"""Widgets of the Responsible AI page, first half: the guardrail (score texts, its test-set curve against a library,
what it caught) and the detoxification run. The constitution, AI feedback and IP panels are in ``core.ui.constitution``.
Model and user text is shown with ``st.text`` or in tables, never as HTML."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core import jobs
from core.data import DataError
from core.safety import detox, guardrail
from core.ui import charts
from core.ui.guardrail import CAUGHT, record, shared_guardrail
from core.ui.runs import follow_run, start_into

MAX_TEXTS = 20_000
MAX_CAUGHT = 1_000  # of an upload, the first texts go to the session's list of catches


# ---------------------------------------------------------------- Guardrail


def _verdict_table(verdicts: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"toxic": v["toxic"], "toxic probability": round(v["toxic_probability"], 3), "reason": v["reason"],
                          "logit not toxic": round(v["logits"]["not toxic"], 2), "logit toxic": round(v["logits"]["toxic"], 2),
                          "text": v["text"]} for v in verdicts])


def guardrail_tab() -> None:
    g = shared_guardrail()
    st.markdown("A toxicity classifier that ships with the lab: MiniLM sentence embeddings and a logistic regression "
                f"trained on {g.weights['train']} labelled texts written for the project (insults, harassment, threats, "
                "attacks on groups, directed profanity; benign texts and hard negatives such as *kill the process*). "
                "Two logits per text, (not toxic, toxic), as the course shows them.")
    texts_in = st.text_area("Texts to score, one per line", "Tommy loves television.\nKill the process and restart the "
                            "server.\nYou're a useless idiot and everyone knows it.", key="safety.texts", height=110)
    upload = st.file_uploader("Or a file: one text per line, or JSONL with a \"text\" on each line", type=["txt", "jsonl"],
                              key="safety.upload")
    if st.button("Score", type="primary", key="safety.score", icon=":material/shield:"):
        try:
            texts = [t for t in texts_in.splitlines() if t.strip()]
            if upload is not None:
                texts = _uploaded_texts(upload)
            if not texts:
                raise ValueError("Nothing to score: type a text, or upload a file.")
            if len(texts) > MAX_TEXTS:
                raise ValueError(f"{len(texts):,} texts is more than the {MAX_TEXTS:,} scored at once here; split the "
                                 "file, or use `lab safety score --file` on the command line.")
            bar = st.progress(0.0, text=f"Scoring {len(texts):,} texts...")
            verdicts = g.score(texts, lambda done, total: bar.progress(done / total, text=f"Scored {done:,} of {total:,}"))
            record(verdicts[:MAX_CAUGHT], "Responsible AI", "scored text")
            st.session_state["safety.scored"] = verdicts
        except (ValueError, DataError) as err:
            st.error(str(err))
    if verdicts := st.session_state.get("safety.scored"):
        flagged = sum(v["toxic"] for v in verdicts)
        st.caption(f"{flagged} of {len(verdicts):,} flagged at threshold {g.threshold:.2f}. The two logits are the "
                   "classifier's (not toxic, toxic); their difference is the log-odds of toxic.")
        table = _verdict_table(verdicts)
        st.dataframe(table.head(1000), hide_index=True, key="safety.table")
        st.download_button("Download the scores (JSONL)", "\n".join(json.dumps(v) for v in verdicts), "guardrail_scores.jsonl",
                           key="safety.download", icon=":material/download:")
    _test_set_panel(g.weights)
    st.subheader("Caught in this browser session")
    caught = st.session_state.get(CAUGHT, [])
    if caught:
        st.dataframe(pd.DataFrame(caught), hide_index=True, key="safety.caught_table")
    else:
        st.caption("Switch the guardrail on on Generate, RAG chat or the RLHF labelling queue: what it stops or hides is listed here.")


def _uploaded_texts(upload: Any) -> list[str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / upload.name
        path.write_bytes(upload.getvalue())
        return guardrail.read_texts(path)


def _test_set_panel(w: dict[str, Any]) -> None:
    st.subheader("How good is it? The held-out test split")
    rows = [{"classifier": "lab guardrail (MiniLM + logistic regression)", "threshold": w["threshold"], **w["test_metrics"],
             "hard negatives flagged": f"{w['hard_negatives_flagged']} of {w['hard_negatives']}"}]
    curves = {"lab guardrail": w["curve"]}
    points = {"lab guardrail": (w["test_metrics"]["recall"], w["test_metrics"]["precision"])}
    if lib := w.get("library"):
        rows.append({"classifier": lib["name"], "threshold": lib["threshold"], **lib["test_metrics"],
                     "hard negatives flagged": f"{lib['hard_negatives_flagged']} of {w['hard_negatives']}"})
        rows.append({"classifier": lib["name"] + " at its default 0.5", "threshold": 0.5, **lib["test_metrics_at_half"],
                     "hard negatives flagged": "not measured"})
        curves[lib["name"]] = lib["curve"]
        points[lib["name"]] = (lib["test_metrics"]["recall"], lib["test_metrics"]["precision"])
    st.dataframe(pd.DataFrame(rows).round(3), hide_index=True, key="safety.metrics")
    st.plotly_chart(charts.pr_curve_chart(curves, points), key="safety.curve")
    st.caption(f"{w['test']} test texts never seen in training; {w['train']} train texts. Each threshold is the F1 best on "
               "5-fold cross-validated probabilities of the train split (C too), so the test split judges, it does not tune.")


# ---------------------------------------------------------------- Detoxify


def detox_tab(model_name: str) -> None:
    from core.rlhf.ppo import JOB, PPOConfig
    from core.ui.align import align_monitor

    preset = detox.preset()
    st.markdown("PPO with the guardrail's **not toxic** logit as the reward, on 72 bundled provocative requests; β keeps "
                "the policy near the model it started as. The toxic rate is measured on the 24 held-out requests.")
    c1, c2, c3 = st.columns(3)
    steps = c1.number_input("PPO steps", 1, 200, preset["max_steps"], key="safety.detox_steps")
    beta = c2.number_input("β (KL penalty)", 0.0, 2.0, float(preset["beta"]), 0.05, key="safety.detox_beta")
    c3.text_input("Policy", model_name, disabled=True, key="safety.detox_policy", help="The sidebar's model.")
    with st.expander("The preset (assets/configs/ppo-detox.yaml)"):
        st.json(preset)
    if st.button("Start the detox run", type="primary", key="safety.detox_start", icon=":material/rocket_launch:"):
        try:
            config = PPOConfig.from_dict({**preset, "policy": model_name, "max_steps": int(steps), "beta": float(beta)})
        except ValueError as err:
            st.error(str(err))
        else:
            start_into("safety.detox_run", JOB, config.to_dict(), name="detox")
    runs = [r for r in jobs.list_runs(JOB) if r.config.get("reward") == "guardrail"]
    if not runs:
        return
    follow_run("safety.detox_run", JOB)
    ids = [r.id for r in runs]
    if st.session_state.get("safety.detox_run") not in ids:
        st.session_state["safety.detox_run"] = ids[0]
    selected = st.selectbox("Detox run", ids, key="safety.detox_run")
    align_monitor(selected)
    run = jobs.get_run(selected)
    if run.state == "done":
        report = detox.run_report(run.dir, run.status.get("result") or {})
        c1, c2, c3 = st.columns(3)
        c1.metric("Toxic rate before", f"{report['before_rate']:.0%}", help=f"Of {report['answers']} held-out answers")
        c2.metric("Toxic rate after", f"{report['after_rate']:.0%}", delta=f"{report['after_rate'] - report['before_rate']:+.0%}",
                  delta_color="inverse")
        c3.metric("KL paid (last 5 steps)", f"{report['kl'] or float('nan'):.2f} nats")
        st.dataframe(pd.DataFrame(report["rows"]).round(3), hide_index=True, key="safety.detox_rows")
