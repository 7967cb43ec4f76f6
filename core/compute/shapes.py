"""The shape of a decoder-only model, read from its config, and its exact parameter count computed from that shape.

Holds: ``ModelShape``, ``shape_from_config`` (a transformers config of a Llama, Qwen2 or Gemma-3 style decoder),
``shape_for_model`` (a bundled name, ``run:<id>``, a local folder or a hub id, without loading weights) and
``shape_for_params`` (only a parameter count is known).

Does not hold: what the shape costs in memory (``core.compute.memory``) or FLOPs (``core.compute.flops``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# What differs between the decoder families we count exactly. Each layer has q/k/v/o projections, a gated MLP
# (gate, up, down) and RMSNorms; the families differ in norms and biases.
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": {"layer_norms": 2, "qk_norm": False, "qkv_bias": None},  # None: read config.attention_bias
    "mistral": {"layer_norms": 2, "qk_norm": False, "qkv_bias": False},
    "qwen2": {"layer_norms": 2, "qk_norm": False, "qkv_bias": True},  # q/k/v carry a bias, o does not
    "qwen3": {"layer_norms": 2, "qk_norm": True, "qkv_bias": None},
    # Gemma-3: input, post-attention, pre- and post-feedforward norms, plus q_norm and k_norm over head_dim.
    "gemma3_text": {"layer_norms": 4, "qk_norm": True, "qkv_bias": None},
}


@dataclass(frozen=True)
class ModelShape:
    """The sizes that set a decoder's memory. ``layers == 0`` means only ``params`` is known (``shape_for_params``)."""

    params: int
    name: str = ""
    model_type: str = ""
    vocab: int = 0
    hidden: int = 0
    layers: int = 0
    heads: int = 0
    kv_heads: int = 0  # fewer than heads with grouped-query attention
    head_dim: int = 0  # config.head_dim where set (Gemma-3: 256 with hidden 640 and 4 heads), else hidden / heads
    intermediate: int = 0
    tied_embeddings: bool = True
    max_positions: int = 0
    sliding_window: int | None = None
    sliding_layers: tuple[bool, ...] = ()  # per layer: True where attention is limited to the sliding window
    linears: tuple[tuple[str, int, int], ...] = ()  # per layer: (name, in_features, out_features) of each projection

    @property
    def has_architecture(self) -> bool:
        return self.layers > 0

    def require_architecture(self, what: str) -> None:
        if not self.has_architecture:
            raise ValueError(f"{what} needs the model's layers and widths, and only its parameter count "
                             f"({self.params:,}) is known: give a model name instead of a parameter count.")

    def linear(self, target: str) -> tuple[int, int]:
        """(in_features, out_features) of a per-layer projection such as "q_proj"."""
        self.require_architecture(f"The size of {target!r}")
        for name, fan_in, fan_out in self.linears:
            if name == target:
                return fan_in, fan_out
        raise ValueError(f"{self.name or 'This model'} has no {target!r} layer; its layers have "
                         f"{', '.join(n for n, _, _ in self.linears)}.")


def _get(config: Any, name: str, default: Any = None) -> Any:
    value = getattr(config, name, None)
    return default if value is None else value


def shape_from_config(config: Any, name: str = "") -> ModelShape:
    """The shape of a Llama, Mistral, Qwen2/3 or Gemma-3 decoder from its transformers config (a multimodal config
    contributes its text model). Raises ValueError for other architectures, whose parameters we do not count."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    model_type = getattr(config, "model_type", "")
    if model_type not in FAMILIES:
        raise ValueError(f"Cannot size model type {model_type!r}; supported: {', '.join(FAMILIES)}.")
    family = FAMILIES[model_type]
    hidden, heads, layers = config.hidden_size, config.num_attention_heads, config.num_hidden_layers
    kv_heads = _get(config, "num_key_value_heads", heads)
    head_dim = _get(config, "head_dim", hidden // heads)
    vocab, intermediate = config.vocab_size, config.intermediate_size
    tied = bool(_get(config, "tie_word_embeddings", True))
    window = _get(config, "sliding_window")
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        sliding = tuple(t == "sliding_attention" for t in layer_types)
    else:  # no per-layer list: a window set in the config applies to every layer (Mistral), none means full attention
        sliding = (window is not None,) * layers
    if not any(sliding):
        window = None
    linears = (("q_proj", hidden, heads * head_dim), ("k_proj", hidden, kv_heads * head_dim),
               ("v_proj", hidden, kv_heads * head_dim), ("o_proj", heads * head_dim, hidden),
               ("gate_proj", hidden, intermediate), ("up_proj", hidden, intermediate),
               ("down_proj", intermediate, hidden))
    qkv_bias = family["qkv_bias"] if family["qkv_bias"] is not None else bool(_get(config, "attention_bias", False))
    o_bias = bool(_get(config, "attention_bias", False)) if family["qkv_bias"] is None else False
    per_layer = sum(i * o for _, i, o in linears)
    per_layer += (heads + 2 * kv_heads) * head_dim * qkv_bias + hidden * o_bias
    per_layer += (2 * intermediate + hidden) * bool(_get(config, "mlp_bias", False))
    per_layer += family["layer_norms"] * hidden + 2 * head_dim * family["qk_norm"]
    params = vocab * hidden + layers * per_layer + hidden + (0 if tied else vocab * hidden)  # + final norm, lm_head
    return ModelShape(
        params=params, name=name, model_type=model_type, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, intermediate=intermediate, tied_embeddings=tied,
        max_positions=_get(config, "max_position_embeddings", 0), sliding_window=window, sliding_layers=sliding,
        linears=linears,
    )


def shape_for_params(n: float) -> ModelShape:
    """A shape that knows only its parameter count (``--params N``): enough for weights, gradients and optimizer
    states; the KV cache, activations and LoRA sizes need a real shape and raise ValueError."""
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n < 1:
        raise ValueError(f"The parameter count must be a positive number, got {n!r}.")
    return ModelShape(params=int(round(n)), name=f"{n:.3g} parameters")


def shape_for_model(name: str) -> ModelShape:
    """The shape of a model by name, from its config.json only (no weights are loaded).

    A bundled model is read from the converted cache; if it is not converted yet it is converted first
    (``core.models.convert_bundled``, once, 20-60 s): the app needs the cache anyway, and reading the GGUF's
    metadata alone costs most of that time. A finished run reads its saved model's config (an adapter-only run, its
    base model's), a local folder its own,
    a hub id goes through ``AutoConfig`` (offline it must already be in the hub cache). An unknown name raises the
    registry's ModelError."""
    from transformers import AutoConfig

    from core.models import ModelError, convert_bundled, resolve

    spec = resolve(name)
    if spec.source == "bundled":
        folder = str(convert_bundled(spec.location))
    elif spec.source == "run":
        from dataclasses import replace

        from core.models.runs import check_run

        run_config, model_dir = check_run(spec)  # a reward model is refused here, with the reason
        if not (model_dir / "config.json").is_file() and run_config.get("base_model"):
            # a LoRA or prompt-tuning run saved only its adapter: its shape is its base model's
            return replace(shape_for_model(run_config["base_model"]), name=spec.name)
        folder = str(model_dir)
    else:
        folder = spec.location
    try:
        config = AutoConfig.from_pretrained(folder)
    except OSError as err:
        raise ModelError(f"Cannot read the config of {name!r}: {err}") from err
    return shape_from_config(config, name=spec.name)
