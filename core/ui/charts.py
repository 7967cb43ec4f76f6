"""Plotly figures shared by the pages. Figures only: no streamlit, no models; data comes in as tables and lists.

Plotly reads a little HTML in every label (``<b>``, ``<br>``, ``<a href=...>``), so text that came from a model or a
user (tokens, labels, file and model names) goes through ``safe`` first: ``<b>`` shows as the four characters it is.
An axis whose labels are tokens is categorical, in the model's order: digit tokens ("0", "19") must not turn it into
a number line that sorts and drops bars.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from core.sampling import Step

STAGE_LABELS = {
    "raw": "model (raw)",
    "repetition_penalty": "after repetition penalty",
    "temperature": "after temperature",
    "top_k": "after top-k",
    "top_p": "after top-p",
    "min_p": "after min-p",
    "greedy": "greedy pick",
}
CUT_COLOR = "rgba(214, 39, 40, 0.18)"


def safe(text: object) -> str:
    """Text as plotly should show it: its markup escaped (entities are shown as the characters they stand for)."""
    return html.escape(str(text))


def _unique(labels: Sequence[str]) -> list[str]:
    """Category labels must differ, or plotly stacks two tokens that print alike into one bar."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def _token_axis(labels: Sequence[str]) -> dict:
    return dict(type="category", categoryorder="array", categoryarray=list(labels))


def next_token_chart(table: "pd.DataFrame", stages: Sequence[str]) -> go.Figure:
    """Grouped bars of the top tokens: the raw probability and the probability after each chosen stage.

    Tokens a stage removed get a red band behind their bars; tokens the repetition penalty touched get a ↺ mark.
    """
    labels = _unique([safe(f"{t} ↺" if p else t) for t, p in zip(table["token"], table["penalised"])])
    fig = go.Figure()
    for stage in stages:
        fig.add_bar(
            x=labels,
            y=table[stage],
            name=STAGE_LABELS.get(stage, stage),
            hovertemplate="%{x}<br>p = %{y:.4f}<extra>" + STAGE_LABELS.get(stage, stage) + "</extra>",
        )
    for i, removed_by in enumerate(table["removed_by"]):
        if removed_by:
            fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor=CUT_COLOR, line_width=0, layer="below")
    fig.update_layout(
        barmode="group",
        yaxis_title="probability",
        xaxis=dict(tickangle=-45, **_token_axis(labels)),
        legend=dict(orientation="h", y=1.1),
        margin=dict(l=10, r=10, t=40, b=10),
        height=380,
    )
    return fig


def context_window_bar(parts: dict[str, int], window: int) -> go.Figure:
    """One horizontal bar: how the context window splits between the parts (prompt, answer, free)."""
    fig = go.Figure()
    for name, count in parts.items():
        fig.add_bar(y=["context"], x=[count], name=f"{name}: {count:,}", orientation="h", hovertemplate=f"{name}: {count:,} tokens<extra></extra>")
    free = max(window - sum(parts.values()), 0)
    fig.add_bar(y=["context"], x=[free], name=f"free: {free:,}", orientation="h", marker_color="rgba(0,0,0,0.06)")
    fig.update_layout(barmode="stack", height=110, margin=dict(l=10, r=10, t=10, b=10), xaxis_range=[0, window],
                      legend=dict(orientation="h", y=-0.6), yaxis_visible=False)
    return fig


def token_probability_chart(steps: "Sequence[Step]", width: int = 60) -> go.Figure:
    """Generated text laid out in lines, each token a box coloured by the model's probability for it (green: the
    model was sure, red: a surprise); hover shows the probability it was sampled with and the alternatives."""
    xs, ys, widths, texts, probs, hovers = [], [], [], [], [], []
    x, line = 0, 0
    for step in steps:
        text = step.piece or step.text
        for part_index, part in enumerate(text.split("\n")):
            if part_index:  # a newline inside the token: continue on the next line
                x, line = 0, line + 1
            if not part:
                continue
            size = max(len(part), 1)
            if x + size > width and x > 0:
                x, line = 0, line + 1
            alternatives = "<br>".join(f"{safe(a.text)!r}: {a.probability:.3f}" for a in step.alternatives)
            xs.append(x)
            ys.append(line)
            widths.append(size)
            texts.append(safe(part))
            probs.append(step.model_probability)
            hovers.append(
                f"model p = {step.model_probability:.3f} (rank {step.rank}), sampled with p = {step.probability:.3f}"
                f"<br>alternatives:<br>{alternatives}"
            )
            x += size
    fig = go.Figure(
        go.Bar(
            base=xs, x=widths, y=ys, orientation="h", text=texts, textposition="inside", insidetextanchor="start",
            textangle=0, constraintext="none", cliponaxis=False,
            textfont=dict(family="monospace", size=12, color="black"), hovertext=hovers, hoverinfo="text",
            marker=dict(color=probs, colorscale="RdYlGn", cmin=0, cmax=1, line=dict(width=1, color="white"),
                        colorbar=dict(title="model p", thickness=10)),
            width=0.9,
        )
    )
    lines = max(ys, default=0) + 1
    fig.update_layout(
        height=60 + 26 * lines, margin=dict(l=5, r=5, t=5, b=5), showlegend=False, uniformtext=dict(minsize=8, mode="show"),
        xaxis=dict(visible=False, range=[0, width]), yaxis=dict(visible=False, autorange="reversed"),
    )
    return fig


def attention_heatmap(weights: "np.ndarray", tokens: Sequence[str], hide_first: bool = False) -> go.Figure:
    """Rows: the token that looks; columns: the tokens it looks at (a causal model only looks back).

    ``hide_first`` drops the first column: many heads park most of their attention on the first token (an
    "attention sink"), which washes out the colour scale for everything else.
    """
    labels = [f"{i}:{safe(t)}" for i, t in enumerate(tokens)]
    columns = labels[1:] if hide_first else labels
    weights = weights[:, 1:] if hide_first else weights
    fig = go.Figure(go.Heatmap(z=weights, x=columns, y=labels, colorscale="Blues", zmin=0, zmax=float(weights.max()),
                               hovertemplate="%{y} → %{x}<br>weight %{z:.3f}<extra></extra>"))
    fig.update_layout(height=max(300, 22 * len(tokens) + 120), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=_token_axis(columns), yaxis=dict(autorange="reversed", **_token_axis(labels)))
    return fig


def shots_chart(summary: "pd.DataFrame", metric: str) -> go.Figure:
    """Score against the number of shots, a line per model; prompt tokens as bars on a second axis."""
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for model, rows in summary.groupby("model"):
        fig.add_bar(x=rows["k"], y=rows["prompt_tokens"], name=f"{model}: prompt tokens", opacity=0.25, secondary_y=True)
        fig.add_scatter(x=rows["k"], y=rows["score"], name=f"{model}: {metric}", mode="lines+markers", secondary_y=False)
    fig.update_yaxes(title_text=metric, range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="prompt tokens", secondary_y=True, showgrid=False)
    fig.update_xaxes(title_text="examples in the prompt (k)", dtick=1)
    fig.update_layout(height=400, barmode="group", legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=10, b=10))
    return fig


def label_probabilities_chart(probabilities: dict[str, float]) -> go.Figure:
    labels = _unique([safe(label) for label in probabilities])
    fig = go.Figure(go.Bar(x=list(probabilities.values()), y=labels, orientation="h",
                           text=[f"{p:.1%}" for p in probabilities.values()], textposition="auto"))
    fig.update_layout(height=60 + 40 * len(probabilities), xaxis_range=[0, 1], margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=_token_axis(labels))
    return fig


def loss_chart(curves: dict[str, list[dict]], metric: str = "loss") -> go.Figure:
    """A training metric (lines) and its held-out value (dashed, markers: measured every few steps) against the step,
    one colour per run. ``metric`` is the progress key: "loss", or "accuracy" for reward models."""
    import plotly.colors

    fig = go.Figure()
    palette = plotly.colors.qualitative.Plotly
    for i, (run, rows) in enumerate(curves.items()):
        color = palette[i % len(palette)]
        train = [r for r in rows if metric in r]
        evals = [r for r in rows if f"eval_{metric}" in r]
        fig.add_scatter(x=[r["step"] for r in train], y=[r[metric] for r in train], name=safe(f"{run} train"), line_color=color)
        fig.add_scatter(x=[r["step"] for r in evals], y=[r[f"eval_{metric}"] for r in evals], name=safe(f"{run} eval"),
                        mode="lines+markers", line=dict(color=color, dash="dash"))
    fig.update_layout(height=360, xaxis_title="step", yaxis_title=metric, legend=dict(orientation="h", y=-0.25),
                      margin=dict(l=10, r=10, t=10, b=10))
    if metric == "accuracy":  # the same format as the summary's "Held-out accuracy" (one rounding for both)
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
        fig.update_traces(hovertemplate="step %{x}: %{y:.0%}<extra>%{fullData.name}</extra>")
    return fig


def memory_chart(parts: dict[str, int]) -> go.Figure:
    """One stacked bar of the memory a run needs, by part (weights, gradients, optimizer, activations)."""
    fig = go.Figure()
    for name, size in parts.items():
        fig.add_bar(y=["memory"], x=[size / 2**20], name=f"{name}: {size / 2**20:,.0f} MiB", orientation="h")
    fig.update_layout(barmode="stack", height=120, xaxis_title="MiB", yaxis_visible=False,
                      legend=dict(orientation="h", y=-0.9), margin=dict(l=10, r=10, t=10, b=10))
    return fig


def leaderboard_chart(rows: Sequence[dict]) -> go.Figure:
    """Grouped bars: one group per task (its headline metric), one bar per model, with a ±1 standard error bar where a
    row has ``se``. Each task gets its own y axis, because metrics of different tasks are not comparable (perplexity
    is not even on the same scale)."""
    from plotly.subplots import make_subplots

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    titles = [f"{safe(t)}<br><sub>{next(r['metric'] for r in rows if r['task'] == t)}</sub>" for t in tasks]
    fig = make_subplots(rows=1, cols=len(tasks), subplot_titles=titles)
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]
    for m, model in enumerate(models):
        for t, task in enumerate(tasks):
            row = next((r for r in rows if r["model"] == model and r["task"] == task), {})
            value, se = row.get("value"), row.get("se")  # se: the standard error, drawn as a ±1 SE error bar
            has_se = se is not None and se == se
            fig.add_bar(x=[safe(model)], y=[value], name=safe(model), text=[f"{value:.3g}" if value is not None else ""],
                        textposition="inside" if has_se else "outside", insidetextanchor="end", textangle=0,  # clear of the bar
                        legendgroup=model, showlegend=t == 0, marker_color=palette[m % len(palette)],
                        error_y=dict(type="data", array=[se], visible=True) if has_se else None,
                        row=1, col=t + 1, hovertemplate=f"{safe(model)}<br>%{{y:.3f}}{f' ± {se:.3g} SE' if has_se else ''}"
                                                        f"<extra>{safe(task)}</extra>")
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(barmode="group", height=360, margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", y=-0.05))
    return fig


MAP_COLORS = qualitative.Dark24
MAP_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x")


def chunk_map(points: "np.ndarray", sources: Sequence[str], texts: Sequence[str], retrieved: Sequence[int],
              query: "np.ndarray | None") -> go.Figure:
    """The chunks in 2D (PCA of their embeddings), coloured by document; retrieved chunks ringed; the query a star."""

    fig = go.Figure()
    for n, source in enumerate(dict.fromkeys(sources)):
        rows = [i for i, s in enumerate(sources) if s == source]
        # 24 distinct colours, then the same colours with another marker shape: no two documents look alike.
        color, symbol = MAP_COLORS[n % len(MAP_COLORS)], MAP_SYMBOLS[(n // len(MAP_COLORS)) % len(MAP_SYMBOLS)]
        fig.add_scatter(x=points[rows, 0], y=points[rows, 1], mode="markers", name=safe(source),
                        marker=dict(size=7, opacity=0.75, color=color, symbol=symbol),
                        text=[safe(texts[i][:120]) for i in rows], hovertemplate="%{text}<extra>" + safe(source) + "</extra>")
    if retrieved:
        fig.add_scatter(x=points[list(retrieved), 0], y=points[list(retrieved), 1], mode="markers", name="retrieved",
                        marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black")), hoverinfo="skip")
    if query is not None:
        fig.add_scatter(x=[query[0]], y=[query[1]], mode="markers", name="your question", marker=dict(symbol="star", size=18, color="gold",
                        line=dict(width=1, color="black")))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="PC 1", yaxis_title="PC 2",
                      legend=dict(font=dict(size=10)))
    return fig


def reward_histogram(chosen: Sequence[float], rejected: Sequence[float]) -> go.Figure:
    """Rewards of held-out chosen and rejected answers: a good reward model pulls the two apart."""
    fig = go.Figure()
    fig.add_histogram(x=list(chosen), name="chosen (preferred)", opacity=0.6, nbinsx=20, marker_color="#2ca02c")
    fig.add_histogram(x=list(rejected), name="rejected", opacity=0.6, nbinsx=20, marker_color="#d62728")
    fig.update_layout(barmode="overlay", height=300, xaxis_title="reward", yaxis_title="answers", margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=1.1))
    return fig


def align_chart(rows: Sequence[dict], metric: str, title: str, band: tuple[float, float] | None = None) -> go.Figure:
    """One alignment metric against the step; ``band`` (low, high) shades where its alarm fires."""
    points = [r for r in rows if r.get(metric) is not None]
    fig = go.Figure(go.Scatter(x=[r["step"] for r in points], y=[r[metric] for r in points], mode="lines+markers",
                               name=safe(title), line_color="#1f77b4"))
    if band is not None:
        fig.add_hrect(y0=band[0], y1=band[1], fillcolor=CUT_COLOR, line_width=0, layer="below")
    fig.update_layout(height=220, title=dict(text=safe(title), font_size=13), xaxis_title="step", showlegend=False,
                      margin=dict(l=10, r=10, t=30, b=10))
    if len(points) <= 10:
        fig.update_xaxes(dtick=1)  # whole steps only
    return fig


METHOD_COLORS = {"ppo": "#1f77b4", "rloo": "#ff7f0e", "dpo": "#2ca02c"}


def reward_kl_chart(summaries: Sequence[dict]) -> go.Figure:
    """Each alignment run as a point: KL to the reference (x) against the score it reached (y), labelled with its β."""
    fig = go.Figure()
    for method in sorted({s["method"] for s in summaries}):
        runs = [s for s in summaries if s["method"] == method]
        fig.add_scatter(x=[s["kl_last"] for s in runs], y=[s["score_last"] for s in runs], mode="markers+text",
                        name=method.upper(), text=[f"β={s['beta']:g}" if s["beta"] is not None else "" for s in runs],
                        textposition="top center", customdata=[safe(s["run"]) for s in runs],
                        hovertemplate="%{customdata}<br>KL %{x:.2f}, score %{y:.2f}<extra></extra>", marker_size=11,
                        marker_color=METHOD_COLORS.get(method, "#7f7f7f"))
    fig.update_layout(height=340, xaxis_title="KL to the reference (nats per answer, last steps)",
                      yaxis_title="mean score (last steps)", margin=dict(l=10, r=10, t=10, b=10))
    return fig


def pr_curve_chart(curves: dict[str, dict], points: dict[str, tuple[float, float]]) -> go.Figure:
    """Precision against recall for each classifier on the test split, with the operating point each one uses."""
    fig = go.Figure()
    for (name, curve), color in zip(curves.items(), qualitative.Plotly):
        fig.add_trace(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines", name=safe(name), line={"color": color}))
        if name in points:
            recall, precision = points[name]
            fig.add_trace(go.Scatter(x=[recall], y=[precision], mode="markers", marker={"size": 11, "color": color},
                                     name=safe(f"{name}: threshold"), showlegend=False,
                                     hovertemplate="recall %{x:.2f}, precision %{y:.2f}<extra>threshold</extra>"))
    fig.update_layout(height=340, margin={"t": 30, "b": 40, "l": 50, "r": 10}, xaxis_title="recall (toxic texts caught)",
                      yaxis_title="precision (flags that were right)", xaxis_range=[0, 1.02], yaxis_range=[0, 1.02],
                      legend={"orientation": "h", "y": -0.25})
    return fig


def method_accuracy_chart(rows: Sequence[dict], order: Sequence[str]) -> go.Figure:
    """Accuracy per method (x, in ``order``), a bar per model, each with its standard error as an error bar."""
    fig = go.Figure()
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = {r["method"]: r for r in rows if r["model"] == model}
        methods = [m for m in order if m in mine]
        fig.add_bar(x=methods, y=[mine[m]["accuracy"] for m in methods], name=safe(model),
                    error_y=dict(type="data", array=[mine[m]["standard_error"] for m in methods], visible=True),
                    customdata=[mine[m]["n"] for m in methods], text=[f"{mine[m]['accuracy']:.0%}" for m in methods],
                    textposition="outside",
                    hovertemplate=f"{safe(model)}<br>%{{x}}: %{{y:.1%}} of %{{customdata}}<extra></extra>")
    fig.update_layout(barmode="group", height=340, yaxis=dict(title="accuracy", tickformat=".0%", rangemode="tozero"),
                      xaxis=dict(type="category"), margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", y=-0.15))
    return fig
