"""The three pre-training objectives, applied to a sentence the user types, token by token.

- Causal language modelling (decoder-only models: GPT, Llama, SmolLM2, Gemma): the input is the text and each
  position's target is the next token, so the labels are the inputs shifted left by one.
- Masked language modelling (encoder-only models: BERT, RoBERTa): 15% of the positions are chosen; of those, 80%
  become a mask token, 10% a random token and 10% stay as they were (BERT's 80/10/10 rule), and only the chosen
  positions are scored, against the original token.
- Span corruption (encoder-decoder models: T5): about 15% of the tokens, in spans of about three, are cut out; each
  span is replaced in the input by one sentinel, and the target lists the sentinels, each followed by its span.

Every function returns plain rows (token text and ids) so a page, a test or the CLI can show them. Randomness comes
from a seeded ``random.Random``, so the same seed shows the same example. Does not hold: any training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

MASK = "[MASK]"
IGNORE = -100  # the label transformers' losses skip
MAX_TOKENS = 256


@dataclass(frozen=True)
class Position:
    """One position of an example: what goes in and what the loss is computed against (None: not scored)."""

    index: int
    token: str
    input: str
    target: str | None
    note: str = ""


def tokens_of(tokenizer: Any, text: str) -> list[int]:
    text = (text or "").strip()
    if not text:
        raise ValueError("Type a sentence to see what each objective trains on.")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < 2:
        raise ValueError(f"{text!r} is a single token; an objective needs at least two.")
    if len(ids) > MAX_TOKENS:
        raise ValueError(f"The text is {len(ids)} tokens long; the view shows at most {MAX_TOKENS}.")
    return ids


def _text(tokenizer: Any, token_id: int) -> str:
    return tokenizer.decode([token_id])


def causal_lm(tokenizer: Any, text: str) -> list[Position]:
    """Each position reads the tokens up to it and is scored on the next one; the last has nothing to predict."""
    ids = tokens_of(tokenizer, text)
    return [Position(i, _text(tokenizer, t), _text(tokenizer, t),
                     _text(tokenizer, ids[i + 1]) if i + 1 < len(ids) else None)
            for i, t in enumerate(ids)]


def causal_lm_labels(input_ids: list[int]) -> list[int]:
    """The labels a causal LM is scored on at each input position: the next token (transformers shifts inside the
    model; this is the shifted view a student sees)."""
    return list(input_ids[1:]) + [IGNORE]


def masked_lm(tokenizer: Any, text: str, rate: float = 0.15, seed: int = 0) -> list[Position]:
    """BERT's masking: ``rate`` of the positions chosen (at least one), then the 80/10/10 rule."""
    if not 0 < rate < 1:
        raise ValueError(f"The masking rate must be between 0 and 1, got {rate}.")
    ids = tokens_of(tokenizer, text)
    input_ids, labels, notes = mask_tokens(ids, len(tokenizer), rate, random.Random(seed))
    rows = []
    for i, t in enumerate(ids):
        shown = MASK if input_ids[i] is None else _text(tokenizer, input_ids[i])
        rows.append(Position(i, _text(tokenizer, t), shown, None if labels[i] == IGNORE else _text(tokenizer, t),
                             notes[i]))
    return rows


def mask_tokens(ids: list[int], vocab_size: int, rate: float, rng: random.Random
                ) -> tuple[list[int | None], list[int], list[str]]:
    """The masked input (None where the mask token goes), the labels (IGNORE where not scored) and what happened at
    each position ("masked", "random", "kept" or "")."""
    chosen = {i for i in range(len(ids)) if rng.random() < rate} or {rng.randrange(len(ids))}
    inputs: list[int | None] = list(ids)
    labels, notes = [IGNORE] * len(ids), [""] * len(ids)
    for i in sorted(chosen):
        labels[i] = ids[i]
        roll = rng.random()
        if roll < 0.8:
            inputs[i], notes[i] = None, "masked"
        elif roll < 0.9:
            inputs[i], notes[i] = rng.randrange(vocab_size), "random"
        else:
            notes[i] = "kept"
    return inputs, labels, notes


@dataclass(frozen=True)
class SpanCorruption:
    """T5's example: the input with one sentinel per cut span, and the target that restores them."""

    input: list[str]
    target: list[str]
    spans: list[tuple[int, int]]  # [start, end) token positions cut out


def sentinel(k: int) -> str:
    return f"<extra_id_{k}>"


def span_corruption(tokenizer: Any, text: str, noise_density: float = 0.15, mean_span: float = 3.0,
                    seed: int = 0) -> SpanCorruption:
    if not 0 < noise_density < 1 or mean_span < 1:
        raise ValueError(f"Noise density must be in (0, 1) and the mean span at least 1; got {noise_density}, "
                         f"{mean_span}.")
    ids = tokens_of(tokenizer, text)
    pieces = [_text(tokenizer, t) for t in ids]
    spans = choose_spans(len(ids), noise_density, mean_span, random.Random(seed))
    return corrupt(pieces, spans)


def choose_spans(length: int, noise_density: float, mean_span: float, rng: random.Random) -> list[tuple[int, int]]:
    """Non-overlapping, non-adjacent spans covering about ``noise_density`` of ``length`` tokens (at least one
    token), with lengths around ``mean_span``, as T5's ``random_spans_noise_mask`` lays them out."""
    noise = min(max(1, round(length * noise_density)), length - 1)
    count = max(1, min(round(noise / mean_span), noise, length - noise))
    noise_lengths = _split(noise, count, rng)
    keep_lengths = _split(length - noise, count, rng)  # the kept run before each span (the first may not be empty)
    spans, pos = [], 0
    for keep, cut in zip(keep_lengths, noise_lengths):
        pos += keep
        spans.append((pos, pos + cut))
        pos += cut
    return spans


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` as ``parts`` positive integers in random order (a random composition)."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def corrupt(pieces: list[str], spans: list[tuple[int, int]]) -> SpanCorruption:
    inputs, target, pos = [], [], 0
    for k, (start, end) in enumerate(spans):
        inputs += pieces[pos:start] + [sentinel(k)]
        target += [sentinel(k)] + pieces[start:end]
        pos = end
    inputs += pieces[pos:]
    target.append(sentinel(len(spans)))  # T5 closes the target with one more sentinel
    return SpanCorruption(inputs, target, spans)


def restore(example: SpanCorruption) -> list[str]:
    """The original tokens, put back together from the corrupted input and the target (what the decoder learns)."""
    fills: dict[str, list[str]] = {}
    current = None
    for piece in example.target:
        if piece.startswith("<extra_id_"):
            current = piece
            fills[current] = []
        elif current is not None:
            fills[current].append(piece)
    out = []
    for piece in example.input:
        out += fills.get(piece, [piece]) if piece.startswith("<extra_id_") else [piece]
    return out


FAMILIES = (
    ("Causal LM (next token)", "Decoder-only: GPT-2/3/4, Llama, Mistral, SmolLM2, Gemma", "Text generation; "
     "every position is a training signal"),
    ("Masked LM (fill the blanks)", "Encoder-only: BERT, RoBERTa, DistilBERT; MiniLM (our embedder) is distilled "
     "from one", "Classification, search embeddings; sees both sides, but does not generate"),
    ("Span corruption (rewrite the spans)", "Encoder-decoder: T5, FLAN-T5, BART (a denoising cousin)",
     "Translation, summarisation: text in, text out"),
)
