"""Integration: the real bundled models, converted from their GGUF packages and read back from the cache."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from core import models
from core.sampling import SamplingSettings, encode_prompt, generate_text

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2():
    return models.load_model("smollm2-135m-instruct", precision="float32")


def test_smollm2_facts(smollm2):
    info = smollm2.info
    assert info.source == "bundled" and info.is_instruct and info.has_chat_template
    assert 130e6 < info.parameters < 140e6
    assert info.context_window == 8192 and info.vocab_size == 49152
    assert models.is_cached("smollm2-135m-instruct")


def test_cached_weights_give_the_same_logits_as_the_gguf(smollm2):
    from transformers import AutoModelForCausalLM

    gguf = models.locate_gguf("smollm2-135m-instruct")
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = torch.tensor([encode_prompt(smollm2, "I took my money to the bank")])
    with torch.no_grad():
        assert torch.equal(direct(ids).logits, smollm2.model(ids).logits)


def test_smollm2_knows_the_capital_of_france(smollm2):
    answer = generate_text(smollm2, "What is the capital of France?", SamplingSettings(temperature=0), 16, chat=True)
    assert "Paris" in answer


def test_chat_flag_wraps_the_prompt_in_the_template(smollm2):
    text = smollm2.tokenizer.decode(encode_prompt(smollm2, "Hi!", chat=True))
    assert "<|im_start|>user\nHi!<|im_end|>" in text and text.rstrip().endswith("<|im_start|>assistant")


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_cli_generates_from_each_bundled_model(name):
    args = [sys.executable, "-m", "core", "generate", "--model", name, "--prompt", "The sky is blue because", "--max-new-tokens", "12", "--quiet"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().split()) >= 3


def test_gemma_is_a_base_model_without_chat_template():
    info = models.load_model("gemma-3-270m").info
    assert info.source == "bundled" and not info.is_instruct and not info.has_chat_template
    assert info.vocab_size == 262144 and info.context_window == 32768


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_int8_serving_keeps_greedy_equal_to_generate_and_close_to_float32(name):
    """The fast precision on the real models: the app's loop gives model.generate's tokens, and the int8 model's
    next-token logits stay within 10% of float32's largest logit, its top token mostly the same."""
    from core.deploy.quantize import logit_drift
    from core.sampling import stream_generate

    loaded = models.load_model(name, precision="int8")
    ids = encode_prompt(loaded, "The history of the lighthouse", chat=False)
    ours = [s.token_id for s in stream_generate(loaded, ids, SamplingSettings(temperature=0), 24, stop_at_eos=False)]
    with torch.inference_mode():
        reference = loaded.model.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False)
    assert ours == reference[0, len(ids):].tolist()
    base = models.load_model(name, precision="float32")
    drift = logit_drift(base.model, loaded.model, base.tokenizer)
    assert drift["logit_error"] < 0.10 and drift["top1_agreement"] > 0.8, drift
    assert loaded.info.memory_bytes < 0.4 * base.info.memory_bytes
