"""The fine-tuning methods registry, after PEFT's tuners: a method is a function that takes the base model and
returns the model to train. Adding a method is one function here and one line in ``METHODS``.

- ``full``: every weight trains (the base itself).
- ``lora``: small low-rank matrices beside the chosen linear layers; the base is frozen (PEFT ``LoraConfig``).
- ``prompt_tuning``: a few trainable virtual-token embeddings before every prompt (PEFT ``PromptTuningConfig``).

``merge_lora`` folds a trained LoRA into a copy of its base (for ``core.finetune.export``).

This and ``core.models.runs`` are where peft is imported to build or load methods.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.finetune.config import FinetuneConfig


def _full(model: Any, config: "FinetuneConfig", tokenizer: Any) -> Any:
    return model


def _lora(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                                            lora_dropout=config.lora_dropout, target_modules=list(config.lora_targets)))


def _prompt_tuning(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    import torch
    from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

    # PEFT's TEXT init re-loads the tokenizer by name; we start from the init text's embeddings ourselves instead.
    init_ids = tokenizer(config.prompt_init_text, add_special_tokens=False)["input_ids"]
    peft_config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=config.virtual_tokens,
                                     prompt_tuning_init=PromptTuningInit.RANDOM)
    peft = get_peft_model(model, peft_config)

    embeddings = model.get_input_embeddings().weight
    repeats = math.ceil(config.virtual_tokens / max(len(init_ids), 1))
    ids = torch.tensor((init_ids * repeats)[: config.virtual_tokens])
    with torch.no_grad():
        peft.prompt_encoder["default"].embedding.weight.copy_(embeddings[ids].detach().clone())
    return peft


# The registry: a method is a function that takes the base model and returns the model to train.
METHODS: dict[str, Callable[[Any, "FinetuneConfig", Any], Any]] = {
    "full": _full,
    "lora": _lora,
    "prompt_tuning": _prompt_tuning,
}


def prepare_model(model: Any, config: FinetuneConfig, tokenizer: Any) -> Any:
    """The model to train: the base itself (full) or the base wrapped by PEFT (its own weights frozen)."""
    return METHODS[config.method](model, config, tokenizer)


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def merge_lora(base_model: Any, adapter_dir: str) -> Any:
    """A LoRA adapter folded into ``base_model`` (changed in place: pass a private copy, never a shared model)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, adapter_dir).merge_and_unload()
