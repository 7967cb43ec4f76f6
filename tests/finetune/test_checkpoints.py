"""A kill at any point of a save leaves a run that resumes to the end (core.checkpoints), for every job that
checkpoints, and cancel never kills a run in the middle of a save."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest

from core import checkpoints, jobs
from core.finetune import JOB
from tests.finetune.test_finetune import config_for, pairs_file  # noqa: F401 (fixture)


def finished_run(tiny_wide_dir, pairs_file, **overrides) -> jobs.Run:  # noqa: F811
    config = config_for(tiny_wide_dir, pairs_file, method="full", max_steps=4, save_steps=1, eval_steps=10, **overrides)
    run = jobs.wait_for(jobs.start_run(JOB, config.to_dict()).id, 180)
    assert run.state == "done", run.log_tail()
    return run


def kill_during_the_save_of_step_4(checkpoint: str, point: str) -> None:
    """Turn a complete checkpoint-4 into what a SIGKILL at ``point`` of its save leaves behind."""
    folder = checkpoints.Path(checkpoint)
    (folder / checkpoints.MARKER).unlink()
    if point == "folder just made":
        for path in folder.iterdir():
            path.unlink()
    elif point == "weights only":
        for path in folder.iterdir():
            if not path.name.startswith("model"):
                path.unlink()
    elif point == "before trainer_state.json":
        (folder / "trainer_state.json").unlink()
    elif point == "half of trainer_state.json":
        text = (folder / "trainer_state.json").read_text()
        (folder / "trainer_state.json").write_text(text[: len(text) // 2])


@pytest.mark.parametrize("point", ["folder just made", "weights only", "before trainer_state.json", "half of trainer_state.json"])
def test_a_kill_at_any_point_of_a_save_resumes_from_the_last_complete_checkpoint(point, tiny_wide_dir, pairs_file):  # noqa: F811
    run = finished_run(tiny_wide_dir, pairs_file)
    kill_during_the_save_of_step_4(str(run.dir / "checkpoints" / "checkpoint-4"), point)
    shutil.rmtree(run.dir / "model")
    jobs.write_json_atomic(run.dir / "status.json", {"state": "cancelled"})
    resumed = jobs.wait_for(jobs.resume_run(run.id).id, 180)
    assert resumed.state == "done", resumed.log_tail()
    assert resumed.status["result"]["steps"] == 4 and (resumed.dir / "model" / "model.safetensors").is_file()
    [event] = [p for p in resumed.progress() if p.get("event") == "resume"]
    assert event["checkpoint"] == "checkpoint-3" and event["skipped"] == ["checkpoint-4"]


def test_a_real_kill_9_as_a_checkpoint_appears_then_resume_finishes(tiny_wide_dir, pairs_file):  # noqa: F811
    config = config_for(tiny_wide_dir, pairs_file, method="full", max_steps=12, save_steps=1, eval_steps=100)
    run = jobs.start_run(JOB, config.to_dict())
    target = run.dir / "checkpoints" / "checkpoint-3"
    deadline = time.monotonic() + 120
    while not target.exists():
        assert time.monotonic() < deadline and not jobs.get_run(run.id).finished, jobs.get_run(run.id).log_tail()
        time.sleep(0.005)
    os.killpg(jobs.get_run(run.id).status["pid"], signal.SIGKILL)  # within milliseconds of the folder appearing
    time.sleep(0.3)
    assert jobs.get_run(run.id).state == "failed"  # the process vanished without reporting
    resumed = jobs.wait_for(jobs.resume_run(run.id).id, 180)
    assert resumed.state == "done", resumed.log_tail()
    assert resumed.status["result"]["steps"] == 12


def test_checkpoints_saved_before_markers_existed_still_count(tmp_path):
    folder = tmp_path / "checkpoint-20"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 20}))
    assert checkpoints.is_complete(folder)
    (folder / "trainer_state.json").write_text('{"global_step": 2')
    assert not checkpoints.is_complete(folder)


def test_cancel_waits_for_a_save_instead_of_killing_it():
    run = jobs.start_run("tests.job_fixtures:slow_save", {"save_seconds": 3.0})
    deadline = time.monotonic() + 30
    while not (run.dir / checkpoints.SAVING_FLAG).exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    cancelled = jobs.cancel_run(run.id, grace=0.5)
    assert time.monotonic() - started >= 2.0  # it waited past the grace period for the save
    assert (run.dir / "saved.ok").read_text() == "whole" and cancelled.finished
