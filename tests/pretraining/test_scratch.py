"""Training from scratch: the model's size, the schedule, a loss that falls, and the job that saves a pickable model."""

from __future__ import annotations

import json

import pytest
import torch

from core import jobs, models
from core.pretraining import corpus, scratch

TINY = dict(layers=1, hidden=64, heads=2, context=32, batch_size=8, tokens=32 * 8 * 40, eval_every=10,
            sample_every=20, learning_rate=5e-3)


@pytest.mark.parametrize("layers, hidden, heads", [(1, 32, 2), (4, 128, 4), (6, 256, 8)])
def test_parameter_count_matches_the_built_model(layers, hidden, heads):
    model = scratch.build_llama(layers, hidden, heads, 64, 1024)
    assert scratch.count_params(layers, hidden, 1024) == sum(p.numel() for p in model.parameters())


def test_default_config_is_in_range_and_counts_steps():
    config = scratch.ScratchConfig()
    assert scratch.MIN_PARAMS <= config.params <= scratch.MAX_PARAMS
    assert config.max_steps == config.tokens // (config.batch_size * config.context)


@pytest.mark.parametrize("change, message", [
    (dict(hidden=100, heads=3), "split into 3 heads"),
    (dict(hidden=36, heads=4), "even size"),
    (dict(layers=1, hidden=16, heads=1), "parameters; choose one"),
    (dict(layers=12, hidden=512, heads=8), "parameters; choose one"),
    (dict(learning_rate=float("nan")), "learning rate"),
    (dict(tokens=10), "less than one step"),
    (dict(layers=0), "layers must be"),
    (dict(context=-5), "context must be"),
])
def test_bad_configs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        scratch.ScratchConfig(**change)


def test_schedule_warms_up_then_decays_to_a_tenth():
    s = scratch.LoopSettings(steps=100, batch_size=1, context=1, learning_rate=1e-3, warmup_steps=10)
    rates = [scratch.learning_rate(step, s) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert scratch.learning_rate(100, s) == pytest.approx(1e-4)


def test_loss_falls_on_a_tiny_corpus():
    text = torch.tensor([1, 2, 3, 4, 5, 6, 7, 8] * 400).numpy()  # a pattern a model learns in a few steps
    model = scratch.build_llama(1, 32, 2, 16, 64)
    s = scratch.LoopSettings(steps=60, batch_size=8, context=16, learning_rate=1e-2, warmup_steps=5)
    before = scratch.evaluate(model, text, s)
    scratch.train_steps(model, text, text, s)
    after = scratch.evaluate(model, text, s)
    assert before > 3.5 and after < 0.5 * before


def test_a_nan_loss_stops_the_run_with_a_clear_error():
    text = torch.arange(64).repeat(20).numpy()
    model = scratch.build_llama(1, 32, 2, 16, 64)
    with torch.no_grad():
        model.model.embed_tokens.weight.fill_(float("nan"))
    s = scratch.LoopSettings(steps=5, batch_size=2, context=16, learning_rate=1e-3, warmup_steps=1)
    with pytest.raises(ValueError, match="lower the learning rate"):
        scratch.train_steps(model, text, text, s)


def _progress(run_dir):
    return [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]


def test_job_trains_samples_and_saves_a_model_the_picker_loads(tiny_corpus, tmp_path):
    config = scratch.ScratchConfig(**TINY)
    run_dir = tmp_path / "runs" / "20260101-000000-scratch"
    run_dir.mkdir(parents=True)
    ctx = jobs.RunContext(run_dir, scratch.run_config(config))
    result = scratch.pretrain_job(ctx)
    assert result["steps"] == config.max_steps
    rows = _progress(run_dir)
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    assert val[0] > 6.0 and val[-1] < val[0] - 0.5  # from a uniform guess (ln 1024 = 6.93) to something learnt
    assert sum("sample" in r for r in rows) == 2
    loaded = models.load_model(str(run_dir / "model"), precision="float32")
    assert loaded.model.config.num_hidden_layers == 1 and len(loaded.tokenizer) == corpus.VOCAB_SIZE


def test_the_finished_run_is_listed_as_pre_trained(tiny_corpus, lab_home):
    from core.models.runs import finetuned_runs, run_kind

    run = scratch.start_pretrain(scratch.ScratchConfig(**{**TINY, "tokens": 32 * 8 * 10, "sample_every": 5}))
    run = jobs.wait_for(run.id, timeout=120)
    assert run.state == "done", run.log_tail()
    assert models.RUN_PREFIX + run.id in finetuned_runs()
    assert run_kind(models.RUN_PREFIX + run.id) == "Pre-trained"
    assert models.resolve(models.RUN_PREFIX + run.id).source == "run"


def test_a_cancelled_run_resumes_from_its_checkpoint(tiny_corpus, tmp_path):
    config = scratch.ScratchConfig(**TINY)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ctx = jobs.RunContext(run_dir, scratch.run_config(config))
    ctx.should_stop = lambda: any(r.get("step", 0) >= 15 for r in _progress(run_dir))  # type: ignore[method-assign]
    assert scratch.pretrain_job(ctx)["stopped"] and not (run_dir / "model").exists()
    resumed = jobs.RunContext(run_dir, scratch.run_config(config), resume=True)
    assert scratch.pretrain_job(resumed)["steps"] == config.max_steps
    events = [r for r in _progress(run_dir) if r.get("event") == "resume"]
    assert events and events[0]["checkpoint"] == "checkpoint-15"
