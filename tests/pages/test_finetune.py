"""AppTest: the Fine-tune runner page."""

from core import jobs
from tests.pages.helpers import page_test


def test_the_page_shows_the_estimate_and_the_command():
    at = page_test("finetune").run()
    assert not at.exception and not at.error
    assert at.metric[0].label == "Trainable parameters" and at.metric[0].value.endswith("K")  # LoRA: thousands, not millions
    assert any("accelerate launch --multi_gpu --num_processes 2" in c.value for c in at.code)
    [preview] = [c.value for c in at.code if "method:" in c.value]
    assert "lora_r:" in preview and "virtual_tokens" not in preview and "prompt_init_text" not in preview  # LoRA's fields only


def test_starting_a_run_creates_it_and_the_monitor_follows_it():
    at = page_test("finetune").run()
    at.button(key="finetune.start").click().run()
    assert not at.exception
    runs = jobs.list_runs()
    assert len(runs) == 1 and runs[0].config["method"] == "lora"
    assert at.selectbox(key="finetune.run").value == runs[0].id
    assert jobs.cancel_run(runs[0].id).state == "cancelled"


def test_a_bad_upload_is_a_clear_error():
    at = page_test("finetune").run()
    at.radio(key="finetune.source").set_value("Upload").run()
    at.file_uploader(key="finetune.upload").upload("pairs.jsonl", b'{"prompt": "a"}\n{"prompt": "b", "completion": "c"}\n').run()
    assert not at.exception
    assert "line 1: column 'completion' is missing" in at.error[0].value


def test_a_new_run_is_the_one_followed_even_when_older_runs_are_listed():
    at = page_test("finetune").run()
    at.button(key="finetune.start").click().run()
    first = jobs.list_runs()[0].id
    jobs.cancel_run(first)
    at = page_test("finetune").run()  # a new session whose Run picker already shows the older run
    assert at.selectbox(key="finetune.run").value == first
    at.button(key="finetune.start").click().run()
    newest = jobs.list_runs()[0].id
    assert newest != first and at.selectbox(key="finetune.run").value == newest
    jobs.cancel_run(newest)
