"""AppTest: the "Inside the model" page (forward-pass outline and logit lens)."""

import json

import pytest
import torch

from core.ui.resources import _shared_model
from tests.pages.helpers import page_test


def heatmap(at) -> dict:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(s for s in specs if s["data"][0]["type"] == "heatmap")


def test_outline_and_lens_of_the_tiny_model(tiny_model_dir):
    at = page_test("inside", tiny_model_dir).run()
    assert not at.exception and not at.error
    data = heatmap(at)["data"][0]
    ids = _shared_model(str(tiny_model_dir), "auto").tokenizer(at.session_state["inside.prompt"])["input_ids"]
    assert len(data["z"]) == 3 and len(data["z"][0]) == min(len(ids), 16)  # layers 0..2 x positions
    loaded = _shared_model(str(tiny_model_dir), "auto")
    total = f"{sum(p.numel() for p in loaded.model.parameters()):,}"
    assert any(f"add up to {total}; the loaded model has {total}" in c.value for c in at.caption)


def test_top_row_is_the_models_real_prediction(tiny_model_dir):
    at = page_test("inside", tiny_model_dir).run()
    loaded = _shared_model(str(tiny_model_dir), "auto")
    ids = loaded.tokenizer(at.session_state["inside.prompt"])["input_ids"]
    with torch.inference_mode():
        probs = loaded.model(input_ids=torch.tensor([ids])).logits[0].float().softmax(-1)
    top = heatmap(at)["data"][0]["z"][-1]
    assert torch.allclose(torch.tensor(top), probs.max(-1).values[-len(top):], atol=1e-3)  # bfloat16 on the CPU


def test_tracking_a_token(tiny_model_dir):
    at = page_test("inside", tiny_model_dir).run()
    at.text_input(key="inside.track").input("bank").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert any("bank" in c.value and "at the output" in c.value for c in at.caption)


def test_empty_prompt_is_a_clear_error(tiny_model_dir):
    at = page_test("inside", tiny_model_dir)
    at.session_state["inside.prompt"] = "   "
    at.run()
    assert not at.exception and "empty" in at.error[0].value


def test_over_long_prompt_is_a_clear_error(tiny_model_dir):
    at = page_test("inside", tiny_model_dir)
    at.session_state["inside.prompt"] = "bank " * 200
    at.run()
    assert not at.exception and "context window of 128" in at.error[0].value
    assert not at.get("plotly_chart")


def test_tokens_are_shown_as_text_not_markup(tiny_model_dir):
    at = page_test("inside", tiny_model_dir)
    at.session_state["inside.prompt"] = "<b>bank</b>"
    at.run()
    assert not at.exception
    columns = heatmap(at)["data"][0]["x"]
    assert not any("<b>" in c for c in columns) and any("&lt;" in c for c in columns)


@pytest.mark.integration
def test_inside_page_with_the_bundled_model():
    at = page_test("inside")
    at.session_state["inside.track"] = "account"
    at.run()
    assert not at.exception and not at.error
    assert len(heatmap(at)["data"][0]["z"]) == 31  # SmolLM2: the embedding and 30 layers


def test_a_preset_sets_the_prompt_and_the_word_to_track(tiny_model_dir):
    at = page_test("inside", tiny_model_dir).run()
    at.selectbox(key="inside.preset").set_value("She sat on the bank of the").run()
    assert not at.exception
    assert at.session_state["inside.prompt"] == "She sat on the bank of the"
    assert at.session_state["inside.track"] == "river"
