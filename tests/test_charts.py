"""core.ui.charts: text from models and users is shown as text, and token axes keep the model's order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.ui import charts


def table(tokens: list[str]) -> pd.DataFrame:
    n = len(tokens)
    return pd.DataFrame({"token": tokens, "penalised": [False] * n, "raw": np.linspace(0.5, 0.1, n),
                         "removed_by": [""] * n})


def test_markup_in_tokens_is_escaped_on_every_token_chart():
    hostile = ["<b>", '<a href="javascript:alert(1)">x</a>', "plain"]
    bars = charts.next_token_chart(table(hostile), ["raw"])
    assert list(bars.data[0].x) == ["&lt;b&gt;", "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;", "plain"]
    heat = charts.attention_heatmap(np.ones((3, 3)) / 3, hostile)
    assert all("<" not in label for label in heat.data[0].y)
    assert all("<" not in label for label in charts.label_probabilities_chart({"<i>pos</i>": 0.7, "neg": 0.3}).data[0].y)


def test_digit_tokens_keep_a_categorical_axis_in_the_models_order():
    digits = ["9", "0", "8", "1", " the"]  # "The year was 19": the likely next tokens are digits
    fig = charts.next_token_chart(table(digits), ["raw"])
    assert fig.layout.xaxis.type == "category"
    assert list(fig.layout.xaxis.categoryarray) == digits and list(fig.data[0].x) == digits  # nothing sorted or dropped


def test_tokens_that_print_alike_stay_separate_bars():
    fig = charts.next_token_chart(table(["�", "�", "x"]), ["raw"])
    assert len(set(fig.data[0].x)) == 3


def test_the_chunk_map_gives_every_document_its_own_look():
    sources = [f"doc-{i}.md" for i in range(30)]
    fig = charts.chunk_map(np.random.default_rng(0).standard_normal((30, 2)), sources, sources, [], None)
    looks = {(t.marker.color, t.marker.symbol) for t in fig.data}
    assert len(looks) == 30  # "annual" and "support" are never the same blue


def test_the_accuracy_chart_uses_the_summarys_format():
    fig = charts.loss_chart({"r": [{"step": 10, "accuracy": 0.4444, "eval_accuracy": 0.4444}]}, "accuracy")
    assert fig.layout.yaxis.tickformat == ".0%" and "%{y:.0%}" in fig.data[0].hovertemplate
