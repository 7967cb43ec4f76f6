"""Widgets of the RLHF page: the labelling queue (with the overlap k), progress, keyboard ranking with a comment and
flags, and the reward model (train as a run, watch it, score texts). The Data tab is ``core.ui.rlhf_data``."""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from core import jobs, store
from core.data import DATASETS_DIR
from core.rlhf import preferences
from core.ui.classroom import ACTOR_KEY, current_actor
from core.ui.guardrail import blocked_prompt, check, show_checked
from core.ui.runs import eta_text, follow_run, rerun_when_it_ends, show_queue, start_into
from core.ui.widgets import escape_markdown

LETTERS = "ABCD"
HIDDEN = "(hidden by the guardrail)"
_COMPONENT_DIR = DATASETS_DIR.parent / "components"
# A drag-and-drop list (Streamlit custom component v2: plain HTML, CSS and JS shipped in assets/components/).
_RANKER = st.components.v2.component(
    "lab_ranker", html=(_COMPONENT_DIR / "ranker.html").read_text(), css=(_COMPONENT_DIR / "ranker.css").read_text(),
    js=(_COMPONENT_DIR / "ranker.js").read_text(),
)


def guidelines() -> str:
    text = (DATASETS_DIR / "preferences.md").read_text(encoding="utf-8")
    start = text.find("## Labelling guidelines")
    end = text.find("\n## ", start + 5)
    return text[start:end if end > 0 else None].removeprefix("## Labelling guidelines").strip() if start >= 0 else ""


# ---------------------------------------------------------------- ranking one comparison


def _state() -> dict[str, Any]:
    return st.session_state.setdefault("rlhf.ranking", {"comparison": None, "order": [], "tie": False, "shown": time.time()})


def _pick(completion_id: int) -> None:
    state = _state()
    placed = {i for group in state["order"] for i in group}
    if completion_id in placed:
        return
    if state["tie"] and state["order"]:
        state["order"][-1].append(completion_id)
    else:
        state["order"].append([completion_id])
    state["tie"] = False


def _tie() -> None:
    _state()["tie"] = bool(_state()["order"])


def _undo() -> None:
    state = _state()
    if state["order"]:
        state["order"][-1].pop()
        if not state["order"][-1]:
            state["order"].pop()
    state["tie"] = False


def _skip(comparison_id: int) -> None:
    st.session_state.setdefault("rlhf.skipped", set()).add(comparison_id)
    st.session_state.pop("rlhf.ranking", None)


def _submit(comparison_id: int, annotator: str) -> None:
    state = _state()
    comment = st.session_state.get(f"rlhf.comment.{comparison_id}") or None
    flags = list(st.session_state.get(f"rlhf.flags.{comparison_id}") or []) or None
    try:
        store.save_ranking(comparison_id, annotator, state["order"], seconds=time.time() - state["shown"],
                           comment=comment, flags=flags, actor=current_actor())
    except ValueError as err:
        st.session_state["rlhf.message"] = ("error", str(err))
        return
    pairs = sum(len(a) * len(b) for i, a in enumerate(state["order"]) for b in state["order"][i + 1:])
    noted = (" with " + " and ".join(x for x in ("a comment" if comment else "", f"{len(flags)} flag(s)" if flags else "") if x)
             if comment or flags else "")
    st.session_state["rlhf.message"] = ("success", f"Saved your ranking of comparison {comparison_id}: {pairs} pairs{noted}.")
    st.session_state.pop("rlhf.ranking", None)


def queue_panel(model_name: str, precision: str, guarded: bool = False) -> None:
    """The queue: prompts waiting for completions, completing some (or all) of them in the background with progress,
    an ETA and Cancel (also after a reload), and a prompt of one's own completed at once."""
    from core.ui.resources import shared_model

    counts, waiting = store.label_counts(), store.prompts_without_comparison()
    with st.expander("The queue: prompts and completions to rank", expanded=not counts["comparisons"]):
        st.caption(f"{counts['prompts']} prompts, {counts['comparisons']} with completions to rank, {len(waiting)} waiting "
                   "for completions.")
        c1, c2, c3, c4 = st.columns([1.2, 1, 1, 1.2], vertical_alignment="bottom")
        if c1.button("Add the 120 bundled prompts", key="rlhf.load_prompts"):
            preferences.load_bundled_prompts()
            st.rerun()
        n = c2.select_slider("Completions per prompt", [2, 3, 4], 3, key="rlhf.n")
        how_many = c3.number_input("Prompts to complete", 1, max(len(waiting), 1), min(len(waiting), 10) or 1,
                                   key="rlhf.how_many", disabled=not waiting,
                                   help="Each takes about 3-10 s per completion on a laptop CPU; start small.")
        if c4.button(f"Complete {int(how_many)} in the background", key="rlhf.generate_all", disabled=not waiting):
            config = {"model": model_name, "n": n, "precision": precision, "limit": int(how_many)}
            start_into("rlhf.generate_run", preferences.GENERATE_JOB, config, name="completions")
        if run_id := follow_run("rlhf.generate_run", preferences.GENERATE_JOB):
            _queue_monitor(run_id)
        overlap_setting()
        own = st.text_input("A prompt of your own", key="rlhf.own_prompt")
        if st.button("Add it and complete it now", key="rlhf.add_own", disabled=not own.strip()) and not (
                guarded and blocked_prompt(own.strip(), "RLHF labelling")):
            [prompt_id] = store.add_prompts([{"text": own.strip(), "source": "user"}])
            loaded = shared_model(model_name, precision)
            with st.spinner(f"{n} completions by {loaded.info.name}..."):
                store.add_comparison(prompt_id, preferences.complete(loaded, own.strip(), n))


def _set_overlap() -> None:
    store.set_labelling_overlap(int(st.session_state["rlhf.overlap"]), actor=current_actor())


def overlap_setting() -> None:
    """k, stored for the whole lab (every annotator's queue follows it): each comparison goes to k annotators before
    new ones are served, so agreement can be measured on purpose."""
    k = store.labelling_overlap()
    st.number_input("Overlap: annotators per comparison (k)", 1, store.OVERLAP_MAX, k, key="rlhf.overlap", on_change=_set_overlap,
                    help="Each comparison is served to k annotators before new comparisons are served (Argilla's "
                    "distribution setting). 1: everyone gets different comparisons first; 2 or more: overlap to measure "
                    "agreement. One setting for the whole lab.")
    if st.session_state.get("rlhf.overlap", k) != k:  # someone else changed it since this box was drawn
        st.caption(f"The lab's overlap is now k = {k}.")


def progress_panel(annotator: str) -> None:
    """How many comparisons are left for this annotator, and for the class (ranked by at least k annotators)."""
    mine, everyone = store.annotator_progress(annotator), store.class_progress()
    c1, c2 = st.columns(2)
    c1.progress(mine["ranked"] / mine["total"] if mine["total"] else 0.0,
                text=f"You ({escape_markdown(annotator)}): {mine['left']} of {mine['total']} left")
    c2.progress(everyone["done"] / everyone["total"] if everyone["total"] else 0.0,
                text=f"Class: {everyone['left']} of {everyone['total']} left (ranked by at least {everyone['k']} "
                     f"annotator{'s' if everyone['k'] > 1 else ''})")


@st.fragment(run_every=2)
def _queue_monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    last = ([p for p in run.progress() if "done" in p] or [{}])[-1]
    done, total = last.get("done", 0), last.get("total", 0)
    label = {"queued": "Starting", "running": "Completing", "done": "Done", "failed": "Failed", "cancelled": "Cancelled"}[run.state]
    show_queue(run)
    text = f"{label}: {done} of {total} prompts" if total else f"{label}: {last.get('text', 'loading the model')}"
    c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
    c1.progress(done / total if total else 0.0, text=text + (eta_text(last.get("eta_s")) if not run.finished else ""))
    if c2.button("Cancel", key=f"rlhf.queue_cancel.{run_id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run_id, actor=current_actor())
        st.rerun(scope="fragment")
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    rerun_when_it_ends(run)  # the new comparisons join the ranking queue


def annotator_name() -> str:
    """The name box, normalised as the store keeps it ("Alice" and "alice" are one annotator); "" until it is valid.
    In a class there is no box: a student's annotator name is their account."""
    actor = st.session_state.get(ACTOR_KEY)
    if actor is not None:
        st.caption(f"Ranking as **{escape_markdown(actor.name)}** (your account).")
        return actor.name
    typed = st.text_input("Your name (annotator)", key="rlhf.annotator", max_chars=store.ANNOTATOR_MAX,
                          help="Names are compared without case or extra spaces; invisible or mixed-script "
                          "characters are refused, so one person stays one annotator.")
    if not typed.strip():
        return ""
    try:
        name = store.normalize_annotator(typed)
    except ValueError as err:
        st.error(str(err))
        return ""
    if name != typed.strip():
        st.caption(f"Saved as annotator “{escape_markdown(name)}”.")
    return name


def rank_comparison(comparison: dict[str, Any], annotator: str, guarded: bool = False) -> None:
    """The prompt, its completions anonymised and shuffled, and the ranking built with keys 1-4, T, Backspace, S,
    Ctrl+Enter. With the guardrail on, a flagged completion is masked (its reason and score shown instead)."""
    state = _state()
    if state["comparison"] != comparison["id"]:
        state.update(comparison=comparison["id"], order=[], tie=False, shown=time.time())
    shown = preferences.shuffled(comparison, annotator)
    letter = {c["id"]: LETTERS[i] for i, c in enumerate(shown)}
    verdicts = dict(zip([c["id"] for c in shown], check([c["text"] for c in shown], "RLHF labelling", "completion"))) if guarded else {}
    flagged = {i for i, v in verdicts.items() if v["toxic"]}
    st.markdown(f"**Prompt** · {escape_markdown(comparison['category'] or 'your own')}")
    st.text(comparison["prompt"])
    columns = st.columns(len(shown))
    placed = {i: rank for rank, group in enumerate(state["order"], start=1) for i in group}
    for number, (column, completion) in enumerate(zip(columns, shown), start=1):
        with column.container(border=True):
            rank = placed.get(completion["id"])
            st.markdown(f"**{letter[completion['id']]}**" + (f" · ranked {rank}" if rank else ""))
            show_checked(completion["text"], verdicts.get(completion["id"]), f"rlhf.reveal.{comparison['id']}.{number}")
            st.button(f"{letter[completion['id']]} next", key=f"rlhf.pick.{number}", shortcut=str(number), on_click=_pick,
                      args=(completion["id"],), disabled=completion["id"] in placed, width="stretch")
    with st.expander("Or drag them into order (no ties)"):
        dragged = _RANKER(data={"items": [{"id": c["id"], "letter": letter[c["id"]], "text": HIDDEN if c["id"] in flagged else c["text"]}
                                        for c in shown]},
                          key=f"rlhf.drag.{comparison['id']}", on_order_change=lambda: None)
        if dragged is not None and getattr(dragged, "order", None):
            state.update(order=[[int(i)] for i in dragged.order], tie=False)
            st.rerun()  # redraw the cards and the buttons with the dragged order
    order_text = "  >  ".join(" = ".join(letter[i] for i in group) for group in state["order"]) or "nothing yet"
    st.markdown(f"**Your ranking, best first:** {order_text}" + ("  (tie: the next pick joins the last place)" if state["tie"] else ""))
    n1, n2 = st.columns([1, 1], vertical_alignment="bottom")
    n1.text_input("Comment (optional)", key=f"rlhf.comment.{comparison['id']}", max_chars=store.COMMENT_MAX,
                  placeholder="Anything the ranking does not say; saved with it")
    with n2:
        st.pills("Flags (optional)", store.FLAGS, selection_mode="multi", key=f"rlhf.flags.{comparison['id']}")
    c1, c2, c3, c4 = st.columns(4)
    c1.button("Tie with the last", key="rlhf.tie", shortcut="T", on_click=_tie, disabled=not state["order"], width="stretch")
    c2.button("Undo", key="rlhf.undo", shortcut="Backspace", on_click=_undo, disabled=not state["order"], width="stretch")
    c3.button("Skip", key="rlhf.skip", shortcut="S", on_click=_skip, args=(comparison["id"],), width="stretch")
    complete = len(placed) == len(shown)
    c4.button("Submit", key="rlhf.submit", shortcut="Ctrl+Enter", type="primary", on_click=_submit, args=(comparison["id"], annotator),
              disabled=not complete, width="stretch")
    st.caption("Keys: 1-4 put a completion next (best first) · T ties the next one with the last · Backspace undoes · "
               "S skips · Ctrl+Enter submits.")
    if state["order"]:
        texts = {c["id"]: letter[c["id"]] for c in shown}
        pairs = preferences.ranking_to_pairs(comparison["prompt"], [[texts[i] for i in group] for group in state["order"]])
        st.caption("Pairs this ranking gives the reward model: " + ", ".join(f"{p['chosen']} over {p['rejected']}" for p in pairs))


def show_message() -> None:
    message = st.session_state.pop("rlhf.message", None)
    if message:
        getattr(st, message[0])(message[1])


# ---------------------------------------------------------------- the reward model


@st.fragment(run_every=2)
def reward_monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    steps = [p for p in run.progress() if "step" in p]
    last = steps[-1] if steps else {}
    total = run.config.get("max_steps", 1)
    label = {"queued": "Starting", "running": "Training", "done": "Done", "failed": "Failed", "cancelled": "Cancelled"}[run.state]
    show_queue(run)
    st.progress(min(last.get("step", 0) / total, 1.0), text=f"{label}: step {last.get('step', 0)} of {total}")
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    if st.button("Cancel", key=f"rlhf.cancel.{run_id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run_id, actor=current_actor())
        st.rerun(scope="fragment")
    from core.ui import charts

    left, right = st.columns(2)
    if any("loss" in s for s in steps):
        left.caption("Loss: −log σ(r_chosen − r_rejected), per batch and on the held-out pairs")
        left.plotly_chart(charts.loss_chart({run_id: steps}), key=f"rlhf.loss.{run_id}")
    if any("accuracy" in s for s in steps):
        right.caption("Accuracy: share of pairs where the chosen answer gets the higher reward")
        right.plotly_chart(charts.loss_chart({run_id: steps}, "accuracy"), key=f"rlhf.accuracy.{run_id}")
    rerun_when_it_ends(run)


@st.cache_resource(show_spinner="Loading the reward model...", max_entries=2)
def reward_scorer(model_folder: str) -> Any:
    from core.rlhf import RewardScorer

    return RewardScorer(model_folder)  # a private model of this run, only ever read


def reward_results(run: jobs.Run) -> None:
    result = run.status.get("result") or {}
    c1, c2 = st.columns(2)
    c1.metric("Held-out accuracy", f"{result.get('accuracy', float('nan')):.0%}",
              help=f"{result.get('held_out_pairs')} pairs the model never trained on")
    c2.metric("Mean reward margin", f"{result.get('margin', float('nan')):.2f}", help="r_chosen − r_rejected, averaged")
    scores_path = run.dir / "held_out_rewards.json"
    if scores_path.exists():
        from core.ui import charts

        scores = json.loads(scores_path.read_text())
        st.plotly_chart(charts.reward_histogram([s["chosen"] for s in scores], [s["rejected"] for s in scores]), key=f"rlhf.hist.{run.id}")
    st.markdown("**Score a text**")
    prompt = st.text_input("Prompt (optional)", key="rlhf.score_prompt")
    text = st.text_area("Completion", "Tommy loves television.", key="rlhf.score_text")
    if st.button("Score", key="rlhf.score") and text.strip():
        logits = reward_scorer(result["model"]).logits(prompt, text)
        st.metric("Reward (the head's logit)", f"{logits[0]:.3f}")
        st.caption(f"Logits: {logits}. A reward model has one output; the higher it is, the more people would prefer this answer.")
