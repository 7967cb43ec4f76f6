"""core.rlhf.ppo_job on the tiny chat policy: PPO raises a rule reward, β holds the KL back, the reference stays the
base, cancel and resume, and bad input."""

from __future__ import annotations

import json

import pytest
import torch

from core import jobs, models
from core.data import DataError
from core.jobs import RunContext
from core.rlhf.policy import forward, load_policy, reference_mode
from core.rlhf.ppo import JOB, PPOConfig
from core.rlhf.ppo_job import PPORun, ppo_job


def tiny_config(policy_dir, **overrides):
    settings = dict(policy=str(policy_dir), reward="rule:count:the", prompts=str(policy_dir / "prompts.txt"), max_steps=30,
                    batch_size=8, mini_batch_size=4, ppo_epochs=4, max_new_tokens=12, learning_rate=1e-3, beta=0.1,
                    eval_every=10, save_every=10, seed=0)
    return PPOConfig(**{**settings, **overrides})


def run_ppo(tmp_path, config, name="run", resume=False, stop_after=None):
    ctx = RunContext(tmp_path / name, config.to_dict(), resume=resume)
    ctx.dir.mkdir(exist_ok=True)
    if stop_after is not None:  # a cancel that arrives after N steps were reported
        ctx.should_stop = lambda: sum('"step"' in line for line in _lines(ctx.dir)) >= stop_after  # type: ignore[method-assign]
    return ctx, ppo_job(ctx)


def _lines(folder):
    path = folder / "progress.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def steps_of(ctx):
    return [row for row in map(json.loads, _lines(ctx.dir)) if "objective/kl" in row]


@pytest.fixture(scope="module")
def beta_pair(tiny_chat_policy_dir, tmp_path_factory):
    """The same 30 steps (seed, prompts) with β = 0.1 and with β = 0."""
    folder = tmp_path_factory.mktemp("beta-pair")
    with_kl = run_ppo(folder, tiny_config(tiny_chat_policy_dir), "beta-0.1")
    without = run_ppo(folder, tiny_config(tiny_chat_policy_dir, beta=0.0), "beta-0")
    return steps_of(with_kl[0]), steps_of(without[0])


def test_thirty_ppo_steps_raise_the_score_while_the_kl_stays_bounded(beta_pair):
    steps, _ = beta_pair
    first, last = [s["objective/scores"] for s in steps[:5]], [s["objective/scores"] for s in steps[-5:]]
    spread = torch.tensor(first + last).std().item()
    assert sum(last) / 5 > sum(first) / 5 + 0.5 * spread, (first, last)
    assert max(s["objective/kl"] for s in steps[-5:]) < 20


def test_without_the_kl_penalty_the_kl_grows_faster(beta_pair):
    with_kl, without = beta_pair
    kl = lambda rows: sum(r["objective/kl"] for r in rows[-10:]) / 10  # noqa: E731
    assert kl(without) > 2 * kl(with_kl)
    assert all(r["objective/non_score_reward"] == 0 for r in without)


def test_every_step_logs_trls_metric_names_and_samples(beta_pair):
    step = beta_pair[0][0]
    for key in ("objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward", "objective/scores",
                "policy/approxkl_avg", "policy/clipfrac_avg", "loss/policy_avg", "loss/value_avg", "val/clipfrac_avg",
                "policy/entropy_avg", "val/ratio", "val/num_eos_tokens", "lr", "episode", "tokens/responses_len_mean",
                "time/generation_s", "time/scoring_s", "time/optimisation_s"):
        assert key in step, key
    assert len(step["samples"]) == 4 and {"prompt", "completion", "score"} <= set(step["samples"][0])


def test_the_reference_is_bit_identical_to_the_base_after_training(tiny_chat_policy_dir, tmp_path):
    config = tiny_config(tiny_chat_policy_dir, max_steps=3)
    run = PPORun(config, RunContext(tmp_path, config.to_dict()))
    for _ in range(3):
        run.step()
    base = models.load_model(str(tiny_chat_policy_dir), precision="float32")
    ids = run.policy.tokenizer(["Go on. The capital of"], return_tensors="pt").input_ids
    with torch.no_grad(), reference_mode(run.policy):
        reference = run.policy.model(input_ids=ids).logits
    with torch.no_grad():
        assert torch.equal(reference, base.model(input_ids=ids).logits)
        assert not torch.equal(run.policy.model(input_ids=ids).logits, reference)  # the policy itself has moved


def test_a_resumed_run_equals_an_uninterrupted_one(tiny_chat_policy_dir, tmp_path):
    config = tiny_config(tiny_chat_policy_dir, max_steps=4, save_every=2)
    whole, _ = run_ppo(tmp_path, config, "whole")
    part, stopped = run_ppo(tmp_path, config, "part", stop_after=3)  # stops at step 3: its last checkpoint is step 3
    assert stopped == {"stopped_at": 3} and (part.dir / "checkpoints" / "checkpoint-3" / ".complete").exists()
    resumed, result = run_ppo(tmp_path, config, "part", resume=True)
    assert result["steps"] == 4
    from safetensors.torch import load_file

    a, b = (load_file(ctx.dir / "model" / "adapter_model.safetensors") for ctx in (whole, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [s["objective/scores"] for s in steps_of(whole)] == [s["objective/scores"] for s in steps_of(resumed)]


def test_a_cancel_during_generation_drops_that_step_and_keeps_the_last_checkpoint(tiny_chat_policy_dir, tmp_path):
    config = tiny_config(tiny_chat_policy_dir, max_steps=5, save_every=10)
    ctx = RunContext(tmp_path / "cancel", config.to_dict())
    ctx.dir.mkdir()
    calls_after_step_1 = {"n": 0}

    def stop_during_the_second_rollout() -> bool:
        # Asked once before each step, then at every generated token: the third call after step 1 is a token of step 2.
        if steps_of(ctx):
            calls_after_step_1["n"] += 1
        return calls_after_step_1["n"] >= 3

    ctx.should_stop = stop_during_the_second_rollout  # type: ignore[method-assign]
    assert ppo_job(ctx) == {"stopped_at": 1}
    assert (ctx.dir / "checkpoints" / "checkpoint-1" / ".complete").exists() and not (ctx.dir / "model").exists()


def test_an_aligned_run_is_a_model_the_app_can_pick(tiny_chat_policy_dir):
    run = jobs.start_run(JOB, tiny_config(tiny_chat_policy_dir, max_steps=2).to_dict(), name="ppo-test")
    run = jobs.wait_for(run.id, timeout=300)
    assert run.state == "done", run.log_tail()
    assert f"run:{run.id}" in models.finetuned_runs()
    loaded = models.load_model(f"run:{run.id}", precision="float32")
    before_after = json.loads((run.dir / "before_after.json").read_text())
    assert len(before_after) == 2 and {"before", "after", "before_score", "after_score"} <= set(before_after[0])
    ids = loaded.tokenizer(["Go on."], return_tensors="pt").input_ids
    assert loaded.model(input_ids=ids).logits.shape[-1] == len(loaded.tokenizer)


def test_a_policy_from_a_lora_fine_tune_keeps_that_fine_tune_as_its_reference(tiny_chat_policy_dir, tmp_path, lab_home):
    from peft import LoraConfig, get_peft_model

    base = models.load_model(str(tiny_chat_policy_dir), precision="float32")
    sft = get_peft_model(base.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    run_dir = lab_home / "runs" / "20260101-000000-sft"
    (run_dir / "model").mkdir(parents=True)
    sft.save_pretrained(run_dir / "model")
    (run_dir / "config.yaml").write_text(f"target: core.finetune.train:train_job\nmethod: lora\nbase_model: {tiny_chat_policy_dir}\n")
    policy = load_policy("run:20260101-000000-sft")
    ids = policy.tokenizer(["Go on."], return_tensors="pt").input_ids
    with torch.no_grad(), reference_mode(policy):
        reference = policy.model(input_ids=ids).logits
    with torch.no_grad():
        assert torch.equal(reference, sft(input_ids=ids).logits)
    assert policy.frozen_reference and all("reference" not in n for n, p in policy.model.named_parameters() if p.requires_grad)


def test_a_reward_that_gives_nan_fails_the_step_with_a_clear_error(tiny_chat_policy_dir, tmp_path, monkeypatch):
    from core.rlhf import rewards

    class Broken:
        name = "broken"

        def score(self, prompts, completions):
            return [float("nan")] * len(completions)

    monkeypatch.setitem(rewards._FACTORIES, "broken", lambda name: Broken())
    with pytest.raises(FloatingPointError, match="not finite"):
        run_ppo(tmp_path, tiny_config(tiny_chat_policy_dir, reward="broken", max_steps=1))


def test_an_empty_prompt_file_is_a_clear_error(tiny_chat_policy_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        run_ppo(tmp_path, tiny_config(tiny_chat_policy_dir, prompts=str(empty), max_steps=1))


def test_the_values_do_not_pull_on_the_policy(tiny_chat_policy_dir):
    policy = load_policy(str(tiny_chat_policy_dir))
    query = policy.tokenizer(["Go on."], return_tensors="pt").input_ids
    response = torch.tensor([[5, 6, 7]])
    _, _, values = forward(policy, query, torch.ones_like(query), response, torch.ones_like(response))
    values.sum().backward()
    assert all(p.grad is None for p in policy.trainable_parameters()) and policy.value_head.weight.grad is not None
