"""How a model picks its next token: sampler settings, the sampler stages as pure functions on logits, and generation.

Holds: ``SamplingSettings`` (validated), the stages (repetition penalty, temperature, top-k, top-p, min-p) applied in
the order transformers' ``generate`` applies them, ``token_distribution`` (the final probabilities), prompt encoding
(raw text or the model's chat template) and ``stream_generate``, a token-by-token loop with the KV cache.

Does not hold: model loading (``core.models``) or any UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import torch

    from core.models import LoadedModel


@dataclass(frozen=True)
class SamplingSettings:
    """Inference parameters. Temperature 0 (or do_sample=False) means greedy decoding: always the most likely token."""

    temperature: float = field(default=0.7, metadata={"help": "Divides the logits: below 1 sharpens the distribution, above 1 flattens it. 0 = greedy."})
    top_k: int = field(default=0, metadata={"help": "Keep only the k most likely tokens (0 = off)."})
    top_p: float = field(default=1.0, metadata={"help": "Keep the smallest set of tokens whose probabilities add up to p (1 = off)."})
    min_p: float = field(default=0.0, metadata={"help": "Drop tokens less likely than min_p times the top token's probability (0 = off)."})
    repetition_penalty: float = field(default=1.0, metadata={"help": "Makes tokens already in the text less likely (1 = off)."})
    do_sample: bool = field(default=True, metadata={"help": "Sample at random from the distribution; off = greedy."})
    seed: int | None = field(default=None, metadata={"help": "Fixes the random draws so a run can be repeated."})

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.min_p <= 1:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0


# ---------------------------------------------------------------- the stages, in generate's order


def apply_repetition_penalty(logits: "torch.Tensor", previous_ids: "torch.Tensor", penalty: float) -> "torch.Tensor":
    """CTRL's penalty: a token already seen has its logit divided by the penalty if positive, multiplied if negative."""
    if penalty == 1.0 or previous_ids is None or previous_ids.numel() == 0:
        return logits
    seen = logits.gather(-1, previous_ids)
    seen = seen.where(seen < 0, seen / penalty).where(seen >= 0, seen * penalty)
    return logits.scatter(-1, previous_ids, seen)


def apply_temperature(logits: "torch.Tensor", temperature: float) -> "torch.Tensor":
    return logits / temperature


def apply_top_k(logits: "torch.Tensor", top_k: int) -> "torch.Tensor":
    """Keep the k highest logits (ties with the k-th are kept too); the rest become -inf."""
    import torch

    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k).values[..., -1, None]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: "torch.Tensor", top_p: float) -> "torch.Tensor":
    """Nucleus sampling: drop the least likely tokens whose probabilities add up to at most 1 - top_p."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(descending=False)
    cumulative = sorted_logits.softmax(-1).cumsum(-1)
    remove_sorted = cumulative <= (1 - top_p)
    remove_sorted[..., -1:] = False  # always keep the most likely token
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def apply_min_p(logits: "torch.Tensor", min_p: float) -> "torch.Tensor":
    """Drop tokens whose probability is below min_p times the most likely token's probability."""
    if min_p <= 0:
        return logits
    probs = logits.softmax(-1)
    remove = probs < min_p * probs.amax(-1, keepdim=True)  # never the top token, since min_p <= 1
    return logits.masked_fill(remove, float("-inf"))


def process_logits(logits: "torch.Tensor", settings: SamplingSettings, previous_ids: "torch.Tensor | None" = None) -> "torch.Tensor":
    """All stages in the order transformers' generate applies them. Greedy only applies the repetition penalty."""
    logits = apply_repetition_penalty(logits.float(), previous_ids, settings.repetition_penalty)
    if settings.greedy:
        return logits
    logits = apply_temperature(logits, settings.temperature)
    logits = apply_top_k(logits, settings.top_k)
    logits = apply_top_p(logits, settings.top_p)
    return apply_min_p(logits, settings.min_p)


def token_distribution(logits: "torch.Tensor", settings: SamplingSettings, previous_ids: "torch.Tensor | None" = None) -> "torch.Tensor":
    """The probabilities the next token is drawn from, over the whole vocabulary.

    For greedy decoding this is one-hot on the argmax (after the repetition penalty), which is what greedy picks.
    """
    import torch

    processed = process_logits(logits, settings, previous_ids)
    if settings.greedy:
        return torch.nn.functional.one_hot(processed.argmax(-1), processed.shape[-1]).to(processed.dtype)
    return processed.softmax(-1)


def pick_token(probs: "torch.Tensor", generator: "torch.Generator | None" = None) -> int:
    """Draw one token id from a 1-D distribution (argmax when it is one-hot)."""
    import torch

    return int(torch.multinomial(probs, 1, generator=generator).item())


# ---------------------------------------------------------------- prompts and generation


def encode_prompt(loaded: "LoadedModel", prompt: str, chat: bool = False) -> list[int]:
    """Token ids for a prompt: raw text, or wrapped in the model's chat template as one user turn."""
    tokenizer = loaded.tokenizer
    if not prompt.strip():
        raise ValueError("The prompt is empty: type something for the model to continue.")
    if chat:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"{loaded.info.name} has no chat template (it is a base model); turn chat off.")
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt)["input_ids"]


def check_context(loaded: "LoadedModel", n_prompt: int, max_new_tokens: int) -> None:
    """Raise ValueError if the prompt plus the answer would not fit in the model's context window."""
    window = loaded.info.context_window
    if n_prompt == 0:
        raise ValueError("The prompt is empty.")
    if n_prompt + max_new_tokens > window:
        raise ValueError(
            f"The prompt has {n_prompt} tokens and {max_new_tokens} new tokens were asked for: "
            f"{n_prompt + max_new_tokens} > the context window of {window} tokens. Shorten the prompt or ask for fewer tokens."
        )


def _stop_ids(loaded: "LoadedModel") -> set[int]:
    ids = {loaded.tokenizer.eos_token_id}
    configured = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


@dataclass(frozen=True)
class GeneratedToken:
    token_id: int
    text: str  # the new text this token adds (may be empty while a multi-byte character is incomplete)
    probability: float  # its probability under the final distribution


def stream_generate(
    loaded: "LoadedModel",
    prompt_ids: list[int],
    settings: SamplingSettings,
    max_new_tokens: int = 64,
    stop_at_eos: bool = True,
) -> Iterator[GeneratedToken]:
    """Generate one token at a time with the KV cache (one forward pass per new token) and yield each as it comes.

    Stops at the end-of-sequence token unless ``stop_at_eos`` is False (benchmarks want a fixed length)."""
    import torch

    check_context(loaded, len(prompt_ids), max_new_tokens)
    model, tokenizer = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(settings.seed) if settings.seed is not None else None
    stops = _stop_ids(loaded) if stop_at_eos else set()
    ids = torch.tensor([prompt_ids], device=device)
    generated: list[int] = []
    text_so_far = ""
    cache: Any = None  # the KV cache: keys and values of every token seen so far
    step_input = ids
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            out = model(input_ids=step_input, cache=cache, use_cache=True)
            cache = out.cache
            probs = token_distribution(out.logits[:, -1, :], settings, ids)[0].cpu()
            token = pick_token(probs, generator)
            if token in stops:
                return
            generated.append(token)
            ids = torch.cat([ids, torch.tensor([[token]], device=device)], dim=-1)
            step_input = ids[:, -1:]
            # Decode the whole answer each time: a single token can be half of a multi-byte character.
            text = tokenizer.decode(generated, skip_special_tokens=True)
            piece = ""
            if not text.endswith("\ufffd"):
                piece, text_so_far = text[len(text_so_far):], text
            yield GeneratedToken(token_id=token, text=piece, probability=float(probs[token]))


def generate_text(loaded: "LoadedModel", prompt: str, settings: SamplingSettings, max_new_tokens: int = 64, chat: bool = False) -> str:
    """The whole completion as one string (convenience over stream_generate)."""
    ids = encode_prompt(loaded, prompt, chat)
    return "".join(t.text for t in stream_generate(loaded, ids, settings, max_new_tokens))
