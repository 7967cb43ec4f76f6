"""Merge and export: the merged model answers as the adapter-on model does, and every zip loads with from_pretrained."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from core.finetune.export import export_adapter, export_merged, unpack
from tests.finetune.helpers import config_for, finished_run

ATOL = 1e-5  # float32: merging adds B·A·(alpha/r) to W once instead of on every forward pass


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": f"Summarize: the bank is open at {h}.", "completion": f" Open at {h}."})
                              for h in range(1, 13)))
    return path


def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def fresh_base(model_dir):
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def test_a_merged_lora_equals_the_adapter_on_model_and_both_zips_load(tiny_wide_dir, pairs_file, lab_home, tmp_path):
    run = finished_run(lab_home, config_for(tiny_wide_dir, pairs_file, method="lora"), "20260101-000000-lora")
    ids = torch.tensor([[1, 5, 9, 40, 77, 123, 200, 31]])
    adapter_on = PeftModel.from_pretrained(fresh_base(tiny_wide_dir), str(run.dir / "model")).eval()
    expected = logits_of(adapter_on, ids)
    assert not torch.allclose(expected, logits_of(fresh_base(tiny_wide_dir), ids), atol=1e-3), "the LoRA changed nothing"

    merged_dir = unpack(export_merged(run), tmp_path / "merged")
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer.json").is_file()
    assert not (merged_dir / "adapter_config.json").exists()  # a plain model, no PEFT needed
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert torch.allclose(logits_of(merged, ids), expected, atol=ATOL)

    adapter_dir = unpack(export_adapter(run), tmp_path / "adapter")
    assert sorted(p.name for p in adapter_dir.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    reloaded = PeftModel.from_pretrained(fresh_base(tiny_wide_dir), str(adapter_dir)).eval()
    assert torch.equal(logits_of(reloaded, ids), expected)


def test_a_second_export_reuses_the_zip_and_a_zip_is_one_folder(tiny_wide_dir, pairs_file, lab_home):
    run = finished_run(lab_home, config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=1), "20260101-000000-lora")
    first = export_adapter(run)
    assert export_adapter(run) == first and first.stat().st_mtime_ns == export_adapter(run).stat().st_mtime_ns
    with zipfile.ZipFile(first) as archive:
        assert {name.split("/")[0] for name in archive.namelist()} == {f"{run.id}-adapter"}
    assert not list(first.parent.glob(".*.tmp")), "no temporary file left behind"


def test_a_full_run_exports_its_model_as_it_is(tiny_wide_dir, pairs_file, lab_home, tmp_path):
    run = finished_run(lab_home, config_for(tiny_wide_dir, pairs_file, method="full", learning_rate=0.05), "20260101-000000-full")
    ids = torch.tensor([[1, 5, 9, 40, 77]])
    exported = AutoModelForCausalLM.from_pretrained(unpack(export_merged(run), tmp_path / "full")).eval()
    assert torch.equal(logits_of(exported, ids), logits_of(AutoModelForCausalLM.from_pretrained(run.dir / "model").eval(), ids))
    with pytest.raises(ValueError, match="full fine-tuning: it has no adapter"):
        export_adapter(run)


def test_exports_that_cannot_be_made_say_why(tiny_wide_dir, pairs_file, lab_home):
    from core import jobs

    run = finished_run(lab_home, config_for(tiny_wide_dir, pairs_file, method="prompt_tuning", max_steps=1),
                       "20260101-000000-prompt")
    with pytest.raises(ValueError, match="virtual tokens cannot be merged"):
        export_merged(run)
    assert export_adapter(run).is_file()  # the prompt-tuning adapter alone is fine
    (run.dir / "status.json").write_text(json.dumps({"state": "cancelled"}))
    with pytest.raises(ValueError, match="is cancelled: only a finished run can be exported"):
        export_merged(jobs.get_run(run.id))


def test_lab_export_writes_the_zip_and_refuses_a_bad_run(tiny_wide_dir, pairs_file, lab_home, tmp_path, capsys):
    from core.cli import main

    run = finished_run(lab_home, config_for(tiny_wide_dir, pairs_file, method="lora", max_steps=1), "20260101-000000-lora")
    capsys.readouterr()  # the trainer's own log lines
    assert main(["export", run.id, "--adapter", "--to", str(tmp_path / "mine.zip")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mine.zip")
    assert (unpack(tmp_path / "mine.zip", tmp_path / "out") / "adapter_config.json").is_file()
    assert main(["export", "no-such-run"]) == 2
    assert "No run called 'no-such-run'" in capsys.readouterr().err


def test_the_merge_runs_as_a_background_job_and_a_second_request_joins_it(tiny_wide_dir, pairs_file, lab_home, tmp_path):
    import time

    from core import jobs
    from core.finetune.export import MERGE_STAGES, merged_zip, start_merge

    run = finished_run(lab_home, config_for(tiny_wide_dir, pairs_file, method="lora"), "20260101-000000-lora")
    merge = start_merge(run)
    assert start_merge(run).id == merge.id  # a second click (or tab) while it runs does not start another
    deadline = time.time() + 120
    while not jobs.get_run(merge.id).finished and time.time() < deadline:
        time.sleep(0.5)
    merge = jobs.get_run(merge.id)
    assert merge.state == "done", merge.status
    assert [p["step"] for p in merge.progress()] == list(range(len(MERGE_STAGES) + 1))  # one report per stage, then done
    assert merge.status["result"]["zip"] == str(merged_zip(run)) and merged_zip(run).is_file()
    merged = AutoModelForCausalLM.from_pretrained(unpack(merged_zip(run), tmp_path / "job")).eval()
    adapter_on = PeftModel.from_pretrained(fresh_base(tiny_wide_dir), str(run.dir / "model")).eval()
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    assert torch.allclose(logits_of(merged, ids), logits_of(adapter_on, ids), atol=ATOL)
