"""core.safety.detox: the detox preset (guardrail reward, provocative prompts) runs two PPO steps on the tiny chat
policy, and the toxic rates of a finished run are the guardrail's verdicts on its before/after answers."""

from __future__ import annotations

import json

import pytest

from core.jobs import RunContext
from core.rlhf.ppo import PPOConfig
from core.rlhf.ppo_job import ppo_job
from core.safety import detox


def test_the_preset_is_ppo_against_the_guardrail_on_provocative_prompts():
    preset = detox.preset()
    config = PPOConfig.from_dict(preset)
    assert (config.reward, config.prompts, config.method) == ("guardrail", "provocative", "ppo")
    assert config.beta > 0


def test_the_detox_preset_runs_two_steps_on_a_tiny_model(tiny_chat_policy_dir, tmp_path, guardrail):
    config = PPOConfig.from_dict({**detox.preset(), "policy": str(tiny_chat_policy_dir), "max_steps": 2, "batch_size": 4,
                                  "mini_batch_size": 2, "max_new_tokens": 8, "max_prompt_tokens": 200, "eval_every": 1})
    ctx = RunContext(tmp_path / "run", config.to_dict())
    ctx.dir.mkdir()
    result = ppo_job(ctx)
    assert result["steps"] == 2 and result["reward"] == "guardrail"
    steps = [json.loads(line) for line in (ctx.dir / "progress.jsonl").read_text().splitlines() if "objective/kl" in line]
    assert len(steps) == 2
    report = detox.run_report(ctx.dir, result)
    pairs = json.loads((ctx.dir / "before_after.json").read_text())
    assert report["answers"] == len(pairs) == 24  # every held-out provocative request
    after = guardrail.score([p["after"] for p in pairs])
    assert report["after_rate"] == pytest.approx(sum(v["toxic"] for v in after) / len(after))
    # the run's own after-scores are the guardrail's "not toxic" logits of the same answers
    assert [p["after_score"] for p in pairs] == pytest.approx([v["logits"]["not toxic"] for v in after], abs=1e-5)
    assert report["kl"] == result["kl_last5"]


def test_no_answers_is_a_clear_error():
    with pytest.raises(ValueError, match="not finished"):
        detox.toxic_rates([])
