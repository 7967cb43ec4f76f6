"""Generation, one token at a time: prompts, the context window, next-token logits and a stepper with the KV cache.

Holds: prompt encoding (raw text or the model's chat template), context-window checks and left truncation,
``next_token_logits`` (one forward pass), ``Stepper`` (step-by-step generation: sample or force each token, undo),
``stream_generate`` and ``generate_steps`` built on it, and ``generate_batch`` (greedy answers to many prompts at once).

Does not hold: the sampler stages (``core.sampling.stages``) or model loading (``core.models``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from core.config import check_range
from core.sampling import fast
from core.sampling.stages import SamplingSettings, pick_token, token_distribution

if TYPE_CHECKING:
    import torch

    from core.models import LoadedModel
    from core.sampling.fast import Decoder


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
    check_range("max_new_tokens", max_new_tokens, 1, integer=True)
    if n_prompt == 0:
        raise ValueError("The prompt is empty.")
    if n_prompt + max_new_tokens > window:
        raise ValueError(
            f"The prompt has {n_prompt} tokens and {max_new_tokens} new tokens were asked for: "
            f"{n_prompt + max_new_tokens} > the context window of {window} tokens. Shorten the prompt or ask for fewer tokens."
        )


def truncate_left(ids: list[int], window: int, max_new_tokens: int) -> tuple[list[int], int]:
    """Keep the last tokens of a prompt so that it and max_new_tokens fit the window; return them and how many were cut.

    The start goes because a model continues from the end. Callers must tell the user when the count is not 0.
    """
    check_range("max_new_tokens", max_new_tokens, 1, integer=True)
    if max_new_tokens >= window:
        raise ValueError(f"{max_new_tokens} new tokens do not fit a context window of {window} tokens.")
    room = window - max_new_tokens
    cut = max(0, len(ids) - room)
    return ids[cut:], cut


def token_text(tokenizer: Any, token_id: int) -> str:
    """A token as text, with the byte-level markers turned back into spaces and newlines."""
    return tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)


def stop_ids(loaded: "LoadedModel") -> set[int]:
    """The end-of-sequence ids of a model (tokenizer and generation config can each name some)."""
    ids = {loaded.tokenizer.eos_token_id}
    configured = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


def next_token_logits(loaded: "LoadedModel", ids: list[int]) -> "torch.Tensor":
    """The model's logits for the token after ``ids``: one forward pass, a 1-D float32 tensor over the vocabulary."""
    import torch

    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([ids], device=device), use_cache=False, logits_to_keep=1)
    return out.logits[0, -1].float().cpu()


@dataclass(frozen=True)
class Alternative:
    token_id: int
    text: str
    probability: float  # under the final distribution


@dataclass(frozen=True)
class Step:
    """One generated token, with what else the model considered."""

    token_id: int
    text: str  # the token on its own
    piece: str  # the new text it adds to the answer (empty while a multi-byte character is incomplete)
    probability: float  # under the final (sampled-from) distribution
    model_probability: float  # under the model's raw distribution
    rank: int  # 1 = the model's most likely token
    forced: bool  # chosen by the user rather than sampled
    alternatives: tuple[Alternative, ...]


class Stepper:
    """Step-by-step generation with the KV cache: each new token costs one forward pass over that token alone.

    ``logits`` are those for the next position. ``advance()`` samples with the settings (or takes a forced token),
    records the step and feeds the token; ``undo()`` drops the last step and crops the cache.
    """

    def __init__(self, loaded: "LoadedModel", prompt_ids: list[int], settings: SamplingSettings, alternatives: int = 5,
                 decoder: "Decoder | None" = None):
        import torch

        self.loaded = loaded
        self.settings = settings
        self.n_alternatives = alternatives
        self.prompt_ids = list(prompt_ids)
        self.steps: list[Step] = []
        self.generator = torch.Generator().manual_seed(settings.seed) if settings.seed is not None else None
        self._cache: Any = None
        self._fed = 0  # tokens of self.ids already in the cache
        self._logits: "torch.Tensor | None" = None
        self._answer = ""  # the answer decoded so far, up to the last complete character
        # A prompt-tuned PEFT model puts its virtual tokens before whatever it is given, so feeding it one new token
        # on top of a cache would insert them again: such a model recomputes the whole text at each step instead.
        peft_config = getattr(getattr(loaded.model, "active_peft_config", None), "is_prompt_learning", False)
        self._cacheable = not peft_config
        self._decoder = decoder  # a compiled decoder with its static cache (core.sampling.fast), held by the caller

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + [s.token_id for s in self.steps]

    @property
    def logits(self) -> "torch.Tensor":
        """Logits for the next token (computed on demand: a forward pass over the tokens not yet in the cache)."""
        import torch

        if self._logits is None:
            ids = self.ids
            check_context(self.loaded, len(ids), 1)
            if not self._cacheable:
                self._logits = next_token_logits(self.loaded, ids)
                return self._logits
            if self._decoder is not None:  # a static cache: positions past the ones fed are never read, only overwritten
                self._logits, self._fed = self._decoder.feed(ids[self._fed:], self._fed), len(ids)
                return self._logits
            device = next(self.loaded.model.parameters()).device
            with torch.inference_mode():
                out = self.loaded.model(input_ids=torch.tensor([ids[self._fed:]], device=device), cache=self._cache, use_cache=True)
            self._cache, self._fed = out.cache, len(ids)
            self._logits = out.logits[0, -1].float().cpu()
        return self._logits

    def distribution(self) -> "torch.Tensor":
        """The final probabilities for the next token under the current settings."""
        import torch

        return token_distribution(self.logits.reshape(1, -1), self.settings, torch.tensor([self.ids]))[0]

    def advance(self, forced_token: int | None = None) -> Step:
        """Append one token, sampled from the distribution (or forced by the user), and return the step."""
        tokenizer = self.loaded.tokenizer
        raw = self.logits.softmax(-1)
        final = self.distribution()
        token = pick_token(final, self.generator) if forced_token is None else int(forced_token)
        top = final.topk(self.n_alternatives)
        step = Step(
            token_id=token,
            text=token_text(tokenizer, token),
            piece=self._new_text(token),
            probability=float(final[token]),
            model_probability=float(raw[token]),
            rank=int((raw > raw[token]).sum()) + 1,
            forced=forced_token is not None,
            alternatives=tuple(
                Alternative(int(i), token_text(tokenizer, int(i)), float(p)) for p, i in zip(top.values, top.indices) if p > 0
            ),
        )
        self.steps.append(step)
        self._logits = None
        return step

    def update_settings(self, settings: SamplingSettings) -> None:
        """Use new sampler settings from the next step on (a new seed restarts the random draws)."""
        import torch

        if settings.seed != self.settings.seed:
            self.generator = torch.Generator().manual_seed(settings.seed) if settings.seed is not None else None
        self.settings = settings

    def reset(self) -> None:
        """Back to the bare prompt (its part of the cache is kept)."""
        del self.steps[1:]
        self.undo()

    def _new_text(self, token: int) -> str:
        # Decode the whole answer each time: a token can be half of a multi-byte character (shown as U+FFFD).
        answer = self.loaded.tokenizer.decode([s.token_id for s in self.steps] + [token], skip_special_tokens=True)
        if answer.endswith("\ufffd") or not answer.startswith(self._answer):
            return ""
        piece, self._answer = answer[len(self._answer):], answer
        return piece

    def undo(self) -> None:
        """Drop the last step; the cache is cropped so the next step recomputes only what changed."""
        if not self.steps:
            return
        self.steps.pop()
        self._answer = self.text.rstrip("\ufffd")
        keep = len(self.ids) - 1  # the cache must not hold the last kept token: its logits are recomputed from it
        extra = self._fed - keep
        if extra > 0 and self._decoder is not None:
            self._fed = keep
        elif extra > 0 and self._cache is not None:
            self._cache.crop(-extra)  # transformers 5: a negative count removes that many tokens from the end
            self._fed = keep
        self._logits = None

    @property
    def text(self) -> str:
        return self.loaded.tokenizer.decode(self.ids[len(self.prompt_ids):], skip_special_tokens=True)


def stream_generate(
    loaded: "LoadedModel",
    prompt_ids: list[int],
    settings: SamplingSettings,
    max_new_tokens: int = 64,
    stop_at_eos: bool = True,
) -> Iterator[Step]:
    """Generate up to max_new_tokens tokens one at a time with the KV cache, yielding each step as it comes.

    Stops at the end-of-sequence token unless ``stop_at_eos`` is False (benchmarks want a fixed length)."""
    check_context(loaded, len(prompt_ids), max_new_tokens)
    stops = stop_ids(loaded) if stop_at_eos else set()
    decoder = fast.checkout(loaded.model, len(prompt_ids) + max_new_tokens, loaded.info.context_window)
    try:
        stepper = Stepper(loaded, prompt_ids, settings, decoder=decoder)
        for _ in range(max_new_tokens):
            step = stepper.advance()
            if step.token_id in stops:
                return
            yield step
    finally:  # also when the caller stops reading early: the decoder's cache is free for the next generation
        if decoder is not None:
            fast.release(decoder)


def generate_steps(loaded: "LoadedModel", prompt_ids: list[int], settings: SamplingSettings, max_new_tokens: int = 64) -> list[Step]:
    return list(stream_generate(loaded, prompt_ids, settings, max_new_tokens))


def generate_text(loaded: "LoadedModel", prompt: str, settings: SamplingSettings, max_new_tokens: int = 64, chat: bool = False) -> str:
    """The whole completion as one string (convenience over stream_generate)."""
    ids = encode_prompt(loaded, prompt, chat)
    return "".join(s.piece for s in stream_generate(loaded, ids, settings, max_new_tokens))


def generate_batch(loaded: "LoadedModel", prompts: Sequence[list[int]], max_new_tokens: int, stop_at_newline: bool = True,
                   stop: Sequence[str] = ()) -> list[str]:
    """Greedy answers to several prompts at once (what evaluation needs): one forward pass per new token for the
    whole batch, with the KV cache. Prompts are padded on the left, so every row's next token sits in the last
    column; the attention mask hides the padding and the position ids count only real tokens, which makes each row's
    answer the one it would get alone. In raw prompts a newline ends an answer, as in ``core.prompting.generate_answer``;
    a row also ends at the first of the ``stop`` strings (cut off there)."""
    if not prompts:
        return []
    for ids in prompts:
        check_context(loaded, len(ids), max_new_tokens)
    if _is_prompt_learning(loaded.model):  # virtual tokens and padding do not mix: one prompt at a time
        return [_greedy_rows(loaded, [ids], max_new_tokens, stop_at_newline, stop)[0] for ids in prompts]
    return _greedy_rows(loaded, prompts, max_new_tokens, stop_at_newline, stop)


def _is_prompt_learning(model: Any) -> bool:
    return bool(getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False))


def _greedy_rows(loaded: "LoadedModel", prompts: Sequence[list[int]], max_new_tokens: int, stop_at_newline: bool,
                 stop: Sequence[str] = ()) -> list[str]:
    import torch

    model, tokenizer = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = max(len(ids) for ids in prompts)
    inputs = torch.tensor([[pad] * (width - len(ids)) + list(ids) for ids in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device)
    cacheable = not _is_prompt_learning(model)
    full = inputs
    stops = stop_ids(loaded)
    answers: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    cache = None
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            if cacheable:
                out = model(input_ids=inputs, attention_mask=mask, position_ids=positions[:, -inputs.shape[1]:], cache=cache,
                            use_cache=True, logits_to_keep=1)
                cache = out.cache
            else:
                out = model(input_ids=full, attention_mask=mask, use_cache=False)
            tokens = out.logits[:, -1].argmax(-1)
            for row, token in enumerate(tokens.tolist()):
                if done[row]:
                    continue
                if token in stops:
                    done[row] = True
                    continue
                answers[row].append(token)
                if stop_at_newline or stop:
                    text = tokenizer.decode(answers[row], skip_special_tokens=True)
                    done[row] = (stop_at_newline and bool(text.strip()) and "\n" in text.lstrip()) or any(s in text for s in stop)
            if all(done):
                break
            inputs = tokens[:, None]  # finished rows keep being fed; their extra tokens are never read
            full = torch.cat([full, inputs], dim=1)
            mask = torch.cat([mask, torch.ones_like(inputs)], dim=1)
    # A character whose bytes were cut off by max_new_tokens decodes as U+FFFD; the streaming path never shows it either.
    texts = [cut_at(tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd"), stop) for ids in answers]
    return [t.strip().split("\n")[0].strip() if stop_at_newline else t.strip() for t in texts]


def cut_at(text: str, stop: Sequence[str]) -> str:
    """The text up to the first of the stop strings (all of it when none occurs)."""
    ends = [text.find(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else text
