"""Models: which ones the lab knows, and loading them offline.

``registry``: the bundled models (weights in Python packages) and name resolution (bundled name, ``run:<id>``, a
local folder or a hub id). ``cache``: GGUF -> safetensors, once. ``loading``: device, dtype, hub checks and
``load_model``. ``runs``: finished runs as models (full weights, or adapters on one shared private base copy).
"""

from core.models.cache import LOADING_LOCK, cache_path, convert_bundled, is_cached, locate_gguf
from core.models.loading import PRECISIONS, LoadedModel, ModelInfo, check_loadable, load_model, pick_device, pick_dtype
from core.models.registry import (
    BUNDLED,
    DEFAULT_MODEL,
    RUN_PREFIX,
    BundledModel,
    ModelError,
    ModelSpec,
    is_installed,
    list_models,
    resolve,
)
from core.models.runs import finetuned_runs, reward_model_runs, run_kind

__all__ = [
    "BUNDLED", "DEFAULT_MODEL", "check_loadable", "LOADING_LOCK", "PRECISIONS", "RUN_PREFIX", "BundledModel", "LoadedModel", "ModelError",
    "ModelInfo", "ModelSpec", "cache_path", "convert_bundled", "finetuned_runs", "run_kind", "is_cached", "is_installed",
    "list_models", "load_model", "locate_gguf", "pick_device", "pick_dtype", "resolve", "reward_model_runs",
]
