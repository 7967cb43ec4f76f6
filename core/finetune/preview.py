"""The data preview before training: the first rows as the trainer will see them, with the loss mask, and the token
lengths of every row against ``max_length``.

It calls what training calls (``training_pairs`` for the rows, mixed or not; ``tokenize_pair`` for the tokens and
labels), so the preview cannot drift from the run. A token counts in the loss when its label is not -100: the
completion and its EOS; the prompt never does, and the collator pads labels with -100. Rows longer than
``max_length`` are not cut: training refuses them, so the preview counts them first. Prompt tuning also puts its
virtual tokens before every row (never in the loss); they are not in the lengths here, as in training's check.

Does not hold: the charts or widgets (``core.ui.finetune_preview``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.finetune.mixing import training_pairs
from core.finetune.pairs import tokenize_pair

if TYPE_CHECKING:
    from core.finetune.config import FinetuneConfig

IGNORE = -100  # the label that keeps a token out of the loss


@dataclass(frozen=True)
class PreviewRow:
    source: str  # the dataset the row came from (a mix names each)
    prompt: str
    completion: str
    input_ids: list[int]
    labels: list[int]
    tokens: list[str]  # each token's text

    @property
    def in_loss(self) -> list[bool]:
        return [label != IGNORE for label in self.labels]

    def table(self) -> list[dict[str, Any]]:
        """One line per token: what it is, its id and label, and whether the loss counts it."""
        return [{"position": i, "token": repr(text)[1:-1], "id": token, "label": label, "in loss": label != IGNORE}
                for i, (text, token, label) in enumerate(zip(self.tokens, self.input_ids, self.labels))]


@dataclass(frozen=True)
class DataPreview:
    rows: list[PreviewRow]  # the first rows of the training data
    lengths: list[int]  # tokens in every row (prompt + completion + EOS)
    max_length: int
    sources: dict[str, int]  # rows per dataset
    virtual_tokens: int = 0  # prompt tuning: tokens put before every row, not counted in lengths

    @property
    def n_over(self) -> int:
        """Rows longer than max_length: the ones training would refuse."""
        return sum(length > self.max_length for length in self.lengths)

    def smallest_fitting(self, choices: list[int]) -> int | None:
        """The smallest of ``choices`` that every row fits in (None when none does)."""
        longest = max(self.lengths)
        return next((c for c in sorted(choices) if c >= longest), None)


def preview_data(config: "FinetuneConfig", tokenizer: Any, n_rows: int = 3) -> DataPreview:
    """The preview of a config's training data, tokenised by ``tokenizer`` (the base model's)."""
    pairs = training_pairs(config)
    tokenized = [tokenize_pair(tokenizer, pair) for pair in pairs]
    default_source = config.dataset
    rows = [
        PreviewRow(pair.get("source", default_source), pair["prompt"], pair["completion"], row["input_ids"], row["labels"],
                   [tokenizer.decode([token]) for token in row["input_ids"]])
        for pair, row in zip(pairs[:n_rows], tokenized)
    ]
    sources = Counter(pair.get("source", default_source) for pair in pairs)
    return DataPreview(rows, [len(row["input_ids"]) for row in tokenized], config.max_length, dict(sources),
                       config.virtual_tokens if config.method == "prompt_tuning" else 0)
