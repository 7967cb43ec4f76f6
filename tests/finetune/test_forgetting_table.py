"""The forgetting meter across runs: each compared run keeps its figures, the table sets the remedies side by side."""

from __future__ import annotations

import json

import pytest
import yaml

from core import jobs
from core.finetune import JOB
from core.finetune.report import Comparison, compare, forgetting_table, save_forgetting


def a_run(lab_home, run_id: str, **config) -> jobs.Run:
    folder = lab_home / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"target": JOB, "dataset": "dialogsum", **config}))
    (folder / "status.json").write_text(json.dumps({"state": "done"}))
    return jobs.get_run(run_id)


def figures(loss_base: float, loss_tuned: float, acc_base: float, acc_tuned: float) -> Comparison:
    return Comparison([], {"general-text loss": {"base": loss_base, "tuned": loss_tuned},
                           "sentiment accuracy (0-shot)": {"base": acc_base, "tuned": acc_tuned}}, {"n_texts": 20, "n_reviews": 40})


def test_compared_runs_appear_side_by_side_with_their_remedy(lab_home):
    mix = [{"dataset": "dialogsum", "weight": 2.0}, {"dataset": "sentiment", "weight": 1.0}, {"dataset": "general_text", "weight": 1.0}]
    full = a_run(lab_home, "20260101-000001-full", method="full")
    multi = a_run(lab_home, "20260101-000002-full-mix", method="full", mix=mix)
    lora = a_run(lab_home, "20260101-000003-lora", method="lora")
    a_run(lab_home, "20260101-000004-lora", method="lora")  # never compared: not in the table
    save_forgetting(full.dir, figures(2.50, 3.25, 0.80, 0.55))
    save_forgetting(multi.dir, figures(2.50, 2.75, 0.80, 0.85))
    save_forgetting(lora.dir, figures(2.50, 2.50, 0.80, 0.80))
    rows = {r["run"]: r for r in forgetting_table(jobs.list_runs(JOB))}
    assert set(rows) == {full.id, multi.id, lora.id}
    assert [rows[r.id]["remedy"] for r in (full, multi, lora)] == [
        "full fine-tuning, single-task", "full fine-tuning, multi-task", "LoRA, single-task"]
    assert rows[multi.id]["data"] == "dialogsum ×2 + sentiment ×1 + general_text ×1"
    assert rows[full.id]["data"] == "dialogsum"
    assert [rows[r.id]["loss change"] for r in (full, multi, lora)] == [0.75, 0.25, 0.0]  # 3.25 - 2.50, ...
    assert [rows[r.id]["accuracy change"] for r in (full, multi, lora)] == pytest.approx([-0.25, 0.05, 0.0])
    assert rows[full.id]["texts"] == 20 and rows[full.id]["reviews"] == 40


def test_the_forgetting_chart_has_a_bar_per_run_in_each_panel(lab_home):
    from core.ui.finetune import forgetting_chart

    run = a_run(lab_home, "20260101-000001-full", method="full")
    save_forgetting(run.dir, figures(2.0, 2.5, 0.9, 0.7))
    fig = forgetting_chart(forgetting_table([run]))
    loss, accuracy = fig.data
    assert list(loss.y) == [0.5] and list(accuracy.y) == pytest.approx([-0.2])


def test_the_probe_is_only_the_paragraphs_no_mix_uses(tiny_loaded):
    with pytest.raises(ValueError, match="n_texts must be 1 to 30"):
        compare(tiny_loaded, tiny_loaded, n_examples=1, n_texts=31, n_reviews=2)
