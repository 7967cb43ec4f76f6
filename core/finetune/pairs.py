"""Instruction pairs for fine-tuning: ``{"prompt", "completion"}`` rows from a bundled dataset or a file, tokenised
so that the loss covers the completion (and EOS) only.

Does not hold: reading files in general (``core.data``) or the prompt templates (``core.prompting``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.data import BUNDLED, DataError, TaskData, load_bundled, read_records
from core.prompting.prompts import template_for


def instruction_pairs(task: TaskData, split: str = "pool") -> list[dict[str, str]]:
    """{"prompt", "completion"} pairs from a task, in the same words as the zero-shot prompt."""
    template = template_for(task)
    return [
        {"prompt": f"{template.instruction}\n\n{template.input_prefix} {e.input}\n{template.output_prefix}", "completion": f" {e.target}"}
        for e in task.split(split)
    ]


def load_pairs(dataset: str) -> list[dict[str, str]]:
    """Training pairs from a bundled dataset name or a JSONL/CSV file with prompt and completion columns."""
    if dataset in BUNDLED:
        return instruction_pairs(load_bundled(dataset))
    path = Path(dataset)
    if not path.is_file():
        raise DataError(f"No dataset {dataset!r}: not a bundled name ({', '.join(BUNDLED)}) nor a file.")
    pairs = []
    for row in read_records(path.read_bytes(), path.name):
        for column in ("prompt", "completion"):
            if not str(row.get(column) or "").strip():
                raise DataError(f"{path.name}, line {row['_line']}: column {column!r} is missing or empty.")
        pairs.append({"prompt": str(row["prompt"]), "completion": str(row["completion"])})
    if len(pairs) < 2:
        raise DataError(f"{path.name} has {len(pairs)} example(s); training needs at least 2 (one is held out).")
    return pairs


def tokenize_pair(tokenizer: Any, pair: dict[str, str]) -> dict[str, list[int]]:
    """One pair as the trainer sees it: input_ids, and labels that are -100 on the prompt, so the loss covers the
    completion (and EOS) only. No length check: ``tokenize_pairs`` refuses long rows, the data preview counts them."""
    prompt = tokenizer(pair["prompt"])["input_ids"]
    completion = tokenizer(pair["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return {"input_ids": prompt + completion, "labels": [-100] * len(prompt) + completion}


def tokenize_pairs(tokenizer: Any, pairs: list[dict[str, str]], max_length: int) -> list[dict[str, list[int]]]:
    """``tokenize_pair`` on every pair; a row longer than max_length is refused (not cut), naming the example."""
    rows = []
    for number, pair in enumerate(pairs, start=1):
        row = tokenize_pair(tokenizer, pair)
        if len(row["input_ids"]) > max_length:
            raise ValueError(f"Example {number} has {len(row['input_ids'])} tokens, more than max_length={max_length}; "
                             "raise max_length or shorten the data.")
        rows.append(row)
    return rows
