"""AppTest: the alignment page: settings build a valid run, presets, a finished PPO run's curves and results, bad input."""

from __future__ import annotations

import json

from core import jobs
from core.rlhf.ppo import JOB
from tests.pages.helpers import page_test
from tests.rlhf.test_ppo_run import tiny_config


def test_the_page_starts_a_ppo_run_with_the_chosen_settings(tiny_chat_policy_dir):
    at = page_test("align", tiny_chat_policy_dir).run()
    assert not at.exception
    assert at.selectbox(key="align.policy").value == str(tiny_chat_policy_dir)  # the sidebar's model is the default policy
    at.selectbox(key="align.reward").set_value("rule:length")
    at.number_input(key="align.steps").set_value(1)
    at.button(key="align.start").click().run()
    assert not at.exception and not at.error
    [run] = jobs.list_runs(JOB)
    assert run.config["reward"] == "rule:length" and run.config["max_steps"] == 1 and run.config["beta"] == 0.1
    jobs.cancel_run(run.id)


def test_the_no_kl_preset_sets_beta_to_zero(tiny_chat_policy_dir):
    at = page_test("align", tiny_chat_policy_dir).run()
    at.segmented_control(key="align.preset").set_value("no_kl").run()
    assert at.number_input(key="align.beta.no_kl").value == 0.0


def test_a_finished_run_shows_curves_samples_and_before_after(tiny_chat_policy_dir):
    run = jobs.wait_for(jobs.start_run(JOB, tiny_config(tiny_chat_policy_dir, max_steps=4).to_dict(), name="ppo").id, timeout=300)
    assert run.state == "done", run.log_tail()
    at = page_test("align", tiny_chat_policy_dir).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 7  # six curves and the β trade-off
    metrics = {m.label for m in at.metric}
    assert {"Held-out score before", "Held-out score after"} <= metrics
    pairs = json.loads((run.dir / "before_after.json").read_text())
    shown = [df.value for df in at.dataframe]
    assert any("after" in d.columns and list(d["after"]) == [p["after"] for p in pairs] for d in shown)


def test_dpo_on_pairs_nobody_ranked_says_so_before_starting(tiny_chat_policy_dir):
    at = page_test("align", tiny_chat_policy_dir).run()
    at.segmented_control(key="align.method").set_value("dpo").run()
    at.selectbox(key="align.dpo_data").set_value("labels").run()
    at.button(key="align.start").click().run()
    assert any("Rank more answers" in e.value for e in at.error) and not jobs.list_runs()


def test_an_empty_prompt_file_is_refused_before_a_run_starts(tiny_chat_policy_dir, tmp_path, monkeypatch):
    from core.ui import align

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    monkeypatch.setattr(align, "pick_prompts", lambda h: str(empty))  # what the uploader hands on for an empty file
    at = page_test("align", tiny_chat_policy_dir).run()
    at.button(key="align.start").click().run()
    assert any("empty" in e.value for e in at.error) and not jobs.list_runs()
