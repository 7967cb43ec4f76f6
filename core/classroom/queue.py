"""The fair run queue: at most N runs at once, the rest waiting first-come, one waiting run per student.

Every run's child process waits for its turn before it starts its job (``wait_for_turn``, called by
``core.jobs.run_child``): under a file lock it counts the running runs and starts only when fewer than
``max_running()`` run and it is first among the waiting ones. So the queue needs no scheduler process and survives an
app restart: the waiting children are the queue. Order is the time a run was queued, unless the teacher moved it
(``move_run`` writes ``queue.json`` with an order key in the run's folder). ``check_can_queue`` refuses a second
waiting run of the same student, and any run once ``MAX_WAITING`` are waiting.

Does not hold: starting, cancelling or listing runs (``core.jobs``) or accounts (``core.classroom.accounts``).
"""

from __future__ import annotations

import fcntl
import os
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from core.classroom.accounts import Actor, acting, check_teacher
from core.files import write_json_atomic
from core.paths import ensure_dir, runs_dir

if TYPE_CHECKING:
    from core.jobs import Run

MAX_WAITING = 60
POLL_S = 0.5
QUEUE_FILE = "queue.json"


def max_running() -> int:
    """How many runs may run at once: ``LAB_MAX_RUNS``, else one per core (one training and one light run on 2)."""
    value = os.environ.get("LAB_MAX_RUNS", "")
    return max(1, int(value)) if value.isdigit() else max(1, os.cpu_count() or 1)


@contextmanager
def _queue_lock() -> Iterator[None]:
    with open(ensure_dir(runs_dir()) / ".queue.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _order(run: "Run") -> float:
    from core.jobs import read_json

    moved = read_json(run.dir / QUEUE_FILE).get("order")
    return float(moved) if moved is not None else float(run.status.get("queued") or run.status.get("created") or 0)


def waiting_runs() -> list["Run"]:
    """The runs waiting for a slot, in the order they will start."""
    from core.jobs import list_runs

    return sorted((run for run in list_runs() if run.state == "queued"), key=lambda run: (_order(run), run.id))


def running_runs() -> list["Run"]:
    from core.jobs import list_runs

    return [run for run in list_runs() if run.state == "running"]


def check_can_queue(owner: Actor) -> None:
    """Before a run is started: refuse a student's second waiting run, and any run when the queue is full."""
    from core.jobs import RunError

    waiting = waiting_runs()
    if len(waiting) >= MAX_WAITING:
        raise RunError(f"The run queue is full ({len(waiting)} runs waiting); try again when some have started.")
    if owner.is_teacher:
        return
    mine = [run for run in waiting if run.owner == owner.name]
    if mine and len(running_runs()) + len(waiting) >= max_running():
        raise RunError(f"You already have a run waiting in the queue ({mine[0].id}); cancel it or wait until it "
                       "starts before you queue another.")


def wait_for_turn(run_dir: Path, should_stop: Callable[[], bool], start: Callable[[], None]) -> bool:
    """In the run's child: wait until fewer than max_running() runs run and this one is first in the queue, then call
    ``start`` (which records "running") inside the lock. False when the run was cancelled while it waited."""
    while True:
        if should_stop():
            return False
        with _queue_lock():
            waiting = waiting_runs()
            if len(running_runs()) < max_running() and waiting and waiting[0].dir == run_dir:
                start()
                return True
        time.sleep(POLL_S)


def place(run: "Run") -> tuple[int, int] | None:
    """A waiting run's place in the queue (1-based) and the queue's length; None once it runs."""
    waiting = [r.id for r in waiting_runs()]
    return (waiting.index(run.id) + 1, len(waiting)) if run.id in waiting else None


def estimated_start_s(run: "Run") -> float | None:
    """Seconds until a waiting run is likely to start: the runs ahead of it, in slots of max_running(), each as long
    as the median finished run of the last 20 (what is left of the running ones counted as half). None with no
    finished run to go by."""
    from core.jobs import list_runs

    where = place(run)
    if where is None:
        return None
    durations = [r.status["ended"] - r.status["started"] for r in list_runs()
                 if r.state == "done" and "started" in r.status and "ended" in r.status][:20]
    if not durations:
        return None
    typical = statistics.median(durations)
    rounds = (where[0] - 1) // max_running()
    return typical * (rounds + 0.5)


def move_run(run_id: str, to_front: bool, actor: Actor | None = None) -> None:
    """The teacher moves a waiting run to the front (or the back) of the queue."""
    from core.jobs import RunError, get_run

    check_teacher(actor, "move runs in the queue")
    with _queue_lock():
        run = get_run(run_id)
        others = [_order(r) for r in waiting_runs() if r.id != run_id]
        if run.state != "queued":
            raise RunError(f"Run {run_id!r} is {run.state}, not waiting: only a waiting run can move.")
        order = (min(others) - 1 if to_front else max(others) + 1) if others else time.time()
        write_json_atomic(run.dir / QUEUE_FILE, {"order": order, "by": acting(actor).name})
