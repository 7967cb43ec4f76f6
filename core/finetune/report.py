"""What a fine-tuned run changed: its answers against the base model's, ROUGE on held-out examples, and forgetting.

Forgetting is measured two ways, before (base) and after (tuned): the mean per-token loss on general text neither
model was tuned on (``assets/datasets/general_text.jsonl``; perplexity = exp(loss)), and zero-shot accuracy on a second
task (sentiment). Fine-tuning on summaries that raises the first or lowers the second has made the model forget.
The general text probed is the first ``PROBE_TEXTS`` paragraphs, which a multi-task mix never trains on
(``core.finetune.mixing``). Each comparison is kept in its run folder (``forgetting.json``), so ``forgetting_table``
can set runs side by side: full single-task against multi-task against LoRA, the remedies the course names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.data import load_bundled
from core.evaluation.metrics import rouge, token_nll
from core.finetune.mixing import PROBE_TEXTS, probe_texts
from core.finetune.pairs import instruction_pairs
from core.prompting.prompts import build_prompt, generate_answer, score_labels

if TYPE_CHECKING:
    from core.models import LoadedModel


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
    probe: dict[str, int] = field(default_factory=dict)  # n_texts, n_reviews: what the figures were measured on


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
    if not 1 <= n_texts <= PROBE_TEXTS:
        raise ValueError(f"n_texts must be 1 to {PROBE_TEXTS} (the probe paragraphs no mix trains on), got {n_texts}")
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
    texts = probe_texts()[:n_texts]
    losses = {"base": text_loss(base, texts), "tuned": text_loss(tuned, texts)}
    report("Measuring zero-shot sentiment accuracy", (len(pairs) + 1) / (len(pairs) + 2))
    accuracy = {"base": sentiment_accuracy(base, n_reviews), "tuned": sentiment_accuracy(tuned, n_reviews)}
    forgetting = {
        "general-text loss": losses,
        "general-text perplexity": {k: math.exp(v) for k, v in losses.items()},
        "sentiment accuracy (0-shot)": accuracy,
    }
    return Comparison(rows, forgetting, {"n_texts": n_texts, "n_reviews": n_reviews})


FORGETTING_FILE = "forgetting.json"
REMEDIES = {"full": "full fine-tuning", "lora": "LoRA", "prompt_tuning": "prompt tuning"}


def save_forgetting(run_dir: Path, result: Comparison) -> None:
    """Keep a comparison's forgetting figures in the run folder, for the table across runs."""
    from core.files import write_json_atomic

    write_json_atomic(run_dir / FORGETTING_FILE, {"forgetting": result.forgetting, **result.probe})


def remedy(config: dict[str, Any]) -> str:
    """How a run fought forgetting, in the course's words: "full fine-tuning, single-task", "LoRA, multi-task"..."""
    return f"{REMEDIES.get(config.get('method'), str(config.get('method')))}, {'multi-task' if config.get('mix') else 'single-task'}"


def forgetting_table(runs: list[Any]) -> list[dict[str, Any]]:
    """One row per run that has a saved comparison: its remedy, the probe sizes, and the forgetting figures with
    their change from the base (general-text loss up, or sentiment accuracy down, is forgetting)."""
    rows = []
    for run in runs:
        try:
            saved = json.loads((run.dir / FORGETTING_FILE).read_text())
        except (OSError, ValueError):
            continue
        loss, accuracy = saved["forgetting"]["general-text loss"], saved["forgetting"]["sentiment accuracy (0-shot)"]
        mix = run.config.get("mix") or []
        rows.append({
            "run": run.id, "remedy": remedy(run.config),
            "loss change": loss["tuned"] - loss["base"], "accuracy change": accuracy["tuned"] - accuracy["base"],
            "data": " + ".join(f"{m['dataset']} ×{m['weight']:g}" for m in mix) or str(run.config.get("dataset")),
            "general-text loss (base)": loss["base"], "general-text loss (tuned)": loss["tuned"],
            "sentiment accuracy (base)": accuracy["base"], "sentiment accuracy (tuned)": accuracy["tuned"],
            "texts": saved.get("n_texts"), "reviews": saved.get("n_reviews"),
        })
    return rows
