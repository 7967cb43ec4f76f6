"""core.rlhf.rewards and core.rlhf.prompts: the reward registry, a reward model scored in batches, the bundled sentiment
classifier, prompt sets."""

from __future__ import annotations

import pytest

from core.data import DataError
from core.rlhf import rewards
from core.rlhf.prompts import load_prompts
from tests.conftest import make_reward_run


def test_rules_score_what_they_say():
    assert rewards.load_reward("rule:length").score(["p", "p"], ["one two three", ""]) == [3.0, 0.0]
    assert rewards.load_reward("rule:count:the").score(["p"], ["The cat and the hat"]) == [2.0]


@pytest.mark.parametrize("name, match", [("nonsense", "Unknown reward"), ("rule:colour", "Unknown rule"),
                                         ("run:20990101-000000-none", "not a finished reward-model run")])
def test_a_reward_that_cannot_load_is_a_clear_error(name, match):
    with pytest.raises(ValueError, match=match):
        rewards.check_reward(name)


@pytest.fixture
def reward_model_run(lab_home):
    return make_reward_run(lab_home)


def test_a_reward_model_scores_a_batch_as_it_scores_one_pair_at_a_time(reward_model_run):
    reward = rewards.load_reward("run:" + reward_model_run.name)
    prompts = ["What is the capital of France?", "Say something.", ""]
    answers = ["The capital of France is Paris.", "I took my money", "A very much longer answer than the other two are."]
    batched = reward.score(prompts, answers)
    single = [reward.scorer.reward(p, a) for p, a in zip(prompts, answers)]
    assert batched == pytest.approx(single, abs=1e-5)
    assert "run:" + reward_model_run.name in rewards.reward_choices()


def test_the_bundled_sentiment_reward_prefers_praise_and_is_cached(lab_home):
    reward = rewards.load_reward("sentiment")
    good, bad = reward.score(["Review a café."] * 2, ["Lovely coffee, friendly staff, I will be back.",
                                                      "Cold coffee, rude staff, never again."])
    assert good > 0 > bad
    assert reward.test_accuracy > 0.75  # measured: 0.785 on the 200 held-out reviews (MiniLM + logistic regression)
    assert (lab_home / "rewards" / f"sentiment-v{rewards.SENTIMENT_VERSION}.json").exists()
    negative, positive = reward.logits(["Lovely coffee."])[0]
    assert positive - negative == pytest.approx(reward.score([""], ["Lovely coffee."])[0])


def test_bundled_prompt_sets_keep_their_held_out_split():
    train, held_out = load_prompts("reviews")
    assert (len(train), len(held_out)) == (72, 24) and not set(train) & set(held_out)
    train, held_out = load_prompts("rlhf")
    assert (len(train), len(held_out)) == (96, 24)


def test_a_text_file_of_prompts_holds_out_every_fifth(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(f"prompt {i}" for i in range(10)))
    train, held_out = load_prompts(str(path))
    assert held_out == ["prompt 4", "prompt 9"] and len(train) == 8


@pytest.mark.parametrize("text, match", [("", "empty"), ('{"prompt": "a"}\nnot json\n', "line 2"), ('{"text": "a"}\n', "prompt")])
def test_bad_prompt_files_are_clear_errors(tmp_path, text, match):
    path = tmp_path / "prompts.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        load_prompts(str(path))
