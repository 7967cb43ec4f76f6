"""Low-bit weights (core.models.lowbit): int8 and int4 layers against float references, and their own folders."""

import pytest
import torch

from core.models import load_model
from core.models.lowbit import Int4Linear, Int8Embedding, Int8Linear, load_lowbit, quantize_rows, save_lowbit, to_lowbit
from core.sampling import SamplingSettings, stream_generate

GREEDY = SamplingSettings(temperature=0)


def reference(model, ids, n):
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, len(ids):].tolist()


def test_quantize_rows_equals_torch_per_channel_quantization():
    """The reference: torch's own per-channel int8 quantisation with the same scales."""
    torch.manual_seed(0)
    weight = torch.randn(48, 64)
    values, scale = quantize_rows(weight)
    expected = torch.quantize_per_channel(weight, scale.double(), torch.zeros(48, dtype=torch.long), 0, torch.qint8)
    differ = values != expected.int_repr()
    # the two may round a value that sits on a half step (x.49999 in float32) either way; nothing else differs
    ratio = (weight / scale[:, None])[differ]
    assert ((ratio.abs() % 1 - 0.5).abs() < 1e-4).all()
    assert (values.int() - expected.int_repr().int()).abs().max() <= 1
    assert torch.allclose(scale, weight.abs().amax(1) / 127.5)


@pytest.mark.parametrize("layer, tolerance", [(Int8Linear, 0.02), (Int4Linear, 0.02)])
def test_low_bit_layers_multiply_as_their_dequantized_weights(layer, tolerance):
    """The kernel's product equals x times the dequantized weight (bfloat16 activations: ~1% of the scale); and the
    dequantized weight is within half a quantisation step of the float one."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    q = layer.from_linear(linear)
    x = torch.randn(3, 5, 64)
    exact = x @ q.dequantized().t() + linear.bias
    assert ((q(x) - exact).abs().max() / exact.abs().max()) < tolerance
    step = (q.dequantized() - linear.weight).abs().max()
    levels = 255 if layer is Int8Linear else 15
    assert step <= linear.weight.abs().max() * 2 / levels


def test_int8_precision_swaps_every_linear_and_generates_like_generate(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir), precision="int8")
    assert not [m for m in loaded.model.modules() if isinstance(m, torch.nn.Linear)]
    assert isinstance(loaded.model.get_input_embeddings(), Int8Embedding)  # tied: reads the int8 head
    assert loaded.info.dtype == "int8"
    base = load_model(str(tiny_model_dir), precision="float32")
    assert loaded.info.parameters == base.info.parameters
    assert loaded.info.memory_bytes < 0.4 * base.info.memory_bytes
    ids = loaded.tokenizer("Say something.")["input_ids"]
    ours = [s.token_id for s in stream_generate(loaded, ids, GREEDY, max_new_tokens=12, stop_at_eos=False)]
    assert ours == reference(loaded.model, ids, 12)


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_a_low_bit_folder_reloads_alone_with_the_same_logits(tiny_model_dir, tmp_path, scheme):
    loaded = load_model(str(tiny_model_dir), precision="float32")
    model = to_lowbit(loaded.model, scheme)
    save_lowbit(model, loaded.tokenizer, tmp_path / "variant")
    again, tokenizer = load_lowbit(tmp_path / "variant")
    ids = torch.tensor([tokenizer("Tell me a fact.")["input_ids"]])
    with torch.inference_mode():
        assert torch.equal(model(input_ids=ids).logits, again(input_ids=ids).logits)


def test_low_bit_refuses_a_model_off_the_cpu_and_unknown_schemes(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir), precision="float32")
    with pytest.raises(ValueError, match="Unknown scheme"):
        to_lowbit(loaded.model, "int3")
    with pytest.raises(ValueError, match="CPU kernels"):
        to_lowbit(loaded.model.to("meta"), "int8")
