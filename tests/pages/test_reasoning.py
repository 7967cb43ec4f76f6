"""AppTest: the Reasoning & tools page. Solve with PAL shows the program and its sandbox result; a prompt too long
for the model is a clear error; the sandbox tab runs a program and refuses an escape; the experiment starts a run."""

from __future__ import annotations

from core import jobs
from core.reasoning import experiment
from tests.pages.helpers import page_test


def test_the_page_runs_with_its_tabs(tiny_wide_dir):
    at = page_test("reasoning", str(tiny_wide_dir), timeout=300).run()
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["Solve", "Experiment", "Sandbox"]


def test_pal_shows_the_program_and_the_sandbox_result(tiny_wide_dir):
    at = page_test("reasoning", str(tiny_wide_dir), timeout=300).run()
    at.selectbox(key="reason.method.arithmetic").set_value("pal")
    at.button(key="reason.solve").click().run()
    solution = at.session_state["reason.solution"]
    sandbox = solution.trace[0]["sandbox"]
    assert not at.exception and [e.value for e in at.error] == ([] if sandbox["ok"] else [sandbox["error"]])
    assert solution.method == "pal" and solution.prompt.rstrip() in [c.value.rstrip() for c in at.code]
    labels = {m.label for m in at.metric}
    assert {"Answer", "Gold answer", "Sandbox", "Program's answer", "Run time"} <= labels
    # the tiny model writes noise: whatever it wrote is shown as code, and what the sandbox said about it
    assert solution.trace[0]["program"] in [c.value for c in at.code] or solution.trace[0]["program"] == ""


def test_a_prompt_too_long_for_the_model_is_a_clear_error(tiny_model_dir):
    at = page_test("reasoning", str(tiny_model_dir), timeout=300).run()  # a 128-token context window
    at.selectbox(key="reason.method.arithmetic").set_value("cot-fewshot")
    at.button(key="reason.solve").click().run()
    assert not at.exception and "context window of 128 tokens" in at.error[0].value


def test_an_empty_own_problem_is_refused(tiny_wide_dir):
    at = page_test("reasoning", str(tiny_wide_dir), timeout=300).run()
    at.selectbox(key="reason.problem.arithmetic").set_value("(type my own)").run()
    at.button(key="reason.solve").click().run()
    assert not at.exception and "Type a problem first" in at.error[0].value


def test_the_sandbox_tab_runs_a_program_and_refuses_an_escape():
    at = page_test("reasoning", timeout=120).run()
    at.button(key="reason.sandbox_run").click().run()
    assert not at.exception and not at.error
    assert at.session_state["reason.sandbox_result"].answer == "64.8"
    assert any(m.label == "Sandbox" and m.value == "ran" for m in at.metric)
    at.text_area(key="reason.sandbox_code").set_value("import os\nos.system('cat /etc/passwd')\n")
    at.button(key="reason.sandbox_run").click().run()
    result = at.session_state["reason.sandbox_result"]
    assert not at.exception and not result.ok and "root:" not in result.stdout
    assert at.error[0].value == result.error


def test_the_experiment_starts_a_background_run(tiny_wide_dir):
    at = page_test("reasoning", str(tiny_wide_dir), timeout=300).run()
    at.multiselect(key="reason.exp_models").set_value([str(tiny_wide_dir)])
    at.number_input(key="reason.exp_limit.arithmetic").set_value(2)
    at.button(key="reason.exp_start").click().run()
    assert not at.exception and not at.error
    run = jobs.wait_for(at.session_state["reason.exp_run"], timeout=300)
    assert run.state == "done" and run.config["methods"] == ["direct", "cot", "cot-fewshot", "pal"]
    assert len(experiment.read_results(run.dir)) == 8
    at.run()
    assert not at.exception and any(s.value == "This run" for s in at.subheader)
