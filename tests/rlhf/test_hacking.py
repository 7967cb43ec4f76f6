"""core.rlhf.hacking: the text measures and the alarms fire on the failure modes users report."""

from __future__ import annotations

from core.rlhf import hacking


def step(**overrides):
    metrics = {"objective/kl": 2.0, "objective/scores": 1.0, "tokens/responses_len_mean": 30.0, "text/distinct_2": 0.9,
               "text/repeated_share": 0.0, "text/duplicate_share": 0.0}
    return {**metrics, **overrides}


def fired(metrics, history=(), baseline=None):
    alarms = hacking.check(metrics, list(history), baseline or {"length": 30.0}, hacking.AlarmSettings())
    return {a.key for a in alarms if a.fired}


def test_text_measures():
    assert hacking.distinct_n(["a b c d"], 2) == 1.0
    assert hacking.distinct_n(["a b a b a b"], 2) == 2 / 5
    assert hacking.has_repeat_run("Sodium sodium sodium is great") and not hacking.has_repeat_run("sodium is sodium")
    assert hacking.duplicate_share(["p1", "p2", "p3"], ["Great!", "great! ", "fine"]) == 2 / 3
    assert hacking.duplicate_share(["p1", "p1"], ["same", "same"]) == 0  # one prompt asked twice may get one answer


def test_a_healthy_step_fires_nothing():
    assert fired(step()) == set()


def test_each_failure_mode_fires_its_alarm():
    assert fired(step(**{"objective/kl": 14.0})) == {"kl_high"}
    assert fired(step(**{"objective/kl": -2.0})) == {"kl_negative"}
    assert fired(step(**{"tokens/responses_len_mean": 60.0})) == {"length"}
    assert fired(step(**{"text/distinct_2": 0.1})) == {"distinct"}
    assert fired(step(**{"text/repeated_share": 0.5})) == {"repeats"}
    assert fired(step(**{"text/duplicate_share": 0.75})) == {"same_answer"}


def test_reward_up_while_the_held_out_check_gets_worse():
    history = [step(**{"objective/scores": s}) for s in (0.0, 0.1, 0.5)]
    worse = step(**{"objective/scores": 2.0, "heldout/perplexity": 20.0})
    assert "heldout" in fired(worse, history, {"length": 30.0, "perplexity": 12.0})
    assert "heldout" not in fired(step(**{"objective/scores": 2.0, "heldout/perplexity": 12.5}), history,
                                  {"length": 30.0, "perplexity": 12.0})
