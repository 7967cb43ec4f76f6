"""Widgets of the Fine-tune runner's data preview: the first rows with their loss mask, and the length histogram."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core.data import DataError
from core.finetune.mixing import MIX_SOURCES
from core.finetune.preview import DataPreview, preview_data

IN_LOSS_COLOR = "rgba(44, 160, 44, 0.22)"
MAX_LENGTH_CHOICES = [64, 128, 256, 512, 1024]


def length_histogram(lengths: list[int], max_length: int) -> go.Figure:
    """Token lengths of the rows, those over max_length in red, with max_length drawn as a line."""
    fits = [n for n in lengths if n <= max_length]
    over = [n for n in lengths if n > max_length]
    fig = go.Figure()
    bins = dict(start=0, size=max(1, (max(lengths) + 1) // 40 or 1))
    fig.add_histogram(x=fits, name="fits", marker_color="#1f77b4", xbins=bins)
    if over:
        fig.add_histogram(x=over, name="over max_length (refused)", marker_color="#d62728", xbins=bins)
    fig.add_vline(x=max_length, line_dash="dash", line_color="#d62728", annotation_text=f"max_length = {max_length}")
    fig.update_layout(barmode="overlay", height=280, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="tokens per row",
                      yaxis_title="rows", legend=dict(orientation="h", y=1.12), bargap=0.05)
    return fig


def token_mask_chart(tokens: list[str], in_loss: list[bool], labels: list[int], per_row: int = 16) -> go.Figure:
    """The row's tokens in reading order, a cell each: green where the loss counts the token, grey where its label is
    -100. Token text is escaped (plotly reads HTML in labels); a newline shows as ↵."""
    from core.ui.charts import safe

    n_rows = -(-len(tokens) // per_row)
    grid = lambda values, fill: [[values[r * per_row + c] if r * per_row + c < len(values) else fill  # noqa: E731
                                  for c in range(per_row)] for r in range(n_rows)]
    shown = [safe(t.replace("\n", "↵")) or "∅" for t in tokens]
    hover = [f"position {i}<br>label {label}" for i, label in enumerate(labels)]
    fig = go.Figure(go.Heatmap(z=grid([1 if m else 0 for m in in_loss], None), text=grid(shown, ""), texttemplate="%{text}",
                               customdata=grid(hover, ""), hovertemplate="%{text}<br>%{customdata}<extra></extra>",
                               colorscale=[[0, "#ececec"], [1, "rgba(44, 160, 44, 0.55)"]], zmin=0, zmax=1, showscale=False,
                               xgap=2, ygap=2, textfont=dict(size=13, color="#222")))
    fig.update_layout(height=30 * n_rows + 20, margin=dict(l=0, r=0, t=10, b=10))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    return fig


def source_label(source: str) -> str:
    """A dataset as the page names it: a bundled name, or "your file" (a path is not put into markdown)."""
    return source if source in MIX_SOURCES else "your file"


def _loss_style(row: Any) -> list[str]:
    return [f"background-color: {IN_LOSS_COLOR}" if row["in loss"] else "" for _ in row]


def data_preview(config: Any, tokenizer: Any) -> DataPreview | None:
    """The preview of what the run will train on; a dataset that cannot be read is an st.error (None returned)."""
    import pandas as pd

    try:
        preview = preview_data(config, tokenizer)
    except (DataError, ValueError) as err:
        st.error(str(err))
        return None
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Training rows", f"{len(preview.lengths):,}", help="Before the eval share is held out.")
    c2.metric("Longest row", f"{max(preview.lengths)} tokens")
    c3.metric("Over max_length", preview.n_over, help="Training refuses these rows: it does not cut them.")
    c4.metric("Datasets", len(preview.sources), help="A mix draws rows from several.")
    st.caption("Rows by dataset: " + ", ".join(f"{source_label(name)} {n}" for name, n in sorted(preview.sources.items())))
    if preview.n_over:
        fitting = preview.smallest_fitting(MAX_LENGTH_CHOICES)
        st.warning(f"{preview.n_over} of {len(preview.lengths)} rows are longer than max_length = {preview.max_length}; "
                   "training would stop on the first one. "
                   + (f"Max length {fitting} fits them all." if fitting else "Shorten the data."))
    st.plotly_chart(length_histogram(preview.lengths, preview.max_length), key="finetune.preview.lengths")
    if preview.virtual_tokens:
        st.caption(f"Prompt tuning puts {preview.virtual_tokens} virtual tokens before every row (never in the loss).")
    for number, row in enumerate(preview.rows, start=1):
        in_loss = sum(row.in_loss)
        with st.expander(f"Row {number} ({source_label(row.source)}): {len(row.input_ids)} tokens, {in_loss} in the loss",
                         expanded=number == 1):
            left, right = st.columns(2)
            left.caption("Prompt (label -100: not in the loss)")
            left.text(row.prompt or "(empty: the whole text is in the loss)")
            right.caption("Completion and EOS (in the loss)")
            right.text(row.completion)
            st.plotly_chart(token_mask_chart(row.tokens, row.in_loss, row.labels), key=f"finetune.preview.mask.{number}")
            table = pd.DataFrame(row.table())
            st.dataframe(table.style.apply(_loss_style, axis=1), hide_index=True, height=180,
                         key=f"finetune.preview.tokens.{number}")
    return preview
