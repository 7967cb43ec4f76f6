"""Widgets of the Evaluation dashboard that compare stored results: two evaluations paired on the same examples,
promptfoo-style assertions on stored outputs, the prompt templates to try, and the models × templates grid.

Everything here reads stored evaluations; no model runs. Does not hold: the statistics (``core.evaluation.paired``,
``core.evaluation.stats``) or the checks (``core.evaluation.assertions``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import store
from core.evaluation import HEADLINE, Assertion, EvalError, compare_pair, evaluation_label, run_assertions, task_kind
from core.evaluation.assertions import KINDS as ASSERTION_KINDS
from core.evaluation.assertions import NEEDS_TEXT
from core.evaluation.paired import format_p
from core.ui.charts import safe
from core.ui.widgets import escape_markdown

TEMPLATE_SEPARATOR = "---"


def pick_templates() -> tuple[str, ...]:
    """Prompt templates to try (promptfoo's matrix): several in one box, separated by a line holding only ---."""
    with st.expander("Prompt variants (optional): try several prompt templates on every model"):
        text = st.text_area("Prompt templates", key="evaluate.templates", height=120,
                            placeholder="Review: {input}\nSentiment:\n---\nIs this review positive or negative?\n{input}\nAnswer:",
                            help="Each template has {input} where the example goes; separate templates with a line "
                                 "holding only ---. Every (model, template) is saved as its own evaluation; the "
                                 "“Prompt grid” tab compares them. Empty: the task's own prompt.")
    parts = [part.strip("\n") for part in text.split(f"\n{TEMPLATE_SEPARATOR}\n")] if text.strip() else []
    return tuple(part for part in parts if part.strip())


def _label(e: dict[str, Any]) -> str:
    return f"#{e['id']} {evaluation_label(e)} (n={e['n']})"


def _metrics_of(evaluation: dict[str, Any]) -> list[str]:
    """Metrics a comparison can use: the evaluation's own that each example has, plus corpus BLEU and perplexity."""
    scores = evaluation["examples"][0]["scores"] if evaluation["examples"] else {}
    return [m for m in evaluation["metrics"] if m in scores or m in ("bleu", "perplexity")]


def paired_section(evaluations: list[dict[str, Any]]) -> None:
    """Two evaluations of one task on the same examples: the difference, its paired-bootstrap CI and p, a sign test."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for e in evaluations:
        by_task.setdefault(e["task"], []).append(e)
    tasks = [t for t, group in by_task.items() if len(group) >= 2]
    if not tasks:
        st.info("A paired comparison needs two evaluations of the same task: run a second model (or prompt) on it.")
        return
    task = st.selectbox("Task", tasks, key="evaluate.pair_task")
    group = by_task[task]
    c1, c2 = st.columns(2)
    a = c1.selectbox("A (baseline)", group, index=1, format_func=_label, key="evaluate.pair_a")
    b = c2.selectbox("B (challenger)", group, index=0, format_func=_label, key="evaluate.pair_b")
    if a["id"] == b["id"]:
        st.info("Choose two different evaluations.")
        return
    full_a, full_b = store.load_evaluation(a["id"]), store.load_evaluation(b["id"])
    headline = HEADLINE.get(task_kind(task))
    choices = _metrics_of(full_a)
    metric = st.selectbox("Metric", choices, index=choices.index(headline) if headline in choices else 0, key="evaluate.pair_metric")
    try:
        result = compare_pair(full_a, full_b, metric, labels=(f"#{a['id']} {evaluation_label(a)}", f"#{b['id']} {evaluation_label(b)}"))
    except EvalError as err:
        st.error(str(err))
        return
    (st.success if result.significant else st.info)(escape_markdown(result.verdict))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"B − A ({metric})", f"{result.difference:+.3g}")
    m2.metric("95% CI (paired bootstrap)", f"[{result.ci_low:.3g}, {result.ci_high:.3g}]")
    m3.metric("p (bootstrap)", format_p(result.p_value)[1:].lstrip("="))
    m4.metric("p (sign test)", format_p(result.sign_p)[1:].lstrip("="), help=f"B better on {result.wins}, worse on {result.losses}, "
              f"tied on {result.ties} of {result.n} shared examples (ties dropped; binomial test against 1/2).")
    st.caption(f"{result.n} shared examples, matched by id. The bootstrap resamples them 1,000 times (seeded) and "
               "recomputes the metric for A and B on the same resample; p is the share of resampled differences at "
               "least as far from the observed one as it is from 0. Ties do not count in the sign test.")


def assertions_section(evaluations: list[dict[str, Any]]) -> None:
    """A list of checks the user builds, applied to every stored output of one task: pass/fail per model and example."""
    tasks = list(dict.fromkeys(e["task"] for e in evaluations if task_kind(e["task"]) != "perplexity"))
    if not tasks:
        st.info("Assertions check written outputs: evaluate a model on a task first.")
        return
    checks: list[Assertion] = st.session_state.setdefault("evaluate.assertions", [])
    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    kind = c1.selectbox("Assertion", list(ASSERTION_KINDS), key="evaluate.assert_kind", help="What each output must satisfy.")
    if kind in NEEDS_TEXT:
        value = c2.text_input("Value", key="evaluate.assert_value", help=ASSERTION_KINDS[kind])
    elif kind == "rouge_l":
        value = str(c2.number_input("ROUGE-L F at least", 0.0, 1.0, 0.2, 0.05, key="evaluate.assert_rouge"))
    elif kind == "max_length":
        value = str(c2.number_input("At most this many words", 0, 10_000, 30, key="evaluate.assert_words"))
    else:
        value = ""
        c2.caption(ASSERTION_KINDS[kind])
    if c3.button("Add", key="evaluate.assert_add", icon=":material/add:"):
        try:
            checks.append(Assertion(kind, value))
        except ValueError as err:
            st.error(str(err))
    if not checks:
        st.caption("Add checks such as “not_empty”, “contains Paris” or “regex ^(positive|negative)$”.")
        return
    st.text("Checks: " + " · ".join(a.label for a in checks))
    st.button("Clear the checks", key="evaluate.assert_clear", on_click=checks.clear)
    task = st.selectbox("Task", tasks, key="evaluate.assert_task")
    chosen = [store.load_evaluation(e["id"]) for e in evaluations if e["task"] == task]
    summary, rows = run_assertions(chosen, checks, [evaluation_label(e) for e in chosen])
    st.dataframe(summary, hide_index=True, key="evaluate.assert_summary",
                 column_config={"pass rate": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f")})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="evaluate.assert_examples")


def template_grid(evaluations: list[dict[str, Any]]) -> None:
    """Models × prompt templates on one task: a pivot table and a heatmap of one metric."""
    templated = [e for e in evaluations if (e["config"] or {}).get("template")]
    if not templated:
        st.info("No prompt variants yet: add templates under “Prompt variants” above and run an evaluation.")
        return
    tasks = list(dict.fromkeys(e["task"] for e in templated))
    task = st.selectbox("Task", tasks, key="evaluate.grid_task")
    cells = [e for e in templated if e["task"] == task]
    choices = list(dict.fromkeys(m for e in cells for m in e["metrics"]))
    headline = HEADLINE.get(task_kind(task))
    metric = st.selectbox("Metric", choices, index=choices.index(headline) if headline in choices else 0, key="evaluate.grid_metric")
    table = pd.DataFrame([{"model": e["model"], "template": e["config"]["template"], metric: e["metrics"].get(metric)} for e in cells])
    grid = table.pivot_table(index="model", columns="template", values=metric, aggfunc="last")
    st.dataframe(grid, key="evaluate.grid")
    st.plotly_chart(templates_heatmap(grid, metric), key="evaluate.grid_chart")


def templates_heatmap(grid: pd.DataFrame, metric: str) -> go.Figure:
    """The pivot as a heatmap: models down, templates across (numbered and shortened; in full on hover), the value in
    each cell."""
    names = [f"T{i + 1}: {safe(' '.join(t.split())[:28])}" for i, t in enumerate(grid.columns)]
    hover = [[f"{safe(model)}<br>{safe(template)}" for template in grid.columns] for model in grid.index]  # data, not a template
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=names, y=[safe(m) for m in grid.index], colorscale="Viridis",
                               text=[[f"{v:.3g}" if v == v else "" for v in row] for row in grid.to_numpy()], customdata=hover,
                               texttemplate="%{text}", hovertemplate=f"%{{customdata}}<br>{metric}: %{{z:.3g}}<extra></extra>",
                               colorbar=dict(title=metric)))
    fig.update_layout(height=160 + 50 * len(grid.index), margin=dict(l=10, r=10, t=20, b=10))
    return fig
