"""core.finetune on a tiny model: each method trains what it should, resume is exact, cancel keeps a checkpoint."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import TrainerCallback

from core import jobs
from core.finetune import JOB, FinetuneConfig, build_trainer, count_parameters, load_pairs, run_callback


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Summarize: the bank is open at {h}.", "completion": f" Open at {h}."} for h in range(1, 13)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def config_for(model_dir, pairs_file, **overrides) -> FinetuneConfig:
    base = dict(base_model=str(model_dir), dataset=str(pairs_file), max_steps=3, batch_size=2, max_length=64,
                eval_fraction=0.2, eval_steps=2, save_steps=3, learning_rate=1e-2, lora_r=4, virtual_tokens=4,
                prompt_init_text="Summarize")
    return FinetuneConfig(**{**base, **overrides})


@pytest.mark.parametrize("method", ["full", "lora", "prompt_tuning"])
def test_each_method_trains_only_its_parameters(method, tiny_wide_dir, pairs_file, tmp_path):
    trainer, _ = build_trainer(config_for(tiny_wide_dir, pairs_file, method=method), tmp_path / "out")
    model = trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable, total = count_parameters(model)
    assert 0 < trainable <= total and (trainable == total) == (method == "full")
    trainer.train()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert not torch.equal(param, before[name]), f"{name} did not change"
        else:
            assert torch.equal(param, before[name]), f"frozen {name} changed"


class CancelAt(TrainerCallback):
    """Presses "cancel" (the run's flag file) right after a given step."""

    def __init__(self, step: int, ctx: jobs.RunContext):
        self.step, self.ctx = step, ctx

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            (self.ctx.dir / jobs.CANCEL_FLAG).touch()


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(tiny_wide_dir, pairs_file, tmp_path):
    config = config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=6, save_steps=3)
    straight, _ = build_trainer(config, tmp_path / "straight")
    straight.train()
    ctx = jobs.RunContext(tmp_path, {})
    interrupted, _ = build_trainer(config, tmp_path / "resumed", [CancelAt(3, ctx), run_callback(ctx)])
    interrupted.train()  # cancelled after step 3: the job's callback saves checkpoint-3 and stops
    assert interrupted.state.global_step == 3
    resumed, _ = build_trainer(config, tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "resumed" / "checkpoint-3"))
    for (name, a), (_, b) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_a_nan_loss_stops_the_run_with_the_reason(tmp_path):
    callback = run_callback(jobs.RunContext(tmp_path, {}))
    state = type("State", (), {"global_step": 7, "max_steps": 10})()
    with pytest.raises(FloatingPointError, match="loss became nan at step 7"):
        callback.on_log(None, state, None, logs={"loss": math.nan})


def test_the_job_trains_cancels_with_a_checkpoint_and_resumes(tiny_wide_dir, pairs_file):
    config = config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=400, save_steps=50, eval_steps=100)
    run = jobs.start_run(JOB, config.to_dict())
    deadline = __import__("time").monotonic() + 120
    while not any("loss" in p for p in jobs.get_run(run.id).progress()):
        assert __import__("time").monotonic() < deadline and not jobs.get_run(run.id).finished, jobs.get_run(run.id).log_tail()
        __import__("time").sleep(0.2)
    run = jobs.cancel_run(run.id)
    assert run.state == "cancelled", run.log_tail()
    assert list((run.dir / "checkpoints").glob("checkpoint-*")), "cancel keeps a checkpoint"
    run = jobs.wait_for(jobs.resume_run(run.id).id, timeout=300)
    assert run.state == "done", run.log_tail()
    assert run.status["result"]["steps"] == 400
    assert (run.dir / "model" / "adapter_model.safetensors").is_file()


def test_bad_configs_and_data_are_refused(tiny_wide_dir, pairs_file, tmp_path):
    with pytest.raises(ValueError, match="Unknown method 'qlora'"):
        FinetuneConfig(method="qlora")
    with pytest.raises(ValueError, match="learning_rate must be in"):
        FinetuneConfig(learning_rate=2.0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c"}\n')
    with pytest.raises(ValueError, match="line 2: column 'completion' is missing"):
        load_pairs(str(bad))
    with pytest.raises(ValueError, match="more than max_length=8"):
        build_trainer(config_for(tiny_wide_dir, pairs_file, max_length=8), tmp_path / "out")


def test_cli_train_runs_a_config_and_refuses_a_used_output_dir(tiny_wide_dir, pairs_file, tmp_path, capsys):
    import yaml

    from core.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_for(tiny_wide_dir, pairs_file, method="lora").to_dict()))
    out = tmp_path / "run"
    assert main(["train", str(config), "--max-steps", "2", "--output-dir", str(out)]) == 0
    assert (out / "model" / "adapter_config.json").is_file()
    assert '"steps": 2' in capsys.readouterr().out
    assert main(["train", str(config), "--output-dir", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["lora-dialogsum", "full-dialogsum", "prompt-tuning-dialogsum", "full-multitask"])
def test_shipped_configs_are_valid(name):
    import yaml

    from tests.conftest import ROOT

    config = FinetuneConfig.from_dict(yaml.safe_load((ROOT / "assets" / "configs" / f"{name}.yaml").read_text()))
    assert config.dataset == "dialogsum"


@pytest.mark.parametrize("method", ["full", "lora", "prompt_tuning"])
def test_the_estimate_counts_the_parameters_peft_will_train(method, tiny_wide_dir, pairs_file, tmp_path):
    from core.finetune import estimate
    from core.models import load_model

    config = config_for(tiny_wide_dir, pairs_file, method=method)
    expected, _ = count_parameters(build_trainer(config, tmp_path / "out")[0].model)
    guess = estimate(load_model(str(tiny_wide_dir)).model, config)
    assert guess.trainable == expected
    assert guess.optimizer_bytes == 2 * guess.gradients_bytes == 8 * expected


@pytest.mark.parametrize("method", ["lora", "prompt_tuning", "full"])
def test_a_finished_run_loads_as_a_model_and_steps_correctly(method, tiny_wide_dir, pairs_file):
    from core import models
    from core.sampling import SamplingSettings, Stepper, encode_prompt, next_token_logits

    config = config_for(tiny_wide_dir, pairs_file, method=method, max_steps=2, learning_rate=0.3)
    run = jobs.wait_for(jobs.start_run(JOB, config.to_dict()).id, timeout=120)
    name = models.RUN_PREFIX + run.id
    assert name in models.finetuned_runs()
    tuned = models.load_model(name, precision="float32")
    base = models.load_model(str(tiny_wide_dir), precision="float32")
    ids = encode_prompt(tuned, "Summarize: the bank")
    assert not torch.allclose(next_token_logits(tuned, ids), next_token_logits(base, ids)), "training changed nothing"
    stepper = Stepper(tuned, ids, SamplingSettings(temperature=0))
    for _ in range(3):
        stepper.advance()
        assert torch.allclose(stepper.logits, next_token_logits(tuned, stepper.ids), atol=1e-5)
    # The evaluation dashboard generates in padded batches: a run's model must answer the same way batched.
    from core.prompting import generate_answer
    from core.sampling import generate_batch

    prompts = [encode_prompt(tuned, text) for text in ("Summarize: the bank", "Summarize: the bank is open at 3 and 4.")]
    assert generate_batch(tuned, prompts, 6) == [generate_answer(tuned, p, 6) for p in prompts]


def test_the_report_compares_answers_and_measures_forgetting(tiny_wide_dir, pairs_file):
    from core import models
    from core.finetune.report import compare

    run = jobs.wait_for(jobs.start_run(JOB, config_for(tiny_wide_dir, pairs_file, method="full", max_steps=2, learning_rate=0.05).to_dict()).id, 120)
    base = models.load_model(str(tiny_wide_dir), precision="float32")
    tuned = models.load_model(models.RUN_PREFIX + run.id, precision="float32")
    result = compare(base, tuned, n_examples=2, n_texts=3, n_reviews=4)
    assert len(result.rows) == 2 and all(0 <= r["rougeL_tuned"] <= 1 for r in result.rows)
    losses = result.forgetting["general-text loss"]
    assert losses["base"] != losses["tuned"], "full fine-tuning changed the loss on general text"
    assert set(result.forgetting["sentiment accuracy (0-shot)"]) == {"base", "tuned"}


def test_accelerate_launch_trains_with_two_processes(tiny_wide_dir, pairs_file, tmp_path):
    # accelerate 1.15 starts several CPU processes through its torchrun launcher (--multi_gpu); --cpu alone runs one.
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=2).to_dict()))
    accelerate = Path(sys.executable).with_name("accelerate")
    out = tmp_path / "out"
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", "29533", "-m", "core", "train", str(config), "--output-dir", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    args = torch.load(out / "model" / "training_args.bin", weights_only=False)
    assert args.world_size == 2
    assert (out / "model" / "adapter_model.safetensors").is_file()


def test_generation_is_unchanged_while_a_lora_trains_and_after_it_loads(tiny_wide_dir, pairs_file):
    import time as clock

    from core import models
    from core.sampling import SamplingSettings, encode_prompt, stream_generate

    shared = models.load_model(str(tiny_wide_dir), precision="float32")  # plays the app's shared, read-only model
    ids = encode_prompt(shared, "Summarize: the bank")

    def sample() -> list[int]:
        return [s.token_id for s in stream_generate(shared, ids, SamplingSettings(temperature=1.0, seed=5), 12, stop_at_eos=False)]

    before = sample()
    run = jobs.start_run(JOB, config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=60, learning_rate=0.3).to_dict())
    deadline = clock.monotonic() + 120
    while not any("loss" in p for p in jobs.get_run(run.id).progress()) and clock.monotonic() < deadline:
        clock.sleep(0.1)
    assert sample() == before  # while the other "session" trains
    run = jobs.wait_for(run.id, timeout=120)
    assert run.state == "done"
    models.load_model(models.RUN_PREFIX + run.id)  # the tuned model loads on its own copy of the base
    assert sample() == before


def test_side_by_side_answers_the_users_own_inputs(tiny_wide_dir):
    from core import models
    from core.finetune.report import side_by_side

    base = models.load_model(str(tiny_wide_dir), precision="float32")
    rows = side_by_side(base, base, ["Ann: Lunch?\nBen: Sure.", "  ", "Cy: Late again.\nDi: Sorry."])
    assert [r["input"] for r in rows] == ["Ann: Lunch?\nBen: Sure.", "Cy: Late again.\nDi: Sorry."]
    assert all(r["base"] == r["tuned"] for r in rows)  # the same model answers the same way (greedy)
    with pytest.raises(ValueError, match="at least one input"):
        side_by_side(base, base, ["", " "])


def test_lora_runs_share_one_base_copy_and_swap_adapters(tiny_wide_dir, pairs_file, monkeypatch):
    from core import models
    from core.sampling import encode_prompt, next_token_logits

    configs = [config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=2, learning_rate=lr, seed=s) for lr, s in ((0.3, 1), (0.1, 2))]
    runs = [jobs.wait_for(jobs.start_run(JOB, c.to_dict()).id, 120) for c in configs]
    from core.models import loading
    from core.models import runs as model_runs

    monkeypatch.setattr(model_runs, "_adapter_hosts", {})  # start without a host from an earlier test
    loads = []
    real_load = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    first, second = (loading.load_model(models.RUN_PREFIX + r.id, precision="float32") for r in runs)
    assert len(loads) == 3  # the two runs, and their shared base copy once
    ids = encode_prompt(first, "Summarize: the bank")
    a, b, a_again = (next_token_logits(m, ids) for m in (first, second, first))
    assert not torch.allclose(a, b) and torch.allclose(a, a_again)  # swapping back gives the same answers
    # The same adapter merged into a plain copy of the base is the reference.
    from peft import PeftModel

    reference = PeftModel.from_pretrained(real_load(str(tiny_wide_dir), precision="float32").model, str(runs[0].dir / "model")).merge_and_unload()
    with torch.no_grad():
        expected = reference(input_ids=torch.tensor([ids])).logits[0, -1].float()
    assert torch.allclose(a, expected, atol=1e-4)


def test_a_run_recorded_before_the_move_still_lists_resumes_and_loads(tiny_wide_dir, pairs_file):
    """Runs started before core/ was laid out by stage say ``target: core.finetune:train_job``; they keep working."""
    import yaml

    from core import models

    run = jobs.start_run(JOB, config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=4, save_steps=2).to_dict())
    jobs.wait_for(run.id, 120)
    # Rewrite it as the previous version would have left it: the old job name, cancelled half way, no final model.
    config = yaml.safe_load((run.dir / "config.yaml").read_text())
    (run.dir / "config.yaml").write_text(yaml.safe_dump({**config, "target": "core.finetune:train_job"}, sort_keys=False))
    jobs.write_json_atomic(run.dir / "status.json", {"state": "cancelled"})
    import shutil

    shutil.rmtree(run.dir / "model")
    shutil.rmtree(run.dir / "checkpoints" / "checkpoint-4")
    assert [r.id for r in jobs.list_runs(JOB)] == [run.id]
    resumed = jobs.wait_for(jobs.resume_run(run.id).id, 120)
    assert resumed.state == "done", resumed.log_tail()
    assert resumed.status["result"]["steps"] == 4
    assert models.RUN_PREFIX + run.id in models.finetuned_runs()
    models.load_model(models.RUN_PREFIX + run.id, precision="float32")


def test_the_eta_counts_the_recent_pace_the_evaluations_and_saves_due_and_the_final_save():
    from core.finetune.train import remaining_seconds

    # 4 steps left at 2 s each, an evaluation (5 s) every 2 steps, a checkpoint (3 s) every 4, and the final save
    assert remaining_seconds([2.0, 2.0], 4, 2, 5.0, 4, 3.0) == 4 * 2.0 + 2 * 5.0 + 2 * 3.0
    assert remaining_seconds([1.0], 0, 10, 5.0, 20, 3.0) == 3.0  # the last step done: the final save is what is left


def test_the_job_reports_an_eta_that_includes_the_end(tiny_wide_dir, pairs_file):
    config = config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=6, save_steps=3, eval_steps=2)
    run = jobs.wait_for(jobs.start_run(JOB, config.to_dict()).id, 120)
    assert run.state == "done", run.log_tail()
    etas = [p["eta_s"] for p in run.progress() if "eta_s" in p and "loss" in p]
    assert etas and all(e is None or e > 0 for e in etas)  # never "0 s left" while the final save is still to come


def test_the_estimate_is_the_compute_calculators(tiny_wide_dir, pairs_file):
    from core.compute import shape_from_config, training_memory
    from core.finetune import estimate
    from core.models import load_model

    config = config_for(tiny_wide_dir, pairs_file, method="lora")
    model = load_model(str(tiny_wide_dir)).model
    parts = training_memory(shape_from_config(model.config), "fp32", "adamw", "lora", lora_r=config.lora_r,
                            lora_targets=tuple(config.lora_targets), batch=config.batch_size,
                            seq_len=config.max_length).parts
    guess = estimate(model, config)
    assert guess.total_bytes == sum(parts.values()) and guess.activations_bytes > 0 and not guess.note


def test_an_architecture_the_calculator_cannot_size_gets_the_counts_and_says_so(tiny_wide_dir, pairs_file):
    from transformers import GPT2Config, GPT2LMHeadModel

    from core.finetune import estimate

    model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=300, n_positions=64))
    guess = estimate(model, config_for(tiny_wide_dir, pairs_file, method="full"))
    assert guess.trainable == sum(p.numel() for p in model.parameters())
    assert guess.activations_bytes == 0 and "Activations not estimated" in guess.note
