"""The sampler: settings, and the stages that turn a model's logits into the distribution the next token is drawn from.

Holds: ``SamplingSettings`` (validated), the stages (repetition penalty, temperature, top-k, top-p, min-p) as pure
functions on logits applied in the order transformers' ``generate`` applies them, ``token_distribution`` (the final
probabilities), ``trace_stages`` (the distribution after each stage and what each stage removed) and entropy.

Does not hold: models or generation loops (``core.sampling.generation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from core.config import check_range

if TYPE_CHECKING:
    from typing import Any as ArrayLike

    import torch

# The stages in generate's order. Each is off at its neutral value, so turning a stage off = resetting its field.
STAGES: tuple[str, ...] = ("repetition_penalty", "temperature", "top_k", "top_p", "min_p")
CUTTING_STAGES = frozenset({"top_k", "top_p", "min_p"})  # the others rescale logits but never remove a token
GREEDY = "greedy"  # the last view under greedy decoding: all the probability on the most likely token
NEUTRAL: dict[str, float] = {"repetition_penalty": 1.0, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}


@dataclass(frozen=True)
class SamplingSettings:
    """Inference parameters. Temperature 0 (or do_sample=False) means greedy decoding: always the most likely token."""

    temperature: float = field(
        default=0.7,
        metadata={"help": "Divides the logits: below 1 sharpens the distribution, above 1 flattens it. 0 = greedy."},
    )
    top_k: int = field(default=0, metadata={"help": "Keep only the k most likely tokens (0 = off)."})
    top_p: float = field(default=1.0, metadata={"help": "Keep the smallest set of tokens whose probabilities add up to p (1 = off)."})
    min_p: float = field(default=0.0, metadata={"help": "Drop tokens less likely than min_p times the top token's probability (0 = off)."})
    repetition_penalty: float = field(default=1.0, metadata={"help": "Makes tokens already in the text less likely (1 = off)."})
    do_sample: bool = field(default=True, metadata={"help": "Sample at random from the distribution; off = greedy."})
    seed: int | None = field(default=None, metadata={"help": "Fixes the random draws so a run can be repeated."})

    def __post_init__(self) -> None:
        check_range("temperature", self.temperature, 0, 100)
        check_range("top_k", self.top_k, 0, integer=True)
        check_range("top_p", self.top_p, 0, 1, low_open=True)
        check_range("min_p", self.min_p, 0, 1)
        check_range("repetition_penalty", self.repetition_penalty, 0, 100, low_open=True)
        if self.seed is not None:
            check_range("seed", self.seed, 0, 2**63 - 1, integer=True)

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0

    def is_active(self, stage: str) -> bool:
        """Whether a stage changes anything (greedy decoding applies only the repetition penalty)."""
        if self.greedy and stage != "repetition_penalty":
            return False
        return getattr(self, stage) != NEUTRAL[stage]


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
    import torch

    if top_p >= 1.0:
        return logits
    finite = torch.isfinite(logits)
    if logits.shape[0] == 1 and int(finite.sum()) < logits.shape[-1] // 2:
        # After top-k most tokens are already gone: sorting only the survivors gives the same cut (the others add
        # exactly 0 to every cumulative sum) and saves a full-vocabulary sort (30 ms for Gemma's 262k tokens).
        alive = finite[0].nonzero().flatten()
        kept = apply_top_p(logits[:, alive], top_p)
        return torch.full_like(logits, float("-inf")).index_copy(-1, alive, kept)
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


def apply_stage(stage: str, logits: "torch.Tensor", settings: SamplingSettings, previous_ids: "torch.Tensor | None") -> "torch.Tensor":
    if stage == "repetition_penalty":
        return apply_repetition_penalty(logits, previous_ids, settings.repetition_penalty)
    if stage == "temperature":
        return apply_temperature(logits, settings.temperature)
    if stage == "top_k":
        return apply_top_k(logits, settings.top_k)
    if stage == "top_p":
        return apply_top_p(logits, settings.top_p)
    if stage == "min_p":
        return apply_min_p(logits, settings.min_p)
    raise ValueError(f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}")


def process_logits(logits: "torch.Tensor", settings: SamplingSettings, previous_ids: "torch.Tensor | None" = None) -> "torch.Tensor":
    """All active stages in the order transformers' generate applies them. Greedy only applies the repetition penalty."""
    logits = logits.float()
    for stage in STAGES:
        if settings.is_active(stage):
            logits = apply_stage(stage, logits, settings, previous_ids)
    return logits


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




def entropy_bits(probs: "torch.Tensor") -> float:
    """Shannon entropy in bits: 0 when one token is certain, log2(n) when n tokens are equally likely."""
    import torch

    return float(torch.special.entr(probs).sum() / math.log(2))  # entr(p) = -p ln p, and 0 at p = 0


@dataclass(frozen=True)
class StageView:
    """The distribution after one stage, and which tokens this stage removed (set to probability 0).

    Probabilities are computed when first asked for: the page usually needs the full distribution of only two views
    (raw and final) and a few tokens' probabilities of the others, and each full softmax is a pass over the vocabulary.
    """

    stage: str  # "raw" for the model's own distribution, else a name from STAGES
    logits: "torch.Tensor"  # 1-D, over the whole vocabulary; -inf where a stage cut the token
    removed: "torch.Tensor"  # 1-D bool mask over the vocabulary: True where this stage cut the token

    @cached_property
    def probs(self) -> "torch.Tensor":
        return self.logits.softmax(-1)

    def probs_of(self, token_ids: "torch.Tensor") -> "torch.Tensor":
        """The probabilities of some tokens (a softmax is 3x faster than logsumexp on these CPUs)."""
        return self.probs[token_ids]

    @property
    def kept(self) -> int:
        """How many tokens can still be sampled."""
        return int(self.logits.isfinite().sum())

    @property
    def entropy(self) -> float:
        """In bits."""
        return entropy_bits(self.probs)


def trace_stages(logits: "ArrayLike", settings: SamplingSettings, previous_ids: "ArrayLike | None" = None) -> list[StageView]:
    """The model's raw distribution, then the distribution after each active stage, for a 1-D vector of logits;
    under greedy decoding a last view, ``GREEDY``, puts all the probability on the argmax (only the repetition
    penalty applies before it).

    Takes tensors, numpy arrays or lists (the page passes cached numpy logits and a list of prompt ids).
    The last view is what sampling draws from (for greedy decoding, the argmax of the last view is the pick).
    """
    import torch

    current = torch.as_tensor(logits).float().reshape(1, -1)
    previous = torch.as_tensor(previous_ids).reshape(1, -1) if previous_ids is not None else None
    nothing = torch.zeros_like(current[0], dtype=torch.bool)
    views = [StageView("raw", current[0], nothing)]
    finite = None  # which tokens are still in the running; computed once a stage can cut any
    for stage in STAGES:
        if not settings.is_active(stage):
            continue
        if stage in CUTTING_STAGES and finite is None:
            finite = torch.isfinite(current)
        current = apply_stage(stage, current, settings, previous)
        removed = nothing
        if stage in CUTTING_STAGES:
            still = torch.isfinite(current)
            removed, finite = (finite & ~still)[0], still
        views.append(StageView(stage, current[0], removed))
    if settings.greedy:
        # Greedy decoding picks one token: what it "samples" from is a point mass on the argmax (entropy 0).
        pick = int(current[0].argmax())
        point = torch.full_like(current[0], float("-inf"))
        point[pick] = 0.0
        views.append(StageView(GREEDY, point, torch.isfinite(current[0]) & ~torch.isfinite(point)))
    return views



def comparison_settings(temperature: float, top_k: int, top_p: float, seed: int) -> dict[str, SamplingSettings]:
    """Four ways to choose with the same seed, for side-by-side runs: greedy, temperature, top-k and top-p."""
    temperature = temperature or 1.0
    return {
        "Greedy": SamplingSettings(temperature=0, do_sample=False, seed=seed),
        f"Temperature {temperature:g}": SamplingSettings(temperature=temperature, seed=seed),
        f"Top-k {top_k} (T {temperature:g})": SamplingSettings(temperature=temperature, top_k=top_k, seed=seed),
        f"Top-p {top_p:g} (T {temperature:g})": SamplingSettings(temperature=temperature, top_p=top_p, seed=seed),
    }
