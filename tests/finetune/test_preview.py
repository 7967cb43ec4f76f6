"""The data preview shows what the trainer sees: its loss mask is the collator's, its over-length count is exact."""

from __future__ import annotations

import json

import pytest
import torch

from core.finetune import build_trainer, tokenize_pairs
from core.finetune.preview import preview_data
from tests.finetune.helpers import config_for


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Summarize: the bank is open at {h}.", "completion": " bank" * h} for h in range(1, 11)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_the_preview_mask_is_the_training_collators_labels(tiny_wide_dir, pairs_file, tmp_path):
    config = config_for(tiny_wide_dir, pairs_file, max_length=64, eval_fraction=0.2)
    trainer, tokenizer = build_trainer(config, tmp_path / "out")
    preview = preview_data(config, tokenizer, n_rows=10)
    by_ids = {tuple(row.input_ids): row for row in preview.rows}
    rows = list(trainer.train_dataset) + list(trainer.eval_dataset)
    batch = trainer.data_collator(rows)  # the real collator pads the batch: padding must stay out of the loss too
    assert len(rows) == len(by_ids) == 10
    for i, row in enumerate(rows):
        shown = by_ids[tuple(row["input_ids"])]
        n = len(row["input_ids"])
        assert shown.in_loss == (batch["labels"][i, :n] != -100).tolist()
        assert (batch["labels"][i, n:] == -100).all()
        assert torch.equal(batch["input_ids"][i, :n], torch.tensor(shown.input_ids))
    first = preview.rows[0]
    assert tokenizer.decode([t for t, m in zip(first.input_ids, first.in_loss) if m]) == " bank" + tokenizer.eos_token


def test_the_preview_counts_the_rows_over_max_length_by_hand(tiny_wide_dir, pairs_file, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_wide_dir)
    k = len(tokenizer(" bank", add_special_tokens=False)["input_ids"])
    assert len(tokenizer(" bank" * 7, add_special_tokens=False)["input_ids"]) == 7 * k  # k tokens per " bank"
    prompt = len(tokenizer("Summarize: the bank is open at 3.")["input_ids"])  # every prompt but the last has one digit
    assert len(tokenizer("Summarize: the bank is open at 10.")["input_ids"]) == prompt + 1
    # Row h has prompt (+1 for "10") + h·k + 1 (EOS) tokens, h = 1..10: with max_length = prompt + 7k, rows 7..10 are over.
    config = config_for(tiny_wide_dir, pairs_file, max_length=prompt + 7 * k)
    preview = preview_data(config, tokenizer)
    assert preview.lengths == [prompt + (h == 10) + h * k + 1 for h in range(1, 11)]
    assert preview.n_over == 4
    assert preview.smallest_fitting([16, 32, 64, 128]) == next(c for c in (16, 32, 64, 128) if c >= prompt + 1 + 10 * k + 1)
    pairs = [json.loads(line) for line in pairs_file.read_text().splitlines()]
    refused = 0
    for pair in pairs:  # the training path refuses exactly the rows the preview counts
        try:
            tokenize_pairs(tokenizer, [pair], config.max_length)
        except ValueError:
            refused += 1
    assert refused == preview.n_over
    assert [row.source for row in preview.rows] == [str(pairs_file)] * 3


def test_the_length_histogram_holds_every_row_and_marks_max_length(tiny_wide_dir, pairs_file):
    from core.ui.finetune_preview import length_histogram

    fig = length_histogram([10, 20, 30, 70, 80], 64)
    fits, over = fig.data
    assert list(fits.x) == [10, 20, 30] and list(over.x) == [70, 80]
    assert fig.layout.shapes[0].x0 == 64


def test_the_mask_chart_colours_the_loss_tokens_and_escapes_their_text():
    from core.ui.finetune_preview import token_mask_chart

    tokens, mask = ["<b>", " the", "\n", " end", "<|im_end|>"], [False, False, False, True, True]
    fig = token_mask_chart(tokens, mask, [-100, -100, -100, 7, 2], per_row=2)
    [heat] = fig.data
    flat = [z for row in heat.z for z in row][: len(tokens)]
    assert flat == [0, 0, 0, 1, 1]
    assert [t for row in heat.text for t in row][: len(tokens)] == ["&lt;b&gt;", " the", "↵", " end", "&lt;|im_end|&gt;"]
