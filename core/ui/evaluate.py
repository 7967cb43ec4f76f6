"""Widgets of the Evaluation dashboard: the task choice (bundled or an upload), the live view of an evaluation run,
the leaderboard, the per-example drill-down with shared words highlighted, the caveats of ROUGE and BLEU, and history."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core import evaluation, jobs, store
from core.evaluation import BUNDLED_TASKS, HEADLINE, KINDS, SCHEMAS, EvalError, metrics, parse_task, stats, task_kind
from core.ui import charts
from core.ui.classroom import current_actor
from core.ui.runs import rerun_when_it_ends, show_queue
from core.ui.widgets import escape_markdown, save_upload

PER_EXAMPLE = {"multiple_choice": "acc_norm", "classification": "accuracy", "summarization": "rougeL_f", "translation": "bleu",
               "perplexity": "perplexity"}
FAILURE_BELOW = {"acc_norm": 0.5, "accuracy": 0.5, "rougeL_f": 0.2, "bleu": 10.0}  # perplexity has no pass mark


def pick_tasks() -> list[str]:
    """Bundled tasks, plus an uploaded file in one of the task schemas (checked before it can be chosen)."""
    names = st.multiselect("Tasks", list(BUNDLED_TASKS), default=["knowledge_mc", "sentiment"], key="evaluate.tasks",
                           format_func=lambda n: f"{n} ({BUNDLED_TASKS[n][0].replace('_', ' ')})")
    with st.expander("Add a task file of your own"):
        kind = st.selectbox("Kind", KINDS, key="evaluate.upload_kind", format_func=lambda k: k.replace("_", " "))
        st.caption(f"JSONL or CSV with the fields {', '.join(SCHEMAS[kind])}; optional id and split (pool/dev rows become "
                   "few-shot examples, test rows are scored).")
        upload = st.file_uploader("Task file", type=["jsonl", "csv"], key="evaluate.upload")
        if upload is not None:
            try:
                task = parse_task(upload.getvalue(), upload.name, kind)
            except EvalError as err:
                st.error(str(err))
            else:
                names.append(f"{kind}:{save_upload(upload)}")
                st.success(f"{upload.name}: {len(task.test)} examples to score, {len(task.pool)} for shots. Added to the tasks.")
    return names


@st.fragment(run_every=2)
def run_monitor(run_id: str) -> None:
    """The evaluation run, re-read every 2 s: which model on which task, how far, cancel; a full rerun when it ends."""
    try:
        run = jobs.get_run(run_id)
    except jobs.RunError as err:
        st.error(str(err))
        return
    events = [e for e in run.progress() if "cell" in e]
    last = events[-1] if events else {}
    cells, cell = last.get("cells", 1), last.get("cell", 0)
    share = 1.0 if last.get("event") == "saved" else last.get("done", 0) / max(last.get("total", 1), 1)
    label = {"queued": "Starting", "running": "Evaluating", "done": "Done", "failed": "Failed", "cancelled": "Cancelled"}[run.state]
    show_queue(run)
    where = f": {last['model']} on {last['task']}, {last.get('done', 0)}/{last.get('total', '?')} examples" if last else ""
    if last.get("template"):
        where += ", prompt “" + escape_markdown(" ".join(last["template"].split())[:40]) + "”"
    st.progress(min((cell + share) / cells, 1.0), text=f"{label}{where} (evaluation {min(cell + 1, cells)} of {cells})")
    if run.state == "failed":
        st.error(run.status.get("error", "failed"))
    if st.button("Cancel", key=f"evaluate.cancel.{run_id}", disabled=run.finished, icon=":material/stop:"):
        jobs.cancel_run(run_id, actor=current_actor())
        st.rerun(scope="fragment")
    rerun_when_it_ends(run)  # the whole page: the leaderboard reads the new results


def newest_per_cell(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest evaluation of each (model, task, prompt template): what the leaderboard shows."""
    newest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in sorted(evaluations, key=lambda e: e["id"]):
        newest[(e["model"], e["task"], (e["config"] or {}).get("template") or "")] = e
    return list(newest.values())


@st.cache_data(show_spinner=False, max_entries=500)
def standard_errors(evaluation_id: int, created: str) -> dict[str, float]:
    """Each metric's standard error, from the stored examples (cached: a stored evaluation does not change)."""
    return stats.stderrs(store.load_evaluation(evaluation_id))


def leaderboard_section(evaluations: list[dict[str, Any]]) -> None:
    errors = {e["id"]: standard_errors(e["id"], str(e["created"])) for e in evaluations}
    rows = evaluation.leaderboard(evaluations, errors)
    warned = [r for r in rows if r["warning"]]
    if warned:
        st.warning("Some outputs are empty or echo their input, which can inflate ROUGE and BLEU: "
                   + "; ".join(f"{escape_markdown(r['model'])} ({escape_markdown(r['warning'].removeprefix('⚠ '))})" for r in warned)
                   + ". Examples → “Empty or echoed outputs” shows them.")
    st.dataframe(rows, hide_index=True, key="evaluate.board",
                 column_config={"warning": st.column_config.TextColumn("outputs", help="empty or echoed outputs, per task")})
    headline = {e["id"]: HEADLINE[task_kind(e["task"])] for e in evaluations}
    bars = [{"model": evaluation.evaluation_label(e), "task": e["task"], "metric": headline[e["id"]],
             "value": e["metrics"].get(headline[e["id"]]), "se": errors[e["id"]].get(headline[e["id"]])} for e in evaluations]
    st.plotly_chart(charts.leaderboard_chart(bars), key="evaluate.chart")
    st.caption("Each task has its own axis: scores of different tasks, and ROUGE or BLEU of different datasets, are not "
               "comparable. Lower perplexity is better; for every other metric higher is better. Error bars: ±1 standard error "
               "(as lm-eval reports it: sample std / √n of the per-example scores; a seeded bootstrap of 1,000 resamples for "
               "corpus BLEU and perplexity). Two bars whose error bars overlap may not differ: see “Compare two”.")
    with st.expander("Every metric (ROUGE precision, recall and F; BLEU with its signature)"):
        table = pd.DataFrame([{"id": e["id"], "model": evaluation.evaluation_label(e), "task": e["task"], "n": e["n"], **e["metrics"],
                               **{f"{k} ± SE": v for k, v in errors[e["id"]].items()}} for e in evaluations])
        st.dataframe(table, hide_index=True)
        st.caption("BLEU: sacrebleu " + _bleu_signature())
    c1, c2 = st.columns(2)
    c1.download_button("Leaderboard (CSV)", pd.DataFrame(rows).to_csv(index=False), "leaderboard.csv", "text/csv", icon=":material/download:")
    ids = [e["id"] for e in evaluations]
    c2.download_button("Results with every example (JSON)", lambda: json.dumps([store.load_evaluation(i) for i in ids], default=str,
                       ensure_ascii=False, indent=1), "evaluations.json", "application/json", icon=":material/download:")


def _bleu_signature() -> str:
    return metrics.bleu(["a"], ["a"]).signature


def drilldown(evaluations: list[dict[str, Any]]) -> None:
    """One task's examples side by side; pick a row to read it with each output's shared words highlighted."""
    tasks = list(dict.fromkeys(e["task"] for e in evaluations))
    task = st.selectbox("Task", tasks, key="evaluate.drill_task")
    kind = task_kind(task)
    metric = PER_EXAMPLE[kind]
    chosen = [store.load_evaluation(e["id"]) for e in evaluations if e["task"] == task]
    table = pd.DataFrame(evaluation.compare_examples(chosen, metric))
    filters = ["All", "Failures", "Where models differ most"] if metric in FAILURE_BELOW else ["All", "Where models differ most"]
    flag_columns = [c for c in table.columns if c.endswith(" flag")]
    if flag_columns:
        filters.append("Empty or echoed outputs")
    show = st.segmented_control("Show", filters, default="All", key="evaluate.filter") or "All"
    score_columns = [c for c in table.columns if c.endswith(f" {metric}")]
    if show == "Empty or echoed outputs":
        table = table[(table[flag_columns] != "").any(axis=1)]
        st.caption("Outputs that are empty, or that repeat the input instead of answering: their ROUGE or BLEU says "
                   "nothing about summarising or translating.")
    elif show == "Failures":
        table = table[(table[score_columns] < FAILURE_BELOW[metric]).any(axis=1)]
        st.caption(f"Examples where at least one model scored {metric} below {FAILURE_BELOW[metric]}.")
    elif show == "Where models differ most":
        table = table.sort_values("gap", ascending=False)
    if table.empty:
        st.info("No examples match this filter.")
        return
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"evaluate.examples.{task}.{show}",
                         column_config={"input": st.column_config.TextColumn(width="medium")})
    st.download_button("These examples (CSV)", table.to_csv(index=False), f"{task.replace(':', '_').replace('/', '_')}-examples.csv",
                       "text/csv", icon=":material/download:")
    selected = event.selection.rows[0] if event.selection.rows else 0
    example_detail(table.iloc[selected].to_dict(), chosen, kind)


def example_detail(row: dict[str, Any], chosen: list[dict[str, Any]], kind: str) -> None:
    with st.container(border=True):
        st.markdown(f"**Example {escape_markdown(str(row['id']))}**")
        left, right = st.columns(2)
        left.caption("Input")
        left.text(row["input"])
        right.caption("Reference")
        right.text(row["reference"])
        if kind == "perplexity":
            return
        n = st.select_slider("Highlight shared n-grams of length", [1, 2, 3, 4], 1, key="evaluate.ngram")
        for result in chosen:
            example = next((e for e in result["examples"] if e["id"] == row["id"]), None)
            if example is None:
                continue
            scores = ", ".join(f"{k} {v:.3g}" for k, v in example["scores"].items() if not k.startswith(("loglik_", "p_")))
            st.markdown(f"**{escape_markdown(evaluation.evaluation_label(result))}** · {escape_markdown(scores)}")
            st.markdown(highlighted(example["prediction"], row["reference"], n) or ":gray[(empty output)]")


def highlighted(output: str, reference: str, n: int) -> str:
    """Markdown of the output with the words it shares with the reference on a green background (escaped text)."""
    return "".join(f":green-background[{escape_markdown(word.strip())}] " if hit else escape_markdown(word)
                   for word, hit in metrics.overlapping_ngrams(output, reference, n))


CAVEAT_REFERENCE = "Maya cannot come to the party on Saturday because she has to work."
CAVEAT_WRONG = "Maya can come to the party on Saturday because she does not have to work."
CAVEAT_RIGHT = "Maya will miss Saturday's party: her job keeps her busy."


def caveats() -> None:
    """The course's warnings, computed live: a summary that says the opposite can outscore a correct paraphrase."""
    st.markdown("**A high ROUGE does not mean a right summary.** Two candidate summaries of the same reference:")
    scores = metrics.rouge([CAVEAT_WRONG, CAVEAT_RIGHT], [CAVEAT_REFERENCE] * 2)
    sentence_bleu = metrics.bleu([CAVEAT_WRONG, CAVEAT_RIGHT], [CAVEAT_REFERENCE] * 2).sentence_scores
    st.text(f"Reference: {CAVEAT_REFERENCE}")
    for title, text, score, bleu in (("Wrong: says the opposite", CAVEAT_WRONG, scores[0], sentence_bleu[0]),
                                     ("Right: a paraphrase", CAVEAT_RIGHT, scores[1], sentence_bleu[1])):
        with st.container(border=True):
            st.markdown(f"**{title}**  \n" + highlighted(text, CAVEAT_REFERENCE, 1))
            c1, c2, c3 = st.columns(3)
            c1.metric("ROUGE-1 F", f"{score['rouge1']['f']:.2f}")
            c2.metric("ROUGE-L F", f"{score['rougeL']['f']:.2f}")
            c3.metric("BLEU", f"{bleu:.1f}")
    st.info("ROUGE counts shared words and BLEU shared n-grams; neither reads meaning. Use them as diagnostics only, and "
            "compare scores only between models on the same task and dataset. Benchmarks on held-out data (like the "
            "multiple-choice set) test a skill more directly.")


def history(evaluations: list[dict[str, Any]]) -> None:
    table = pd.DataFrame([{"id": e["id"], "created": e["created"], "model": evaluation.evaluation_label(e), "task": e["task"],
                           HEADLINE[task_kind(e["task"])]: e["metrics"].get(HEADLINE[task_kind(e["task"])]), "n": e["n"],
                           "seconds": round(e["seconds"], 1), "complete": e["config"].get("complete", True), "run": e["run_id"],
                           "owner": e.get("owner")}
                          for e in evaluations])
    st.dataframe(table, hide_index=True, key="evaluate.history")
    doomed = st.multiselect("Delete evaluations", [e["id"] for e in evaluations], key="evaluate.delete_ids")
    st.button("Delete", disabled=not doomed, key="evaluate.delete", icon=":material/delete:", on_click=_delete, args=(doomed,))


def _delete(ids: list[int]) -> None:
    try:
        for evaluation_id in ids:
            store.delete_evaluation(evaluation_id, actor=current_actor())
    except ValueError as err:  # another student's evaluation: the ones before it are deleted, it and the rest stay
        st.error(str(err))
    st.session_state["evaluate.delete_ids"] = []
