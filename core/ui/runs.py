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
