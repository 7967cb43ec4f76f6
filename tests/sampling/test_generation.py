"""core.sampling.generation and views: the stepper with its KV cache, truncation, the next-token table, attention."""

from __future__ import annotations

import json

import pytest
import torch

from core import models
from core.cli import main
from core.sampling import SamplingSettings, Stepper, encode_prompt, next_token_logits, trace_stages, truncate_left
from core.sampling.attention import attention_weights
from core.sampling.views import next_token_table


@pytest.fixture
def prompt(tiny_loaded):
    return encode_prompt(tiny_loaded, "I took my money to the bank")


def test_stepper_cache_gives_the_same_logits_as_a_full_forward(tiny_loaded, prompt):
    stepper = Stepper(tiny_loaded, prompt, SamplingSettings(temperature=1.0, seed=3))
    for _ in range(5):
        stepper.advance()
        assert torch.allclose(stepper.logits, next_token_logits(tiny_loaded, stepper.ids), atol=1e-5)


def test_a_forced_token_is_where_generation_continues(tiny_loaded, prompt):
    stepper = Stepper(tiny_loaded, prompt, SamplingSettings(temperature=1.0, seed=0))
    unlikely = int(stepper.logits.argmin())
    step = stepper.advance(forced_token=unlikely)
    assert step.forced and step.token_id == unlikely and stepper.ids[-1] == unlikely
    assert step.rank == tiny_loaded.info.vocab_size  # the least likely token of all
    assert torch.allclose(stepper.logits, next_token_logits(tiny_loaded, prompt + [unlikely]), atol=1e-5)


def test_each_step_reports_probability_rank_and_alternatives(tiny_loaded, prompt):
    stepper = Stepper(tiny_loaded, prompt, SamplingSettings(temperature=0.0), alternatives=4)
    raw = stepper.logits.softmax(-1)
    step = stepper.advance()
    assert step.token_id == int(raw.argmax()) and step.rank == 1 and step.probability == 1.0
    assert step.model_probability == pytest.approx(float(raw.max()))
    assert step.alternatives[0].token_id == step.token_id


def test_undo_and_reset_return_to_earlier_states(tiny_loaded, prompt):
    stepper = Stepper(tiny_loaded, prompt, SamplingSettings(temperature=1.0, seed=1))
    first = stepper.logits.clone()
    stepper.advance()
    after_one = stepper.logits.clone()
    stepper.advance()
    stepper.undo()
    assert torch.allclose(stepper.logits, after_one, atol=1e-5)
    stepper.reset()
    assert stepper.steps == [] and stepper.text == ""
    assert torch.allclose(stepper.logits, first, atol=1e-5)


def test_truncate_left_keeps_the_end_and_says_how_much_it_cut():
    ids = list(range(100))
    kept, cut = truncate_left(ids, window=64, max_new_tokens=14)
    assert cut == 50 and kept == list(range(50, 100))
    assert truncate_left(ids[:10], 64, 14) == (ids[:10], 0)
    with pytest.raises(ValueError, match="do not fit a context window of 64"):
        truncate_left(ids, 64, 64)


def test_next_token_table_marks_cut_and_penalised_tokens(tiny_loaded, prompt):
    logits = next_token_logits(tiny_loaded, prompt)
    views = trace_stages(logits, SamplingSettings(temperature=1.0, top_k=3, repetition_penalty=1.5), prompt)
    table = next_token_table(views, tiny_loaded.tokenizer, prompt, top=10)
    assert list(table.columns[:3]) == ["rank", "token_id", "token"]
    assert table["raw"].is_monotonic_decreasing
    kept = table[table["removed_by"] == ""]
    assert len(kept) <= 3 and (table.loc[table["removed_by"] == "top_k", "final"] == 0).all()
    assert table["penalised"].tolist() == [t in set(prompt) for t in table["token_id"]]


def test_attention_weights_are_causal_and_normalised(tiny_model_dir, prompt):
    eager = models.load_model(str(tiny_model_dir), precision="float32", attn_implementation="eager")
    weights = attention_weights(eager, prompt)
    n = len(prompt)
    assert weights.shape == (2, 4, n, n)
    assert torch.allclose(torch.tensor(weights.sum(-1)), torch.ones(2, 4, n), atol=1e-5)
    assert float(abs(torch.tensor(weights).triu(1)).max()) == 0.0


def test_attention_needs_an_eager_model(tiny_loaded, prompt):
    with pytest.raises(ValueError, match="attn_implementation='eager'"):
        attention_weights(tiny_loaded, prompt)


def test_cli_next_token_json(tiny_model_dir, capsys):
    code = main(["next-token", "--model", str(tiny_model_dir), "--prompt", "The capital of France is", "--top", "5", "--top-k", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["tokens"]) == 5 and out["entropy_bits"]["raw"] > out["entropy_bits"]["top_k"]
    assert sum(t["final"] > 0 for t in out["tokens"]) == 2


@pytest.mark.parametrize("stop_at_newline", [True, False])
def test_batched_greedy_answers_equal_one_at_a_time(tiny_loaded, stop_at_newline):
    """Left padding, the attention mask and position ids make each row's answer the one it gets alone."""
    from core.prompting import generate_answer
    from core.sampling import generate_batch

    texts = ["The capital of France is", "I took my money to the bank and then the teacher", "Once", "The book"]
    prompts = [tiny_loaded.tokenizer(t)["input_ids"] for t in texts]
    alone = [generate_answer(tiny_loaded, ids, 12, stop_at_newline=stop_at_newline) for ids in prompts]
    assert generate_batch(tiny_loaded, prompts, 12, stop_at_newline=stop_at_newline) == alone
    assert generate_batch(tiny_loaded, [], 12) == []
