"""AppTest: the frame (app.py) and the home page."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_home_page_runs_and_maps_the_lifecycle():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "LLM Lifecycle Lab"
    text = " ".join(m.value for m in at.markdown)
    for stage in ("Choose a model", "Fine-tune", "Align with human feedback", "Augment with retrieval"):
        assert stage in text


def test_sidebar_model_picker_offers_bundled_models_and_other():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    picker = at.sidebar.selectbox(key="model.choice")
    assert picker.options[:2] == ["SmolLM2-135M-Instruct", "Gemma 3 270M (base)"]
    assert picker.value == "smollm2-135m-instruct"


def test_other_model_asks_for_a_hub_id_or_folder():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.sidebar.selectbox(key="model.choice").select("other").run()
    assert not at.exception
    assert at.sidebar.text_input(key="model.custom").value == ""


def test_model_choice_persists_across_pages():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.sidebar.selectbox(key="model.choice").select("gemma-3-270m").run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    assert at.title[0].value == "Generate"
    assert at.sidebar.selectbox(key="model.choice").value == "gemma-3-270m"
    assert any("Gemma3ForCausalLM" in c.value for c in at.sidebar.caption)
