"""core.classroom.queue through core.jobs: never more than N runs at once, first come first served, one waiting run
per student, the teacher moves runs, a waiting run cancels cleanly, and the queue outlives the process that filled it."""

from __future__ import annotations

import time

import pytest

from core import jobs
from core.classroom import accounts, queue
from core.classroom.accounts import Actor
from core.jobs import RunError

ALICE, BOB, CAROL = (Actor(name, "student") for name in ("alice", "bob", "carol"))
TEACHER = Actor("teacher", "teacher")
STUBBORN = "tests.job_fixtures:stubborn"


@pytest.fixture(autouse=True)
def one_slot(monkeypatch) -> None:
    monkeypatch.setenv("LAB_MAX_RUNS", "1")  # the children read it too: they inherit the environment
    accounts.init_class("teacher", "correct horse")


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def states(runs: list[jobs.Run]) -> list[str]:
    return [jobs.get_run(r.id).state for r in runs]


def test_one_slot_runs_one_at_a_time_in_order_and_one_waiting_run_per_student():
    first = jobs.start_run(STUBBORN, {}, actor=ALICE)
    wait_until(lambda: jobs.get_run(first.id).state == "running")
    second = jobs.start_run(STUBBORN, {}, actor=BOB)
    with pytest.raises(RunError, match="You already have a run waiting"):
        jobs.start_run(STUBBORN, {}, actor=BOB)
    third = jobs.start_run(STUBBORN, {}, actor=CAROL)
    time.sleep(1.5)  # several of the children's polls
    assert states([first, second, third]) == ["running", "queued", "queued"]
    assert queue.place(jobs.get_run(third.id)) == (2, 2)
    jobs.cancel_run(first.id, grace=0.5, actor=ALICE)
    wait_until(lambda: jobs.get_run(second.id).state == "running")
    assert states([third]) == ["queued"]  # still one at a time
    jobs.cancel_run(second.id, grace=0.5, actor=TEACHER)
    wait_until(lambda: jobs.get_run(third.id).state == "running")
    jobs.cancel_run(third.id, grace=0.5, actor=CAROL)


def test_the_teacher_moves_a_run_to_the_front_and_a_waiting_run_cancels_without_starting():
    running = jobs.start_run(STUBBORN, {}, actor=TEACHER)
    wait_until(lambda: jobs.get_run(running.id).state == "running")
    early = jobs.start_run(STUBBORN, {}, actor=ALICE)
    late = jobs.start_run(STUBBORN, {}, actor=BOB)
    wait_until(lambda: queue.place(jobs.get_run(late.id)) == (2, 2))
    with pytest.raises(accounts.OwnershipError, match="Only the teacher can move runs"):
        queue.move_run(late.id, to_front=True, actor=BOB)
    queue.move_run(late.id, to_front=True, actor=TEACHER)
    assert [r.id for r in queue.waiting_runs()] == [late.id, early.id]
    cancelled = jobs.cancel_run(early.id, actor=ALICE)
    assert cancelled.state == "cancelled" and "started" not in cancelled.status  # its job never ran
    jobs.cancel_run(running.id, grace=0.5, actor=TEACHER)
    wait_until(lambda: jobs.get_run(late.id).state == "running")
    jobs.cancel_run(late.id, grace=0.5, actor=TEACHER)


def test_a_full_queue_refuses_a_new_run_with_the_reason(monkeypatch):
    monkeypatch.setattr(queue, "MAX_WAITING", 1)
    running = jobs.start_run(STUBBORN, {}, actor=TEACHER)
    wait_until(lambda: jobs.get_run(running.id).state == "running")
    waiting = jobs.start_run(STUBBORN, {}, actor=ALICE)
    with pytest.raises(RunError, match=r"The run queue is full \(1 runs waiting\)"):
        jobs.start_run(STUBBORN, {}, actor=BOB)
    for run in (waiting, running):
        jobs.cancel_run(run.id, grace=0.5, actor=TEACHER)
