"""AppTest: the Pre-training & scaling page. Every tab renders; the objectives react to bad text; a shape out of
range is refused before it starts; a from-scratch run starts in the background; the bundled sweep is shown."""

from __future__ import annotations

import pytest

from core import jobs
from core.pretraining import scaling, scratch
from tests.pages.helpers import page_test


def test_the_page_runs_with_its_tabs(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    assert not at.exception and not at.error
    labels = [t.label for t in at.tabs]  # every tab, nested ones included, in page order
    assert {"Objectives", "Train from scratch", "Scaling laws", "Memory & compute"} <= set(labels)
    assert {"Causal LM", "Masked LM", "Span corruption", "Memory", "Sharding", "Number formats"} <= set(labels)


def test_objectives_show_each_position_and_refuse_empty_text(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    assert len(at.dataframe) >= 3  # causal, masked and the families table
    at.slider(key="pretrain.mask_rate").set_value(0.5).run()
    assert not at.exception and not at.error
    at.text_area(key="pretrain.text").set_value("   ").run()
    assert "Type a sentence" in at.error[0].value


def test_a_shape_out_of_range_is_refused_before_it_starts(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    at.slider(key="pretrain.layers").set_value(12).run()
    at.select_slider(key="pretrain.width").set_value(512).run()
    assert "parameters; choose one" in at.error[0].value
    assert at.button(key="pretrain.start").disabled


def test_start_trains_in_the_background(tiny_model_dir, tiny_corpus):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    at.select_slider(key="pretrain.tokens").set_value(250_000).run()
    at.button(key="pretrain.start").click().run()
    run_id = at.session_state["pretrain.run"]
    run = jobs.get_run(run_id)
    assert run.config["target"] == scratch.JOB and run.config["task"] == "pretrain"
    jobs.cancel_run(run_id)


def test_the_bundled_sweep_is_shown_with_its_exponents(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    labels = {m.label: m.value for m in at.metric}
    assert labels["N_opt ∝ C^a"].startswith("a = ") and labels["D_opt ∝ C^b"].startswith("b = ")
    assert any("A finished example, measured on" in i.value for i in at.info)


def test_the_sweep_starts_from_the_page(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    at.button(key="pretrain.sweep").click().run()
    run = jobs.get_run(at.session_state["pretrain.sweep_run"])
    assert run.config["target"] == scaling.JOB and run.config["preset_name"] == "quick"
    jobs.cancel_run(run.id)


def test_a_cancelled_sweep_shows_its_finished_points_and_offers_resume(tiny_model_dir):
    import json

    at = page_test("pretraining", str(tiny_model_dir)).run()
    at.button(key="pretrain.sweep").click().run()
    run = jobs.cancel_run(at.session_state["pretrain.sweep_run"])
    rows = scaling.synthetic_losses([1e11], [10_000, 20_000, 40_000])
    (run.dir / scaling.RESULTS).write_text("".join(json.dumps({**r, "layers": 1, "hidden": 16, "batch_size": 4,
                                                                "steps": 100, "seconds": 1.0}) + "\n" for r in rows))
    at.run()
    assert not at.exception
    assert any("3 of 12 models trained" in p.text for p in at.get("progress"))
    assert not at.button(key=f"pretrain.sweep.resume.{run.id}").disabled
    assert at.metric[0].value == "—"  # one budget: a valley, but no exponent yet


def test_memory_for_a_parameter_count_trains_and_shards(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    at.radio(key="compute.source").set_value("params").run()
    at.number_input(key="compute.params").set_value(7e9).run()
    assert any("only the count" in c.value for c in at.caption)
    at.segmented_control(key="compute.mode").set_value("Train").run()
    assert not at.exception and not at.error
    total = next(m for m in at.metric if m.label == "Total")
    assert total.value == "104 GiB"  # 7e9 x (4 + 4 + 8) bytes, no activations without a shape
    shard_table = [d.value for d in at.dataframe if "strategy" in d.value.columns][0]
    assert list(shard_table["strategy"])[0].startswith("DDP") and shard_table.shape[0] == 4


def test_a_value_too_big_for_a_format_says_so_in_its_row(tiny_model_dir):
    at = page_test("pretraining", str(tiny_model_dir)).run()
    at.number_input(key="compute.value").set_value(100_000.0).run()
    assert not at.exception
    rows = [d.value for d in at.dataframe if "relative error" in d.value.columns][0].set_index("format")
    assert "overflows fp16" in rows.loc["fp16", "error"] and rows.loc["fp32", "stored"] == "100000"


@pytest.mark.integration
def test_the_bundled_model_shows_its_estimate_beside_the_measured_peak():
    at = page_test("pretraining", timeout=300).run()  # the default model: SmolLM2
    assert not at.exception and not at.error
    assert any("Checked against measurement" in m.value for m in at.markdown)
    assert any("15 of 30 layers" not in c.value and "30 layers" in c.value for c in at.caption)
