"""Post-training quantisation: a model's Linear weights stored in int8 or int4, saved as a variant of its own.

The layers and the recipe are ``core.models.lowbit`` (int8 symmetric per row, int4 asymmetric per group of 32, both
computed with PyTorch's CPU kernels; why not torchao is measured there). Embedding and output head: a tied pair
becomes one int8 matrix. What a variant costs in quality is measured twice: here, how far its logits move from the
base's on a few texts (``logit_drift``), and by ``core.deploy.measure`` (perplexity and accuracy).

Holds: ``METHODS``, ``QuantizeConfig``, ``check_quantize_config``, ``logit_drift`` and ``quantize_job`` (JOB).
Does not hold: the measurements (``measure``) or the run list (``variants``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from core.config import DictConfig
from core.models.registry import DEFAULT_MODEL

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.deploy.quantize:quantize_job"
METHODS = {
    "int8": "int8 weights, one scale per row (4x smaller than float32; PyTorch's int8 CPU kernel)",
    "int4": "int4 weights, a scale and zero per 32 weights (about 7x smaller on disk; PyTorch's int4 CPU kernel)",
}
# Methods people ask for that need a GPU: the message says why and what to choose instead.
NOT_ON_CPU = {
    "int8-dynamic": "int8 activations as well as weights: torchao's CPU path took 21.7 ms for one 1536x576 layer "
                    "here (130x float32), so the lab offers it only on CUDA",
    "fp8": "float8 matrix products need a GPU with fp8 units (Hopper or newer)",
    "nf4": "NF4 (QLoRA's format) needs bitsandbytes on CUDA",
}
DRIFT_TEXTS = ("The Nile flows northwards through northeastern Africa and empties into the Mediterranean Sea.",
               "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.")


@dataclass(frozen=True)
class QuantizeConfig(DictConfig):
    KIND = "quantisation"

    base_model: str = field(default=DEFAULT_MODEL, metadata={"help": "The model to quantise: a bundled name or run:<id>."})
    scheme: str = field(default="int8", metadata={"help": "int8: 4x smaller than float32 and faster on a CPU; int4: "
                                                  "smaller still on disk, with a larger rounding error."})

    def __post_init__(self) -> None:
        if self.scheme in NOT_ON_CPU:
            raise ValueError(f"{self.scheme} cannot run on this CPU: {NOT_ON_CPU[self.scheme]}. Choose int8 or int4.")
        if self.scheme not in METHODS:
            raise ValueError(f"Unknown method {self.scheme!r}; choose one of {', '.join(METHODS)}.")
        if not str(self.base_model).strip():
            raise ValueError("Choose a model to quantise.")


def check_quantize_config(config: dict[str, Any]) -> dict[str, Any]:
    """The settings checked before a run starts (bad method, a model that is not there or cannot be quantised)."""
    from core.models import check_loadable, pick_device

    settings = QuantizeConfig.from_dict(config)
    if pick_device() != "cpu":
        raise ValueError("The int8 and int4 kernels here are PyTorch's CPU kernels; on a GPU use bitsandbytes or torchao.")
    check_loadable(settings.base_model)
    return settings.to_dict()


def logit_drift(base: Any, variant: Any, tokenizer: Any, texts: Sequence[str] = DRIFT_TEXTS) -> dict[str, float]:
    """How far the variant's next-token logits are from the base's on the texts: the largest difference relative to
    the largest base logit, and how often both pick the same most likely token."""
    import torch

    worst, agree, total = 0.0, 0, 0
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            a, b = base(input_ids=ids).logits.float(), variant(input_ids=ids).logits.float()
            worst = max(worst, float((a - b).abs().max() / a.abs().max()))
            agree += int((a.argmax(-1) == b.argmax(-1)).sum())
            total += ids.shape[1]
    return {"logit_error": round(worst, 5), "top1_agreement": round(agree / total, 4)}


def quantize_job(ctx: "RunContext") -> dict[str, Any]:
    """Load a private float32 copy of the base, quantise every Linear, save to <run>/model, report the drift."""
    import copy

    from core.models import load_model
    from core.models.lowbit import Int4Linear, Int8Linear, save_lowbit, to_lowbit

    settings = QuantizeConfig.from_dict(ctx.config)
    ctx.progress(step=0, stage=f"loading {settings.base_model} in float32")
    loaded = load_model(settings.base_model, precision="float32")
    if getattr(loaded.model, "lowbit", None):
        raise ValueError(f"{settings.base_model} is already quantised ({loaded.model.lowbit['scheme']}); quantise its base.")
    base = copy.deepcopy(loaded.model)
    ctx.progress(step=1, stage=f"quantising to {settings.scheme}")
    model = to_lowbit(loaded.model, settings.scheme)
    layers = {kind.__name__: sum(isinstance(m, kind) for m in model.modules()) for kind in (Int8Linear, Int4Linear)}
    ctx.progress(step=2, stage="saving")
    save_lowbit(model, loaded.tokenizer, ctx.dir / "model")
    drift = logit_drift(base, model, loaded.tokenizer)
    return {"method": settings.scheme, "int8_layers": layers["Int8Linear"], "int4_layers": layers["Int4Linear"], **drift}
