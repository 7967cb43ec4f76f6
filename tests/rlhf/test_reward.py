"""core.rlhf.reward: a tiny reward model learns a preference, and the config and data checks."""

from __future__ import annotations

import json

import pytest

from core import jobs, store
from core.data import DataError
from core.rlhf.reward import RewardConfig, RewardScorer, load_preference_pairs, train_reward_job


def preference_file(tmp_path, n: int = 48):
    """Pairs where the preferred answer names the capital and the rejected one talks about the bank."""
    rows = [{"prompt": f"Question {i}: what is the capital of France?", "chosen": f"The capital of France is Paris. ({i})",
             "rejected": f"I took my money to the bank. ({i})"} for i in range(n)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_a_tiny_reward_model_ranks_held_out_chosen_above_rejected(tiny_model_dir, tmp_path):
    config = RewardConfig(base_model=str(tiny_model_dir), method="full", data=str(preference_file(tmp_path)), max_steps=30,
                          learning_rate=1e-3, batch_size=8, eval_steps=10, eval_fraction=0.25)
    ctx = jobs.RunContext(tmp_path / "run", config.to_dict())
    ctx.dir.mkdir()
    result = train_reward_job(ctx)
    assert result["held_out_pairs"] == 12 and result["accuracy"] >= 0.9 and result["margin"] > 0
    scorer = RewardScorer(result["model"])
    assert scorer.reward("Question 99: what is the capital of France?", "The capital of France is Paris.") > \
        scorer.reward("Question 99: what is the capital of France?", "I took my money to the bank.")
    progress = [json.loads(line) for line in (ctx.dir / "progress.jsonl").read_text().splitlines()]
    assert any("eval_accuracy" in p for p in progress) and any("loss" in p for p in progress)


def test_bundled_pairs_keep_their_splits():
    train, held_out = load_preference_pairs(RewardConfig())
    assert len(train) == 150 and len(held_out) == 36
    assert all(p["prompt"].endswith("\n") for p in train)


def test_labelled_pairs_are_split_by_comparison():
    prompt_ids = store.add_prompts([{"text": f"p{i}"} for i in range(5)])
    for pid in prompt_ids:
        cid = store.add_comparison(pid, [{"text": f"{pid}-{j}", "model": "m"} for j in range(3)])
        ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
        store.save_ranking(cid, "ann", [[i] for i in ids])
    train, held_out = load_preference_pairs(RewardConfig(data="labels", eval_fraction=0.2))
    assert len(train) == 12 and len(held_out) == 3  # 3 pairs per ranking of 3
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in held_out}


def test_too_few_labels_is_a_clear_error():
    with pytest.raises(DataError, match="at least 2 comparisons"):
        load_preference_pairs(RewardConfig(data="labels"))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="method must be one of lora, full"):
        RewardConfig(method="qlora")
    with pytest.raises(ValueError, match="data must be bundled or labels or an existing file"):
        RewardConfig(data="/nope.jsonl")


def test_the_scorer_reads_a_text_exactly_as_trl_trained_on_it(tiny_model_dir, tmp_path):
    import torch

    from core.rlhf.reward import build_reward_trainer

    config = RewardConfig(base_model=str(tiny_model_dir), method="full", data=str(preference_file(tmp_path, 8)), max_steps=1)
    trainer, tokenizer, held_out = build_reward_trainer(config, tmp_path / "out")
    trainer.model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    scorer = RewardScorer(tmp_path / "model")
    row = trainer.eval_dataset[0]
    with torch.no_grad():
        expected = float(trainer.model(input_ids=torch.tensor([row["chosen_ids"]])).logits[0, 0])
    assert scorer.reward(held_out[0]["prompt"], held_out[0]["chosen"]) == pytest.approx(expected, abs=1e-5)


def test_a_reward_run_killed_during_a_save_resumes_from_the_last_complete_checkpoint(tiny_model_dir, tmp_path):
    import shutil

    from core import checkpoints
    from core.rlhf.reward import JOB

    config = RewardConfig(base_model=str(tiny_model_dir), method="full", data=str(preference_file(tmp_path)), max_steps=40,
                          learning_rate=1e-3, batch_size=8, eval_steps=10, eval_fraction=0.25)
    run = jobs.wait_for(jobs.start_run(JOB, config.to_dict()).id, 300)
    assert run.state == "done", run.log_tail()
    half = run.dir / "checkpoints" / "checkpoint-40"  # as a SIGKILL before trainer_state.json would leave it
    (half / "trainer_state.json").unlink()
    (half / checkpoints.MARKER).unlink()
    shutil.rmtree(run.dir / "model")
    jobs.write_json_atomic(run.dir / "status.json", {"state": "cancelled"})
    resumed = jobs.wait_for(jobs.resume_run(run.id).id, 300)
    assert resumed.state == "done", resumed.log_tail()
    assert resumed.status["result"]["steps"] == 40 and (resumed.dir / "model" / "config.json").is_file()
    assert [p["checkpoint"] for p in resumed.progress() if p.get("event") == "resume"] == ["checkpoint-20"]
