"""Widgets of the Responsible AI page, second half: the constitution (edit it, critique and revise one answer step by
step, build a dataset in the background and train on it), AI feedback (the model's labels against people's) and the
hallucination & IP panel. Model and user text is shown with ``st.text``, ``st.code`` or in tables, never as HTML."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core import jobs, models
from core.data import DataError
from core.rlhf.prompts import load_prompts
from core.safety import constitution, overlap, rlaif
from core.ui.classroom import current_actor
from core.ui.runs import follow_run, rerun_when_it_ends, show_queue, start_into
from core.ui.widgets import escape_markdown

# ---------------------------------------------------------------- Constitution


def constitution_editor() -> list[constitution.Principle] | None:
    bundled = pd.DataFrame([p.__dict__ for p in constitution.load_constitution()])
    edited = st.data_editor(bundled, num_rows="dynamic", key="safety.constitution", hide_index=True,
                            column_config={c: st.column_config.TextColumn(width="large" if c in ("critique", "revision") else "small")
                                           for c in bundled.columns})
    try:
        return constitution.parse_constitution(edited.fillna("").to_dict("records"))
    except DataError as err:
        st.error(str(err))
        return None


def show_trace(trace: dict[str, Any]) -> None:
    steps = [("Initial answer", trace["initial_prompt"], trace["initial"])]
    for number, step in enumerate(trace["rounds"], 1):
        title = step["principle"]["title"]
        steps += [(f"Round {number} · critique ({title})", step["critique_prompt"], step["critique"]),
                  (f"Round {number} · revision ({title})", step["revision_prompt"], step["revision"])]
    for title, prompt, text in steps:
        with st.container(border=True):
            st.markdown(f"**{escape_markdown(title)}**")
            st.text(text)
            with st.expander("The exact prompt"):
                st.code(prompt, language=None, wrap_lines=True)


def constitution_tab(model_name: str, precision: str) -> None:
    from core.ui.resources import shared_model

    with st.expander("The constitution: critique and revision requests (edit, add or delete rows)", expanded=False):
        principles = constitution_editor()
    if not principles:
        return
    train, held_out = load_prompts("provocative")
    c1, c2, c3 = st.columns([3, 2, 1])
    choice = c1.selectbox("Red-team prompt", held_out + train + ["(my own)"], key="safety.red_team")
    own = c1.text_input("Your prompt", key="safety.own_prompt") if choice == "(my own)" else ""
    which = c2.selectbox("Principle", ["random"] + [p.id for p in principles], key="safety.principle",
                         format_func=lambda i: "one at random per round" if i == "random" else i)
    rounds = c3.number_input("Rounds", 1, 5, 1, key="safety.rounds")
    if st.button("Answer, critique and revise", type="primary", key="safety.revise", icon=":material/edit_note:"):
        loaded = shared_model(model_name, precision)
        try:
            with st.spinner(f"{loaded.info.name}: answering, then {int(rounds)} critique and revision round(s)..."):
                st.session_state["safety.trace"] = constitution.revise(
                    loaded, own if choice == "(my own)" else choice, principles, rounds=int(rounds),
                    which=None if which == "random" else which, seed=len(st.session_state.get("safety.traces", [])))
        except ValueError as err:
            st.error(str(err))
    if trace := st.session_state.get("safety.trace"):
        show_trace(trace)
    st.subheader("A dataset from the constitution (background run)")
    st.caption("Each training prompt is answered, critiqued and revised; the revisions become a supervised set "
               "{prompt, completion} and the (revision, initial) pairs a preference set {prompt, chosen, rejected}.")
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    limit = c1.number_input("Prompts", 1, len(train), 8, key="safety.cai_limit", help="About 15-30 s each on 2 cores.")
    if c2.button(f"Revise {int(limit)} answers in the background", key="safety.cai_start", icon=":material/rocket_launch:"):
        config = {"model": model_name, "precision": precision, "limit": int(limit), "prompts": "provocative",
                  "constitution": [p.__dict__ for p in principles], "principle": None if which == "random" else which}
        start_into("safety.cai_run", constitution.JOB, config, name="constitution")
    if run_id := follow_run("safety.cai_run", constitution.JOB):
        _cai_monitor(run_id)
        run = jobs.get_run(run_id)
        if run.state == "done":
            _train_buttons(run, model_name)


@st.fragment(run_every=2)
def _cai_monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    last = ([p for p in run.progress() if "done" in p] or [{}])[-1]
    total = last.get("total") or run.config.get("limit", 1)
    state = {"running": "Revising", "queued": "Starting"}.get(run.state, run.state.capitalize())
    show_queue(run)
    st.progress(min(last.get("done", 0) / total, 1.0), text=f"{state}: {last.get('done', 0)} of {total} prompts")
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    if st.button("Cancel", key=f"safety.cai_cancel.{run_id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run_id, actor=current_actor())
    if last.get("final"):
        st.caption("The last revision")
        st.text(last["final"])
    rerun_when_it_ends(run)


def _train_buttons(run: jobs.Run, model_name: str) -> None:
    from core.finetune import JOB as FINETUNE_JOB
    from core.finetune import FinetuneConfig
    from core.rlhf.dpo import JOB as DPO_JOB
    from core.rlhf.dpo import DPOConfig
    from core.rlhf.reward import load_preference_pairs

    sft, pairs = run.dir / "sft.jsonl", run.dir / "preferences.jsonl"
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("Supervised set (JSONL)", sft.read_bytes(), "constitution_sft.jsonl", key="safety.dl_sft")
    c2.download_button("Preference pairs (JSONL)", pairs.read_bytes(), "constitution_pairs.jsonl", key="safety.dl_pairs")
    try:
        if c3.button("Fine-tune on the revisions (LoRA)", key="safety.cai_sft", icon=":material/model_training:"):
            base = model_name if model_name in models.BUNDLED else models.DEFAULT_MODEL
            config = FinetuneConfig(base_model=base, method="lora", dataset=str(sft), max_steps=30)
            start_into("finetune.run", FINETUNE_JOB, config.to_dict(), name="lora-constitution")
            st.switch_page("pages/finetune.py")
        if c4.button("DPO on revision over initial", key="safety.cai_dpo", icon=":material/tune:"):
            config = DPOConfig(policy=model_name, data=str(pairs), max_steps=30)
            load_preference_pairs(config)  # too few pairs (unchanged revisions give none): say so now
            start_into("align.run", DPO_JOB, config.to_dict(), name="dpo")
            st.switch_page("pages/align.py")
    except ValueError as err:
        st.error(str(err))


# ---------------------------------------------------------------- AI feedback


def feedback_tab(model_name: str, precision: str) -> None:
    st.markdown("The model judges which of two answers follows a principle better, reading p(A) and p(B) after "
                "`The answer is: (`; each pair is judged twice with A and B swapped. How often does it agree with people?")
    c1, c2, c3 = st.columns(3)
    source = c1.selectbox("People's pairs", ["bundled", "labels"], key="safety.rlaif_source",
                          format_func={"bundled": "186 bundled pairs", "labels": "pairs ranked in this lab"}.get)
    limit = c2.number_input("Pairs (0 = all)", 0, 5000, 40, key="safety.rlaif_limit", help="About 0.5 s per pair on 2 cores.")
    principle = c3.selectbox("Judge question", ["aspect", "hhh"] + [p.id for p in constitution.load_constitution()],
                             key="safety.rlaif_principle",
                             format_func=lambda p: {"aspect": "by each pair's aspect", "hhh": "helpful, honest and harmless"}.get(p, p))
    if st.button("Label with AI feedback", type="primary", key="safety.rlaif_start", icon=":material/smart_toy:"):
        try:
            rlaif.human_pairs(source, 1)  # no ranked pairs yet: say so now
        except (ValueError, DataError) as err:
            st.error(str(err))
        else:
            config = {"model": model_name, "precision": precision, "source": source, "limit": int(limit) or None,
                      "principle": None if principle == "aspect" else principle}
            start_into("safety.rlaif_run", rlaif.JOB, config, name="rlaif")
    if run_id := follow_run("safety.rlaif_run", rlaif.JOB):
        _rlaif_monitor(run_id)
        run = jobs.get_run(run_id)
        if run.state == "done" and (run.dir / "labels.json").exists():
            _rlaif_results(json.loads((run.dir / "labels.json").read_text()))


@st.fragment(run_every=2)
def _rlaif_monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    last = ([p for p in run.progress() if "done" in p] or [{}])[-1]
    total = last.get("total") or 1
    state = {"running": "Judging", "queued": "Starting"}.get(run.state, run.state.capitalize())
    show_queue(run)
    st.progress(min(last.get("done", 0) / total, 1.0), text=f"{state}: {last.get('done', 0)} of {last.get('total', '?')} pairs "
                f"({run.config['model']} as judge)")
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    if st.button("Cancel", key=f"safety.rlaif_cancel.{run_id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run_id, actor=current_actor())
    rerun_when_it_ends(run)


def _rlaif_results(result: dict[str, Any]) -> None:
    if result["agreement"] is None:
        st.warning(f"The judge named neither A nor B on all {result['pairs']} pairs: no agreement to report.")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Agreement with people", f"{result['agreement']:.0%}", help=f"Of {result['decided']} decided pairs; 50% is chance")
    c2.metric("First pass alone", f"{result['agreement_pass1']:.0%}", help="People's choice shown as (A)")
    c3.metric("Swapped pass alone", f"{result['agreement_pass2']:.0%}", help="People's choice shown as (B)")
    c4.metric("Mean p(A)", f"{result['position_a']:.2f}", help="0.5: no position bias; far from it, the judge picks a slot, not an answer")
    if result["undecided"]:
        st.warning(f"{result['undecided']} pair(s) undecided: the judge's likeliest next token was neither A nor B.")
    st.dataframe(pd.DataFrame([{"aspect": k, **v} for k, v in result["by_aspect"].items()]).round(3), hide_index=True,
                 key="safety.rlaif_aspects")
    rows = pd.DataFrame(result["rows"])[["agree", "soft", "pass1", "pass2", "aspect", "prompt", "chosen", "rejected", "note"]]
    st.dataframe(rows.round(3), hide_index=True, key="safety.rlaif_rows")
    st.download_button("The AI's labels as TRL pairs (JSONL)", "\n".join(json.dumps(p) for p in rlaif.ai_pairs(result["rows"])),
                       "rlaif_pairs.jsonl", key="safety.rlaif_download", icon=":material/download:")


# ---------------------------------------------------------------- Hallucination & IP


def hallucination_ip_tab() -> None:
    st.markdown("**Hallucination.** A model fills gaps with fluent inventions. The RAG page's *Retrieval test* asks the "
                "same questions with and without retrieval and scores both against gold answers.")
    if st.button("Open RAG chat's with/without-retrieval test", key="safety.to_rag", icon=":material/forum:"):
        st.switch_page("pages/rag.py")
    st.markdown("**Intellectual property.** A fine-tuned model can repeat its training data verbatim. Paste an output of "
                "a fine-tuned run and see its longest run of words shared with that run's training examples.")
    runs = [name.removeprefix("run:") for name in models.finetuned_runs()]
    runs = [r for r in runs if "dataset" in jobs.get_run(r).config]  # aligned runs trained on no fixed dataset
    if not runs:
        st.info("No fine-tuned run yet: train one on the Fine-tune runner page.")
        return
    run_id = st.selectbox("Fine-tuned run", runs, key="safety.ip_run")
    output = st.text_area("A model output", key="safety.ip_output", height=100)
    if st.button("Find the longest verbatim overlap", key="safety.ip_check", disabled=not output.strip()):
        try:
            texts = overlap.training_texts(run_id)
            found = overlap.longest_overlap(output, texts)
        except (ValueError, DataError) as err:
            st.error(str(err))
            return
        st.metric("Longest shared run", f"{found['words']} words")
        if found["example"] is not None and found["words"]:
            st.caption(f"Shared with training example {found['example'] + 1} of {len(texts)}:")
            st.text(found["span"])
