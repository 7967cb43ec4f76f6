"""Following background runs from a page: the run a page watches survives a reload or a second tab, and when it
ends the whole page reruns once, so what depends on it (the model picker, a leaderboard, a results section) appears
without a click.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from core.classroom import queue
from core.ui.classroom import current_actor


def follow_run(state_key: str, target: str) -> str | None:
    """The run this page follows: the one started in this session, else the newest of its kind that is still going
    (started before a reload, or in another tab)."""
    run_id = st.session_state.get(state_key)
    if not run_id:
        actor = current_actor()
        active = [run for run in jobs.active_runs(target)  # in a class, a student follows only their own runs
                  if actor is not None and (actor.is_teacher or run.owner == actor.name)]
        if active:
            run_id = st.session_state[state_key] = active[0].id
    return run_id


def rerun_when_it_ends(run: jobs.Run) -> None:
    """Call from a fragment that polls ``run``: the first time it is seen finished after being seen unfinished, the
    whole app reruns (a fragment alone would leave the rest of the page as it was)."""
    key = f"runs.seen.{run.id}"
    before = st.session_state.get(key)
    st.session_state[key] = run.state
    if before is not None and before not in jobs.FINISHED and run.finished:
        st.rerun(scope="app")


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f", about {seconds / 60:.0f} min left" if seconds >= 90 else f", about {seconds:.0f} s left"


STATE_LABELS = {"queued": "Starting", "done": "Done", "failed": "Failed", "cancelled": "Cancelled"}


def start_into(state_key: str, target: str, config: dict, name: str | None = None) -> bool:
    """Start a run as this session's user and remember its id under ``state_key``; a full queue, a run of this
    student's already waiting or a missing sign-in is shown as an error instead (False)."""
    try:
        st.session_state[state_key] = jobs.start_run(target, config, name=name, actor=current_actor()).id
    except ValueError as err:  # RunError, OwnershipError
        st.error(str(err))
        return False
    return True


def queue_text(run: jobs.Run) -> str:
    """"Waiting in the queue: 2 of 3, starts in about 4 min" for a run that waits for a slot; "" otherwise."""
    where = queue.place(run) if run.state == "queued" else None
    if where is None:
        return ""
    eta = queue.estimated_start_s(run)
    when = "" if eta is None else f", starts in about {eta / 60:.0f} min" if eta >= 90 else f", starts in about {eta:.0f} s"
    return f"Waiting in the queue: {where[0]} of {where[1]} (at most {queue.max_running()} runs at once){when}"


def show_queue(run: jobs.Run) -> None:
    """The run's place in the queue, while it waits for a slot (nothing otherwise)."""
    if waiting := queue_text(run):
        st.info(waiting, icon=":material/hourglass_top:")


def may_change(run: jobs.Run) -> bool:
    """Whether this session may cancel or resume the run (core checks again): its owner, or the teacher."""
    actor = current_actor()
    return actor is not None and (actor.is_teacher or run.owner == actor.name)


def run_controls(run: jobs.Run, prefix: str, working: str, step: int, extra: str = "", eta_s: float | None = None) -> None:
    """A run's progress bar ("Training: step 3 of 30, ..."), its place in the queue while it waits, its error if it
    failed, and Cancel / Resume buttons (keys ``<prefix>.cancel.<id>`` and ``<prefix>.resume.<id>``). Call inside the
    fragment that polls the run."""
    total = run.config.get("max_steps", 1)
    label = working if run.state == "running" else STATE_LABELS[run.state]
    st.progress(min(step / total, 1.0), text=f"{label}: step {step} of {total}" + extra
                + (eta_text(eta_s) if not run.finished else ""))
    show_queue(run)
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    mine = may_change(run)
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Cancel", key=f"{prefix}.cancel.{run.id}", disabled=run.finished or not mine, icon=":material/stop:"):
        jobs.cancel_run(run.id, actor=current_actor())
        st.rerun(scope="fragment")
    if c2.button("Resume", key=f"{prefix}.resume.{run.id}", disabled=run.state not in ("cancelled", "failed") or not mine,
                 icon=":material/play_arrow:"):
        try:
            jobs.resume_run(run.id, actor=current_actor())
        except ValueError as err:  # the queue is full, or this student already has a run waiting
            st.error(str(err))
        else:
            st.rerun(scope="fragment")
