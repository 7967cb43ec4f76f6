"""The KV cache the calculator gives equals the bytes of the cache a real forward pass allocates."""

from __future__ import annotations

import pytest

from core.compute import inference_memory, shape_for_model, shape_from_config
from core.compute.measure import cache_nbytes
from tests.compute import build, load_bundled, tiny_gemma3_config, tiny_llama_config


def measured_cache(model, batch: int, seq_len: int) -> int:
    import torch

    ids = torch.randint(0, model.config.vocab_size, (batch, seq_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)  # one row of logits: the cache is the point
    return cache_nbytes(out.past_key_values)


def estimated_cache(shape, batch: int, seq_len: int) -> int:
    return inference_memory(shape, "fp32", batch, seq_len).parts["kv_cache_bytes"]


def test_llama_with_grouped_query_attention():
    config = tiny_llama_config()
    # by hand: 2 (k, v) x 2 layers x 3 batch x 2 kv heads (not 4 heads) x 16 head_dim x 17 tokens x 4 B = 26,112
    assert estimated_cache(shape_from_config(config), 3, 17) == 26_112 == measured_cache(build(config), 3, 17)


@pytest.mark.parametrize("seq_len", [5, 7, 8, 20])
def test_gemma3_sliding_layers_keep_window_minus_one_tokens(seq_len):
    config = tiny_gemma3_config()  # window 8 on layers 0 and 2: they keep min(seq_len, 7) tokens
    assert estimated_cache(shape_from_config(config), 2, seq_len) == measured_cache(build(config), 2, seq_len)


def test_gemma3_by_hand():
    # 20 tokens: sliding layers keep 7 each, the full layer 20: 34 token rows x 2 (k, v) x 2 kv heads x 32 x 4 B
    assert estimated_cache(shape_from_config(tiny_gemma3_config()), 1, 20) == 34 * 2 * 2 * 32 * 4 == 17_408


@pytest.mark.integration
def test_smollm2_cache():
    # 30 layers x 3 kv heads (of 9) x head_dim 64: 2 x 30 x 3 x 64 x 4 B = 46,080 B per token
    assert estimated_cache(shape_for_model("smollm2-135m-instruct"), 1, 100) == 46_080 * 100
    assert measured_cache(load_bundled("smollm2-135m-instruct"), 1, 100) == 46_080 * 100


@pytest.mark.integration
def test_gemma3_270m_cache_beyond_its_window():
    # 600 tokens > window 512: 15 sliding layers keep 511, 3 global layers keep 600; 1 kv head x 256 x 2 x 4 B
    expected = (15 * 511 + 3 * 600) * 2 * 256 * 4
    assert estimated_cache(shape_for_model("gemma-3-270m"), 1, 600) == expected
    assert measured_cache(load_bundled("gemma-3-270m"), 1, 600) == expected
