"""AppTest: the Generate page, on a tiny local model and on the bundled default."""

import pytest

from tests.pages.helpers import page_test


def test_generate_streams_text_with_a_tiny_model(tiny_model_dir):
    at = page_test("generate", str(tiny_model_dir)).run()
    at.slider(key="generate.max_new_tokens").set_value(10)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any("new tokens" in c.value for c in at.caption)


def test_unknown_model_shows_an_error_not_a_traceback():
    at = page_test("generate", "no-such-model").run()
    assert not at.exception
    assert "Unknown model 'no-such-model'" in at.error[0].value


def test_empty_prompt_shows_an_error(tiny_model_dir):
    at = page_test("generate", str(tiny_model_dir)).run()
    at.text_area(key="generate.prompt").set_value("")
    at.button[0].click().run()
    assert not at.exception
    assert "empty" in at.error[0].value


@pytest.mark.integration
def test_generate_with_the_bundled_default_model():
    at = page_test("generate").run()
    at.slider(key="generate.max_new_tokens").set_value(8)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any("parameters" in m.value for m in at.sidebar.markdown)
