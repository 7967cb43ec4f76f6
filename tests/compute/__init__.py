"""Tests of core.compute. Tiny configs the tests share (built in milliseconds, no downloads)."""

from __future__ import annotations


def tiny_llama_config(tied: bool = False):
    """vocab 256, hidden 64, 2 layers, 4 heads sharing 2 key/value heads (GQA, head_dim 16), MLP 128."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       tie_word_embeddings=tied)


def tiny_gemma3_config():
    """Gemma-3 style: head_dim 32 (not hidden / heads = 16), a window of 8 on layers 0 and 2, tied embeddings."""
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=32, sliding_window=8,
                            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                            max_position_embeddings=128)


def build(config):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def load_bundled(name: str):
    """A bundled model from the converted safetensors cache (converted first if needed), float32."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.models import convert_bundled

    return AutoModelForCausalLM.from_pretrained(convert_bundled(name), dtype=torch.float32).eval()
