"""Plotly figures of the Pre-training & scaling page: loss against tokens, the IsoFLOP valleys and the fitted
scaling laws, and memory estimates as stacked bars by part. Figures only: no streamlit, no models."""

from __future__ import annotations

import math
from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative

from core.ui.charts import safe

PALETTE = qualitative.Plotly
LAYOUT = dict(margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))


def pretrain_loss_chart(rows: Sequence[dict]) -> go.Figure:
    """Training loss (thin line, every step) and validation loss (markers) against tokens seen, with the loss of
    a uniform guess over the vocabulary for scale."""
    train = [r for r in rows if "loss" in r and "tokens" in r]
    val = [r for r in rows if "val_loss" in r]
    fig = go.Figure()
    fig.add_scatter(x=[r["tokens"] for r in train], y=[r["loss"] for r in train], name="training loss",
                    line=dict(width=1, color=PALETTE[0]))
    fig.add_scatter(x=[r["tokens"] for r in val], y=[r["val_loss"] for r in val], name="validation loss "
                    "(held-out packages)", mode="lines+markers", line=dict(color=PALETTE[1]))
    fig.update_layout(height=340, xaxis_title="tokens seen", yaxis_title="loss (nats per token)", **LAYOUT)
    return fig


def isoflop_chart(points: Sequence[dict], profiles: Sequence[Any]) -> go.Figure:
    """Final loss against model size at each compute budget (one colour per budget), the fitted parabola in
    log N, and its minimum: Chinchilla's IsoFLOP valleys."""
    import numpy as np

    fig = go.Figure()
    for i, profile in enumerate(profiles):
        color = PALETTE[i % len(PALETTE)]
        label = f"C = {profile.budget:.0e} FLOPs"
        fig.add_scatter(x=profile.params, y=profile.losses, mode="markers", name=label, marker=dict(color=color,
                        size=9), hovertemplate="N = %{x:,.0f}<br>loss %{y:.3f}<extra>" + label + "</extra>")
        if profile.coefficients is not None:
            x = np.linspace(math.log10(min(profile.params)), math.log10(max(profile.params)), 50)
            fig.add_scatter(x=10 ** x, y=np.polyval(profile.coefficients, x), mode="lines", showlegend=False,
                            line=dict(color=color, dash="dot"), hoverinfo="skip")
        if profile.n_opt is not None:
            fig.add_scatter(x=[profile.n_opt], y=[profile.loss_opt], mode="markers", showlegend=False,
                            marker=dict(color=color, symbol="star", size=15, line=dict(width=1, color="black")),
                            hovertemplate="N_opt ≈ %{x:,.0f}<br>loss %{y:.3f}<extra>" + label + "</extra>")
    fig.update_xaxes(type="log", title="parameters N (log scale)")
    fig.update_layout(height=380, yaxis_title="validation loss after D = C / 6N tokens", **LAYOUT)
    return fig


def optimum_chart(profiles: Sequence[Any], a: float | None, b: float | None) -> go.Figure:
    """N_opt and D_opt against compute (log-log) with the fitted power laws, beside Chinchilla's slope of 0.5
    drawn through the first optimum."""
    import numpy as np

    found = [p for p in profiles if p.n_opt is not None]
    fig = go.Figure()
    if not found:
        return fig
    budgets = np.array([p.budget for p in found])
    span = np.geomspace(budgets.min(), budgets.max(), 20)
    for name, values, slope, color in (("N_opt (parameters)", [p.n_opt for p in found], a, PALETTE[0]),
                                       ("D_opt (tokens)", [p.d_opt for p in found], b, PALETTE[1])):
        fig.add_scatter(x=budgets, y=values, mode="markers", name=name, marker=dict(size=10, color=color))
        if slope is not None:
            fit = np.polyfit(np.log10(budgets), np.log10(values), 1)
            fig.add_scatter(x=span, y=10 ** np.polyval(fit, np.log10(span)), mode="lines", line=dict(color=color),
                            name=f"fit: ∝ C^{slope:.2f}")
            fig.add_scatter(x=span, y=values[0] * (span / budgets[0]) ** 0.5, mode="lines", name="Chinchilla: "
                            "∝ C^0.50", line=dict(color=color, dash="dash", width=1), showlegend=color == PALETTE[0])
    fig.update_xaxes(type="log", title="compute C (FLOPs)")
    fig.update_yaxes(type="log", title="parameters or tokens (log scale)")
    fig.update_layout(height=380, **LAYOUT)
    return fig


def stacked_memory_chart(bars: dict[str, dict[str, int]], limit_bytes: float | None = None) -> go.Figure:
    """Memory estimates as stacked horizontal bars by part, one bar per case (an estimate, a sharding strategy,
    a measurement), in GiB; a vertical line marks a device's memory when one is given."""
    parts = list(dict.fromkeys(part for bar in bars.values() for part in bar))
    labels = [safe(name) for name in bars]
    fig = go.Figure()
    for i, part in enumerate(parts):
        fig.add_bar(y=labels, x=[bars[name].get(part, 0) / 2**30 for name in bars], orientation="h",
                    name=part.removesuffix("_bytes").replace("_", " "), marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{x:.3g} GiB<extra>" + part.removesuffix("_bytes") + "</extra>")
    if limit_bytes:
        fig.add_vline(x=limit_bytes / 2**30, line_dash="dash", annotation_text="device memory")
    fig.update_layout(barmode="stack", height=130 + 42 * len(bars), xaxis_title="GiB",
                      margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", traceorder="normal"))
    fig.update_yaxes(autorange="reversed")
    return fig
