"""Class dashboard (the teacher): who labelled how many and how well they agree, the run queue, memory, accounts."""

import pandas as pd
import streamlit as st

from core import jobs
from core.classroom import accounts, dashboard, queue
from core.ui.classroom import current_actor, is_teacher
from core.ui.frame import run_inside_frame

run_inside_frame()

st.title("Class dashboard")
if not is_teacher():
    st.error("Only the teacher sees the class dashboard.")
    st.stop()
actor = current_actor()
st.caption(
    "Everything the class is doing, for the teacher: how many comparisons each annotator ranked and how often their "
    "choices match the others' on the comparisons they share, which runs wait in the queue and which run, and how much "
    "memory the server has left. Students see none of this; the teacher can move or cancel any run and give anyone a "
    "new one-time password."
)


@st.fragment(run_every=5)
def overview() -> None:
    rows, memory = dashboard.queue_rows(), dashboard.memory()
    running = sum(r["state"] == "running" for r in rows)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Accounts", len(accounts.list_accounts()))
    c2.metric("Running", f"{running} of {queue.max_running()}", help="At most this many runs at once (LAB_MAX_RUNS).")
    c3.metric("Waiting", len(rows) - running, help=f"First come, first served; one waiting run per student; at most "
              f"{queue.MAX_WAITING} in all.")
    if memory["available_gib"] is not None:
        c4.metric("Memory available", f"{memory['available_gib']:.1f} of {memory['total_gib']:.0f} GiB",
                  help=f"This app's server process holds {memory['server_gib'] or 0:.1f} GiB.")
    st.dataframe(rows, hide_index=True, width="stretch", key="class.queue",
                 column_config={"minutes": st.column_config.NumberColumn("minutes", format="%.1f",
                                                                         help="Since queued (waiting) or started")})


overview()
labels, runs, people = st.tabs(["Annotators", "Runs", "Accounts"])
with labels:
    table = dashboard.annotators()
    st.dataframe(table, hide_index=True, width="stretch", key="class.annotators", column_config={
        "agreement": st.column_config.ProgressColumn(
            "agreement", min_value=0.0, max_value=1.0, format="percent",
            help="Share of this annotator's pairwise choices that the other annotators made too, on the comparisons "
            "they share (none when nobody else ranked the same ones)"),
        "shared": st.column_config.NumberColumn("shared", help="Pairwise choices someone else also judged")})
    st.download_button("Annotators (CSV)", pd.DataFrame(table).to_csv(index=False), "annotators.csv", "text/csv",
                       icon=":material/download:", disabled=not table)

with runs:
    waiting = [r.id for r in queue.waiting_runs()]
    every = [r.id for r in jobs.list_runs() if not r.finished]
    st.caption("Move a waiting run in the queue, or cancel any run (a student's too).")
    chosen = st.selectbox("Run", every, key="class.run", placeholder="No run is waiting or running",
                          index=0 if every else None)
    c1, c2, c3, _ = st.columns([1, 1, 1, 3])
    try:
        if c1.button("Move to front", key="class.front", disabled=chosen not in waiting, icon=":material/vertical_align_top:"):
            queue.move_run(chosen, to_front=True, actor=actor)
            st.rerun()
        if c2.button("Move to back", key="class.back", disabled=chosen not in waiting, icon=":material/vertical_align_bottom:"):
            queue.move_run(chosen, to_front=False, actor=actor)
            st.rerun()
        if c3.button("Cancel", key="class.cancel", disabled=chosen is None, icon=":material/stop:"):
            jobs.cancel_run(chosen, actor=actor)
            st.rerun()
    except ValueError as err:  # the run started or ended meanwhile
        st.error(str(err))

with people:
    names = [a["name"] for a in accounts.list_accounts()]
    if not names:
        st.info("No class on this lab: one local user, no sign-in. On the server, `python -m core class init` creates "
                "the class and the teacher's account; `python -m core class add-students names.txt` adds students.")
    else:
        with st.form("class.add_students", clear_on_submit=True):
            listed = st.text_area("Add students (one name per line)", key="class.new_students", height=120)
            if st.form_submit_button("Add", icon=":material/person_add:"):
                try:
                    made = accounts.add_students(listed, actor=actor)
                except accounts.AccountError as err:
                    st.error(str(err))
                else:
                    st.session_state["class.passwords"] = made
        name = st.selectbox("Account", names, key="class.account")
        if st.button("New one-time password", key="class.reset", icon=":material/key:"):
            st.session_state["class.passwords"] = [(name, accounts.reset_password(name, actor=actor))]
        if st.session_state.get("class.passwords"):
            st.caption("Hand these out now: they are shown once, and each works for one sign-in.")
            st.code("\n".join(f"{n}  {p}" for n, p in st.session_state["class.passwords"]), language=None)
