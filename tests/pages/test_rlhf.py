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


def progress_texts(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_the_label_tab_shows_what_is_left_and_saves_a_comment_and_flags_with_the_ranking():
    seed(3)
    store.save_ranking(1, "bob", [[1], [2], [3]])  # another annotator's work counts for the class
    at = page_test("rlhf").run()
    at.text_input(key="rlhf.annotator").set_value("Ann").run()
    assert "You (ann): 3 of 3 left" in progress_texts(at)
    assert "Class: 2 of 3 left (ranked by at least 1 annotator)" in progress_texts(at)
    cid = at.session_state["rlhf.ranking"]["comparison"]
    for number in (1, 2, 3):
        at.button(key=f"rlhf.pick.{number}").click().run()
    at.text_input(key=f"rlhf.comment.{cid}").set_value("A and C say the same").run()
    at.button_group(key=f"rlhf.flags.{cid}").set_value(["can't judge", "off-topic"]).run()
    at.button(key="rlhf.submit").click().run()
    assert not at.exception
    mine = [r for r in store.list_rankings() if r["annotator"] == "ann"]
    assert [(r["comment"], r["flags"]) for r in mine] == [("A and C say the same", ["can't judge", "off-topic"])]
    assert any("a comment and 2 flag(s)" in s.value for s in at.success)
    assert "You (ann): 2 of 3 left" in progress_texts(at)
    next_cid = at.session_state["rlhf.ranking"]["comparison"]
    assert next_cid != cid and at.text_input(key=f"rlhf.comment.{next_cid}").value == ""  # a fresh note for the next one


def test_the_overlap_box_sets_k_for_the_whole_lab_and_the_queue_follows_it():
    first, second = seed(2)
    store.save_ranking(first, "bob", [[1], [2], [3]])
    at = page_test("rlhf").run()
    at.number_input(key="rlhf.overlap").set_value(2).run()
    assert store.labelling_overlap() == 2
    at.text_input(key="rlhf.annotator").set_value("ann").run()
    assert at.session_state["rlhf.ranking"]["comparison"] == first  # bob's comparison gets its second look first
    assert "Class: 2 of 2 left (ranked by at least 2 annotators)" in progress_texts(at)


def test_the_data_tab_filters_rankings_and_shows_alpha_beside_kappa():
    first, second = seed(2)
    store.save_ranking(first, "ann", [[1], [2], [3]], flags=["all harmful"])
    store.save_ranking(first, "bob", [[3], [2], [1]], comment="C is kinder")
    store.save_ranking(second, "ann", [[4], [5], [6]])
    store.save_ranking(second, "bob", [[4], [5], [6]])
    at = page_test("rlhf").run()
    metrics = {m.label: m.value for m in at.metric}
    assert "Krippendorff's α" in metrics and "Fleiss' κ" in metrics and metrics["Cohen's κ"] != "—"

    def found():
        table = next(d.value for d in at.dataframe if "comment" in d.value.columns and "ranking" in d.value.columns)
        return sorted(zip(table["annotator"], table["comparison"]))

    assert len(found()) == 4
    at.toggle(key="rlhf.filter_disputed").set_value(True).run()
    assert found() == [("ann", first), ("bob", first)]
    at.selectbox(key="rlhf.filter_annotator").set_value("bob").run()
    assert found() == [("bob", first)]
    at.selectbox(key="rlhf.filter_annotator").set_value("everyone").run()
    at.toggle(key="rlhf.filter_disputed").set_value(False).run()
    at.selectbox(key="rlhf.filter_flag").set_value("all harmful").run()
    assert found() == [("ann", first)]
    at.selectbox(key="rlhf.filter_flag").set_value("any").run()
    at.text_input(key="rlhf.filter_text").set_value("TOMATOES? (1)").run()
    assert found() == [("ann", second), ("bob", second)]
    assert not at.exception
