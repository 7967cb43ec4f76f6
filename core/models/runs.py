"""Runs as models: the finished runs that saved a model, and loading one without touching any shared model.

A run folder holds ``config.yaml`` (its ``method`` and ``base_model``) and ``model/``: full weights, or a PEFT adapter.
LoRA runs share one private copy of their base per (base, precision), the *adapter host*, with every loaded adapter
beside the others, so switching runs swaps adapters instead of reloading the base. A prompt-tuned run gets its own
base copy (its virtual tokens go before every input).

Does not hold: training (``core.finetune``) or the run machinery (``core.jobs``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import yaml

from core.models import loading
from core.models.cache import LOADING_LOCK, ProgressFn
from core.models.registry import RUN_PREFIX, ModelError, ModelSpec
from core.paths import RUN_ID, runs_dir


def finetuned_runs() -> list[str]:
    """Model names ("run:<id>") of the runs that finished with a language model (fine-tuned; later aligned or
    derived), newest first. Reward models are not among them: they score text, they do not write it."""
    return [RUN_PREFIX + d.name for d in _runs_with_a_model() if not _is_reward_model(d)]


def reward_model_runs() -> list[str]:
    """Run ids of the finished reward models, newest first: offered where a reward is asked for."""
    return [d.name for d in _runs_with_a_model() if _is_reward_model(d)]


def run_kind(name: str) -> str:
    """"Aligned" for PPO, DPO and RLOO runs, "Pre-trained" for models trained from scratch, "Optimised" for quantised,
    pruned and distilled variants, "Fine-tuned" for the others: how a picker labels a run's model."""
    try:
        config = yaml.safe_load((runs_dir() / name.removeprefix(RUN_PREFIX) / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "Fine-tuned"
    return {"align": "Aligned", "pretrain": "Pre-trained", "deploy": "Optimised"}.get(config.get("task"), "Fine-tuned")


def _runs_with_a_model() -> list[Path]:
    runs = runs_dir()
    if not runs.is_dir():
        return []
    return [d for d in sorted(runs.iterdir(), reverse=True) if RUN_ID.match(d.name) and not d.is_symlink()
            and ((d / "model" / "config.json").is_file() or (d / "model" / "adapter_config.json").is_file())]


def _is_reward_model(run: Path) -> bool:
    try:
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    return config.get("task") == "reward"


def load_run(spec: ModelSpec, precision: str, on_progress: ProgressFn) -> loading.LoadedModel:
    """A run's model, never on the shared base model (see the module docstring for the three kinds)."""
    config, model_dir = check_run(spec)
    try:
        return _load_run(spec, config, model_dir, precision, on_progress)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError) as err:  # a run folder made by hand or by another version
        raise ModelError(f"{spec.name!r} cannot be loaded as a language model: {err}") from err


def check_run(spec: ModelSpec) -> tuple[dict[str, Any], Path]:
    """A run's config and model folder, or ModelError when the run is not a language model that can be loaded."""
    folder = Path(spec.location)
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ModelError(f"{spec.name!r} has no readable config.yaml ({err}).") from err
    if config.get("task") == "reward":
        raise ModelError(f"{spec.name!r} is a reward model: it scores text and cannot write any. Choose it where a "
                         "reward is asked for (RLHF: human feedback → Reward model).")
    model_dir = folder / "model"
    loading.check_safetensors(model_dir, spec.name)
    if (model_dir / "lab.json").is_file():  # an aligned run's model says what it is (a LoRA adapter) and on what base
        import json

        try:
            config = {**config, **json.loads((model_dir / "lab.json").read_text())}
        except ValueError as err:
            raise ModelError(f"{spec.name!r} has an unreadable model/lab.json ({err}).") from err
    return config, model_dir


def _load_run(spec: ModelSpec, config: dict[str, Any], model_dir: Path, precision: str,
              on_progress: ProgressFn) -> loading.LoadedModel:
    if config.get("method") == "full":
        device = loading.pick_device()
        model, tokenizer = loading.load_folder(str(model_dir), loading.pick_dtype(device, precision), device, spec.name)
        model = loading.with_precision(model, precision)
    elif config.get("method") == "quantized":  # a quantised variant (core.deploy): its own low-bit layers, always
        from core.models.lowbit import load_lowbit

        with LOADING_LOCK:
            model, tokenizer = load_lowbit(model_dir)
    elif precision == "int8":
        raise ModelError(f"{spec.name!r} is an adapter on {config.get('base_model')}; int8 serving is for full models. "
                         "Choose float32 or bfloat16 for it, or merge the adapter first (Fine-tune runner → Export).")
    elif config.get("method") == "lora":
        host = _adapter_host(config["base_model"], precision, on_progress)
        model, tokenizer = host.view(model_dir.parent.name, model_dir), host.tokenizer
    else:
        from peft import PeftModel

        base = loading.load_model(config["base_model"], precision=precision, on_progress=on_progress)
        with LOADING_LOCK:
            model = PeftModel.from_pretrained(base.model, str(model_dir))
        tokenizer = base.tokenizer
    info = loading.describe(spec, model, tokenizer)
    return loading.LoadedModel(model=model.eval(), tokenizer=tokenizer, info=info)


class _AdapterHost:
    """One private copy of a base model with the LoRA adapters of several runs loaded beside each other."""

    def __init__(self, base: loading.LoadedModel):
        self.base, self.tokenizer = base, base.tokenizer
        self.peft: Any = None
        self.lock = threading.RLock()  # a forward pass and the choice of adapter go together

    def view(self, name: str, adapter_dir: Path) -> Any:
        from peft import PeftModel

        with self.lock, LOADING_LOCK:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base.model, str(adapter_dir), adapter_name=name)
            elif name not in self.peft.peft_config:
                self.peft.load_adapter(str(adapter_dir), adapter_name=name)
        return _adapter_view(self, name)


_adapter_hosts: dict[tuple[str, str], _AdapterHost] = {}


def _adapter_host(base_name: str, precision: str, on_progress: ProgressFn) -> _AdapterHost:
    with LOADING_LOCK:
        if (base_name, precision) not in _adapter_hosts:
            base = loading.load_model(base_name, precision=precision, on_progress=on_progress)
            _adapter_hosts[(base_name, precision)] = _AdapterHost(base)
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
