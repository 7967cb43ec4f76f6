"""AppTest: the frame (app.py) and the home page."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_home_page_runs_and_maps_the_lifecycle():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "LLM Lifecycle Lab"
    text = " ".join(m.value for m in at.markdown)
    for stage in ("Choose or pre-train a model", "Fine-tune", "Align with human feedback", "Augment with retrieval",
                  "Use it responsibly"):
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


def fake_run(run_id: str, config: str, files: dict[str, str]) -> None:
    from core import jobs

    folder = jobs.runs_dir() / run_id
    (folder / "model").mkdir(parents=True)
    (folder / "config.yaml").write_text(config)
    (folder / "status.json").write_text('{"state": "done"}')
    for name, text in files.items():
        (folder / "model" / name).write_text(text)


def test_reward_models_are_not_offered_as_language_models():
    from core import models

    fake_run("20260101-000000-reward-lora", "target: core.rlhf.reward:train_reward_job\ntask: reward\n", {"config.json": "{}"})
    fake_run("20260101-000001-lora-smollm2", "target: core.finetune.train:train_job\nmethod: lora\n", {"adapter_config.json": "{}"})
    assert models.finetuned_runs() == ["run:20260101-000001-lora-smollm2"]
    assert models.reward_model_runs() == ["20260101-000000-reward-lora"]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not any("reward" in option for option in at.sidebar.selectbox(key="model.choice").options)
    with __import__("pytest").raises(models.ModelError, match="is a reward model: it scores text"):
        models.load_model("run:20260101-000000-reward-lora")


def test_a_run_that_cannot_load_gives_one_error_and_the_picker_falls_back_to_the_default():
    fake_run("20260101-000002-lora-broken", "target: core.finetune.train:train_job\nmethod: lora\nbase_model: smollm2-135m-instruct\n",
             {"adapter_config.json": '{"not": "an adapter"}'})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["model.choice"] = "run:20260101-000002-lora-broken"
    at.run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    assert any("cannot be loaded" in e.value and "default model is chosen instead" in e.value for e in at.sidebar.error)
    assert at.sidebar.selectbox(key="model.choice").value == "smollm2-135m-instruct"
    assert at.title[0].value == "Generate"
