"""Loading a model for use: device and dtype, hub ids without network, and ``load_model``.

``load_model`` returns a fresh model + tokenizer + facts about them (``ModelInfo``) for any name ``resolve``
accepts: bundled models come from the safetensors cache (converted on first use), runs from ``core.models.runs``.

Does not hold: generation (``core.sampling``), caching a model across Streamlit sessions (``core.ui.resources``).
torch and transformers are imported inside the functions that need them, so ``import core.models`` stays fast.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from core.models.cache import LOADING_LOCK, ProgressFn, convert_bundled
from core.models.registry import BUNDLED, DEFAULT_MODEL, ModelError, ModelSpec, resolve

if TYPE_CHECKING:
    import torch

Precision = Literal["auto", "bfloat16", "float32", "int8"]
# int8: float32 with every Linear's weights in int8 (core.models.lowbit), the fastest for decoding on a CPU.
PRECISIONS: tuple[str, ...] = ("auto", "bfloat16", "float32", "int8")


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model, for model cards and token budgets."""

    name: str
    source: str
    architecture: str
    parameters: int
    context_window: int
    vocab_size: int
    is_instruct: bool
    has_chat_template: bool
    dtype: str
    device: str
    memory_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    """A model ready to use. Each ``load_model`` call returns a new one, so callers may change it freely;
    the copy shared between Streamlit sessions (core.ui.resources) must be treated as read-only."""

    model: Any
    tokenizer: Any
    info: ModelInfo


# ---------------------------------------------------------------- device and dtype


def pick_device() -> str:
    """CUDA if available, else Apple's MPS, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, precision: str = "auto") -> "torch.dtype":
    """bfloat16 where the device supports it (auto), float32 on request or where bfloat16 is missing."""
    import torch

    if precision not in PRECISIONS:
        raise ModelError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if precision in ("float32", "int8"):  # int8 loads in float32, then swaps its Linears (see with_precision)
        if precision == "int8" and device != "cpu":
            raise ModelError(f"int8 weights use a CPU kernel; on {device} choose bfloat16 or float32.")
        return torch.float32
    if device == "cuda":
        supported = torch.cuda.is_bf16_supported()
    elif device == "mps":
        try:
            torch.zeros(1, dtype=torch.bfloat16, device="mps")
            supported = True
        except (RuntimeError, TypeError):
            supported = False
    else:
        supported = True  # every CPU build of torch computes in bfloat16; on these machines it is 1.5x faster
    if precision == "bfloat16" and not supported:
        raise ModelError(f"This {device} device does not support bfloat16; choose float32.")
    return torch.bfloat16 if supported else torch.float32


# ---------------------------------------------------------------- hub ids


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the Hub, so a machine with no network fails in seconds instead of retrying for minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_folder(hub_id: str) -> str:
    """The local snapshot of a hub id: from the Hugging Face cache, else downloaded where the Hub is reachable."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(hub_id, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    if not _hub_reachable():
        raise ModelError(
            f"{hub_id!r} is not in the local Hugging Face cache and the Hub cannot be reached (no network). "
            "Use a bundled model, or download it on a machine with network and copy the folder here."
        )
    try:
        return snapshot_download(hub_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except (HfHubHTTPError, OSError) as err:
        raise ModelError(f"Could not download {hub_id!r} from the Hub: {err}") from err


# ---------------------------------------------------------------- loading


def load_model(
    name: str = DEFAULT_MODEL,
    precision: str = "auto",
    on_progress: ProgressFn | None = None,
    attn_implementation: str | None = None,
) -> LoadedModel:
    """Load a model by name and return a fresh LoadedModel on the best device.

    Bundled models are converted from GGUF on first use and read from the safetensors cache afterwards.
    ``attn_implementation="eager"`` gives a model that can return its attention weights (slower than the default).
    Raises ModelError with a message meant for the user when the model cannot be had.
    """
    spec = resolve(name)
    on_progress = on_progress or (lambda message: None)
    if spec.source == "run":
        from core.models.runs import load_run

        return load_run(spec, precision, on_progress)
    if spec.source == "bundled":
        folder = str(convert_bundled(spec.name, on_progress))
    elif spec.source == "local":
        folder = spec.location
    else:
        on_progress(f"Looking for {spec.location} in the Hugging Face cache")
        folder = _hub_folder(spec.location)
    device = pick_device()
    dtype = pick_dtype(device, precision)
    on_progress(f"Loading {name} ({str(dtype).removeprefix('torch.')}, {device})")
    model, tokenizer = load_folder(folder, dtype, device, name, attn_implementation)
    return LoadedModel(model=with_precision(model, precision), tokenizer=tokenizer, info=describe(spec, model, tokenizer))


def with_precision(model: Any, precision: str) -> Any:
    """The model as the precision asks: int8 swaps every Linear for int8 weights (in place); others are as loaded."""
    if precision != "int8":
        return model
    from core.models.lowbit import to_lowbit

    return to_lowbit(model, "int8")


def check_loadable(name: str) -> None:
    """What can be known without loading the weights: the name resolves, a bundled model's package is installed, a
    hub id is cached (or the Hub is reachable), a run is a language model, a folder has safetensors weights. Raises
    ModelError; used before a long job starts, so a bad fifth model does not fail after four were evaluated."""
    from core.models.cache import is_cached, locate_gguf

    spec = resolve(name)
    if spec.source == "bundled" and not is_cached(spec.name):
        locate_gguf(spec.name)
    elif spec.source == "hub":
        check_safetensors(_hub_folder(spec.location), name)
    elif spec.source == "local":
        check_safetensors(spec.location, name)
    elif spec.source == "run":
        from core.models.runs import check_run

        check_run(spec)


def load_folder(folder: str, dtype: "torch.dtype", device: str, name: str,
                attn_implementation: str | None = None) -> tuple[Any, Any]:
    """A model and its tokenizer from a folder saved with save_pretrained, on ``device``, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_safetensors(folder, name)
    try:
        with LOADING_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype, local_files_only=True, attn_implementation=attn_implementation, use_safetensors=True
            )
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"Could not load {name!r} from {folder}: {err}") from err
    model.to(device).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def check_safetensors(folder: str | Path, name: str) -> None:
    """Refuse a folder whose weights are pickles: unpickling runs whatever code the file holds, so only safetensors
    weights are loaded (transformers' ``save_pretrained`` writes them by default)."""
    files = [p for p in Path(folder).iterdir() if p.is_file()] if Path(folder).is_dir() else []
    if any(p.suffix == ".safetensors" for p in files):
        return
    pickles = sorted(p.name for p in files if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(f"{name!r} has only pickle weights ({', '.join(pickles[:3])}); only safetensors weights are loaded, "
                         "because unpickling can run code. Convert it where you trust it: load it and call "
                         "save_pretrained(folder) (safetensors is the default).")


def _parameter_count(model: Any) -> int:
    if getattr(model, "lowbit", None):
        from core.models.lowbit import parameter_count

        return parameter_count(model)
    return sum(p.numel() for p in model.parameters())


def describe(spec: ModelSpec, model: Any, tokenizer: Any) -> ModelInfo:
    """The facts a model card shows, read from the loaded model and its config."""
    config = model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    params = list(model.parameters())
    has_template = bool(getattr(tokenizer, "chat_template", None))
    is_instruct = BUNDLED[spec.name].kind == "instruct" if spec.source == "bundled" else has_template
    memory = sum(p.numel() * p.element_size() for p in params) + sum(
        b.numel() * b.element_size() for b in model.buffers()
    )
    return ModelInfo(
        name=spec.name,
        source=spec.source,
        architecture=(config.architectures or [type(model).__name__])[0],
        parameters=_parameter_count(model),
        context_window=int(getattr(text_config, "max_position_embeddings", 0) or tokenizer.model_max_length),
        vocab_size=int(getattr(text_config, "vocab_size", len(tokenizer))),
        is_instruct=is_instruct,
        has_chat_template=has_template,
        dtype=(getattr(model, "lowbit", None) or {}).get("scheme") or str(params[0].dtype).removeprefix("torch."),
        device=str(params[0].device),
        memory_bytes=memory,
    )
