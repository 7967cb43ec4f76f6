"""``compute memory`` and ``compute chinchilla`` through a parser built here (the group is wired into GROUPS later)."""

from __future__ import annotations

import argparse
import json

import pytest

from core.cli import compute


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    compute.add_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def run_json(capsys, argv: list[str]) -> dict:
    assert run(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_params_only_training_gives_16_bytes_per_parameter(capsys):
    out = run_json(capsys, ["compute", "memory", "--params", "1e9", "--mode", "train", "--precision", "fp32"])
    assert (out["weights_bytes"], out["gradients_bytes"], out["optimizer_bytes"]) == (4e9, 4e9, 8e9)
    assert out["total_bytes"] == 16e9 and out["params"] == 1e9


def test_params_only_inference_counts_the_weights(capsys):
    out = run_json(capsys, ["compute", "memory", "--params", "1e9", "--precision", "int8"])
    assert out["weights_bytes"] == 1e9 and out["kv_cache_bytes"] == 0


def test_a_local_model_with_sharding(capsys, tiny_model_dir):
    out = run_json(capsys, ["compute", "memory", "--model", str(tiny_model_dir), "--mode", "train", "--gpus", "2",
                            "--strategy", "fsdp", "--seq-len", "16", "--batch", "2"])
    per = out["per_device"]
    assert per["weights_bytes"] == out["weights_bytes"] / 2 and per["optimizer_bytes"] == out["optimizer_bytes"] / 2
    assert per["activations_bytes"] == out["activations_bytes"] > 0 and per["strategy"] == "fsdp"


def test_a_local_model_inference_has_a_kv_cache(capsys, tiny_model_dir):
    # the tiny model: 2 layers, 2 kv heads of 8 (hidden 32 / 4 heads); default 2,048 tokens
    out = run_json(capsys, ["compute", "memory", "--model", str(tiny_model_dir), "--mode", "inference"])
    assert out["kv_cache_bytes"] == 2 * 2 * 2 * 8 * 2048 * 4


def test_human_output_is_a_table(capsys, tiny_model_dir):
    assert run(["compute", "memory", "--model", str(tiny_model_dir), "--mode", "train", "--method", "lora"]) == 0
    text = capsys.readouterr().out
    assert "weights" in text and "optimizer" in text and "MiB" in text and "trainable" in text


@pytest.mark.integration
def test_a_bundled_model(capsys):
    out = run_json(capsys, ["compute", "memory", "--model", "smollm2-135m-instruct", "--precision", "bf16"])
    assert out["params"] == 134_515_008 and out["weights_bytes"] == 134_515_008 * 2


def test_chinchilla_from_params_and_from_compute(capsys):
    out = run_json(capsys, ["compute", "chinchilla", "--params", "1e9"])
    assert (out["tokens"], out["flops"], out["tokens_per_param"]) == (2e10, 1.2e20, 20)
    out = run_json(capsys, ["compute", "chinchilla", "--compute", "5.88e23"])
    assert out["params"] == pytest.approx(7e10) and out["tokens"] == pytest.approx(1.4e12)
    assert run(["compute", "chinchilla", "--params", "7e10"]) == 0 and "loss" in capsys.readouterr().out


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="positive"):
        run(["compute", "chinchilla", "--params", "-5"])
    with pytest.raises(ValueError, match="Unknown precision 'bf16-mixed'"):
        run(["compute", "memory", "--params", "1e9", "--mode", "inference", "--precision", "bf16-mixed"])
    with pytest.raises(ValueError, match="only its parameter count"):
        run(["compute", "memory", "--params", "1e9", "--seq-len", "512"])
    with pytest.raises(ValueError, match="Unknown model"):
        run(["compute", "memory", "--model", "no-such-model"])


def test_inference_counts_the_last_positions_logits_unless_all_are_asked_for(capsys, tiny_model_dir):
    base = ["compute", "memory", "--model", str(tiny_model_dir), "--mode", "inference", "--seq-len", "100"]
    last = run_json(capsys, base)["activations_bytes"]
    every = run_json(capsys, base + ["--logits", "all"])["activations_bytes"]
    from transformers import AutoConfig

    vocab = AutoConfig.from_pretrained(tiny_model_dir).vocab_size
    assert every - last == 99 * vocab * 4  # 99 more rows of fp32 logits
