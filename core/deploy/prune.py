"""Pruning: structured (whole decoder layers, MLP channels), which makes a model smaller and faster, and unstructured
magnitude pruning, which only writes zeros into dense tensors.

- ``layer_saliency``: Block Influence (ShortGPT, Men et al. 2024) per decoder layer, 1 − the mean cosine similarity
  of the layer's input and output hidden states over the tokens of some texts. A layer that barely turns its input
  scores near 0 and is the cheapest to drop. Read with forward hooks on the layers: transformers 5 may hand back the
  last hidden state already normed, so ``output_hidden_states`` would mislead on the last layer.
- ``drop_layers``: removes layers in place and fixes what a reload and the KV cache need: ``num_hidden_layers``,
  per-layer config lists (Gemma 3's ``layer_types``: sliding or full attention) and every module's ``layer_idx``.
- ``prune_mlp_channels``: keeps the most important intermediate channels of every MLP (gate/up rows, down columns).
- ``magnitude_prune``: ``torch.nn.utils.prune.l1_unstructured`` per Linear (each decoder Linear loses the same
  share), made permanent with ``prune.remove``: the tensors stay dense, so bytes and speed do not change.
- ``prune_job``: the background run (``JOB``) that saves the variant to ``<run>/model``; ``check_prune_config`` to
  fail before a run starts; ``heal_config``: a fine-tune config (``core.finetune``) that trains the variant.

Does not hold: measuring speed and size or comparing variants (``core.deploy.measure``, ``core.deploy.compare``),
quantisation, distillation, UI.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.config import DictConfig, check_range
from core.models.registry import DEFAULT_MODEL, RUN_PREFIX

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.deploy.prune:prune_job"
MAX_MLP_FRACTION = 0.9
MAX_SPARSITY = 0.99
SALIENCY_TEXTS = 8  # general_text paragraphs gen-031..gen-038: outside gen-001..030, the probe perplexity is measured on
PER_LAYER_CONFIG = ("layer_types", "no_rope_layers")  # config lists with one entry per decoder layer


# ---------------------------------------------------------------- where the layers are


def decoder_layers(model: Any) -> Any:
    """The decoder's ``nn.ModuleList`` of layers (Llama, Gemma 3 and most causal LMs keep it at ``model.model.layers``)."""
    import torch

    inner = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ValueError(f"{type(model).__name__} has no list of decoder layers at model.layers; it cannot be pruned here.")
    return layers


def _configs(model: Any) -> list[Any]:
    """The config objects that describe the decoder (the model's text config, and the decoder's own if distinct)."""
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    inner = model.get_decoder() if hasattr(model, "get_decoder") else model
    found = [text]
    if getattr(inner, "config", text) is not text:
        found.append(inner.config)
    return found


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() skips a tied weight's second name


def dense_bytes(model: Any) -> int:
    """Bytes of every parameter and buffer as stored (dense tensors, zeros included)."""
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


# ---------------------------------------------------------------- saliency


def layer_saliency(model: Any, tokenizer: Any, texts: Sequence[str], max_tokens: int = 256) -> list[float]:
    """Block Influence of every decoder layer, in [0, 2]: 1 − mean over tokens of cos(input, output) of the layer."""
    import torch

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("Saliency needs at least one non-empty text.")
    check_range("max_tokens", max_tokens, 1, 1_000_000, integer=True)
    layers = decoder_layers(model)
    sums = [torch.zeros((), dtype=torch.float64) for _ in layers]
    tokens = 0

    def hook(i: int) -> Any:
        def record(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
            x = args[0] if args else kwargs["hidden_states"]
            y = output[0] if isinstance(output, tuple) else output
            sums[i] += torch.nn.functional.cosine_similarity(x.float(), y.float(), dim=-1).sum().double().cpu()
        return record

    handles = [layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            for text in texts:
                ids = tokenizer(text, return_tensors="pt").input_ids[:, :max_tokens].to(device)
                if ids.shape[1]:
                    model(input_ids=ids, use_cache=False)
                    tokens += ids.shape[1]
    finally:
        for handle in handles:
            handle.remove()
    if not tokens:
        raise ValueError("The saliency texts have no tokens.")
    return [min(2.0, max(0.0, 1.0 - float(s) / tokens)) for s in sums]


def least_salient_layers(scores: Sequence[float], n: int) -> list[int]:
    """The ``n`` layers with the lowest scores (ties: the earlier layer), in layer order."""
    check_range("layers to drop", n, 0, max(len(scores) - 1, 0), integer=True)
    ranked = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    return sorted(ranked[:n])


# ---------------------------------------------------------------- structured: layers


def drop_layers(model: Any, indices: Sequence[int]) -> Any:
    """Remove decoder layers in place; the model then saves, reloads from its folder alone and generates."""
    import torch

    layers = decoder_layers(model)
    n = len(layers)
    indices = list(indices)
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
            raise ValueError(f"Layer index {i!r} is out of range: this model has layers 0 to {n - 1}.")
    if len(set(indices)) != len(indices):
        raise ValueError(f"Layer indices {indices} name a layer twice; list each layer once.")
    if len(indices) >= n:
        raise ValueError(f"Cannot drop {len(indices)} of {n} layers: at least one decoder layer must stay.")
    drop = set(indices)
    keep = [i for i in range(n) if i not in drop]
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    inner = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    inner.layers = kept
    for new_index, layer in enumerate(kept):
        for module in layer.modules():  # the layer and its attention: the KV cache is indexed by layer_idx
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new_index
    for config in _configs(model):
        config.num_hidden_layers = len(keep)
        for name in PER_LAYER_CONFIG:
            values = getattr(config, name, None)
            if isinstance(values, (list, tuple)) and len(values) == n:
                setattr(config, name, [values[i] for i in keep])
    return model


# ---------------------------------------------------------------- structured: MLP channels


def _mlps(model: Any) -> list[Any]:
    mlps = [getattr(layer, "mlp", None) for layer in decoder_layers(model)]
    if not all(all(hasattr(m, p) for p in ("gate_proj", "up_proj", "down_proj")) for m in mlps):
        raise ValueError("MLP pruning needs gated MLPs (gate_proj, up_proj, down_proj) in every layer, as in Llama and Gemma.")
    return mlps


def _channel_activity(model: Any, mlps: list[Any], tokenizer: Any, texts: Sequence[str], max_tokens: int) -> list[Any]:
    """Mean |activation| of every intermediate channel (the input of down_proj) over the tokens of the texts."""
    import torch

    sums = [torch.zeros(m.down_proj.in_features, dtype=torch.float64) for m in mlps]
    counts = [0] * len(mlps)

    def hook(i: int) -> Any:
        def record(module: Any, args: tuple) -> None:
            x = args[0].reshape(-1, args[0].shape[-1])
            sums[i] += x.abs().sum(0).double().cpu()
            counts[i] += x.shape[0]
        return record

    handles = [m.down_proj.register_forward_pre_hook(hook(i)) for i, m in enumerate(mlps)]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            for text in texts:
                ids = tokenizer(text, return_tensors="pt").input_ids[:, :max_tokens].to(device)
                if ids.shape[1]:
                    model(input_ids=ids, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return [s / max(c, 1) for s, c in zip(sums, counts)]


def _sliced(linear: Any, keep: Any, dim: int) -> Any:
    import torch

    weight = linear.weight.detach().index_select(dim, keep.to(linear.weight.device))
    new = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None,
                          device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:
            new.bias.copy_(linear.bias if dim == 1 else linear.bias.index_select(0, keep.to(linear.bias.device)))
    return new


def prune_mlp_channels(model: Any, fraction: float, tokenizer: Any = None, texts: Sequence[str] | None = None,
                       max_tokens: int = 256) -> Any:
    """Remove ``fraction`` of every MLP's intermediate channels (the same count in each layer), keeping those with the
    highest score: mean |activation| on the texts × the down_proj column norm; without texts, the product of the
    channel's gate row, up row and down column norms (on SmolLM2 far worse than random: pass texts). Updates
    ``config.intermediate_size``."""
    import torch

    check_range("mlp_fraction", fraction, 0, MAX_MLP_FRACTION)
    mlps = _mlps(model)
    size = mlps[0].down_proj.in_features
    if any(m.down_proj.in_features != size for m in mlps):
        raise ValueError("MLP pruning needs the same intermediate size in every layer.")
    keep_count = max(1, round(size * (1 - fraction)))
    if keep_count == size:
        return model
    use_texts = bool(texts) and tokenizer is not None
    activity = _channel_activity(model, mlps, tokenizer, texts, max_tokens) if use_texts else None
    for i, mlp in enumerate(mlps):
        with torch.no_grad():
            score = mlp.down_proj.weight.float().norm(dim=0).cpu().double()
            if activity is not None:
                score = score * activity[i]
            else:
                score = score * mlp.gate_proj.weight.float().norm(dim=1).cpu() * mlp.up_proj.weight.float().norm(dim=1).cpu()
        keep = torch.topk(score, keep_count).indices.sort().values
        mlp.gate_proj, mlp.up_proj = _sliced(mlp.gate_proj, keep, 0), _sliced(mlp.up_proj, keep, 0)
        mlp.down_proj = _sliced(mlp.down_proj, keep, 1)
        if hasattr(mlp, "intermediate_size"):
            mlp.intermediate_size = keep_count
    for config in _configs(model):
        config.intermediate_size = keep_count
    return model


# ---------------------------------------------------------------- unstructured: magnitude


def magnitude_prune(model: Any, sparsity: float) -> dict[str, Any]:
    """Zero the smallest-|w| share ``sparsity`` of every decoder Linear's weight (per layer: each Linear loses the same
    share; embeddings and the head are left alone), made permanent. The tensors stay dense: the same bytes, the same
    matmuls. ``csr_bytes`` is what a sparse (CSR, int64 indices) copy of those weights would take instead."""
    import torch
    from torch.nn.utils import prune

    check_range("sparsity", sparsity, 0, MAX_SPARSITY)
    linears = [m for layer in decoder_layers(model) for m in layer.modules() if isinstance(m, torch.nn.Linear)]
    before = dense_bytes(model)
    for linear in linears:
        prune.l1_unstructured(linear, "weight", amount=float(sparsity))
        prune.remove(linear, "weight")
    total = sum(m.weight.numel() for m in linears)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
    nonzero = total - zeros
    csr = nonzero * (linears[0].weight.element_size() + 8) + sum((m.weight.shape[0] + 1) * 8 for m in linears)
    return {"sparsity": zeros / total, "target_sparsity": float(sparsity), "scope": "per layer (each decoder Linear)",
            "parameters": total, "zeros": zeros, "dense_bytes_before": before, "dense_bytes_after": dense_bytes(model),
            "pruned_weight_bytes": weight_bytes, "csr_bytes": csr}


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class PruneConfig(DictConfig):
    KIND = "pruning"

    base_model: str = field(default=DEFAULT_MODEL, metadata={"help": "The model to prune: bundled, run:<id> or a folder."})
    drop_layers: int = field(default=0, metadata={"help": "Decoder layers to remove, the least salient first "
                                                           "(Block Influence: how little a layer changes its input)."})
    mlp_fraction: float = field(default=0.0, metadata={"help": "Share of each MLP's intermediate channels to remove "
                                                                "(0 to 0.9), the least active first."})
    sparsity: float = field(default=0.0, metadata={"help": "Share of every decoder weight matrix to set to zero, smallest "
                                                            "first (0 to 0.99). Dense zeros: no smaller, no faster."})
    saliency_texts: tuple[str, ...] = field(default=(), metadata={
        "help": "Texts that score the layers and channels; empty: general_text paragraphs gen-031 to gen-038."})
    max_tokens: int = field(default=256, metadata={"help": "Tokens of each saliency text that are read."})
    task: str = field(default="deploy", metadata={"help": "Marks a deploy run."})
    method: str = field(default="full", metadata={"help": "full: the run saves a whole model."})
    variant: str = field(default="prune", metadata={"help": "Which kind of variant this run makes."})

    def __post_init__(self) -> None:
        if not isinstance(self.base_model, str) or not self.base_model.strip():
            raise ValueError("base_model must name a model (bundled, run:<id> or a folder).")
        check_range("drop_layers", self.drop_layers, 0, 10_000, integer=True)
        check_range("mlp_fraction", self.mlp_fraction, 0, MAX_MLP_FRACTION)
        check_range("sparsity", self.sparsity, 0, MAX_SPARSITY)
        check_range("max_tokens", self.max_tokens, 1, 100_000, integer=True)
        if not all(isinstance(t, str) for t in self.saliency_texts):
            raise ValueError("saliency_texts must be a list of strings.")
        for name, expected in (("task", "deploy"), ("method", "full"), ("variant", "prune")):
            if getattr(self, name) != expected:
                raise ValueError(f"A pruning config has {name}: {expected}, got {getattr(self, name)!r}.")
        if not (self.drop_layers or self.mlp_fraction or self.sparsity):
            raise ValueError("Choose at least one pruning method: drop_layers > 0, mlp_fraction > 0 or sparsity > 0.")


def base_layers(name: str) -> int:
    """The number of decoder layers of a model, from its config.json where one is at hand, else by loading it."""
    from core.models import cache_path, is_cached, load_model, resolve

    spec = resolve(name)
    folder = {"run": Path(spec.location) / "model", "local": Path(spec.location)}.get(spec.source)
    if spec.source == "bundled" and is_cached(spec.name):
        folder = cache_path(spec.name)
    if folder is not None and (folder / "config.json").is_file():
        data = json.loads((folder / "config.json").read_text())
        return int(data.get("text_config", data)["num_hidden_layers"])
    return len(decoder_layers(load_model(name, precision="float32").model))


def check_prune_config(config: dict[str, Any], num_layers: int | None = None) -> dict[str, Any]:
    """A pruning config made whole and checked, or ValueError (a ModelError when the base cannot be had). The number of
    layers is read from the base (``num_layers`` skips that) when layers are to be dropped."""
    settings = PruneConfig.from_dict({k: v for k, v in config.items() if v is not None})  # None: the default
    if settings.drop_layers:
        n = num_layers if num_layers is not None else base_layers(settings.base_model)
        if settings.drop_layers >= n:
            raise ValueError(f"Cannot drop {settings.drop_layers} of the {n} layers of {settings.base_model}: at least "
                             f"one must stay (drop at most {n - 1}).")
    return settings.to_dict()


def default_saliency_texts() -> list[str]:
    from core.finetune.mixing import PROBE_TEXTS, general_texts

    return general_texts()[PROBE_TEXTS:PROBE_TEXTS + SALIENCY_TEXTS]


def private_copy(model: Any) -> Any:
    """A float32 copy that is ours to change (a LoRA run's view shares its base: merged into the copy)."""
    import torch

    model = copy.deepcopy(model)
    if hasattr(model, "peft_config"):
        if not hasattr(model, "merge_and_unload") or "PROMPT" in str(getattr(model, "peft_type", "")):
            raise ValueError("A prompt-tuned run cannot be pruned: its virtual tokens are not weights of the model.")
        model = model.merge_and_unload()
    return model.to(torch.float32).eval()


def prune_job(ctx: "RunContext") -> dict[str, Any]:
    """The background run (``JOB``): score the layers, prune, save ``<run>/model`` (safetensors and tokenizer)."""
    import time

    from core import checkpoints
    from core.models import load_model

    config = PruneConfig.from_dict({k: v for k, v in ctx.config.items() if v is not None}).to_dict()
    started = time.monotonic()
    ctx.progress(step=0, stage="load", message=f"Loading {config['base_model']} (float32)")
    loaded = load_model(config["base_model"], precision="float32")
    model, tokenizer = private_copy(loaded.model), loaded.tokenizer
    layers_before, parameters_before = len(decoder_layers(model)), count_parameters(model)
    if config["drop_layers"] >= layers_before:
        raise ValueError(f"Cannot drop {config['drop_layers']} of the {layers_before} layers: at least one must stay.")
    texts = list(config["saliency_texts"]) or default_saliency_texts()
    ctx.progress(step=1, stage="saliency", message=f"Scoring {layers_before} layers on {len(texts)} texts")
    saliency = layer_saliency(model, tokenizer, texts, config["max_tokens"])
    result: dict[str, Any] = {"saliency": saliency, "layers_before": layers_before, "parameters_before": parameters_before,
                              "base_model": config["base_model"], "variant": "prune"}
    if ctx.should_stop():
        return {**result, "stopped_at": "saliency"}
    dropped = least_salient_layers(saliency, config["drop_layers"])
    drop_layers(model, dropped)
    ctx.progress(step=2, stage="drop", message=f"Dropped layers {dropped}", dropped_layers=dropped)
    if config["mlp_fraction"] and not ctx.should_stop():
        prune_mlp_channels(model, config["mlp_fraction"], tokenizer, texts, config["max_tokens"])
        ctx.progress(step=3, stage="mlp", message=f"MLP intermediate size now {model.config.intermediate_size}")
    if config["sparsity"] and not ctx.should_stop():
        result["magnitude"] = magnitude_prune(model, config["sparsity"])
        ctx.progress(step=4, stage="magnitude", message=f"Sparsity {result['magnitude']['sparsity']:.3f}")
    if ctx.should_stop():
        return {**result, "stopped_at": "pruning"}

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    final = checkpoints.save_final(ctx.dir, save)
    ctx.progress(step=5, stage="saved", message=f"Saved to {final}")
    return {**result, "dropped_layers": dropped, "layers_after": len(decoder_layers(model)),
            "parameters_after": count_parameters(model), "intermediate_size": int(model.config.intermediate_size),
            "size_bytes": sum(p.stat().st_size for p in final.glob("*.safetensors")), "model": str(final),
            "seconds": round(time.monotonic() - started, 2)}


def heal_config(run_id: str, max_steps: int = 60) -> dict[str, Any]:
    """A full fine-tune (``core.finetune``, ``FinetuneConfig``) that heals a pruned run: its own model as the base,
    dialogue summaries mixed 1 : 1 with general-text replay (gen-031..060; perplexity is probed on gen-001..030)."""
    name = run_id if run_id.startswith(RUN_PREFIX) else RUN_PREFIX + run_id
    return {"base_model": name, "method": "full", "dataset": "dialogsum",
            "mix": [{"dataset": "dialogsum", "weight": 1}, {"dataset": "general_text", "weight": 1}],
            "max_steps": max_steps, "learning_rate": 2e-5, "batch_size": 4, "max_length": 256}
