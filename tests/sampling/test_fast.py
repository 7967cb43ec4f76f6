"""The compiled decode step (core.sampling.fast) keeps greedy output equal to transformers' model.generate."""

import torch

from core.models import load_model
from core.sampling import SamplingSettings, Stepper, fast, stream_generate

GREEDY = SamplingSettings(temperature=0)


def reference(model, ids, n):
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, len(ids):].tolist()


def test_bucket_length():
    assert fast.bucket_length(10, 8192) == 256
    assert fast.bucket_length(257, 8192) == 512
    assert fast.bucket_length(300, 400) == 400
    assert fast.bucket_length(9000, 10000) == 10000


def test_compiling_is_off_in_tests_unless_asked(tiny_loaded):
    assert fast.checkout(tiny_loaded.model, 20, tiny_loaded.info.context_window) is None
    assert fast.status(tiny_loaded.model) == []  # nothing was even started


def test_compiled_decoder_keeps_greedy_equal_to_generate(tiny_model_dir, monkeypatch):
    """The static cache and the compiled step (on int8 weights, the fast default) give transformers' greedy tokens,
    also after an undo. Compiling takes about half a minute even for the tiny model: one precision only."""
    monkeypatch.setenv("LAB_COMPILE", "1")
    for precision in ("int8",):
        loaded = load_model(str(tiny_model_dir), precision=precision)
        ids = loaded.tokenizer("Tell me a fact.")["input_ids"]
        window = loaded.info.context_window
        report = fast.compile_now(loaded.model, len(ids) + 20, window)
        assert report["state"] == "ready", report
        assert fast.status(loaded.model)[0]["state"] == "ready"
        decoder = fast.checkout(loaded.model, len(ids) + 20, window)
        assert decoder is not None
        assert fast.checkout(loaded.model, len(ids) + 20, window) is None  # busy: one generation at a time
        fast.release(decoder)
        ours = [s.token_id for s in stream_generate(loaded, ids, GREEDY, max_new_tokens=20, stop_at_eos=False)]
        assert ours == reference(loaded.model, ids, 20)
        decoder = fast.checkout(loaded.model, len(ids) + 20, window)
        stepper = Stepper(loaded, ids, GREEDY, decoder=decoder)
        first = [stepper.advance().token_id for _ in range(5)]
        stepper.undo()
        stepper.undo()
        again = [stepper.advance().token_id for _ in range(2)]
        fast.release(decoder)
        assert first[3:] == again == ours[3:5]
