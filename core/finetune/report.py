"""What a fine-tuned run changed: its answers against the base model's, ROUGE on held-out examples, and forgetting.

Forgetting is measured two ways, before (base) and after (tuned): the mean per-token loss on general text neither
model was tuned on (``assets/datasets/general_text.jsonl``; perplexity = exp(loss)), and zero-shot accuracy on a second
task (sentiment). Fine-tuning on summaries that raises the first or lowers the second has made the model forget.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from core.data import DATASETS_DIR, load_bundled
from core.evaluation.metrics import rouge, token_nll
from core.finetune.pairs import instruction_pairs
from core.prompting.prompts import build_prompt, generate_answer, score_labels

if TYPE_CHECKING:
    from core.models import LoadedModel


def general_texts() -> list[str]:
    return [json.loads(line)["text"] for line in (DATASETS_DIR / "general_text.jsonl").read_text().splitlines() if line.strip()]


def text_loss(loaded: "LoadedModel", texts: list[str]) -> float:
    """Mean next-token loss (nats per token) over texts."""
    total, count = token_nll(loaded, texts)
    return total / count


def sentiment_accuracy(loaded: "LoadedModel", n: int) -> float:
    """Zero-shot accuracy on the first n sentiment test reviews, by label log-likelihood."""
    task = load_bundled("sentiment")
    test = task.split("test")[:n]
    right = sum(score_labels(loaded, build_prompt(loaded, task, [], e.input).ids, task.labels).best == e.target for e in test)
    return right / len(test)


def side_by_side(base: "LoadedModel", tuned: "LoadedModel", inputs: list[str], dataset: str = "dialogsum") -> list[dict[str, str]]:
    """Both models' answers to the user's own inputs, put in the words the run was trained on."""
    from core.data import Example

    task = load_bundled(dataset)
    examples = tuple(Example(f"mine-{i}", text.strip(), "", "test") for i, text in enumerate(inputs) if text.strip())
    if not examples:
        raise ValueError("Type at least one input.")
    prompts = instruction_pairs(type(task)(task.name, task.kind, examples, task.labels), split="test")
    return [
        {"input": e.input, **{label: generate_answer(m, m.tokenizer(p["prompt"])["input_ids"], 64)
                              for label, m in (("base", base), ("tuned", tuned))}}
        for e, p in zip(examples, prompts)
    ]


@dataclass(frozen=True)
class Comparison:
    rows: list[dict[str, Any]]  # input, reference, base, tuned, rougeL_base, rougeL_tuned
    forgetting: dict[str, dict[str, float]]  # measure -> {"base", "tuned"}


def compare(
    base: "LoadedModel",
    tuned: "LoadedModel",
    dataset: str = "dialogsum",
    n_examples: int = 5,
    n_texts: int = 20,
    n_reviews: int = 20,
    on_progress: Callable[[str, float], None] | None = None,
) -> Comparison:
    """Answers of both models on held-out examples with ROUGE-L, then the forgetting measures for both."""
    report = on_progress or (lambda message, fraction: None)
    pairs = instruction_pairs(load_bundled(dataset), split="test")[:n_examples]
    rows = []
    for i, pair in enumerate(pairs):
        report(f"Answering held-out example {i + 1} of {len(pairs)}", i / (len(pairs) + 2))
        answers = {}
        for label, loaded in (("base", base), ("tuned", tuned)):
            answers[label] = generate_answer(loaded, loaded.tokenizer(pair["prompt"])["input_ids"], 64)
        scores = rouge([answers["base"], answers["tuned"]], [pair["completion"].strip()] * 2)
        rows.append({"input": pair["prompt"].split("\n\n", 1)[-1], "reference": pair["completion"].strip(), **answers,
                     "rougeL_base": scores[0]["rougeL"]["f"], "rougeL_tuned": scores[1]["rougeL"]["f"]})
    report("Measuring loss on general text", len(pairs) / (len(pairs) + 2))
    texts = general_texts()[:n_texts]
    losses = {"base": text_loss(base, texts), "tuned": text_loss(tuned, texts)}
    report("Measuring zero-shot sentiment accuracy", (len(pairs) + 1) / (len(pairs) + 2))
    accuracy = {"base": sentiment_accuracy(base, n_reviews), "tuned": sentiment_accuracy(tuned, n_reviews)}
    forgetting = {
        "general-text loss": losses,
        "general-text perplexity": {k: math.exp(v) for k, v in losses.items()},
        "sentiment accuracy (0-shot)": accuracy,
    }
    return Comparison(rows, forgetting)
