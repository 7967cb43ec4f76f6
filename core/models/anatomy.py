"""The forward pass of a decoder-only model as a list of steps, with real shapes and parameter counts from its config.

Holds ``OutlineStep``, ``ForwardOutline`` and ``forward_pass_outline``: tokens -> embedding -> each decoder layer
(norms, q/k/v/o projections with grouped key/value heads, attention, the gated MLP, the residual additions) -> final
norm -> lm_head -> logits, in the order the transformers implementation runs them, each named by its module path.

Does not hold: the widths themselves or the total parameter count (``core.compute.shapes``, reused here), running
the model (``core.sampling.lens``), drawing the outline (``core.ui.lens``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.compute.shapes import FAMILIES, ModelShape, shape_from_config

STAGES = ("input", "embedding", "attention", "mlp", "output")


@dataclass(frozen=True)
class OutlineStep:
    """One step of the forward pass. ``module`` is the path under the model (``{i}`` for the layer index, empty for
    an operation without weights); ``shape`` is the output for a prompt of T tokens; ``params`` counts one copy and
    ``repeat`` how many copies there are (the number of layers for a step inside a decoder layer)."""

    stage: str
    step: str
    module: str
    shape: str
    params: int
    repeat: int = 1
    note: str = ""

    @property
    def total_params(self) -> int:
        return self.params * self.repeat


@dataclass(frozen=True)
class ForwardOutline:
    shape: ModelShape
    steps: tuple[OutlineStep, ...]
    activation: str
    softcap: float | None

    @property
    def total_params(self) -> int:
        return sum(s.total_params for s in self.steps)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per step, for a table."""
        return [{"stage": s.stage, "step": s.step, "module": s.module, "output shape": s.shape, "parameters": s.params,
                 "× copies": s.repeat, "total": s.total_params, "note": s.note} for s in self.steps]


def _text_config(config: Any) -> Any:
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def forward_pass_outline(config: Any, name: str = "") -> ForwardOutline:
    """The steps of one forward pass of a Llama, Mistral, Qwen2/3 or Gemma-3 decoder (its transformers config, or a
    model's ``.config``). Raises ValueError for other architectures (``shape_from_config`` says which are known)."""
    shape = shape_from_config(config, name=name)
    config = _text_config(config)
    family = FAMILIES[shape.model_type]
    gemma = shape.model_type.startswith("gemma")
    h, v, n_layers, d = shape.hidden, shape.vocab, shape.layers, shape.head_dim
    attn_bias = bool(getattr(config, "attention_bias", False) or False)
    qkv_bias = family["qkv_bias"] if family["qkv_bias"] is not None else attn_bias
    o_bias = attn_bias if family["qkv_bias"] is None else False
    mlp_bias = bool(getattr(config, "mlp_bias", False) or False)
    activation = getattr(config, "hidden_activation", None) or getattr(config, "hidden_act", "silu")
    softcap = getattr(config, "final_logit_softcapping", None)
    group = shape.heads // max(shape.kv_heads, 1)
    layer = "model.layers.{i}."

    def linear(fan_in: int, fan_out: int, bias: bool) -> int:
        return fan_in * fan_out + fan_out * bias

    def in_layer(stage: str, step: str, module: str, out: str, params: int, note: str = "") -> OutlineStep:
        return OutlineStep(stage, step, layer + module if module else "", out, params, n_layers, note)

    norm_note = "RMSNorm: x / rms(x) × (1 + w)" if gemma else "RMSNorm: x / rms(x) × w"
    steps = [
        OutlineStep("input", "token ids", "", "T", 0, note=f"the prompt cut into T tokens from a vocabulary of {v:,}"),
        OutlineStep("embedding", "token embedding", "model.embed_tokens", f"T × {h}", v * h,
                    note="one row of the table per token" + (f", scaled by √{h}" if gemma else "")
                    + "; positions enter later, as rotations of q and k (RoPE)"),
        in_layer("attention", "norm before attention", "input_layernorm", f"T × {h}", h, norm_note),
        in_layer("attention", "query projection", "self_attn.q_proj", f"T × {shape.heads} heads × {d}",
                 linear(h, shape.heads * d, qkv_bias), f"{h} → {shape.heads} × {d}"),
        in_layer("attention", "key projection", "self_attn.k_proj", f"T × {shape.kv_heads} heads × {d}",
                 linear(h, shape.kv_heads * d, qkv_bias),
                 f"grouped-query: each key/value head serves {group} query heads" if group > 1 else "one key head per query head"),
        in_layer("attention", "value projection", "self_attn.v_proj", f"T × {shape.kv_heads} heads × {d}",
                 linear(h, shape.kv_heads * d, qkv_bias)),
    ]
    if family["qk_norm"]:
        steps += [in_layer("attention", "query norm", "self_attn.q_norm", f"T × {shape.heads} heads × {d}", d,
                           "RMSNorm over each head"),
                  in_layer("attention", "key norm", "self_attn.k_norm", f"T × {shape.kv_heads} heads × {d}", d)]
    window = f"; a window of {shape.sliding_window} tokens on {sum(shape.sliding_layers)} of the {n_layers} layers" \
        if shape.sliding_window else ""
    steps += [
        in_layer("attention", "attention: softmax(q·kᵀ / √d) · v", "", f"T × {shape.heads} heads × {d}", 0,
                 f"causal: each token mixes the values of itself and the tokens before it; scores T × T per head{window}"),
        in_layer("attention", "output projection", "self_attn.o_proj", f"T × {h}", linear(shape.heads * d, h, o_bias),
                 f"{shape.heads} × {d} → {h}"),
    ]
    if gemma:
        steps.append(in_layer("attention", "norm after attention", "post_attention_layernorm", f"T × {h}", h))
    steps.append(in_layer("attention", "residual: x + attention(x)", "", f"T × {h}", 0,
                          "the residual stream carries the sum onward: every layer adds to it"))
    pre_mlp = "pre_feedforward_layernorm" if gemma else "post_attention_layernorm"
    steps += [
        in_layer("mlp", "norm before the MLP", pre_mlp, f"T × {h}", h),
        in_layer("mlp", "gate projection", "mlp.gate_proj", f"T × {shape.intermediate}", linear(h, shape.intermediate, mlp_bias),
                 f"{activation}(gate) × up: a gated MLP"),
        in_layer("mlp", "up projection", "mlp.up_proj", f"T × {shape.intermediate}", linear(h, shape.intermediate, mlp_bias)),
        in_layer("mlp", "down projection", "mlp.down_proj", f"T × {h}", linear(shape.intermediate, h, mlp_bias)),
    ]
    if gemma:
        steps.append(in_layer("mlp", "norm after the MLP", "post_feedforward_layernorm", f"T × {h}", h))
    if family["layer_norms"] != (4 if gemma else 2):
        raise ValueError(f"The outline of {shape.model_type!r} does not know where its {family['layer_norms']} norms go.")
    steps += [
        in_layer("mlp", "residual: x + MLP(x)", "", f"T × {h}", 0, "the layer's output: the next layer's input"),
        OutlineStep("output", "final norm", "model.norm", f"T × {h}", h, note=norm_note),
        OutlineStep("output", "lm_head (tied to the embedding)" if shape.tied_embeddings else "lm_head", "lm_head",
                    f"T × {v:,}", 0 if shape.tied_embeddings else v * h,
                    note="shares the embedding matrix (tied): no new parameters" if shape.tied_embeddings
                    else "its own matrix, not tied to the embedding"),
    ]
    if softcap:
        steps.append(OutlineStep("output", "logit soft-capping", "", f"T × {v:,}", 0,
                                 note=f"logits → {softcap:g} × tanh(logits / {softcap:g})"))
    steps.append(OutlineStep("output", "logits → next-token probabilities", "", f"T × {v:,}", 0,
                             note="the row of the last token, through softmax (and a sampler), picks the next token"))
    return ForwardOutline(shape=shape, steps=tuple(steps), activation=activation, softcap=softcap)
