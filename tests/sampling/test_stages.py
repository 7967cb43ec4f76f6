"""core.sampling: settings validation, the stages against transformers' own processors, and generation."""

from __future__ import annotations

import itertools
import zlib

import pytest
import torch
from transformers.generation.logits_process import (
    LogitsProcessorList,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from core.sampling import (
    STAGES,
    SamplingSettings,
    check_context,
    encode_prompt,
    entropy_bits,
    stream_generate,
    token_distribution,
    trace_stages,
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", -0.1, "temperature must be in \\[0, 100\\], got -0.1"),
        ("top_k", -1, "top_k must be in \\[0, ∞\\], got -1"),
        ("top_p", 0.0, "top_p must be in \\(0, 1\\]"),
        ("top_p", 1.5, "top_p must be in \\(0, 1\\]"),
        ("min_p", 1.2, "min_p must be in \\[0, 1\\]"),
        ("repetition_penalty", 0.0, "repetition_penalty must be in \\(0, 100\\], got 0.0"),
    ],
)
def test_bad_settings_name_the_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        SamplingSettings(**{field: value})


def reference_distribution(logits, settings, previous_ids):
    """What transformers' generate samples from, built from its own processors in its own order."""
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    processors.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_k:
        processors.append(TopKLogitsWarper(settings.top_k))
    if settings.top_p < 1.0:
        processors.append(TopPLogitsWarper(settings.top_p))
    if settings.min_p > 0:
        processors.append(MinPLogitsWarper(settings.min_p))
    return processors(previous_ids, logits.clone()).softmax(-1)


GRID = [
    SamplingSettings(temperature=t, top_k=k, top_p=p, min_p=m, repetition_penalty=r)
    for t, k, p, m, r in itertools.product([0.3, 1.0, 1.7], [0, 1, 10], [1.0, 0.9, 0.3], [0.0, 0.1], [1.0, 1.3])
]


@pytest.mark.parametrize("settings", GRID, ids=lambda s: f"T{s.temperature}-k{s.top_k}-p{s.top_p}-m{s.min_p}-r{s.repetition_penalty}")
def test_distribution_matches_transformers(settings):
    # Random logits of several scales over a vocabulary of 2,000, and a history of 40 tokens for the penalty.
    gen = torch.Generator().manual_seed(zlib.crc32(str(settings).encode()))
    for scale in (1.0, 4.0, 12.0):
        logits = torch.randn(2, 2000, generator=gen) * scale
        previous = torch.randint(0, 2000, (2, 40), generator=gen)
        ours = token_distribution(logits, settings, previous)
        assert torch.allclose(ours, reference_distribution(logits, settings, previous), atol=1e-6)


def test_trace_ends_with_the_final_distribution():
    logits, previous = torch.randn(300) * 3, torch.tensor([1, 2, 3])
    settings = SamplingSettings(temperature=0.7, top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.2)
    views = trace_stages(logits, settings, previous)
    assert [v.stage for v in views] == ["raw", *STAGES]
    assert torch.allclose(views[-1].probs, token_distribution(logits.reshape(1, -1), settings, previous.reshape(1, -1))[0])


def test_trace_reports_what_each_stage_removed():
    logits = torch.arange(100, dtype=torch.float32)  # distinct logits: token 99 is the most likely
    views = trace_stages(logits, SamplingSettings(temperature=1.0, top_k=10))
    top_k = views[-1]
    assert top_k.stage == "top_k" and top_k.removed.nonzero().flatten().tolist() == list(range(90))
    assert int((top_k.probs > 0).sum()) == 10


def test_switched_off_stages_do_not_appear_in_the_trace():
    views = trace_stages(torch.randn(50), SamplingSettings(temperature=1.0))
    assert [v.stage for v in views] == ["raw"]


def test_entropy_in_bits():
    assert entropy_bits(torch.full((8,), 1 / 8)) == pytest.approx(3.0)
    assert entropy_bits(torch.tensor([1.0, 0.0, 0.0])) == 0.0


def test_greedy_is_one_hot_on_the_argmax():
    logits = torch.randn(1, 100)
    probs = token_distribution(logits, SamplingSettings(temperature=0.0))
    assert probs.sum() == 1 and probs[0, logits.argmax()] == 1


def test_greedy_stream_equals_transformers_generate(tiny_loaded):
    ids = encode_prompt(tiny_loaded, "The capital of France is")
    ours = [t.token_id for t in stream_generate(tiny_loaded, ids, SamplingSettings(temperature=0), max_new_tokens=12)]
    reference = tiny_loaded.model.generate(
        torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
    )[0, len(ids):].tolist()
    assert ours == reference[: len(ours)] and len(ours) > 0


def test_seeded_sampling_is_reproducible(tiny_loaded):
    ids = encode_prompt(tiny_loaded, "Once upon a time")
    settings = SamplingSettings(temperature=1.5, seed=7)
    first = [t.token_id for t in stream_generate(tiny_loaded, ids, settings, max_new_tokens=20)]
    second = [t.token_id for t in stream_generate(tiny_loaded, ids, settings, max_new_tokens=20)]
    other = [t.token_id for t in stream_generate(tiny_loaded, ids, SamplingSettings(temperature=1.5, seed=8), max_new_tokens=20)]
    assert first == second and first != other


def test_chat_prompt_uses_the_template(tiny_loaded):
    ids = encode_prompt(tiny_loaded, "hello", chat=True)
    assert tiny_loaded.tokenizer.decode(ids).startswith("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")


def test_prompt_longer_than_the_context_window_is_refused(tiny_loaded):
    with pytest.raises(ValueError, match="context window of 128 tokens"):
        check_context(tiny_loaded, 100, 64)


def test_empty_prompt_is_refused(tiny_loaded):
    with pytest.raises(ValueError, match="empty"):
        list(stream_generate(tiny_loaded, [], SamplingSettings(), 5))


def test_greedy_ends_on_a_point_mass_at_the_argmax_after_the_repetition_penalty():
    logits = torch.tensor([2.0, 3.0, 2.9, -1.0])
    plain = trace_stages(logits, SamplingSettings(temperature=0.0, top_k=2))
    assert [v.stage for v in plain] == ["raw", "greedy"]  # top-k does not apply under greedy decoding
    assert plain[-1].kept == 1 and plain[-1].entropy == 0.0 and plain[-1].probs[1] == 1.0
    assert plain[-1].removed.tolist() == [True, False, True, True]
    penalised = trace_stages(logits, SamplingSettings(do_sample=False, repetition_penalty=2.0), previous_ids=[1])
    assert [v.stage for v in penalised] == ["raw", "repetition_penalty", "greedy"]
    assert int(penalised[-1].probs.argmax()) == 2  # token 1 was in the text: 3.0 / 2 < 2.9
