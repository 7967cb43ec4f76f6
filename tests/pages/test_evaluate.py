"""AppTest: the Evaluation dashboard page."""

from __future__ import annotations

import json

import pytest

from core import jobs, store
from core.evaluation import EvalConfig, run_evaluations
from core.ui.widgets import escape_markdown
from tests.pages.helpers import page_test


@pytest.fixture
def two_models_evaluated(tiny_model_dir, tiny_wide_dir, tmp_path):
    """Real evaluations of two tiny models on a small summarization task, stored in this test's database."""
    path = tmp_path / "dialogues.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"d{i}", "dialogue": f"A: the bank is open on day {i}", "summary": f"The bank opens on day {i}."})
                              for i in range(3)))
    config = EvalConfig(models=(str(tiny_model_dir), str(tiny_wide_dir)), tasks=(f"summarization:{path}",), max_new_tokens=8,
                        precision="float32")
    return run_evaluations(config)


def test_without_results_the_page_shows_the_caveats_computed_live():
    at = page_test("evaluate").run()
    assert not at.exception and not at.error
    assert any("No evaluations yet" in i.value for i in at.info)
    rouge1 = [float(m.value) for m in at.metric if m.label == "ROUGE-1 F"]
    assert rouge1[0] > rouge1[1]  # the summary that says the opposite shares more words than the right paraphrase


def test_the_leaderboard_and_drilldown_show_every_model(two_models_evaluated, tiny_model_dir, tiny_wide_dir):
    at = page_test("evaluate").run()
    assert not at.exception and not at.error
    board = at.dataframe[0].value
    assert set(board["model"]) == {str(tiny_model_dir), str(tiny_wide_dir)}
    assert len(at.get("plotly_chart")) >= 1
    examples = next(d.value for d in at.dataframe if "gap" in d.value)
    assert list(examples["id"]) == ["d0", "d1", "d2"] and "gap" in examples
    for model in (tiny_model_dir, tiny_wide_dir):  # each model's output and scores in the example's detail
        assert any(escape_markdown(str(model)) in m.value for m in at.markdown)
    at.segmented_control(key="evaluate.filter").set_value("Where models differ most").run()
    assert not at.exception


def test_starting_an_evaluation_creates_a_run_with_the_settings():
    at = page_test("evaluate").run()
    at.number_input(key="evaluate.limit").set_value(3)
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    [run] = jobs.list_runs()
    assert run.config["tasks"] == ["knowledge_mc", "sentiment"] and run.config["limit"] == 3
    assert jobs.cancel_run(run.id).state == "cancelled"


def test_a_bad_task_upload_is_a_clear_error():
    at = page_test("evaluate").run()
    at.selectbox(key="evaluate.upload_kind").set_value("translation").run()
    at.file_uploader(key="evaluate.upload").upload("t.jsonl", b'{"source": "Hi.", "target": "Salut."}\n{"source": "Bye."}\n').run()
    assert not at.exception
    assert "t.jsonl, line 2: missing 'target'" in at.error[0].value
    assert at.multiselect(key="evaluate.tasks").value == ["knowledge_mc", "sentiment"]


def test_history_deletes_an_evaluation(two_models_evaluated):
    at = page_test("evaluate").run()
    at.multiselect(key="evaluate.delete_ids").set_value([two_models_evaluated[0]]).run()
    at.button(key="evaluate.delete").click().run()
    assert not at.exception
    assert [e["id"] for e in store.list_evaluations()] == [two_models_evaluated[1]]


def test_after_a_reload_a_running_evaluation_still_shows_its_progress_and_cancel(tiny_model_dir):
    from core.evaluation import JOB

    config = EvalConfig(models=(str(tiny_model_dir),), tasks=("dialogsum",), limit=0, batch_size=1, max_new_tokens=200,
                        precision="float32")
    run = jobs.start_run(JOB, config.to_dict())
    at = page_test("evaluate").run()  # a new session
    assert not at.exception and at.session_state["evaluate.run"] == run.id
    at.button(key=f"evaluate.cancel.{run.id}").click().run()
    assert jobs.get_run(run.id).state == "cancelled"


def test_echoed_and_empty_outputs_are_marked_on_the_leaderboard_and_can_be_filtered():
    dialogue = "#Person1#: Shall we meet at noon? #Person2#: Yes, at the station."
    examples = [{"id": "e1", "input": dialogue, "reference": "They meet at noon.", "prediction": dialogue, "scores": {"rougeL_f": 0.6}},
                {"id": "e2", "input": dialogue, "reference": "They meet at noon.", "prediction": "", "scores": {"rougeL_f": 0.0}}]
    store.save_evaluation("echo-lora", "dialogsum", {"rougeL_f": 0.3, "empty_outputs": 1.0, "echoed_outputs": 1.0}, {}, examples, 1.0)
    at = page_test("evaluate").run()
    assert not at.exception
    assert any("echo\\-lora" in w.value and "echo the input" in w.value for w in at.warning)  # markdown-escaped names
    at.selectbox(key="evaluate.drill_task").select("dialogsum").run()
    at.segmented_control(key="evaluate.filter").set_value("Empty or echoed outputs").run()
    assert not at.exception and any("repeat the input instead of answering" in c.value for c in at.caption)


def test_starting_an_evaluation_with_a_model_that_cannot_load_is_refused_on_the_page():
    at = page_test("evaluate").run()
    at.text_input(key="evaluate.other").set_value("someone/not-cached-anywhere").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception and any("not-cached-anywhere" in e.value for e in at.error)
    assert jobs.list_runs() == []


def _stored(model: str, task: str, values: list[float], metric: str = "rougeL_f", ids=None, template: str | None = None) -> int:
    ids = ids or [f"e{i}" for i in range(len(values))]
    examples = [{"id": i, "input": f"dialogue {i}", "reference": "the bank opens", "prediction": "the bank" if v > 0.5 else "",
                 "scores": {metric: v}} for i, v in zip(ids, values)]
    config = {"template": template} if template else {}
    return store.save_evaluation(model, task, {metric: sum(values) / len(values)}, config, examples, 1.0)


def test_the_leaderboard_shows_standard_errors_in_the_table_and_as_error_bars():
    import numpy as np

    values = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    _stored("model-a", "sentiment", values, metric="accuracy")
    at = page_test("evaluate").run()
    assert not at.exception and not at.error
    board = at.dataframe[0].value
    assert board["sentiment · accuracy ± SE"][0] == pytest.approx(np.std(values, ddof=1) / np.sqrt(len(values)))
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["data"][0]["error_y"]["array"][0] == pytest.approx(np.std(values, ddof=1) / np.sqrt(len(values)))


def test_compare_two_gives_a_verdict_and_a_clear_error_without_shared_examples():
    _stored("model-a", "dialogsum", [0.2, 0.3, 0.1, 0.4, 0.2, 0.3, 0.25, 0.35])
    _stored("model-b", "dialogsum", [0.6, 0.7, 0.5, 0.8, 0.6, 0.7, 0.65, 0.75])
    at = page_test("evaluate").run()
    assert not at.exception
    assert any(escape_markdown("#2 model-b is better than #1 model-a on rougeL_f: +0.4") in s.value and "real" in s.value
               for s in at.success)
    _stored("model-c", "dialogsum", [0.5, 0.5], ids=["x1", "x2"])
    at = page_test("evaluate").run()
    assert not at.exception and any("share no examples" in e.value for e in at.error)


def test_assertions_count_passes_and_a_bad_regex_is_a_clear_error():
    _stored("model-a", "dialogsum", [1.0, 0.0, 1.0])
    at = page_test("evaluate").run()
    at.selectbox(key="evaluate.assert_kind").set_value("regex").run()
    at.text_input(key="evaluate.assert_value").set_value("(bank").run()
    at.button(key="evaluate.assert_add").click().run()
    assert not at.exception and any("is not valid" in e.value for e in at.error)
    at.text_input(key="evaluate.assert_value").set_value("^the bank$").run()
    at.button(key="evaluate.assert_add").click().run()
    at.selectbox(key="evaluate.assert_kind").set_value("not_empty").run()
    at.button(key="evaluate.assert_add").click().run()
    assert not at.exception
    summary = next(d.value for d in at.dataframe if "pass rate" in d.value)
    assert list(summary["passed"]) == [4] and list(summary["failed"]) == [2]  # two of three outputs pass both checks


def test_the_prompt_grid_pivots_models_by_templates():
    for model, template, value in (("m1", "T: {input}", 0.2), ("m1", "Q: {input}", 0.4), ("m2", "T: {input}", 0.6)):
        _stored(model, "dialogsum", [value] * 3, template=template)
    at = page_test("evaluate").run()
    assert not at.exception
    grid = next(d.value for d in at.dataframe if "T: {input}" in d.value.columns)
    assert grid.loc["m1", "Q: {input}"] == pytest.approx(0.4) and grid.loc["m2", "T: {input}"] == pytest.approx(0.6)


def test_starting_with_prompt_templates_puts_them_in_the_run_and_a_bad_one_is_refused():
    at = page_test("evaluate").run()
    at.text_area(key="evaluate.templates").set_value("Review: {review}").run()
    assert any("placeholder {input}" in w.value for w in at.warning) and at.button(key="evaluate.start").disabled
    at.text_area(key="evaluate.templates").set_value("Review: {input}\nSentiment:\n---\n{input} is").run()
    at.number_input(key="evaluate.limit").set_value(2)
    at.button(key="evaluate.start").click().run()
    [run] = jobs.list_runs()
    assert run.config["templates"] == ["Review: {input}\nSentiment:", "{input} is"]
    jobs.cancel_run(run.id)
