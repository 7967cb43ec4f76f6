"""Following background runs from a page: the run a page watches survives a reload or a second tab, and when it
ends the whole page reruns once, so what depends on it (the model picker, a leaderboard, a results section) appears
without a click.
"""

from __future__ import annotations

import streamlit as st

from core import jobs


def follow_run(state_key: str, target: str) -> str | None:
    """The run this page follows: the one started in this session, else the newest of its kind that is still going
    (started before a reload, or in another tab)."""
    run_id = st.session_state.get(state_key)
    if not run_id:
        active = jobs.active_runs(target)
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


def run_controls(run: jobs.Run, prefix: str, working: str, step: int, extra: str = "", eta_s: float | None = None) -> None:
    """A run's progress bar ("Training: step 3 of 30, ..."), its error if it failed, and Cancel / Resume buttons
    (keys ``<prefix>.cancel.<id>`` and ``<prefix>.resume.<id>``). Call inside the fragment that polls the run."""
    total = run.config.get("max_steps", 1)
    label = working if run.state == "running" else STATE_LABELS[run.state]
    st.progress(min(step / total, 1.0), text=f"{label}: step {step} of {total}" + extra
                + (eta_text(eta_s) if not run.finished else ""))
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Cancel", key=f"{prefix}.cancel.{run.id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run.id)
        st.rerun(scope="fragment")
    if c2.button("Resume", key=f"{prefix}.resume.{run.id}", disabled=run.state not in ("cancelled", "failed"),
                 icon=":material/play_arrow:"):
        jobs.resume_run(run.id)
        st.rerun(scope="fragment")
