"""What a fine-tuning run will train and how much memory it needs, before it starts.

The trainable parameters are counted from the model's own layers (what PEFT will wrap); the memory comes from
``core.compute.training_memory``, the calculator the Pre-training & scaling page checks against measured peaks
(benchmarks/compute.py), so the two pages never disagree.

Does not hold: the calculator itself (``core.compute``) or measurement (the fine-tune benchmark measures peak memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.finetune.config import FinetuneConfig

COMPUTE_METHODS = {"full": "full", "lora": "lora", "prompt_tuning": "prompt"}


@dataclass(frozen=True)
class Estimate:
    """What a run will train and how much memory it needs (float32 training with AdamW)."""

    trainable: int
    total: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int  # 0 when the architecture is one the calculator cannot size (see ``note``)
    note: str = ""

    @property
    def share(self) -> float:
        return self.trainable / self.total

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes


def trainable_parameters(model: Any, config: FinetuneConfig) -> int:
    """Parameters the method will train, counted from the model's own layers."""
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    if config.method == "full":
        return sum(p.numel() for p in model.parameters())
    if config.method == "lora":
        return sum(config.lora_r * (module.in_features + module.out_features)
                   for name, module in model.named_modules()
                   if name.rsplit(".", 1)[-1] in config.lora_targets and hasattr(module, "in_features"))
    return config.virtual_tokens * text.hidden_size


def estimate(model: Any, config: FinetuneConfig) -> Estimate:
    """The run's trainable parameters and its memory by part: weights 4 B per parameter, gradients 4 B and AdamW's
    two moments 8 B per trainable one, and the activations (with the logits) for the batch and length, from
    ``core.compute``. ``model`` is only inspected (the shared, read-only copy is fine)."""
    from core.compute import shape_from_config, training_memory

    base = sum(p.numel() for p in model.parameters())
    trainable = trainable_parameters(model, config)
    total = base + (trainable if config.method != "full" else 0)
    try:
        shape = shape_from_config(model.config)
    except ValueError as err:  # an architecture the calculator does not size: the counts alone
        return Estimate(trainable, total, total * 4, trainable * 4, trainable * 8, 0,
                        note=f"Activations not estimated: {err}")
    parts = training_memory(shape, "fp32", "adamw", COMPUTE_METHODS[config.method], lora_r=config.lora_r,
                            lora_targets=tuple(config.lora_targets), virtual_tokens=config.virtual_tokens,
                            batch=config.batch_size, seq_len=config.max_length).parts
    return Estimate(trainable, total, parts["weights_bytes"], parts["gradients_bytes"], parts["optimizer_bytes"],
                    parts["activations_bytes"] + parts["logits_bytes"])
