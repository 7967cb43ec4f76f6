"""Tables of the next-token distribution for people to read: top tokens with their probabilities at every stage.

Holds ``next_token_table`` (a pandas DataFrame the page charts and the CLI prints). Pure data: no plotting, no UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.sampling.generation import token_text
from core.sampling.stages import StageView

if TYPE_CHECKING:
    import pandas as pd


def next_token_table(views: list[StageView], tokenizer: Any, previous_ids: Any = None, top: int = 20) -> "pd.DataFrame":
    """The ``top`` most likely tokens under the model's raw distribution, one row each.

    Columns: rank, token_id, token (text, with spaces and newlines made visible), one probability column per view
    ("raw", then each active stage), "final", "removed_by" (the stage that cut the token, or ""), "penalised"
    (already in the text, so the repetition penalty applied to it).
    """
    import pandas as pd
    import torch

    raw = views[0].logits
    order = raw.topk(min(top, raw.numel())).indices  # not a full sort: 262k tokens take 30 ms to sort
    seen = set(torch.as_tensor(previous_ids).flatten().tolist()) if previous_ids is not None else set()
    removed_by: dict[int, str] = {}
    for view in views[1:]:
        for token_id in order[view.removed[order]].tolist():  # only the rows shown
            removed_by.setdefault(token_id, view.stage)
    probabilities = {view.stage: view.probs_of(order).tolist() for view in views}
    rows = []
    for rank, token_id in enumerate(order.tolist(), start=1):
        row: dict[str, Any] = {"rank": rank, "token_id": token_id, "token": visible(token_text(tokenizer, token_id))}
        for stage, values in probabilities.items():
            row[stage] = values[rank - 1]
        row["final"] = probabilities[views[-1].stage][rank - 1]
        row["removed_by"] = removed_by.get(token_id, "")
        row["penalised"] = token_id in seen and any(v.stage == "repetition_penalty" for v in views)
        rows.append(row)
    return pd.DataFrame(rows)


def visible(text: str) -> str:
    """Show the whitespace a token carries: a leading space as '␣', a newline as '↵', a tab as '⇥'."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅"
