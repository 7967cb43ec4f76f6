"""Shapes, parameter counts and the memory calculators against hand-computed cases and real models."""

from __future__ import annotations

import math

import pytest

from core.compute import (
    course_training_memory,
    fits,
    inference_memory,
    shape_for_model,
    shape_for_params,
    shape_from_config,
    shard,
    trainable_params,
    training_memory,
)
from core.models import ModelError
from tests.compute import build, load_bundled, tiny_gemma3_config, tiny_llama_config

GB = 10**9


def numel(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_llama_parameter_count_by_hand():
    # embeddings 256 x 64 = 16,384; per layer q 64x64 + k 64x32 + v 64x32 + o 64x64 = 12,288, MLP 3 x 64 x 128 = 24,576,
    # two norms 128: 36,992; two layers 73,984; final norm 64; untied lm_head 16,384: 106,816
    assert shape_from_config(tiny_llama_config()).params == 106_816


@pytest.mark.parametrize("tied", [False, True])
def test_llama_parameter_count_equals_the_model(tied):
    config = tiny_llama_config(tied=tied)
    assert shape_from_config(config).params == numel(build(config))


def test_gemma3_parameter_count_equals_the_model():
    # per layer: q 64x128 + k 64x64 + v 64x64 + o 128x64 = 24,576, MLP 24,576, four norms 256, q_norm + k_norm 64
    # = 49,472; x3 = 148,416; + embeddings 16,384 + final norm 64 (tied head) = 164,864
    config = tiny_gemma3_config()
    shape = shape_from_config(config)
    assert shape.params == 164_864 == numel(build(config))
    assert (shape.head_dim, shape.sliding_window, shape.sliding_layers) == (32, 8, (True, False, True))


def test_qwen2_parameter_count_counts_qkv_biases():
    from transformers import Qwen2Config

    config = Qwen2Config(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    assert shape_from_config(config).params == numel(build(config))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_bundled_parameter_counts_equal_the_loaded_models(name):
    assert shape_for_model(name).params == numel(load_bundled(name))


@pytest.mark.integration
def test_bundled_shapes_read_their_configs():
    smol, gemma = shape_for_model("smollm2-135m-instruct"), shape_for_model("gemma-3-270m")
    assert (smol.heads, smol.kv_heads, smol.head_dim, smol.sliding_window) == (9, 3, 64, None)
    assert (gemma.heads, gemma.kv_heads, gemma.head_dim, gemma.sliding_window) == (4, 1, 256, 512)
    assert sum(gemma.sliding_layers) == 15 and not gemma.sliding_layers[5]  # every sixth layer is global


def test_a_local_folder_reads_its_config(tiny_model_dir):
    assert shape_for_model(str(tiny_model_dir)).layers == 2


def test_an_unknown_model_raises_model_error():
    with pytest.raises(ModelError, match="Unknown model 'no-such-model'"):
        shape_for_model("no-such-model")


def test_unsupported_architectures_are_named():
    from transformers import GPT2Config

    with pytest.raises(ValueError, match="Cannot size model type 'gpt2'"):
        shape_from_config(GPT2Config())


def test_the_course_weight_figures():
    shape = shape_for_params(1e9)  # 1 B parameters: 4 GB in fp32, 2 GB in bf16, 1 GB in int8, 0.5 GB in int4
    weights = {p: inference_memory(shape, p, None, None).parts["weights_bytes"]
               for p in ("fp32", "bf16", "int8", "int4")}
    assert weights == {"fp32": 4 * GB, "bf16": 2 * GB, "int8": 1 * GB, "int4": GB // 2}


def test_the_course_training_figure_adds_up_to_24_bytes_per_parameter():
    # ours: weights 4 + gradients 4 + AdamW 8 = 16 B/param; the course adds 8 B/param of activations and temporaries
    ours = training_memory(shape_for_params(1e9), "fp32", "adamw")
    parts = ours.parts
    assert (parts["weights_bytes"], parts["gradients_bytes"], parts["optimizer_bytes"]) == (4 * GB, 4 * GB, 8 * GB)
    course = course_training_memory(1e9)
    assert course.total_bytes == 24 * GB == ours.total_bytes + 8 * GB


def test_precisions_and_optimizers_per_parameter():
    shape = shape_for_params(1e9)
    per_param = lambda precision, optimizer: training_memory(shape, precision, optimizer).total_bytes / 1e9
    assert per_param("bf16-mixed", "adamw") == 16  # ZeRO: 2 weights + 2 gradients + 4 master + 8 Adam
    assert per_param("bf16", "adamw") == 8  # 2 + 2 + 4 (moments in bf16)
    assert per_param("fp32", "adam8bit") == 10  # 4 + 4 + 2
    assert per_param("fp32", "sgd") == 12  # 4 + 4 + 4 (momentum)


def test_inference_memory_by_hand():
    shape = shape_from_config(tiny_llama_config())
    b = inference_memory(shape, "fp32", batch=2, seq_len=10)
    # KV: 2 x 2 layers x 2 batch x 2 kv heads x 16 head_dim x 10 tokens x 4 B = 10,240
    # activations: 20 tokens; residual + normed 2 x 20 x 64 = 2,560; MLP 3 x 20 x 128 = 7,680 (> attention
    # 20 x (8 + 4) x 16 = 3,840); logits 20 x 256 = 5,120; (2,560 + 7,680 + 5,120) x 4 B = 61,440
    assert b.parts == {"weights_bytes": 106_816 * 4, "kv_cache_bytes": 10_240, "activations_bytes": 61_440}
    assert b.total_bytes == 427_264 + 10_240 + 61_440
    assert inference_memory(shape, "fp32", 2, 10, kv_precision="int8").parts["kv_cache_bytes"] == 10_240 // 4


def test_training_memory_by_hand():
    shape = shape_from_config(tiny_llama_config())
    b = training_memory(shape, "fp32", "adamw", batch=2, seq_len=10)
    # Korthikanti per layer: s b h (34 + 5 a s / h) = 10 x 2 x 64 x (34 + 5 x 4 x 10 / 64) = 1,280 x 37.125 = 47,520
    # 16-bit bytes; 2 layers = 95,040, x 2 for fp32 = 190,080. Logits 2 x 4 B x 2 x 10 x 256 = 40,960
    assert b.parts == {"weights_bytes": 427_264, "gradients_bytes": 427_264, "optimizer_bytes": 854_528,
                       "master_weights_bytes": 0, "activations_bytes": 190_080, "logits_bytes": 40_960}
    # full recomputation keeps 2 s b h per layer: 2 x 10 x 2 x 64 x 2 layers x 2 (fp32) = 10,240
    assert training_memory(shape, batch=2, seq_len=10, recompute=True).parts["activations_bytes"] == 10_240


def test_lora_and_prompt_tuning_trainable_counts_by_hand():
    shape = shape_from_config(tiny_llama_config())
    # LoRA r=8 on q (64 -> 64) and v (64 -> 32): 2 layers x 8 x (128 + 96) = 3,584
    assert trainable_params(shape, "lora", lora_r=8) == 3_584
    assert trainable_params(shape, "prompt", virtual_tokens=20) == 20 * 64
    lora = training_memory(shape, method="lora")
    assert (lora.params, lora.trainable_params, lora.parts["optimizer_bytes"]) == (106_816 + 3_584, 3_584, 3_584 * 8)


def test_lora_count_equals_peft():
    from peft import LoraConfig, get_peft_model

    config = tiny_llama_config()
    model = get_peft_model(build(config), LoraConfig(r=4, target_modules=["q_proj", "k_proj", "down_proj"]))
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable_params(shape_from_config(config), "lora", 4, ("q_proj", "k_proj", "down_proj")) == counted


def test_sharding_strategies_split_what_they_should():
    b = training_memory(shape_for_params(1e9), "bf16-mixed", "adamw")  # 2 + 2 + 4 master + 8 Adam GB
    per = {s: shard(b, 4, s).parts for s in ("ddp", "zero1", "zero2", "zero3", "fsdp")}
    assert per["ddp"] == b.parts
    zero1 = per["zero1"]
    assert (zero1["optimizer_bytes"], zero1["master_weights_bytes"], zero1["gradients_bytes"]) == (2 * GB, GB, 2 * GB)
    assert per["zero2"]["gradients_bytes"] == GB // 2 and per["zero2"]["weights_bytes"] == 2 * GB
    assert per["zero3"] == per["fsdp"] and per["zero3"]["weights_bytes"] == GB // 2
    assert shard(b, 4, "zero3").total_bytes == 16 * GB / 4


def test_activations_are_never_sharded():
    b = training_memory(shape_from_config(tiny_llama_config()), batch=2, seq_len=10)
    assert shard(b, 8, "fsdp").parts["activations_bytes"] == b.parts["activations_bytes"]


def test_fits():
    assert fits(16 * 2**30, 16) and not fits(16 * 2**30 + 1, 16)
    with pytest.raises(ValueError, match="gib must be a positive number"):
        fits(1, 0)


def test_to_json_names_what_it_counts():
    out = training_memory(shape_for_params(1e6)).to_json()
    named = {"weights_bytes", "gradients_bytes", "optimizer_bytes", "total_bytes", "params", "trainable_params"}
    assert named <= set(out)


@pytest.mark.parametrize("bad", [0, -3, float("nan"), 2.5])
def test_bad_sizes_are_refused(bad):
    shape = shape_from_config(tiny_llama_config())
    with pytest.raises(ValueError, match="batch must be a whole number"):
        inference_memory(shape, "fp32", batch=bad, seq_len=10)
    with pytest.raises(ValueError, match="seq_len must be a whole number"):
        training_memory(shape, batch=1, seq_len=bad)
    with pytest.raises(ValueError, match="gpus must be a whole number"):
        shard(training_memory(shape), bad, "ddp")


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_parameter_counts_are_refused(bad):
    with pytest.raises(ValueError, match="parameter count must be a positive number"):
        shape_for_params(bad)


def test_unknown_choices_are_named():
    shape = shape_for_params(1e9)
    with pytest.raises(ValueError, match="Unknown precision 'fp64'"):
        inference_memory(shape, "fp64", None, None)
    with pytest.raises(ValueError, match="Unknown precision 'int8'"):
        training_memory(shape, "int8")
    with pytest.raises(ValueError, match="Unknown optimizer 'adagrad'"):
        training_memory(shape, optimizer="adagrad")
    with pytest.raises(ValueError, match="Unknown strategy 'zero4'"):
        shard(training_memory(shape), 2, "zero4")
    with pytest.raises(ValueError, match="no 'c_attn' layer"):
        trainable_params(shape_from_config(tiny_llama_config()), "lora", lora_targets=("c_attn",))


def test_a_parameter_count_alone_cannot_size_the_cache_activations_or_lora():
    shape = shape_for_params(1e9)
    with pytest.raises(ValueError, match="only its parameter count"):
        inference_memory(shape, "fp32", batch=1, seq_len=2048)
    with pytest.raises(ValueError, match="only its parameter count"):
        training_memory(shape, batch=1, seq_len=512)
    with pytest.raises(ValueError, match="only its parameter count"):
        training_memory(shape, method="lora")
    assert math.isclose(training_memory(shape).total_bytes, 16e9)


def test_an_adapter_only_run_is_sized_as_its_base_model(tiny_model_dir, lab_home):
    from core.compute import shape_for_model

    run = lab_home / "runs" / "20260101-000000-lora"
    (run / "model").mkdir(parents=True)
    (run / "model" / "adapter_config.json").write_text("{}")
    (run / "model" / "adapter_model.safetensors").write_bytes(b"")
    (run / "config.yaml").write_text(f"method: lora\nbase_model: {tiny_model_dir}\n")
    shape = shape_for_model("run:20260101-000000-lora")
    assert shape.name == "run:20260101-000000-lora"
    assert shape.params == shape_for_model(str(tiny_model_dir)).params


def test_a_reward_model_run_is_refused_with_the_reason(lab_home):
    from core.compute import shape_for_model
    from tests.conftest import make_reward_run

    make_reward_run(lab_home)
    with pytest.raises(ValueError, match="is a reward model"):
        shape_for_model("run:20260101-000000-reward")
