"""AppTest: the Sampling visualizer page."""

import json

import pytest

from core.ui.resources import _shared_model
from tests.pages.helpers import page_test


def chart_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[-1].proto.spec)


def test_moving_the_temperature_slider_reuses_the_cached_logits(tiny_model_dir):
    at = page_test("sampling", tiny_model_dir).run()
    assert not at.exception
    before = chart_spec(at)
    calls = []
    model = _shared_model(str(tiny_model_dir), "auto").model  # the very object the page uses
    hook = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        at.slider(key="sampling.value.temperature").set_value(1.6).run()
    finally:
        hook.remove()
    assert not at.exception
    assert calls == [], "moving a sampler slider must not run the model"
    assert chart_spec(at)["data"] != before["data"]


def test_step_and_force_an_alternative(tiny_model_dir):
    at = page_test("sampling", tiny_model_dir).run()
    for _ in range(3):
        at.button(key="sampling.step").click().run()
    force = [b for b in at.button if b.key and b.key.startswith("sampling.force.")][1]
    forced_id = int(force.key.rsplit(".", 1)[1])
    force.click().run()
    assert not at.exception
    stepper = at.session_state["sampling.stepper"]
    assert len(stepper.steps) == 4 and stepper.steps[-1].token_id == forced_id and stepper.steps[-1].forced


def test_four_strategies_side_by_side(tiny_model_dir):
    at = page_test("sampling", tiny_model_dir).run()
    at.slider(key="sampling.max_new_tokens").set_value(8).run()
    at.button(key="sampling.compare").click().run()
    assert not at.exception
    labels = {m.value.strip("*") for m in at.main.markdown if m.value.startswith("**")}
    assert labels == {"Greedy", "Temperature 0.8", "Top-k 40 (T 0.8)", "Top-p 0.9 (T 0.8)"}


def test_attention_view(tiny_model_dir):
    at = page_test("sampling", tiny_model_dir).run()
    at.toggle(key="sampling.attention").set_value(True).run()
    assert not at.exception
    assert at.slider(key="sampling.layer").max == 2


def test_empty_prompt_is_a_clear_error(tiny_model_dir):
    at = page_test("sampling", tiny_model_dir)
    at.session_state["sampling.prompt"] = "   "
    at.run()
    assert not at.exception and "empty" in at.error[0].value


def test_over_long_prompt_is_cut_only_after_the_user_agrees(tiny_model_dir):
    at = page_test("sampling", tiny_model_dir)
    at.session_state["sampling.prompt"] = "bank " * 200
    at.run()
    assert not at.exception
    assert "does not fit the context window of 128" in at.warning[0].value
    assert not at.get("plotly_chart")  # nothing runs until the user agrees
    at.checkbox(key="sampling.truncate").check().run()
    assert not at.exception and at.get("plotly_chart")


@pytest.mark.integration
def test_sampling_page_with_the_bundled_model():
    at = page_test("sampling").run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("make_greedy", ["sampling off", "temperature 0"])
def test_greedy_shows_a_point_mass_and_says_the_cutting_stages_do_not_apply(tiny_model_dir, make_greedy):
    at = page_test("sampling", tiny_model_dir).run()
    at.toggle(key="sampling.on.top_k").set_value(True).run()
    if make_greedy == "sampling off":
        at.toggle(key="sampling.do_sample").set_value(False).run()
    else:
        at.slider(key="sampling.value.temperature").set_value(0.0).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Entropy, final"] == "0.00 bits" and metrics["Tokens left to sample from"] == "1"
    assert at.slider(key="sampling.value.top_k").disabled
    assert any("Does not apply under greedy decoding" in c.value for c in at.caption)
    spec = chart_spec(at)
    final = [trace for trace in spec["data"] if trace["name"] == "greedy pick"]
    assert final and max(values(final[0]["y"])) == pytest.approx(1.0)  # the "after" bars are there, all on one token


def values(y) -> list[float]:
    """Plotly sends numeric arrays as {"dtype", "bdata"} (base64)."""
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist() if isinstance(y, dict) else list(y)
