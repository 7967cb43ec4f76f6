"""AppTest: the Optimise & deploy page: tabs, a quantisation started from the form, the comparison, bad input."""

from __future__ import annotations

from core import jobs
from core.deploy import variants
from tests.deploy.test_quantize import QUICK, check_quantized_run
from tests.pages.helpers import page_test


def test_the_page_shows_its_tabs_and_says_when_nothing_was_made_yet(tiny_wide_dir):
    at = page_test("deploy", tiny_wide_dir).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Quantise", "Prune", "Distil", "Compare"]
    assert at.selectbox(key="deploy.q_model").value == str(tiny_wide_dir)  # the sidebar's model comes first
    assert any("No finished variants yet" in i.value for i in at.info)


def test_quantise_starts_a_variant_run_and_the_comparison_shows_it(tiny_wide_dir, monkeypatch):
    real = variants.start_variant
    monkeypatch.setattr(variants, "start_variant", lambda kind, settings, actor=None: real(kind, settings, measure=QUICK, actor=actor))
    at = page_test("deploy", tiny_wide_dir).run()
    at.radio(key="deploy.q_method").set_value("int8")
    at.button(key="deploy.q_start").click().run()
    assert not at.exception and not at.error
    [run] = jobs.list_runs(variants.JOB)
    assert run.config["scheme"] == "int8" and run.config["base_model"] == str(tiny_wide_dir)
    check_quantized_run(jobs.wait_for(run.id, timeout=300))
    at = page_test("deploy", tiny_wide_dir).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "pareto" in d.value.columns)
    assert list(table["variant"]) == ["base (float32)", "quantised int8"]
    assert table["pareto"].any()
    assert at.get("plotly_chart")


def test_dropping_every_layer_is_refused_before_a_run_starts(tiny_wide_dir):
    at = page_test("deploy", tiny_wide_dir).run()
    at.number_input(key="deploy.p_drop").set_value(2)  # the tiny model has 2 layers: one must stay
    at.button(key="deploy.p_start").click().run()
    assert any("at least one must stay" in e.value for e in at.error)
    assert not jobs.list_runs()
