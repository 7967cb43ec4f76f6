"""Scoring one model on one task: each kind of task has its scorer, and ``summarize`` turns examples into metrics.

Multiple choice scores each choice by its log-likelihood after the question (lm-eval's acc and acc_norm);
classification scores each label the same way; summaries and translations are generated greedily in batches and
scored with ROUGE and BLEU; perplexity reads each text. Few-shot examples come from the task's pool in a fixed
rotation, so every model sees the same ones. A user's prompt template (promptfoo's prompt variants) replaces the
task's own prompt: the shots and the question are each the template filled with their input.

Holds: ``EvalResult``, ``evaluate`` and the per-kind scorers. Does not hold: the metric formulas
(``core.evaluation.metrics``), settings (``core.evaluation.runner.EvalConfig``) or saving (``core.store``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from core.data import Example, TaskData
from core.evaluation import metrics
from core.evaluation.tasks import EvalError, EvalTask, Item
from core.prompting.prompts import fit_prompt, score_labels

if TYPE_CHECKING:
    from core.evaluation.runner import EvalConfig
    from core.models import LoadedModel

Progress = Callable[[int, int], None]


@dataclass
class EvalResult:
    model: str
    task: str
    kind: str
    metrics: dict[str, float]
    examples: list[dict[str, Any]]  # id, input, reference, prediction, scores
    seconds: float
    config: dict[str, Any]
    complete: bool = True  # False when stopped early: the metrics cover the examples done


def evaluate(loaded: "LoadedModel", task: EvalTask, config: EvalConfig, on_progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None, template: str | None = None) -> EvalResult:
    """Score one model on one task's first ``config.limit`` test examples; with a ``template`` (a prompt with an
    {input} placeholder) each prompt is that template, after the shots written the same way."""
    if template and task.kind == "perplexity":
        raise EvalError("Prompt templates apply to tasks that answer a prompt, not to perplexity tasks.")
    items = task.test[: config.limit or None]
    started = time.perf_counter()
    scorer = {"multiple_choice": _multiple_choice, "classification": _classification, "summarization": _generation,
              "translation": _generation, "perplexity": _perplexity}[task.kind]
    examples = scorer(loaded, task, items, config, on_progress or (lambda done, total: None), should_stop or (lambda: False),
                      template)
    if not examples:
        raise EvalError(f"Stopped before the first example of {task.name} was scored.")
    settings = {k: v for k, v in config.to_dict().items() if k not in ("models", "tasks")}
    return EvalResult(loaded.info.name, task.name, task.kind, summarize(task.kind, examples), examples,
                      time.perf_counter() - started, settings, complete=len(examples) == len(items))


def _record(item: Item, prediction: str, scores: dict[str, float]) -> dict[str, Any]:
    return {"id": item.id, "input": item.input, "reference": item.reference, "prediction": prediction, "scores": scores}


def _as_task_data(task: EvalTask, template_name: str) -> TaskData:
    """The prompting module's view of a task, so prompts use the same words as the Prompt shots page and fine-tuning."""
    kind = "classification" if task.kind == "classification" else "generation"
    examples = tuple(Example(i.id, i.input, i.reference, i.split) for i in task.items)
    return TaskData(template_name, kind, examples, task.labels)


def _shots(task: EvalTask, position: int, k: int) -> list[Item]:
    """The same k pool examples for every model (a fixed rotation through the pool, so questions see different ones)."""
    pool = task.pool
    if not k or not pool:
        return []
    return [pool[(position * k + j) % len(pool)] for j in range(min(k, len(pool)))]


def _templated(loaded: "LoadedModel", template: str, shots: list[Item], item: Item, answer_tokens: int) -> list[int]:
    """The prompt of a user's template: each shot as the template filled with its input, then its answer; then the
    template filled with this input (the model continues from there)."""
    text = "".join(f"{template.format(input=s.input)} {s.reference}\n\n" for s in shots) + template.format(input=item.input)
    ids = loaded.tokenizer(text)["input_ids"]
    _check_fits(loaded, item, len(ids) + answer_tokens)
    return ids


def _multiple_choice(loaded, task, items, config, on_progress, should_stop, template=None) -> list[dict[str, Any]]:
    examples = []
    for position, item in enumerate(items):
        if should_stop():
            break
        subject = item.subject.replace("_", " ") or "general knowledge"
        header = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
        shots = "".join(f"Question: {s.input}\nAnswer: {s.reference}\n\n" for s in _shots(task, position, config.shots))
        longest = max(len(loaded.tokenizer(" " + c)["input_ids"]) for c in item.choices)
        if template:
            prompt_ids = _templated(loaded, template, _shots(task, position, config.shots), item, longest)
        else:
            prompt_ids = loaded.tokenizer(header + shots + f"Question: {item.input}\nAnswer:")["input_ids"]
            _check_fits(loaded, item, len(prompt_ids) + longest)
        logliks = score_labels(loaded, prompt_ids, item.choices).logprobs
        picked = metrics.choose([logliks[c] for c in item.choices], [" " + c for c in item.choices])
        shown = item.input + "\n" + "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(item.choices))
        examples.append(_record(replace(item, input=shown), item.choices[picked.index_norm], {
            "acc": float(picked.index == item.answer), "acc_norm": float(picked.index_norm == item.answer),
            **{f"loglik_{chr(65 + i)}": logliks[c] for i, c in enumerate(item.choices)}}))
        on_progress(position + 1, len(items))
    return examples


def _classification(loaded, task, items, config, on_progress, should_stop, template=None) -> list[dict[str, Any]]:
    data = _as_task_data(task, task.name if task.name == "sentiment" else "classification")
    examples = []
    for position, item in enumerate(items):
        if should_stop():
            break
        shots = [Example(s.id, s.input, s.reference, s.split) for s in _shots(task, position, config.shots)]
        ids = (_templated(loaded, template, _shots(task, position, config.shots), item, 8) if template
               else _fit(loaded, data, shots, item, 8).ids)
        scores = score_labels(loaded, ids, task.labels)
        examples.append(_record(item, scores.best, {"accuracy": float(scores.best == item.reference),
                                                    **{f"p_{label}": p for label, p in scores.probabilities.items()}}))
        on_progress(position + 1, len(items))
    return examples


def _generation(loaded, task, items, config, on_progress, should_stop, template=None) -> list[dict[str, Any]]:
    from core.sampling import generate_batch

    data = _as_task_data(task, "dialogsum" if task.kind == "summarization" else "translation")
    predictions: list[str] = []
    for start in range(0, len(items), config.batch_size):
        if should_stop():
            break
        batch = items[start:start + config.batch_size]
        prompts = []
        for offset, item in enumerate(batch):
            shots = [Example(s.id, s.input, s.reference, s.split) for s in _shots(task, start + offset, config.shots)]
            prompts.append(_templated(loaded, template, _shots(task, start + offset, config.shots), item, config.max_new_tokens)
                           if template else _fit(loaded, data, shots, item, config.max_new_tokens).ids)
        predictions += generate_batch(loaded, prompts, config.max_new_tokens)
        on_progress(len(predictions), len(items))
    done = items[:len(predictions)]
    if not done:
        return []
    references = [i.reference for i in done]
    if task.kind == "translation":
        per_example = [{"bleu": s} for s in metrics.bleu(predictions, references).sentence_scores]
    else:
        per_example = [{f"{t}_{part}": v for t, parts in r.items() for part, v in parts.items()}
                       for r in metrics.rouge(predictions, references)]
    exact = metrics.exact_match(predictions, references)
    flags = [metrics.output_flag(p, item.input) for item, p in zip(done, predictions)]
    return [_record(item, p, {**s, "exact_match": e, "echo": float(f == "echo")})
            for item, p, s, e, f in zip(done, predictions, per_example, exact, flags)]


def _perplexity(loaded, task, items, config, on_progress, should_stop, template=None) -> list[dict[str, Any]]:
    examples = []
    for position, item in enumerate(items):
        if should_stop():
            break
        total, count = metrics.token_nll(loaded, [item.input])
        examples.append(_record(item, "", {"perplexity": math.exp(total / count), "nll": total, "tokens": float(count)}))
        on_progress(position + 1, len(items))
    return examples


def _fit(loaded: "LoadedModel", data: TaskData, shots: list[Example], item: Item, answer_tokens: int) -> Any:
    try:
        return fit_prompt(loaded, data, shots, item.input, answer_tokens)
    except ValueError as err:
        raise EvalError(f"{loaded.info.name} cannot do example {item.id}: {err}") from err


def _check_fits(loaded: "LoadedModel", item: Item, tokens: int) -> None:
    if tokens > loaded.info.context_window:
        raise EvalError(f"{loaded.info.name} cannot do example {item.id}: it needs {tokens:,} tokens and the context "
                        f"window holds {loaded.info.context_window:,}.")


def summarize(kind: str, examples: list[dict[str, Any]]) -> dict[str, float]:
    """The task's metrics over its examples, plus how many outputs were empty (a model that says nothing scores 0)."""
    mean = lambda key: sum(e["scores"][key] for e in examples) / len(examples)  # noqa: E731
    empty = float(sum(not e["prediction"].strip() for e in examples)) if kind in ("summarization", "translation") else 0.0
    if kind == "multiple_choice":
        return {"acc": mean("acc"), "acc_norm": mean("acc_norm")}
    if kind == "classification":
        return {"accuracy": mean("accuracy")}
    if kind == "perplexity":
        total = sum(e["scores"]["nll"] for e in examples)
        return {"perplexity": math.exp(total / sum(e["scores"]["tokens"] for e in examples))}
    predictions, references = [e["prediction"] for e in examples], [e["reference"] for e in examples]
    corpus = metrics.bleu(predictions, references)
    echoed = float(sum(e["scores"].get("echo", 0.0) for e in examples))
    result = {"bleu": corpus.score, "exact_match": mean("exact_match"), "empty_outputs": empty, "echoed_outputs": echoed}
    if kind == "summarization":
        result.update(metrics.mean_rouge(metrics.rouge(predictions, references)))
    return result
