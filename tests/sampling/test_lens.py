"""The logit lens against the model's real logits, and the forward-pass outline against the model's parameters."""

from __future__ import annotations

import copy

import pytest
import torch

from core.models import LoadedModel
from core.models.anatomy import forward_pass_outline
from core.models.loading import describe
from core.models.registry import ModelSpec
from core.sampling.lens import layer_logits, logit_lens, token_for
from tests.compute import build, tiny_gemma3_config, tiny_llama_config
from tests.conftest import build_tiny_tokenizer

PROMPT = "I took my money to the bank"
# float32 on the CPU: the lens runs the same modules on the same tensors, so it matches to rounding only
ATOL, RTOL = 1e-5, 1e-5


def tiny(config) -> LoadedModel:
    """A tiny model whose final norm has random weights: with the initial weights (all 1, or 1 + 0 for Gemma) an
    RMSNorm applied twice equals one applied once, and a lens that normed the last layer twice would still pass."""
    tokenizer = build_tiny_tokenizer()
    config.vocab_size = len(tokenizer)
    model = build(config)
    with torch.no_grad():
        model.model.norm.weight.uniform_(0.5, 2.0)
    return LoadedModel(model=model, tokenizer=tokenizer, info=describe(ModelSpec("tiny", "local", ""), model, tokenizer))


def soft_capped_gemma():
    config = tiny_gemma3_config()
    config.final_logit_softcapping = 3.0  # small, so the cap changes the logits visibly
    return config


@pytest.fixture(scope="module", params=["llama", "gemma3_text", "gemma3_softcap"])
def loaded(request) -> LoadedModel:
    configs = {"llama": tiny_llama_config, "gemma3_text": tiny_gemma3_config, "gemma3_softcap": soft_capped_gemma}
    return tiny(configs[request.param]())


def real_logits(loaded: LoadedModel, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(input_ids=torch.tensor([ids])).logits[0]


def test_last_layer_lens_equals_the_real_logits(loaded):
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    layers = loaded.model.config.num_hidden_layers
    assert torch.allclose(layer_logits(loaded, ids, layers), real_logits(loaded, ids), atol=ATOL, rtol=RTOL)


def test_last_row_of_the_lens_is_the_real_next_token_distribution(loaded):
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    probs = real_logits(loaded, ids).softmax(-1)
    lens = logit_lens(loaded, ids, target=7)
    assert lens.top_probs.shape == (loaded.model.config.num_hidden_layers + 1, len(ids))
    assert lens.top_ids[-1].tolist() == probs.argmax(-1).tolist()
    assert torch.allclose(torch.from_numpy(lens.top_probs[-1]), probs.max(-1).values, atol=1e-6)
    assert torch.allclose(torch.from_numpy(lens.target_probs[-1]), probs[:, 7], atol=1e-6)


def test_a_middle_layer_equals_the_model_cut_after_that_layer():
    """Reference for the layers in between: the model with only its first k layers, run normally."""
    loaded = tiny(tiny_llama_config())
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    cut = copy.deepcopy(loaded.model)
    cut.model.layers = cut.model.layers[:1]
    cut.config.num_hidden_layers = 1
    assert torch.allclose(layer_logits(loaded, ids, 1), real_logits(LoadedModel(cut, None, loaded.info), ids),
                          atol=ATOL, rtol=RTOL)


def test_reading_out_in_blocks_changes_nothing(monkeypatch):
    loaded = tiny(tiny_llama_config())
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    whole = logit_lens(loaded, ids)
    monkeypatch.setattr("core.sampling.lens.BLOCK_ELEMENTS", 3 * loaded.info.vocab_size)  # 3 rows a block
    blocks = logit_lens(loaded, ids)
    assert (whole.top_ids == blocks.top_ids).all() and abs(whole.top_probs - blocks.top_probs).max() < 1e-6


def test_the_last_positions_are_those_of_the_whole_lens():
    loaded = tiny(tiny_llama_config())
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    whole, tail = logit_lens(loaded, ids), logit_lens(loaded, ids, last=4)
    assert tail.start == len(ids) - 4 and tail.tokens == whole.tokens[-4:]
    assert (tail.top_ids == whole.top_ids[:, -4:]).all()


def test_token_for_takes_the_first_token_of_the_word_with_its_space():
    tokenizer = build_tiny_tokenizer()
    first, pieces = token_for(tokenizer, "bank")
    assert first == tokenizer(" bank", add_special_tokens=False)["input_ids"][0]
    assert "".join(pieces) == " bank"
    assert token_for(tokenizer, "bank", leading_space=False)[0] == tokenizer("bank")["input_ids"][0]


def test_bad_input_is_a_clear_error():
    loaded = tiny(tiny_llama_config())
    with pytest.raises(ValueError, match="empty"):
        logit_lens(loaded, [])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        logit_lens(loaded, [1, 2], target=10**6)
    with pytest.raises(ValueError, match="Layer 9 does not exist"):
        layer_logits(loaded, [1, 2], 9)
    with pytest.raises(ValueError, match="context window of 128"):
        logit_lens(loaded, [1] * 129)
    with pytest.raises(ValueError, match="a word"):
        token_for(loaded.tokenizer, "  ")


@pytest.mark.parametrize("config", [tiny_llama_config(), tiny_llama_config(tied=True), tiny_gemma3_config()],
                         ids=["llama", "llama_tied", "gemma3_text"])
def test_outline_parameters_add_up_to_the_model(config):
    model = build(config)
    outline = forward_pass_outline(model.config)
    assert outline.total_params == sum(p.numel() for p in model.parameters())
    for step in outline.steps:  # every named step is a real module of layer 0 with that many parameters
        if step.module and not (step.module == "lm_head" and config.tie_word_embeddings):
            module = model.get_submodule(step.module.format(i=0))
            assert sum(p.numel() for p in module.parameters()) == step.params, step.module


def test_outline_shapes_follow_the_config():
    outline = forward_pass_outline(tiny_gemma3_config())
    shapes = {s.module: s.shape for s in outline.steps if s.module}
    assert shapes["model.layers.{i}.self_attn.q_proj"] == "T × 4 heads × 32"
    assert shapes["model.layers.{i}.self_attn.k_proj"] == "T × 2 heads × 32"  # grouped-query: 2 key/value heads
    assert shapes["lm_head"] == "T × 256"


@pytest.mark.integration
@pytest.mark.parametrize("prompt", ["The river bank", "I deposited money at the bank"])
def test_lens_on_the_bundled_smollm2(prompt):
    from core.models import load_model

    loaded = load_model("smollm2-135m-instruct", precision="float32")
    ids = loaded.tokenizer(prompt)["input_ids"]
    assert torch.allclose(layer_logits(loaded, ids, 30), real_logits(loaded, ids), atol=1e-4, rtol=1e-4)
    lens = logit_lens(loaded, ids)
    assert lens.top_probs.shape == (31, len(ids)) and lens.tokens[-1] == "␣bank"
    outline = forward_pass_outline(loaded.model.config)
    assert outline.total_params == loaded.info.parameters == sum(p.numel() for p in loaded.model.parameters())


def test_lens_of_a_lora_model_reads_through_the_adapter():
    """A fine-tuned run in the sidebar is a PEFT model: the lens must run the adapter and read out the base's head."""
    from peft import LoraConfig, get_peft_model

    loaded = tiny(tiny_llama_config())
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    before = real_logits(loaded, ids)
    peft_model = get_peft_model(copy.deepcopy(loaded.model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                                         init_lora_weights=False)).eval()
    lora = LoadedModel(peft_model, loaded.tokenizer, loaded.info)
    after = real_logits(lora, ids)
    assert not torch.allclose(before, after, atol=1e-3)  # the adapter changes the output
    assert torch.allclose(layer_logits(lora, ids, 2), after, atol=ATOL, rtol=RTOL)
