"""core.rlhf.dpo and core.rlhf.rloo: TRL's trainers on the tiny chat policy, as background-run jobs."""

from __future__ import annotations

import json

import pytest

from core.data import DataError
from core.jobs import RunContext
from core.rlhf.dpo import DPOConfig, dpo_job
from core.rlhf.rloo import RLOOConfig, reward_function, rloo_job
from tests.rlhf.test_reward import preference_file


def run_job(tmp_path, job, config, name="run"):
    ctx = RunContext(tmp_path / name, config.to_dict())
    ctx.dir.mkdir()
    return ctx, job(ctx)


def progress(ctx):
    return [json.loads(line) for line in (ctx.dir / "progress.jsonl").read_text().splitlines()]


def test_dpo_learns_the_preferred_answers(tiny_chat_policy_dir, tmp_path):
    config = DPOConfig(policy=str(tiny_chat_policy_dir), data=str(preference_file(tmp_path)), max_steps=20, batch_size=4,
                       learning_rate=3e-3, eval_steps=10, max_length=64, eval_fraction=0.25)
    ctx, result = run_job(tmp_path, dpo_job, config)
    assert result["rewards/accuracies"] > 0.5 and result["rewards/margins"] > 0
    logged = [row for row in progress(ctx) if "rewards/chosen" in row]
    assert logged and {"rewards/rejected", "rewards/margins", "rewards/accuracies"} <= set(logged[-1])
    assert (ctx.dir / "model" / "adapter_config.json").exists()


def test_dpo_with_fewer_pairs_than_a_batch_is_a_clear_error(tiny_chat_policy_dir, tmp_path):
    config = DPOConfig(policy=str(tiny_chat_policy_dir), data=str(preference_file(tmp_path, n=4)), batch_size=8, eval_fraction=0.25)
    with pytest.raises(DataError, match="at least one batch"):
        run_job(tmp_path, dpo_job, config)


@pytest.mark.parametrize("bad, match", [({"loss_type": "square"}, "loss_type"), ({"beta": 0}, "beta"), ({"data": "/nope.jsonl"}, "data")])
def test_the_dpo_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        DPOConfig(**bad)


def test_rloo_runs_on_our_rewards_and_logs_trls_names(tiny_chat_policy_dir, tmp_path):
    config = RLOOConfig(policy=str(tiny_chat_policy_dir), reward="rule:count:the", prompts=str(tiny_chat_policy_dir / "prompts.txt"),
                        max_steps=3, batch_size=4, num_generations=2, max_new_tokens=8, learning_rate=1e-3)
    ctx, result = run_job(tmp_path, rloo_job, config)
    assert result["steps"] == 3
    rows = [row for row in progress(ctx) if "step" in row and "reward" in row]  # the last log, train_runtime, has no reward
    assert len(rows) == 3 and {"reward", "kl", "entropy", "completions/mean_length"} <= set(rows[-1])
    assert json.loads((ctx.dir / "model" / "lab.json").read_text()) == {"method": "lora", "base_model": str(tiny_chat_policy_dir)}


def test_the_rloo_reward_reads_chat_messages_and_plain_text():
    score = reward_function("rule:count:the")
    chat = score([[{"role": "user", "content": "p"}]], [[{"role": "assistant", "content": "the the"}]])
    assert chat == [2.0] and score(["p"], ["the"]) == [1.0]


def test_dpo_refuses_an_adapter_run_as_its_policy(lab_home, tmp_path):
    run = lab_home / "runs" / "20260101-000000-lora"
    (run / "model").mkdir(parents=True)
    (run / "model" / "adapter_config.json").write_text("{}")
    (run / "config.yaml").write_text("target: core.finetune.train:train_job\nmethod: lora\nbase_model: x\n")
    config = DPOConfig(policy="run:20260101-000000-lora", data=str(preference_file(tmp_path)))
    with pytest.raises(ValueError, match="adapter run"):
        run_job(tmp_path, dpo_job, config)
