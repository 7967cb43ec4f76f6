"""core.sampling.shared: requests waiting together are decoded in one batch, and each row's tokens are the ones
stream_generate gives it alone (the reference), with its own settings and seed; places in line; early close."""

from __future__ import annotations

import pytest

from core.sampling import SamplingSettings, encode_prompt, stream_generate
from core.sampling.shared import BatchServer
from tests.conftest import TINY_PROMPTS

SETTINGS = [SamplingSettings(temperature=0, do_sample=False), SamplingSettings(temperature=0.9, top_k=20, seed=3),
            SamplingSettings(temperature=1.2, top_p=0.9, seed=11, repetition_penalty=1.3)]


def alone(loaded, ids, settings, n):
    return [(s.token_id, s.piece, round(s.probability, 5)) for s in stream_generate(loaded, ids, settings, n)]


def test_waiting_requests_share_one_batch_and_each_gets_its_own_answer(tiny_loaded):
    server = BatchServer(tiny_loaded)
    prompts = [encode_prompt(tiny_loaded, p, chat=True) for p in TINY_PROMPTS[:3]]
    lengths = [12, 20, 7]
    with server.paused():
        tickets = [server.submit(ids, s, n) for ids, s, n in zip(prompts, SETTINGS, lengths)]
        assert [t.ahead for t in tickets] == [0, 1, 2]
    together = [[(s.token_id, s.piece, round(s.probability, 5)) for s in t] for t in tickets]
    assert server.batches == [3] and [t.batch_size for t in tickets] == [3, 3, 3]
    assert together == [alone(tiny_loaded, ids, s, n) for ids, s, n in zip(prompts, SETTINGS, lengths)]


def test_a_lone_request_is_stream_generate_and_an_early_close_frees_its_row(tiny_loaded):
    server = BatchServer(tiny_loaded)
    ids = encode_prompt(tiny_loaded, TINY_PROMPTS[0], chat=True)
    assert [s.token_id for s in server.submit(ids, SETTINGS[1], 9)] == [s[0] for s in alone(tiny_loaded, ids, SETTINGS[1], 9)]
    with server.paused():
        first, second = server.submit(ids, SETTINGS[0], 30), server.submit(ids, SETTINGS[2], 6)
    for count, _ in enumerate(first, start=1):
        if count == 2:
            break  # the reader left: its row stops, the other row still finishes
    assert [s.token_id for s in second] == [s[0] for s in alone(tiny_loaded, ids, SETTINGS[2], 6)]


def test_a_prompt_longer_than_the_context_is_refused_before_it_queues(tiny_loaded):
    with pytest.raises(ValueError, match="context"):
        BatchServer(tiny_loaded).submit([1] * tiny_loaded.info.context_window, SETTINGS[0], 8)
