"""Widgets of the Reasoning & tools page: solve one problem with a method (the exact prompt, the steps, PAL's program
and sandbox result, ReAct's timeline), the experiment (accuracy per method × model, in the background), and the
sandbox on its own. Model and user text is shown with ``st.text``, ``st.code`` or in tables, never as HTML."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core import jobs, models
from core.reasoning import experiment
from core.reasoning.cot import Solution, arithmetic_slips
from core.reasoning.methods import LABELS, is_correct, methods_for
from core.reasoning.sandbox import SandboxResult, SandboxUnavailable, run_program
from core.reasoning.tasks import find_task, format_number, load_hop_questions, load_problems
from core.ui.charts import method_accuracy_chart
from core.ui.classroom import current_actor
from core.ui.runs import follow_run, rerun_when_it_ends, show_queue, start_into
from core.ui.widgets import escape_markdown

MEASURED = Path(__file__).resolve().parents[2] / "assets" / "measured" / "reasoning.json"
KINDS = {"arithmetic": "Arithmetic word problem", "documents": "Question about the Lumenfold documents"}
OWN = "(type my own)"


# ---------------------------------------------------------------- Solve


def solve_tab(model_name: str, precision: str) -> None:
    c1, c2 = st.columns([2, 3])
    kind = c1.radio("Task", list(KINDS), format_func=KINDS.get, key="reason.kind", horizontal=True)
    tasks = load_problems("test") if kind == "arithmetic" else load_hop_questions("test")
    choice = c2.selectbox("Problem (test split)", [t.id for t in tasks] + [OWN], key=f"reason.problem.{kind}",
                          format_func=lambda i: i if i == OWN else f"{i}: {find_task(i).question}")
    question = (st.text_area("Your problem", key=f"reason.own.{kind}", height=80, placeholder="A jacket costs $80 ...")
                if choice == OWN else find_task(choice).question)
    c1, c2, c3 = st.columns([2, 1, 1])
    method = c1.selectbox("Method", methods_for(kind), format_func=LABELS.get, key=f"reason.method.{kind}")
    k = c2.number_input("Chains (k)", 2, 10, 5, key="reason.k", disabled=method != "self-consistency",
                        help="Self-consistency samples k chains of thought and takes the most common answer.")
    steps = c3.number_input("Step limit", 1, 12, 6, key="reason.steps", disabled=method != "react",
                            help="ReAct stops after this many thought-action turns if it has not finished.")
    if note := measured_line(model_name, method, kind):
        st.caption(note)
    if st.button("Solve", type="primary", key="reason.solve", icon=":material/psychology:"):
        st.session_state["reason.solution"] = _solve(model_name, precision, kind, method, question, int(k), int(steps))
        st.session_state["reason.task_id"] = None if choice == OWN else choice
    solution = st.session_state.get("reason.solution")
    if solution is not None and solution.question == (question or "").strip():
        show_solution(solution, st.session_state.get("reason.task_id"))


def measured() -> dict[str, Any] | None:
    return json.loads(MEASURED.read_text()) if MEASURED.exists() else None


def measured_line(model_name: str, method: str, kind: str) -> str | None:
    """What the bundled benchmark measured for this model and method, so a wrong answer is read in context."""
    report = measured()
    row = next((r for r in (report or {}).get("summary", []) if r["model"] == model_name and r["method"] == method
                and r["task"] == kind), None)
    if row is None:
        return None
    return (f"Measured for {escape_markdown(model_name)} with this method: {row['accuracy']:.0%} ± "
            f"{row['standard_error']:.0%} of {row['n']} test problems right ({report['date']}). The small bundled models "
            "often fail; the course's point is that these methods need larger models: pick one in the sidebar.")


def _solve(model_name: str, precision: str, kind: str, method: str, question: str, k: int, steps: int) -> Solution | None:
    from core.reasoning.llm import LabModel
    from core.reasoning.methods import solve, task_tools
    from core.ui.resources import shared_embedder, shared_model

    if not (question or "").strip():
        st.error("Type a problem first.")
        return None
    model = LabModel(shared_model(model_name, precision))  # generation only: the shared model is never changed
    options: dict[str, Any] = {"k": k, "max_steps": steps}
    try:
        uses_documents = kind == "documents" and method in ("rag", "react")
        with st.spinner("Indexing the Lumenfold documents (first time only)...") if uses_documents else nullcontext():
            options.update(task_tools(kind if uses_documents else "arithmetic", model,
                                      shared_embedder() if uses_documents else None))
        with st.spinner(f"{model.name}: {LABELS[method].lower()}..."):
            return solve(model, method, question.strip(), kind, **options)
    except (ValueError, SandboxUnavailable) as err:
        st.error(str(err))
        return None


def show_solution(solution: Solution, task_id: str | None) -> None:
    task = find_task(task_id) if task_id else None
    st.caption(f"{LABELS[solution.method]}" + (f" · {task_id}" if task_id else " · your problem"))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Answer", solution.answer if solution.answer is not None else "none")
    if task is not None:
        c2.metric("Gold answer", format_number(task.answer) if isinstance(task.answer, float) else task.answer)
        c3.metric("Verdict", "right" if is_correct(solution, task) else "wrong")
    c4.metric("Time", f"{solution.seconds:.1f} s")
    if solution.error and solution.method != "pal":  # PAL's errors are the sandbox's, shown with its result
        st.warning(solution.error)
    with st.expander("The exact prompt"):
        st.code(solution.prompt, language=None, wrap_lines=True)
    if solution.method == "pal":
        show_program(solution)
    elif solution.method == "react":
        show_timeline(solution)
    else:
        _show_steps(solution)


def _show_steps(solution: Solution) -> None:
    st.markdown("**The model's output**")
    st.text(solution.output or "(nothing)")
    if solution.steps:
        st.markdown("**Reasoning steps**")
        st.dataframe(pd.DataFrame({"step": range(1, len(solution.steps) + 1), "text": solution.steps}), hide_index=True)
    chains = [t for t in solution.trace if "chain" in t]
    if chains:
        st.markdown("**Sampled chains and their votes**")
        st.dataframe(pd.DataFrame(chains), hide_index=True)
        votes = next((t["votes"] for t in solution.trace if "votes" in t), {})
        if votes:
            st.bar_chart(pd.Series(votes, name="votes"), horizontal=True, height=160)


def show_program(solution: Solution) -> None:
    program = solution.trace[0]["program"] if solution.trace else ""
    st.markdown("**The program the model wrote**")
    st.code(program or "(no program)", language="python")
    if solution.trace:
        show_sandbox_result(SandboxResult(**solution.trace[0]["sandbox"]))


def show_sandbox_result(result: SandboxResult) -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Sandbox", "ran" if result.ok else ("timed out" if result.timed_out else "failed"))
    c2.metric("Program's answer", result.answer if result.answer is not None else "none")
    c3.metric("Run time", f"{result.seconds * 1000:.0f} ms")
    if result.error:
        st.error(result.error)
    st.caption("Printed" + (" (cut: the output limit)" if result.truncated else ""))
    st.code(result.stdout or "(nothing)", language=None)
    if result.isolation:
        with st.expander("Isolation layers that held"):
            st.dataframe(pd.DataFrame([{"layer": k, "state": v} for k, v in result.isolation.items()]), hide_index=True)


def show_timeline(solution: Solution) -> None:
    st.markdown("**Thought, action, observation**")
    for turn in solution.trace:
        with st.container(border=True):
            st.markdown(f"**Step {turn['step']}** · thought")
            st.text(turn["thought"] or "(none)")
            action = f"{turn['action']}[{turn['argument']}]" if turn["action"] else "(no action found)"
            st.code(action, language=None)
            if turn["observation"] is not None:
                st.caption("Observation")
                st.text(turn["observation"])


# ---------------------------------------------------------------- Experiment


def experiment_tab(model_name: str) -> None:
    st.caption("Every method on the test split, scored against the gold answers, with the binomial standard error. "
               "Small models often fail at PAL and ReAct: the course says these methods need larger models, and "
               "the measured example below shows how far the bundled ones get.")
    c1, c2, c3 = st.columns([2, 3, 1])
    kind = c1.radio("Task", list(KINDS), format_func=KINDS.get, key="reason.exp_kind")
    choices = methods_for(kind)
    methods = c2.multiselect("Methods", choices, default=[m for m in choices if m not in ("self-consistency", "react")],
                             format_func=LABELS.get, key=f"reason.exp_methods.{kind}")
    limit = c3.number_input("Problems", 1, 60 if kind == "arithmetic" else 30, 10, key=f"reason.exp_limit.{kind}")
    names = [m["name"] for m in models.list_models() if m.get("installed", True)]
    names += [model_name] if model_name not in names else []  # a larger local or hub model chosen in the sidebar
    chosen = st.multiselect("Models", names, default=[model_name] if model_name in names else names[:1], key="reason.exp_models")
    if st.button(f"Run {len(methods)} method(s) × {len(chosen)} model(s) on {int(limit)} problems", key="reason.exp_start",
                 icon=":material/rocket_launch:"):
        try:
            config = experiment.check_config({"task": kind, "methods": methods, "models": chosen, "limit": int(limit)})
            start_into("reason.exp_run", experiment.JOB, config, name="reasoning")
        except ValueError as err:
            st.error(str(err))
    if run_id := follow_run("reason.exp_run", experiment.JOB):
        _monitor(run_id)
        results = experiment.read_results(jobs.get_run(run_id).dir)
        if results:
            show_results(results, "This run")
    if report := measured():
        st.subheader("Measured example")
        st.caption(f"Measured on {escape_markdown(report['machine'])}, {report['date']}, with the command below. The "
                   "bundled models have 135 M and 270 M parameters: at that size every method is near zero, which is "
                   "the course's point. Bars show the share right with its standard error; hover for n (the costly "
                   "methods, self-consistency and ReAct, ran on the first test problems only). "
                   f"Sandbox overhead: {report['sandbox']['median_ms']} ms a run.")
        st.code(report["command"], language="bash")
        for kind_name, heading in (("arithmetic", "Arithmetic word problems"), ("documents", "Two-hop questions about the "
                                                                                          "Lumenfold documents")):
            rows = [r for r in report["summary"] if r["task"] == kind_name]
            if rows:
                st.markdown(f"**{heading}**")
                st.plotly_chart(method_accuracy_chart(rows, methods_for(kind_name)), key=f"reason.measured.{kind_name}")
        for model, ran in report.get("pal_ran", {}).items():
            fixed = report.get("pal_fixed", {}).get(model, {}).get("fixed", [])
            st.caption(f"{escape_markdown(model)}: {ran} PAL programs ran without an error; PAL right where few-shot "
                       f"CoT was wrong on {len(fixed)}.")


@st.fragment(run_every=2)
def _monitor(run_id: str) -> None:
    run = jobs.get_run(run_id)
    last = ([p for p in run.progress() if "total" in p] or [{}])[-1]
    total, done = last.get("total") or 1, last.get("done", 0)
    state = {"running": "Solving", "queued": "Starting"}.get(run.state, run.state.capitalize())
    show_queue(run)
    where = f" ({last['model']}, {last['method']})" if last.get("method") else ""
    st.progress(min(done / total, 1.0), text=f"{state}: {done} of {total} answers{where}")
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    if st.button("Cancel", key=f"reason.exp_cancel.{run_id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run_id, actor=current_actor())
    rerun_when_it_ends(run)


def show_results(rows: list[dict], title: str) -> None:
    summary = experiment.summarise(rows)
    st.subheader(title)
    order = list(dict.fromkeys(r["method"] for r in rows))
    st.plotly_chart(method_accuracy_chart(summary, order), key=f"reason.chart.{title}")
    st.dataframe(pd.DataFrame(summary), hide_index=True)
    st.download_button("Download the answers (JSONL)", "\n".join(json.dumps(r, default=str) for r in rows),
                       file_name="reasoning-results.jsonl", key=f"reason.download.{title}", icon=":material/download:")
    ids = list(dict.fromkeys(r["id"] for r in rows))
    pick = st.selectbox("Drill down: one problem", ids, key=f"reason.drill.{title}",
                        format_func=lambda i: f"{i}: {find_task(i).question[:90]}")
    table = [{"model": r["model"], "method": r["method"], "answer": r["answer"], "gold": r["gold"],
              "correct": r["correct"], "wrong sums written": ", ".join(f"{s['wrote']} (is {s['is']})" for s in
                                                                      arithmetic_slips(r.get("output") or "")),
              "error": r["error"], "output": r.get("output")} for r in rows if r["id"] == pick]
    st.dataframe(pd.DataFrame(table), hide_index=True)
    for model in dict.fromkeys(r["model"] for r in rows):
        if any(r["method"] == "pal" for r in rows) and any(r["method"] == "cot-fewshot" for r in rows):
            fixed = experiment.fixed_by(rows, "pal", "cot-fewshot", model)
            st.caption(f"{escape_markdown(model)}: PAL right where few-shot CoT was wrong on {len(fixed)} problem(s)"
                       + (f": {', '.join(fixed)}" if fixed else "."))
        for method, n in experiment.slip_report(rows, model).items():
            st.caption(f"{escape_markdown(model)}, {LABELS[method].lower()}: {n['wrong']} wrong answers, {n['with_slip']} "
                       f"of them with a wrong sum written out on the way; PAL got {n['pal_right']} of those right.")


# ---------------------------------------------------------------- Sandbox

EXAMPLE = "price = 80\ndiscount = price * 25 / 100\ntax = (price - discount) * 0.08\nanswer = round(price - discount + tax, 2)\nprint(answer)\n"


def sandbox_tab() -> None:
    st.caption("The interpreter PAL uses, on its own. Programs run in Monty (a Python subset written in Rust, with no "
               "files, network, environment or imports of the host) in a child process that also has memory, CPU, "
               "process and output limits, runs as an unprivileged user in its own network namespace under Landlock "
               "where the kernel offers them, and is killed at the time limit. Try to break out.")
    code = st.text_area("Program", EXAMPLE, height=180, key="reason.sandbox_code")
    timeout = st.slider("Time limit (s)", 0.5, 10.0, 2.0, 0.5, key="reason.sandbox_timeout")
    if st.button("Run in the sandbox", key="reason.sandbox_run", icon=":material/play_arrow:"):
        try:
            st.session_state["reason.sandbox_result"] = run_program(code, timeout)
        except (ValueError, SandboxUnavailable) as err:
            st.error(str(err))
    if result := st.session_state.get("reason.sandbox_result"):
        show_sandbox_result(result)
