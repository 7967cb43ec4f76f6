"""Widgets and figures of the "Inside the model" page: the prompt presets, the cached logit lens, the forward-pass
outline as a chart and a table, the lens heatmap and the tracked token's probability by layer.

Tokens reach the figures through ``charts.safe`` (plotly reads a little HTML in labels and cell text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import streamlit as st

from core.ui.charts import _token_axis, safe
from core.ui.widgets import human_count

if TYPE_CHECKING:
    from core.models.anatomy import ForwardOutline
    from core.sampling.lens import LogitLens

# Prompt -> a word worth tracking after it. On SmolLM2 (measured): "my bank" -> " account" (p 0.88 at the output, top
# only from layer 29), "the bank of the" -> " river" (0.40, top at layer 30 only).
PRESETS = {
    "I withdrew cash from my bank": "account",
    "She sat on the bank of the": "river",
    "I sat on the river bank": "",
    "I deposited my pay at the bank": "",
    "The Eiffel Tower is in the city of": "Paris",
}
MAX_POSITIONS = 16  # heatmap columns: the last tokens of the prompt (a cell must hold a token's text)
STAGE_COLORS = {"embedding": "#4c78a8", "attention": "#f58518", "mlp": "#54a24b", "output": "#b279a2"}


@st.cache_data(show_spinner="Reading every layer's prediction...", max_entries=32)
def lens_for(_loaded: Any, name: str, precision: str, ids: tuple[int, ...], target: int | None) -> "LogitLens":
    """The logit lens of the last MAX_POSITIONS positions, cached per (model, precision, prompt, tracked token)."""
    from core.sampling.lens import logit_lens

    return logit_lens(_loaded, list(ids), target=target, last=MAX_POSITIONS)


def outline_chart(outline: "ForwardOutline") -> go.Figure:
    """The forward pass top to bottom: one bar per step, its length the parameters of all its copies, labelled with
    the step's output shape (T tokens) and its parameters."""
    steps = list(outline.steps)
    labels = [f"{s.step}  ×{s.repeat}" if s.repeat > 1 else s.step for s in steps]
    fig = go.Figure()
    for stage, color in STAGE_COLORS.items():
        rows = [i for i, s in enumerate(steps) if s.stage == stage or (stage == "embedding" and s.stage == "input")]
        fig.add_bar(
            y=[labels[i] for i in rows], x=[steps[i].total_params for i in rows], orientation="h",
            name=stage, marker_color=color, textposition="outside", cliponaxis=False,
            text=[steps[i].shape + (f"  ·  {human_count(steps[i].total_params)}" if steps[i].total_params else "")
                  for i in rows],
            customdata=[[f"{steps[i].params:,}", steps[i].note] for i in rows],
            hovertemplate="%{y}<br>output %{text}<br>%{customdata[0]} parameters a copy<br>%{customdata[1]}"
                          "<extra></extra>",
        )
    layers = outline.shape.layers
    fig.update_layout(
        height=26 * len(steps) + 140, margin=dict(l=10, r=160, t=60, b=10), barmode="overlay",
        title=dict(text=f"One forward pass, top to bottom. Rows marked ×{layers} run in every one of the {layers} "
                        "decoder layers, each with its own weights", font=dict(size=14)),
        xaxis=dict(title="parameters, all copies (a step without weights has no bar)", rangemode="tozero"),
        yaxis=dict(autorange="reversed", **_token_axis(labels)), legend=dict(orientation="h", y=1.0, x=0, yanchor="bottom"),
    )
    return fig


def lens_heatmap(lens: "LogitLens") -> go.Figure:
    """Layer (0 = embedding, bottom) x position: colour the top token's probability, text the top token."""
    columns = [f"{lens.start + i}:{safe(t)}" for i, t in enumerate(lens.tokens)]
    rows = ["0 embedding", *(str(i) for i in range(1, lens.layers)), f"{lens.layers} output"]
    text = [[safe(t)[:10] for t in row] for row in lens.top_tokens]
    fig = go.Figure(go.Heatmap(
        z=lens.top_probs.tolist(), x=columns, y=rows, text=text, texttemplate="%{text}", textfont=dict(size=12),
        colorscale="Blues", zmin=0, zmax=1, colorbar=dict(title="p(top)", thickness=12),
        hovertemplate="after %{x}<br>layer %{y}<br>top: %{text}<br>p = %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        height=max(360, 24 * len(rows) + 160), margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(side="top", tickangle=0 if len(columns) <= 8 else -45, title="the prediction after this token",
                   **_token_axis(columns)),
        yaxis=dict(title="layer", **_token_axis(rows)),
    )
    return fig


def track_chart(lens: "LogitLens", word: str) -> go.Figure:
    """The tracked token's probability by layer at the last position, beside the top token's."""
    layers = list(range(lens.layers + 1))
    fig = go.Figure()
    fig.add_scatter(x=layers, y=lens.target_probs[:, -1].tolist(), mode="lines+markers", name=f"p({safe(word)})",
                    line=dict(color="#f58518", width=3))
    fig.add_scatter(x=layers, y=lens.top_probs[:, -1].tolist(), mode="lines+markers", name="p(top token)",
                    text=[safe(row[-1]) for row in lens.top_tokens], line=dict(dash="dot", color="#4c78a8"),
                    hovertemplate="layer %{x}: %{text} %{y:.3f}<extra></extra>")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="layer (0 = embedding)",
                      yaxis=dict(title="probability of the next token", range=[0, 1]), legend=dict(orientation="h"))
    return fig


def choose_preset() -> None:
    """on_change of the preset box: its prompt, and the word it suggests tracking."""
    prompt = st.session_state["inside.preset"]
    st.session_state.update({"inside.prompt": prompt, "inside.track": PRESETS[prompt]})


def outline_metrics(outline: "ForwardOutline") -> None:
    """The config's numbers in a row of metrics."""
    s = outline.shape
    values = {"layers": s.layers, "hidden size": s.hidden, "query heads": s.heads, "key/value heads": s.kv_heads,
              "head dim": s.head_dim, "MLP size": s.intermediate, "vocabulary": f"{s.vocab:,}",
              "parameters": human_count(outline.total_params)}
    for column, (label, value) in zip(st.columns(len(values)), values.items()):
        column.metric(label, value)
