"""core.jobs: runs as child processes that report, fail cleanly, cancel, resume and survive the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from core import jobs
from core.jobs import RunError

COUNT = "tests.job_fixtures:count"


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_reports_progress_and_its_result():
    run = jobs.wait_for(jobs.start_run(COUNT, {"steps": 5}).id, timeout=60)
    assert run.state == "done" and run.status["result"] == {"step": 5, "total": 15}
    assert [p["step"] for p in run.progress()] == [1, 2, 3, 4, 5]
    assert (run.dir / "config.yaml").read_text().startswith("target: tests.job_fixtures:count")


def test_a_failing_run_ends_failed_with_the_reason():
    run = jobs.wait_for(jobs.start_run(COUNT, {"steps": 5, "fail_at": 3}).id, timeout=60)
    assert run.state == "failed" and "ValueError: step 3 went wrong on purpose" in run.status["error"]
    assert "Traceback" in run.log_tail()


def test_cancel_stops_within_seconds_and_resume_finishes_the_same_sum():
    run = jobs.start_run(COUNT, {"steps": 200, "sleep": 0.05})
    wait_until(lambda: len(run.progress()) >= 3)
    started = time.monotonic()
    run = jobs.cancel_run(run.id)
    assert run.state == "cancelled" and time.monotonic() - started < 10
    stopped_at = run.progress()[-1]["step"]
    assert stopped_at < 200
    resumed = jobs.wait_for(jobs.resume_run(run.id).id, timeout=60)
    assert resumed.state == "done"
    assert resumed.status["result"] == {"step": 200, "total": sum(range(1, 201))}  # as if never interrupted
    assert [p["step"] for p in resumed.progress()] == list(range(1, 201))


def test_a_job_that_ignores_cancel_is_killed():
    run = jobs.start_run("tests.job_fixtures:stubborn", {})
    wait_until(lambda: jobs.get_run(run.id).state == "running")
    run = jobs.cancel_run(run.id, grace=1.0)
    assert run.state == "cancelled"
    assert not jobs._alive(run.status["pid"])


def test_a_killed_child_is_reported_as_failed():
    run = jobs.start_run(COUNT, {"steps": 1000, "sleep": 0.05})
    wait_until(lambda: jobs.get_run(run.id).state == "running")
    os.killpg(jobs.get_run(run.id).status["pid"], signal.SIGKILL)
    wait_until(lambda: jobs.get_run(run.id).state == "failed")
    assert "ended without reporting" in jobs.get_run(run.id).status["error"]


def test_runs_outlive_the_process_that_started_them(lab_home):
    # Another process (an app restart) finds the run and its news from the files alone.
    run = jobs.start_run(COUNT, {"steps": 3})
    code = (
        "from core import jobs; r = jobs.wait_for(%r, timeout=60); "
        "assert r.state == 'done' and r.status['result']['total'] == 6, r.status" % run.id
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "LAB_HOME": str(lab_home)})


def test_list_and_delete_runs():
    first = jobs.wait_for(jobs.start_run(COUNT, {"steps": 1}, name="first").id)
    running = jobs.start_run(COUNT, {"steps": 500, "sleep": 0.05}, name="second")
    assert [r.id for r in jobs.list_runs(COUNT)] == [running.id, first.id]
    with pytest.raises(RunError, match="cancel it before deleting"):
        jobs.delete_run(running.id)
    jobs.cancel_run(running.id)
    jobs.delete_run(first.id)
    assert [r.id for r in jobs.list_runs()] == [running.id]


def test_unknown_job_and_unknown_run_are_clear_errors():
    with pytest.raises(RunError, match="No job 'core.nothing:here'"):
        jobs.start_run("core.nothing:here", {})
    with pytest.raises(RunError, match="No run called 'nope'"):
        jobs.get_run("nope")


def test_a_done_run_cannot_be_resumed():
    run = jobs.wait_for(jobs.start_run(COUNT, {"steps": 1}).id)
    with pytest.raises(RunError, match="is done"):
        jobs.resume_run(run.id)


def test_a_full_disk_ends_the_run_failed_with_the_reason():
    run = jobs.wait_for(jobs.start_run("tests.job_fixtures:fills_the_disk", {}).id, timeout=60)
    assert run.state == "failed" and "File too large" in run.status["error"]
    assert jobs.list_runs()[0].id == run.id  # the run and its record are kept


@pytest.mark.parametrize("bad_id", ["../../outside", "../outside", "/tmp/outside", "a/../../outside", ".hidden", ""])
def test_run_ids_cannot_reach_outside_the_runs_folder(bad_id, tmp_path, lab_home):
    outside = lab_home.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "config.yaml").write_text("target: tests.job_fixtures:count\n")
    (outside / "status.json").write_text('{"state": "done"}')
    for action in (jobs.get_run, jobs.delete_run, jobs.resume_run, jobs.cancel_run):
        with pytest.raises(RunError, match="not a run id|points outside|No run"):
            action(bad_id)
    assert (outside / "config.yaml").exists()


def test_a_symlinked_run_folder_is_neither_listed_nor_deleted(lab_home):
    from core import models

    outside = lab_home.parent / "elsewhere"
    (outside / "model").mkdir(parents=True)
    (outside / "model" / "config.json").write_text("{}")
    (outside / "config.yaml").write_text("target: tests.job_fixtures:count\n")
    (outside / "status.json").write_text('{"state": "done"}')
    jobs.runs_dir().mkdir(parents=True, exist_ok=True)
    (jobs.runs_dir() / "20260101-000000-link").symlink_to(outside)
    assert jobs.list_runs() == [] and models.finetuned_runs() == []
    with pytest.raises(RunError, match="points outside"):
        jobs.delete_run("20260101-000000-link")
    with pytest.raises(models.ModelError, match="points outside"):
        models.resolve("run:20260101-000000-link")
    with pytest.raises(models.ModelError, match="not a run id"):
        models.resolve("run:../../elsewhere")
    assert (outside / "model" / "config.json").exists()


def test_a_run_name_with_separators_becomes_a_plain_folder_name():
    run = jobs.wait_for(jobs.start_run(COUNT, {"steps": 1}, name="lora-/tmp/my model").id, timeout=60)
    assert run.dir.parent == jobs.runs_dir() and run.id.endswith("-lora-tmp-my-model") and run.state == "done"


def test_two_runs_of_the_same_name_started_in_the_same_second_both_start(monkeypatch):
    monkeypatch.setattr(jobs.time, "strftime", lambda fmt: "20260101-000000-")  # the same second for both
    first, second = jobs.start_run(COUNT, {"steps": 1}, name="same"), jobs.start_run(COUNT, {"steps": 1}, name="same")
    assert (first.id, second.id) == ("20260101-000000-same", "20260101-000000-same-2")
    assert jobs.wait_for(first.id, 60).state == jobs.wait_for(second.id, 60).state == "done"
