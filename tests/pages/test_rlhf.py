"""AppTest: the RLHF page: ranking with the buttons the keys trigger, the data tab, imports and reward training."""

from __future__ import annotations

from core import jobs, store
from tests.pages.helpers import page_test


def seed(n: int = 2) -> list[int]:
    prompt_ids = store.add_prompts([{"text": f"How do I water tomatoes? ({i})", "category": "helpful"} for i in range(n)])
    return [store.add_comparison(p, [{"text": f"Answer {j} <b>bold?</b>", "model": "m", "settings": {}, "seed": j} for j in range(3)])
            for p in prompt_ids]


def test_ranking_a_comparison_saves_it_only_after_submit():
    seed()
    at = page_test("rlhf").run()
    at.text_input(key="rlhf.annotator").set_value("ann").run()
    at.button(key="rlhf.pick.2").click().run()
    at.button(key="rlhf.tie").click().run()
    at.button(key="rlhf.pick.1").click().run()
    assert store.label_counts()["rankings"] == 0
    at.button(key="rlhf.pick.3").click().run()
    at.button(key="rlhf.submit").click().run()
    assert not at.exception
    [ranking] = store.list_rankings()
    assert ranking["annotator"] == "ann" and [len(g) for g in ranking["order"]] == [2, 1]
    assert any("Saved your ranking" in s.value and "2 pairs" in s.value for s in at.success)
    assert any("<b>bold?</b>" in t.value for t in at.text)  # model text is shown as text, never as HTML


def test_undo_and_skip():
    first, second = seed()
    at = page_test("rlhf").run()
    at.text_input(key="rlhf.annotator").set_value("bob").run()
    at.button(key="rlhf.pick.1").click().run()
    at.button(key="rlhf.undo").click().run()
    assert at.button(key="rlhf.submit").disabled
    at.button(key="rlhf.skip").click().run()
    assert at.session_state["rlhf.ranking"]["comparison"] == second


def test_data_tab_shows_agreement_and_a_bad_import_is_refused():
    [cid] = seed(1)
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[ids[0]], [ids[1]], [ids[2]]])
    store.save_ranking(cid, "bob", [[ids[0]], [ids[2]], [ids[1]]])
    at = page_test("rlhf").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rankings"] == "2" and metrics["Pairs"] == "6" and metrics["Pairwise agreement"] == "67%"
    at.file_uploader(key="rlhf.import").upload("bad.jsonl", b'{"prompt": "p", "chosen": "c"}\n').run()
    at.button(key="rlhf.import_button").click().run()
    assert "line 1: missing or empty rejected" in at.error[0].value
    assert store.label_counts()["rankings"] == 2


def test_training_a_reward_model_starts_a_run():
    at = page_test("rlhf").run()
    at.number_input(key="rlhf.steps").set_value(5).run()
    at.button(key="rlhf.train").click().run()
    assert not at.exception
    [run] = jobs.list_runs()
    assert run.config["target"] == "core.rlhf.reward:train_reward_job" and run.config["max_steps"] == 5 and run.config["data"] == "bundled"
    jobs.cancel_run(run.id)


def test_training_on_too_few_labels_says_so():
    at = page_test("rlhf").run()
    at.selectbox(key="rlhf.data").set_value("labels").run()
    at.button(key="rlhf.train").click().run()
    assert "at least 2 comparisons" in at.error[0].value and jobs.list_runs() == []


def test_a_name_with_a_zero_width_space_is_refused_on_the_page_and_alice_is_alice():
    seed(1)
    at = page_test("rlhf").run()
    at.text_input(key="rlhf.annotator").set_value("alice\u200b").run()
    assert not at.exception and any("invisible characters" in e.value for e in at.error)
    assert all(b.key != "rlhf.submit" for b in at.button)  # nothing to rank until the name is valid
    at.text_input(key="rlhf.annotator").set_value("  Alice ").run()
    assert not at.error and any("alice" in c.value for c in at.caption)


def test_after_a_reload_the_queue_run_still_shows_its_progress_and_can_be_cancelled(tiny_model_dir):
    store.add_prompts([{"text": f"Describe a hive in detail ({i})."} for i in range(40)])
    config = {"model": str(tiny_model_dir), "n": 4, "max_new_tokens": 100, "precision": "float32", "limit": 40}
    run = jobs.start_run("core.rlhf.preferences:generate_job", config)
    at = page_test("rlhf").run()  # a new session, as after a reload: nothing in it knows the run
    assert not at.exception
    assert at.session_state["rlhf.generate_run"] == run.id
    cancel = at.button(key=f"rlhf.queue_cancel.{run.id}")
    assert not cancel.disabled
    cancel.click().run()
    assert jobs.get_run(run.id).state == "cancelled"
    assert at.number_input(key="rlhf.how_many").max == 40  # how many to complete is the user's choice


def test_a_finished_reward_model_opens_the_align_page_with_it_chosen(lab_home, monkeypatch):
    import streamlit as st

    from tests.conftest import make_reward_run

    make_reward_run(lab_home)
    switched = []
    monkeypatch.setattr(st, "switch_page", switched.append)  # AppTest runs one page: record where it would go
    at = page_test("rlhf").run()
    at.button(key="rlhf.align").click().run()
    assert not at.exception and switched == ["pages/align.py"]
    assert at.session_state["align.reward"] == "run:20260101-000000-reward" and at.session_state["align.prompts"] == "rlhf"
