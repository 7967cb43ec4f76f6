"""Low-bit weights for a CPU: int8 per row and int4 per group, computed with PyTorch's own CPU kernels.

Decoding one token reads every weight once, so at batch 1 speed is bounded by bytes per weight. PyTorch ships CPU
kernels for this case: ``torch._weight_int8pack_mm`` (int8 weights x bfloat16 activations, the kernel gpt-fast's CPU
path uses) and ``torch._weight_int4pack_mm_for_cpu`` (int4 in groups of 32). Measured on the 2-core machine, one vector
times a 1536x576 weight: float32 164 us, int8 91 us (the same kernel with float32 activations: 1.4 ms). So a low-bit
layer casts its input to bfloat16, multiplies and returns float32; norms, attention and residuals stay float32. In
memory an int4 layer keeps both the file's form (two levels a byte) and the kernel's packed copy.

Why not torchao (measured with torchao 0.18 on torch 2.13, CPU): its int8 weight-only path converts the int8 weight
back to float on every call (slower than float32), int8 dynamic activation took 21.7 ms for that layer (130x float32),
int4 weight-only has no CPU kernel in 0.18 (it needs the mslk package or CUDA), and once installed transformers imports
it on every model load (+1.9 s). The int8 recipe is the one torchao and ``torch.quantize_per_channel`` use: symmetric,
per output row, scale = max|w| / 127.5; int4 is asymmetric per group of 32 (tinygemm's layout: w = (q - 8) * scale +
zero), as the kernel expects.

A tied input embedding (SmolLM2 and Gemma share it with the output head) becomes an ``Int8Embedding`` that reads the
head's int8 rows, so the biggest matrix is stored once, in int8 (Gemma: 168 M of its 268 M parameters).

Holds: ``quantize_rows``, ``Int8Linear``, ``Int4Linear``, ``Int8Embedding``, ``to_lowbit`` (swap a model's layers in
place), ``save_lowbit``/``load_lowbit`` (a folder: config.json, lowbit.json, model.safetensors, the tokenizer).

Does not hold: the Optimise & deploy page's variants and measurements (``core.deploy``) or loading by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

SCHEMES = ("int8", "int4")
GROUP_SIZE = 32  # int4: one scale and zero per 32 weights of a row


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: (int8 values, float32 scale per row), scale = max|w| / 127.5."""
    w = weight.detach().float()
    scale = (w.abs().amax(dim=1) / 127.5).clamp(min=torch.finfo(torch.float32).eps)
    values = torch.clamp(torch.round(w / scale[:, None]), -128, 127).to(torch.int8)
    return values, scale


class Int8Linear(torch.nn.Module):
    """y = x W^T (+ b) with W stored as int8 values times a per-row scale."""

    def __init__(self, values: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.out_features, self.in_features = values.shape
        self.register_buffer("weight_int8", values.contiguous())
        self.register_buffer("weight_scale", scale.float().contiguous())
        self.register_buffer("scale_bf16", scale.to(torch.bfloat16), persistent=False)  # what the kernel takes
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().float(), requires_grad=False)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.scale_bf16 = self.weight_scale.to(torch.bfloat16)

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> "Int8Linear":
        values, scale = quantize_rows(linear.weight)
        return cls(values, scale, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch._weight_int8pack_mm(x.reshape(-1, shape[-1]).to(torch.bfloat16), self.weight_int8, self.scale_bf16)
        y = y.float().reshape(*shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def dequantized(self) -> torch.Tensor:
        return self.weight_int8.float() * self.weight_scale[:, None]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per row"


class Int4Linear(torch.nn.Module):
    """y = x W^T (+ b) with W as 4-bit levels per group of 32: w = (q - 8) * scale + zero."""

    def __init__(self, levels: torch.Tensor, scales_zeros: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.out_features, self.in_features = levels.shape
        # stored two levels per byte (the file's form); packed once more into the kernel's layout at load
        self.register_buffer("weight_uint4x2", (levels[:, ::2] << 4 | levels[:, 1::2]).to(torch.uint8))
        self.register_buffer("scales_zeros", scales_zeros.float().contiguous())  # [in / 32, out, 2]
        self._pack()
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().float(), requires_grad=False)

    def _pack(self) -> None:
        self.register_buffer("packed", torch._convert_weight_to_int4pack_for_cpu(self.levels(), 1), persistent=False)
        self.register_buffer("sz_bf16", self.scales_zeros.to(torch.bfloat16), persistent=False)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._pack()

    @staticmethod
    def fits(linear: torch.nn.Linear) -> bool:
        """The CPU kernel's shapes: rows in whole groups of 32, and a multiple of 16 rows."""
        return linear.in_features % GROUP_SIZE == 0 and linear.out_features % 16 == 0

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> "Int4Linear":
        w = linear.weight.detach().float()
        out_features, in_features = w.shape
        if in_features % GROUP_SIZE:
            raise ValueError(f"int4 needs rows that split into groups of {GROUP_SIZE}; this layer has {in_features}.")
        groups = w.reshape(out_features, in_features // GROUP_SIZE, GROUP_SIZE)
        low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
        scale = ((high - low) / 15).clamp(min=1e-6)
        levels = torch.clamp(torch.round((groups - low) / scale), 0, 15).to(torch.int32).reshape(out_features, in_features)
        zero = low + 8 * scale
        scales_zeros = torch.stack([scale.squeeze(-1), zero.squeeze(-1)], dim=-1).transpose(0, 1)
        return cls(levels, scales_zeros, linear.bias)

    def levels(self) -> torch.Tensor:
        packed = self.weight_uint4x2.to(torch.int32)
        return torch.stack([packed >> 4, packed & 15], dim=-1).reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch._weight_int4pack_mm_for_cpu(x.reshape(-1, shape[-1]).to(torch.bfloat16), self.packed, GROUP_SIZE,
                                              self.sz_bf16)
        y = y.float().reshape(*shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def dequantized(self) -> torch.Tensor:
        groups = self.levels().float().reshape(self.out_features, -1, GROUP_SIZE)
        scale, zero = self.scales_zeros[..., 0].t()[..., None], self.scales_zeros[..., 1].t()[..., None]
        return ((groups - 8) * scale + zero).reshape(self.out_features, self.in_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int4 per {GROUP_SIZE}"


class Int8Embedding(torch.nn.Module):
    """A tied input embedding as int8 rows (times Gemma's embedding scale, if any): the output head's own rows when
    the head is int8 (stored once), else an int8 copy of its own."""

    def __init__(self, rows: Int8Linear, shared: bool, embed_scale: float | None = None):
        super().__init__()
        if shared:
            self._shared = [rows]  # a list: the head's buffers are not registered, or saved, twice
        else:
            self.rows = rows
        self.embed_scale = embed_scale

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self._shared[0] if hasattr(self, "_shared") else self.rows
        out = rows.weight_int8[ids].float() * rows.weight_scale[ids][..., None]
        return out if self.embed_scale is None else out * self.embed_scale


def _tied(model: Any) -> bool:
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    return head is not None and embedding is not None and head.weight is embedding.weight


def to_lowbit(model: Any, scheme: str = "int8") -> Any:
    """Swap every Linear for an Int8Linear or Int4Linear (int8 where int4's kernel cannot take the shape), in place;
    a tied embedding becomes int8 rows (shared with an int8 head). The model must be float32 on the CPU and not shared
    with anyone. Returns it, in eval mode."""
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}.")
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"int8 and int4 weights use CPU kernels; this model is on {device.type}: choose float32 or "
                         "bfloat16 there.")
    tied, embedding = _tied(model), model.get_input_embeddings()
    swaps = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, torch.nn.Linear)]
    for parent, name, child in swaps:  # int4: a layer the kernel cannot take (odd shape) stays int8
        layer = Int4Linear if scheme == "int4" and Int4Linear.fits(child) else Int8Linear
        setattr(parent, name, layer.from_linear(child))
    if tied:
        head = model.get_output_embeddings()
        shared = isinstance(head, Int8Linear)
        rows = head if shared else Int8Linear(*quantize_rows(embedding.weight))
        model.set_input_embeddings(Int8Embedding(rows, shared, getattr(embedding, "scalar_embed_scale", None)))
        model.config.tie_word_embeddings = False  # the head owns the rows now; nothing may re-tie them
    model.lowbit = {"scheme": scheme, "tied": tied}
    return model.eval()


def parameter_count(model: Any) -> int:
    """Parameters as the float model had them: float tensors plus every low-bit layer's weights (a tied embedding's
    rows count once, as in the float model)."""
    floats = sum(p.numel() for p in model.parameters())
    return floats + sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, (Int8Linear, Int4Linear)))


def lowbit_scheme(model: Any) -> str | None:
    """"int8" or "int4" for a model swapped by to_lowbit, else None."""
    return (getattr(model, "lowbit", None) or {}).get("scheme")


# ---------------------------------------------------------------- a folder of its own

MARKER = "lowbit.json"


def save_lowbit(model: Any, tokenizer: Any, folder: str | Path) -> Path:
    """Write a low-bit model: config.json, lowbit.json (scheme, tied), model.safetensors (int8 / packed int4 tensors
    and the float32 rest), and the tokenizer. ``load_lowbit`` reads it back with nothing else."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = dict(model.lowbit)
    model.config.save_pretrained(folder)
    tensors = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt", "lowbit": info["scheme"]})
    (folder / MARKER).write_text(json.dumps(info, indent=2) + "\n")
    tokenizer.save_pretrained(folder)
    return folder


def is_lowbit_folder(folder: str | Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def load_lowbit(folder: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) from a folder written by save_lowbit: the architecture from config.json, swapped to the
    same low-bit layers, then the saved tensors loaded into it (strictly: a missing or extra tensor is an error)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.initialization import no_init_weights

    folder = Path(folder)
    info = json.loads((folder / MARKER).read_text())
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    config.tie_word_embeddings = bool(info.get("tied"))  # as it was before the swap, so the same layers are built
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if info.get("tied"):
        model.tie_weights()
    to_lowbit(model, info["scheme"])
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer
