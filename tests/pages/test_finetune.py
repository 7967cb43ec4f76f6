"""AppTest: the Fine-tune runner page."""

from core import jobs
from tests.pages.helpers import page_test


def test_the_page_shows_the_estimate_and_the_command():
    at = page_test("finetune").run()
    assert not at.exception and not at.error
    [trainable] = [m for m in at.metric if m.label == "Trainable parameters"]
    assert trainable.value.endswith("K")  # LoRA: thousands, not millions
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


def test_the_data_preview_shows_the_rows_the_lengths_and_the_loss_mask_and_counts_long_rows():
    from core.data import load_bundled

    at = page_test("finetune").run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training rows"] == str(len(load_bundled("dialogsum").split("pool")))
    assert metrics["Over max_length"] == "0"
    assert any(e.label.startswith("Row 1 (dialogsum):") for e in at.expander)
    [tokens, *_] = [d.value for d in at.dataframe if "in loss" in d.value.columns]
    assert tokens["in loss"].any() and not tokens["in loss"].all()  # the completion counts, the prompt does not
    assert not at.button(key="finetune.start").disabled
    at.select_slider(key="finetune.max_length").set_value(64).run()  # rows over max_length: counted, start refused
    assert not at.exception
    over = int({m.label: m.value for m in at.metric}["Over max_length"])
    assert over > 0 and f"{over} of" in at.warning[0].value
    assert at.button(key="finetune.start").disabled


def test_a_mix_previews_every_source_and_goes_into_the_config():
    at = page_test("finetune").run()
    at.radio(key="finetune.source").set_value("Mix").run()
    assert not at.exception and not at.error
    assert "Rows by dataset: dialogsum 60, general_text 30, sentiment 30" in [c.value for c in at.caption]  # weights 2:1:1
    [preview] = [c.value for c in at.code if "method:" in c.value]
    assert "mix:" in preview and "general_text" in preview
    for name in ("dialogsum", "sentiment", "general_text"):
        at.number_input(key=f"finetune.mix.{name}").set_value(0.0)
    at.run()
    assert "at least one dataset a weight above 0" in at.error[0].value


def test_a_finished_lora_run_offers_both_downloads(tiny_wide_dir, lab_home, tmp_path):
    import json

    from tests.finetune.helpers import config_for, finished_run

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"prompt": f"Say {h}.", "completion": f" {h}"}) for h in range(12)))
    finished_run(lab_home, config_for(tiny_wide_dir, pairs, method="lora", max_steps=1), "20260101-000000-lora")
    at = page_test("finetune").run()
    assert not at.exception and not at.error
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Adapter only (zip)"]  # the merged zip is made by a background job first
    assert at.button(key="finetune.export.merge").label == "Prepare the merged model"
    assert any("Compare a finished run" in i.value for i in at.info)  # the forgetting table waits for a comparison

    from core import jobs
    from core.finetune.export import merge_job

    run = jobs.get_run("20260101-000000-lora")
    merge_job(jobs.RunContext(tmp_path, {"run": run.id}))  # what the job does, in this process
    at.run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[0].startswith("Merged model (zip, ") and labels[1] == "Adapter only (zip)"
