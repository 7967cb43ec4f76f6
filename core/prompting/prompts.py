"""In-context learning: zero-, one- and few-shot prompts, example selection, token budgets and answer scoring.

Holds: prompt templates per task kind, ``build_prompt`` (raw text or the model's chat template, with every part's
token count), example selection (random, balanced per class, most similar by MiniLM embedding), fitting the context
window by dropping examples, label scoring by log-likelihood with the shared prompt run once (KV cache), and free
generation with answer parsing.

Does not hold: datasets (``core.data``), sweeps over k (``core.prompting.shots``), models (``core.models``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Sequence

from core.data import Example, TaskData

if TYPE_CHECKING:
    import numpy as np

    from core.models import LoadedModel

Strategy = Literal["random", "balanced", "similar"]
STRATEGIES: tuple[str, ...] = ("random", "balanced", "similar")
PartKind = Literal["instruction", "example", "input", "cue", "template"]
COT_CUE = "Let's think step by step."


@dataclass(frozen=True)
class Template:
    """How a task is put into words. ``{labels}`` in the instruction becomes "positive or negative"."""

    instruction: str
    input_prefix: str
    output_prefix: str


TEMPLATES: dict[str, Template] = {
    "classification": Template("Classify the sentiment of each text as {labels}.", "Text:", "Sentiment:"),
    "generation": Template("Summarize the dialogue in one or two sentences.", "Dialogue:", "Summary:"),
}
TASK_TEMPLATES: dict[str, Template] = {
    "sentiment": Template("Classify the sentiment of each review as {labels}.", "Review:", "Sentiment:"),
    "dialogsum": TEMPLATES["generation"],
    "translation": Template("Translate each English sentence into French.", "English:", "French:"),
}


def template_for(task: TaskData) -> Template:
    base = TASK_TEMPLATES.get(task.name, TEMPLATES[task.kind])
    labels = " or ".join(task.labels)
    return Template(base.instruction.format(labels=labels), base.input_prefix, base.output_prefix)


@dataclass(frozen=True)
class PromptPart:
    kind: PartKind
    text: str
    tokens: int  # how many of the prompt's tokens this part accounts for


@dataclass(frozen=True)
class Prompt:
    """Exactly what the model receives, split into coloured parts that add up to its tokens."""

    text: str
    ids: list[int]
    parts: list[PromptPart]
    chat: bool
    examples: list[Example]
    dropped: int = 0  # examples dropped to fit the context window

    def tokens_by_kind(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for part in self.parts:
            totals[part.kind] = totals.get(part.kind, 0) + part.tokens
        return totals


# ---------------------------------------------------------------- building prompts


def _segments(template: Template, examples: Sequence[Example], query: str, cot: bool) -> list[tuple[PartKind, str]]:
    """The raw-text prompt as (kind, text) segments; concatenated they are the prompt."""
    segments: list[tuple[PartKind, str]] = [("instruction", template.instruction + "\n\n")]
    for example in examples:
        segments.append(("example", f"{template.input_prefix} {example.input}\n{template.output_prefix} {example.target}\n\n"))
    segments.append(("input", f"{template.input_prefix} {query}\n"))
    segments.append(("cue", f"{COT_CUE}\n" if cot else template.output_prefix))
    return segments


def _messages(template: Template, examples: Sequence[Example], query: str, cot: bool) -> list[tuple[PartKind, dict[str, str]]]:
    """The chat form: the instruction as the system turn, each example as a user/assistant exchange, then the query."""
    messages: list[tuple[PartKind, dict[str, str]]] = [("instruction", {"role": "system", "content": template.instruction})]
    for example in examples:
        messages.append(("example", {"role": "user", "content": f"{template.input_prefix} {example.input}"}))
        messages.append(("example", {"role": "assistant", "content": example.target}))
    suffix = f"\n{COT_CUE}" if cot else ""
    messages.append(("input", {"role": "user", "content": f"{template.input_prefix} {query}{suffix}"}))
    return messages


def build_prompt(loaded: "LoadedModel", task: TaskData, examples: Sequence[Example], query: str, chat: bool = False, cot: bool = False) -> Prompt:
    """The prompt for ``query`` with ``examples`` as shots, and how many tokens each part takes."""
    if not query.strip():
        raise ValueError("The input is empty.")
    tokenizer = loaded.tokenizer
    template = template_for(task)
    if chat:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"{loaded.info.name} has no chat template (it is a base model); turn chat off.")
        messages = _messages(template, examples, query, cot)

        def render(upto: int, final: bool) -> str:
            return tokenizer.apply_chat_template([m for _, m in messages[:upto]], tokenize=False, add_generation_prompt=final)

        texts = [render(i + 1, i == len(messages) - 1) for i in range(len(messages))]
        kinds = [kind for kind, _ in messages]
        encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731 (the template adds them)
    else:
        segments = _segments(template, examples, query, cot)
        texts = ["".join(text for _, text in segments[: i + 1]) for i in range(len(segments))]
        kinds = [kind for kind, _ in segments]
        encode = lambda text: tokenizer(text)["input_ids"]  # noqa: E731
    # Token counts per part: the growth of the tokenized prefix (exact even where BPE merges across a boundary).
    parts, previous = [], 0
    for i, (kind, text) in enumerate(zip(kinds, texts)):
        count = len(encode(text))
        parts.append(PromptPart(kind, text[len(texts[i - 1]):] if i else text, count - previous))
        previous = count
    return Prompt(text=texts[-1], ids=encode(texts[-1]), parts=parts, chat=chat, examples=list(examples))


def fit_prompt(
    loaded: "LoadedModel", task: TaskData, examples: Sequence[Example], query: str, answer_tokens: int, chat: bool = False, cot: bool = False
) -> Prompt:
    """build_prompt, dropping examples (the ones farthest from the query first) until prompt + answer fit the window."""
    window = loaded.info.context_window
    examples = list(examples)
    dropped = 0
    while True:
        prompt = build_prompt(loaded, task, examples, query, chat, cot)
        if len(prompt.ids) + answer_tokens <= window:
            return Prompt(prompt.text, prompt.ids, prompt.parts, chat, examples, dropped)
        if not examples:
            raise ValueError(
                f"Even with no examples the prompt takes {len(prompt.ids):,} tokens; with {answer_tokens} for the answer "
                f"it does not fit the context window of {window:,} tokens. Shorten the input."
            )
        examples.pop(0)
        dropped += 1


# ---------------------------------------------------------------- choosing examples


def select_examples(
    pool: Sequence[Example],
    k: int,
    strategy: str = "random",
    seed: int = 0,
    labels: Sequence[str] = (),
    query_vector: "np.ndarray | None" = None,
    pool_vectors: "np.ndarray | None" = None,
    exclude: str | None = None,
) -> list[Example]:
    """k examples from the pool. random: a seeded draw; balanced: round-robin over the labels, shuffled;
    similar: the k nearest by embedding (cosine), the nearest placed last, right before the query."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    candidates = [i for i, e in enumerate(pool) if e.id != exclude]
    k = min(k, len(candidates))
    if k == 0:
        return []
    rng = random.Random(seed)
    if strategy == "random":
        return [pool[i] for i in rng.sample(candidates, k)]
    if strategy == "balanced":
        if not labels:
            raise ValueError("Balanced selection needs a classification task (labels).")
        by_label = {label: [i for i in candidates if pool[i].target == label] for label in labels}
        for indices in by_label.values():
            rng.shuffle(indices)
        chosen: list[int] = []
        while len(chosen) < k and any(by_label.values()):
            for label in labels:
                if by_label[label] and len(chosen) < k:
                    chosen.append(by_label[label].pop())
        rng.shuffle(chosen)
        return [pool[i] for i in chosen]
    if query_vector is None or pool_vectors is None:
        raise ValueError("Similar selection needs embeddings of the query and of the pool.")
    scores = pool_vectors[candidates] @ query_vector
    nearest = [candidates[i] for i in scores.argsort()[::-1][:k]]
    return [pool[i] for i in reversed(nearest)]


# ---------------------------------------------------------------- scoring and answers


@dataclass(frozen=True)
class LabelScores:
    """Log-likelihood of each label's tokens after the prompt, and the probabilities they imply among the labels."""

    logprobs: dict[str, float]
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> str:
        return max(self.logprobs, key=self.logprobs.get)


def label_ids(loaded: "LoadedModel", labels: Sequence[str], chat: bool) -> list[list[int]]:
    """The tokens of each label as the model would write it after the cue (after a space in raw text)."""
    separator = "" if chat else " "
    return [loaded.tokenizer(separator + label, add_special_tokens=False)["input_ids"] for label in labels]


def score_labels(loaded: "LoadedModel", prompt_ids: list[int], labels: Sequence[str], chat: bool = False) -> LabelScores:
    """Score every label with the prompt run once: its KV cache is shared by all labels' continuations."""
    import torch

    model = loaded.model
    device = next(model.parameters()).device
    continuations = label_ids(loaded, labels, chat)
    longest = max(len(ids) for ids in continuations)
    with torch.inference_mode():
        # One pass over the prompt. Labels of one token need nothing more: their first token is all there is.
        out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=longest > 1, logits_to_keep=1)
        first = out.logits[0, -1].float().log_softmax(-1)
        totals = [float(first[ids[0]]) for ids in continuations]
        if longest > 1:  # labels of several tokens: one batched pass over their remaining tokens, from the shared cache
            cache = out.cache
            cache.batch_repeat_interleave(len(labels))
            pad = loaded.tokenizer.pad_token_id or 0
            batch = torch.tensor([ids[:-1] + [pad] * (longest - len(ids)) for ids in continuations], device=device)
            logprobs = model(input_ids=batch, cache=cache, use_cache=True).logits.float().log_softmax(-1)
            for row, ids in enumerate(continuations):
                totals[row] += sum(float(logprobs[row, position, token]) for position, token in enumerate(ids[1:]))
    return _label_scores(labels, totals)


def score_labels_naive(loaded: "LoadedModel", prompt_ids: list[int], labels: Sequence[str], chat: bool = False) -> LabelScores:
    """The reference: one forward pass over prompt + label for each label (what shared-prefix scoring saves)."""
    import torch

    device = next(loaded.model.parameters()).device
    totals = []
    with torch.inference_mode():
        for ids in label_ids(loaded, labels, chat):
            full = torch.tensor([prompt_ids + ids], device=device)
            logprobs = loaded.model(input_ids=full, use_cache=False, logits_to_keep=len(ids) + 1).logits[0, :-1].float().log_softmax(-1)
            totals.append(sum(float(logprobs[i, token]) for i, token in enumerate(ids)))
    return _label_scores(labels, totals)


def _label_scores(labels: Sequence[str], totals: list[float]) -> LabelScores:
    import math

    top = max(totals)
    weights = [math.exp(t - top) for t in totals]
    norm = sum(weights)
    return LabelScores(dict(zip(labels, totals)), {label: w / norm for label, w in zip(labels, weights)})


def parse_label(text: str, labels: Sequence[str]) -> str | None:
    """The first label named in a generated answer (whole word, any case), or None."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(label) for label in labels) + r")\b", re.IGNORECASE)
    match = pattern.search(text)
    if not match:
        return None
    return next(label for label in labels if label.lower() == match.group(1).lower())


def generate_answer(loaded: "LoadedModel", prompt_ids: list[int], max_new_tokens: int, stop_at_newline: bool = True) -> str:
    """Greedy answer text; in raw prompts a newline ends the answer (the next line would start a new example)."""
    from core.sampling import SamplingSettings, stream_generate

    text = ""
    for step in stream_generate(loaded, prompt_ids, SamplingSettings(temperature=0), max_new_tokens):
        text += step.piece
        if stop_at_newline and text.strip() and "\n" in text.lstrip():
            break
    return text.strip().split("\n")[0].strip() if stop_at_newline else text.strip()


def max_answer_tokens(task: TaskData, cot: bool = False) -> int:
    """Room left for the answer: a label is a few tokens, a summary a couple of sentences, reasoning more."""
    if cot:
        return 96
    return 8 if task.kind == "classification" else 64


def embed_examples(embedder: Any, examples: Sequence[Example]) -> "np.ndarray":
    from core.embeddings import embed

    return embed(embedder, [e.input for e in examples])
