"""What a fine-tuning run will train and roughly how much memory it needs, before it starts.

Does not hold: measurement (the fine-tune benchmark measures peak memory to check these numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.finetune.config import FinetuneConfig


@dataclass(frozen=True)
class Estimate:
    """What a run will train and roughly how much memory it needs (float32 training with AdamW)."""

    trainable: int
    total: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int

    @property
    def share(self) -> float:
        return self.trainable / self.total

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes


def estimate(model: Any, config: FinetuneConfig) -> Estimate:
    """Trainable parameters counted from the model's own layers, and memory by the usual rules of thumb:
    weights 4 B per parameter, gradients 4 B and AdamW's two moments 8 B per trainable parameter, and activations
    kept for the backward pass (every method back-propagates through the whole network) of about
    layers x batch x length x (34 x hidden + 5 x heads x length) x 2 B, plus the logits and their gradient.
    ``model`` is only inspected (the shared, read-only copy is fine)."""
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    total = sum(p.numel() for p in model.parameters())
    if config.method == "full":
        trainable = total
    elif config.method == "lora":
        trainable = sum(
            config.lora_r * (module.in_features + module.out_features)
            for name, module in model.named_modules()
            if name.rsplit(".", 1)[-1] in config.lora_targets and hasattr(module, "in_features")
        )
    else:
        trainable = config.virtual_tokens * text.hidden_size
    tokens = config.batch_size * config.max_length
    per_layer = tokens * (34 * text.hidden_size + 5 * text.num_attention_heads * config.max_length) * 2
    logits = tokens * text.vocab_size * 4 * 2
    return Estimate(
        trainable=trainable,
        total=total + (trainable if config.method != "full" else 0),
        weights_bytes=total * 4,
        gradients_bytes=trainable * 4,
        optimizer_bytes=trainable * 8,
        activations_bytes=text.num_hidden_layers * per_layer + logits,
    )
