"""The fine-tuning settings: one validated dataclass whose field help feeds the page's widgets.

Does not hold: what each method does to the model (``core.finetune.methods``) or the training (``core.finetune.train``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import DictConfig, check_range
from core.finetune.methods import METHODS
from core.finetune.mixing import MIX_SOURCES, check_mix


@dataclass(frozen=True)
class FinetuneConfig(DictConfig):
    KIND = "fine-tuning"

    base_model: str = field(default="smollm2-135m-instruct", metadata={"help": "The model to start from (a bundled name or a folder)."})
    method: str = field(
        default="lora",
        metadata={"help": "full: train every weight. lora: train small low-rank matrices beside the attention weights. "
                          "prompt_tuning: train only a few virtual tokens put before every prompt."},
    )
    dataset: str = field(
        default="dialogsum",
        metadata={"help": "A bundled dataset (its pool split is the training data), or a .jsonl/.csv file of {prompt, "
                          "completion} rows."},
    )
    mix: tuple[dict[str, Any], ...] = field(
        default=(),
        metadata={"help": "Multi-task fine-tuning: a list of {dataset, weight} that replaces dataset as the training data, "
                          f"rows drawn in proportion to the weights. Datasets: {', '.join(MIX_SOURCES)} or a file. "
                          "dataset still names the task the report scores."},
    )
    max_steps: int = field(default=60, metadata={"help": "Optimizer steps to train for."})
    learning_rate: float = field(
        default=2e-4,
        metadata={"help": "Step size of AdamW. Full fine-tuning wants about 1e-5, LoRA about 2e-4, prompt tuning about "
                          "3e-2."},
    )
    batch_size: int = field(default=4, metadata={"help": "Examples per step."})
    max_length: int = field(default=256, metadata={"help": "Longest example in tokens; longer prompts are refused, not cut."})
    eval_fraction: float = field(default=0.1, metadata={"help": "Share of the training data held out to compute the eval loss."})
    eval_steps: int = field(default=10, metadata={"help": "Compute the eval loss every this many steps."})
    save_steps: int = field(default=20, metadata={"help": "Save a checkpoint every this many steps (cancel also saves one)."})
    seed: int = field(default=0, metadata={"help": "Fixes initialisation, data order and dropout."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank: the size of the low-rank update."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling: the update is multiplied by alpha / r."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path during training."})
    lora_targets: tuple[str, ...] = field(default=("q_proj", "v_proj"), metadata={"help": "Which linear layers get LoRA matrices."})
    virtual_tokens: int = field(default=16, metadata={"help": "Prompt tuning: how many trainable token embeddings are put before the prompt."})
    prompt_init_text: str = field(
        default="Summarize the dialogue:",
        metadata={"help": "Prompt tuning: the text whose embeddings start the virtual tokens."},
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        for name in ("max_steps", "batch_size", "max_length", "eval_steps", "save_steps", "lora_r", "lora_alpha", "virtual_tokens"):
            check_range(name, getattr(self, name), 1, 1_000_000, integer=True)
        check_range("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)
        check_range("eval_fraction", self.eval_fraction, 0, 0.5, low_open=True, high_open=True)
        check_range("lora_dropout", self.lora_dropout, 0, 1, high_open=True)
        check_range("seed", self.seed, 0, 2**32 - 1, integer=True)
        object.__setattr__(self, "mix", check_mix(self.mix))

    def for_method(self) -> dict[str, Any]:
        """The settings this config's method uses (a LoRA run has no virtual tokens): what a preview shows."""
        unused = {name for method, names in METHOD_FIELDS.items() if method != self.method for name in names}
        return {k: v for k, v in self.to_dict().items() if k not in unused}


# The fields only one method reads; every other field is shared.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "full": (),
    "lora": ("lora_r", "lora_alpha", "lora_dropout", "lora_targets"),
    "prompt_tuning": ("virtual_tokens", "prompt_init_text"),
}
