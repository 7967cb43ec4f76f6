"""Long work as child processes: start, follow, cancel, resume, list and delete runs.

A run is a folder ``$LAB_HOME/runs/<id>/`` holding ``config.yaml`` (what to run: a ``target`` "module:function" and
its settings), ``status.json`` (queued, running, done, failed with the error, cancelled; written atomically),
``progress.jsonl`` (one JSON object per progress report), ``log.txt`` (the child's output), and whatever the job
writes (checkpoints, final artefacts). The child is ``python -m core.jobs run DIR``, started with an argument list in
its own process session, so a run survives a page reload or an app restart and a crash in it never takes the app down.

A job is a function ``job(ctx: RunContext) -> dict | None``: it reads ``ctx.config``, reports with ``ctx.progress(...)``,
checks ``ctx.should_stop()`` between steps, saves checkpoints under ``ctx.checkpoints`` and, when ``ctx.resume`` is
True, continues from the last one. What it returns is stored in status.json as ``result``.

A run records its owner (the acting user, ``core.classroom.accounts``); cancelling, resuming and deleting take the
acting user and refuse another student's run. The child waits its turn in the fair queue (``core.classroom.queue``)
before its job starts: a run is "queued" until then.

Does not hold: what the jobs do (``core.finetune.train`` and friends) or any UI.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from core.checkpoints import SAVING_FLAG
from core.classroom import queue
from core.classroom.accounts import Actor, acting, check_owner, set_process_actor
from core.files import disk_full_guard, read_jsonl_rows, write_json_atomic
from core.paths import RUN_ID, ensure_dir, runs_dir, safe_name
from core.paths import run_dir as _run_dir

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
CANCEL_FLAG = "cancel"
# Jobs that moved when core/ was laid out by lifecycle stage: runs recorded under the old names still list, resume
# and load. Map an old name here whenever a job moves.
RENAMED_TARGETS = {
    "core.finetune:train_job": "core.finetune.train:train_job",
    "core.evaluation:eval_job": "core.evaluation.runner:eval_job",
    "core.preferences:generate_job": "core.rlhf.preferences:generate_job",
    "core.rlhf:train_reward_job": "core.rlhf.reward:train_reward_job",
}


class RunError(ValueError):
    """A run cannot be started, found, resumed or deleted; the message says why."""


# ---------------------------------------------------------------- files of a run


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run's config.yaml, with a job recorded under its old name given its current one."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    if config.get("target") in RENAMED_TARGETS:
        config["target"] = RENAMED_TARGETS[config["target"]]
    return config


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


@dataclass
class Run:
    """A run's folder and what its files say (a snapshot: call ``refresh()`` for news)."""

    id: str
    dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return self.status.get("state", "queued")

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def owner(self) -> str | None:
        return self.status.get("owner")

    def refresh(self) -> "Run":
        self.config = read_config(self.dir)
        self.status = read_json(self.dir / "status.json")
        launched = read_json(self.dir / "launch.json").get("pid")
        pid = self.status.get("pid") if self.state == "running" else launched if self.state == "queued" else None
        if self.state in ("running", "queued") and pid is not None and not _alive(pid):
            # The child vanished without writing its ending (killed, out of memory, machine restarted)...
            time.sleep(0.05)
            self.status = read_json(self.dir / "status.json")  # ...unless it wrote it just now
            if self.state in ("running", "queued"):
                if (self.dir / CANCEL_FLAG).exists():  # killed because it did not stop when asked
                    self.status = {**self.status, "state": "cancelled", "ended": time.time()}
                else:
                    self.status = {**self.status, "state": "failed",
                                   "error": "The run's process ended without reporting its end (killed?); see log.txt."}
                write_json_atomic(self.dir / "status.json", self.status)
        return self

    def progress(self) -> list[dict[str, Any]]:
        """Every progress report so far (a line being written at this moment is skipped)."""
        return read_jsonl_rows(self.dir / "progress.jsonl")

    def log_tail(self, lines: int = 40) -> str:
        path = self.dir / "log.txt"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by the app that started it) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ---------------------------------------------------------------- the app's side


def start_run(target: str, config: dict[str, Any], name: str | None = None, actor: Actor | None = None) -> Run:
    """Create the run folder and start the child, owned by the acting user. ``target`` is "module:function" of the job.
    A student with a run already waiting, or a full queue, gets a RunError."""
    _resolve(target)  # fail here, in the app, if the job does not exist
    owner = acting(actor)
    queue.check_can_queue(owner)
    base = time.strftime("%Y%m%d-%H%M%S-") + (safe_name(name) if name else uuid.uuid4().hex[:6])
    for attempt in range(1, 100):  # two runs of the same name started within one second get -2, -3...
        run_id = base if attempt == 1 else f"{base}-{attempt}"
        run_dir = ensure_dir(runs_dir()) / run_id
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise RunError(f"Too many runs called {base!r} in one second.")
    try:
        with disk_full_guard(f"run {run_id}"):
            (run_dir / "config.yaml").write_text(yaml.safe_dump({"target": target, **config}, sort_keys=False))
            write_json_atomic(run_dir / "status.json", {"state": "queued", "created": time.time(), "owner": owner.name})
    except Exception:
        shutil.rmtree(run_dir, ignore_errors=True)  # no half-made run in the list
        raise
    return _launch(Run(run_id, run_dir), resume=False)


def _launch(run: Run, resume: bool) -> Run:
    # Only the child writes "running" (with its pid) and the ending; the app writes "queued" before the start, so
    # the two never overwrite each other's news.
    (run.dir / CANCEL_FLAG).unlink(missing_ok=True)
    (run.dir / queue.QUEUE_FILE).unlink(missing_ok=True)
    status = read_json(run.dir / "status.json")
    write_json_atomic(run.dir / "status.json", {**status, "state": "queued", "queued": time.time()})
    args = [sys.executable, "-m", "core.jobs", "run", str(run.dir)] + (["--resume"] if resume else [])
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    with open(run.dir / "log.txt", "ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=root, env=env)
    write_json_atomic(run.dir / "launch.json", {"pid": process.pid, "time": time.time()})
    return run.refresh()


def get_run(run_id: str) -> Run:
    """A run by id. Ids are plain folder names inside the runs folder: anything else is a RunError."""
    try:
        run_dir = _run_dir(run_id)
    except ValueError as err:
        raise RunError(str(err)) from None
    if not (run_dir / "config.yaml").is_file():
        raise RunError(f"No run called {run_id!r} in {runs_dir()}.")
    return Run(run_id, run_dir).refresh()


def list_runs(target: str | None = None) -> list[Run]:
    """All runs, newest first (optionally only those of one job)."""
    if not runs_dir().is_dir():
        return []
    runs = []
    for run_dir in sorted(runs_dir().iterdir(), reverse=True):
        if run_dir.is_symlink() or not RUN_ID.match(run_dir.name):
            continue  # a run folder is a plain folder made by start_run; a link may point anywhere
        if (run_dir / "config.yaml").is_file():
            run = Run(run_dir.name, run_dir).refresh()
            if target is None or run.config.get("target") == target:
                runs.append(run)
    return runs


def active_runs(target: str) -> list[Run]:
    """The runs of one job that are still queued or running, newest first (what a page follows after a reload)."""
    return [run for run in list_runs(target) if not run.finished]


def cancel_run(run_id: str, grace: float = 8.0, save_grace: float = 300.0, actor: Actor | None = None) -> Run:
    """Ask the run to stop (it finishes its step and keeps its last checkpoint); kill it after ``grace`` seconds, but
    never in the middle of a save: while the run shows its saving flag, wait up to ``save_grace`` seconds more.
    A waiting run leaves the queue. Only its owner or the teacher may cancel it."""
    run = get_run(run_id)
    check_owner(actor, run.owner, f"Run {run_id!r}")
    if run.finished:
        return run
    (run.dir / CANCEL_FLAG).touch()
    pid = run.status.get("pid") or read_json(run.dir / "launch.json").get("pid")
    if _alive(pid):
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        saving_until = time.monotonic() + save_grace
        while _alive(pid) and (run.dir / SAVING_FLAG).exists() and time.monotonic() < saving_until:
            time.sleep(0.1)  # a SIGKILL now would leave a half-written checkpoint or model
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
    return run.refresh()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own session: this reaches its own children too
    except (ProcessLookupError, PermissionError):
        pass


def resume_run(run_id: str, actor: Actor | None = None) -> Run:
    """Start a cancelled or failed run again (it queues like a new one); the job continues from its last checkpoint."""
    run = get_run(run_id)
    queue.check_can_queue(check_owner(actor, run.owner, f"Run {run_id!r}"))
    if not run.finished:
        raise RunError(f"Run {run_id!r} is still {run.state}.")
    if run.state == "done":
        raise RunError(f"Run {run_id!r} is done; start a new run instead.")
    return _launch(run, resume=True)


def delete_run(run_id: str, actor: Actor | None = None) -> None:
    run = get_run(run_id)
    check_owner(actor, run.owner, f"Run {run_id!r}")
    if not run.finished:
        raise RunError(f"Run {run_id!r} is {run.state}; cancel it before deleting it.")
    shutil.rmtree(run.dir)


def wait_for(run_id: str, timeout: float = 600, poll: float = 0.2) -> Run:
    """Block until the run finishes (for the CLI and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        run = get_run(run_id)
        if run.finished or time.monotonic() > deadline:
            return run
        time.sleep(poll)


# ---------------------------------------------------------------- the child's side


@dataclass
class RunContext:
    """What a job gets: its settings, a way to report, a way to hear that it must stop, and where to save."""

    dir: Path
    config: dict[str, Any]
    resume: bool = False
    _stop_requested: bool = False

    @property
    def checkpoints(self) -> Path:
        return ensure_dir(self.dir / "checkpoints")

    def progress(self, **fields: Any) -> None:
        with open(self.dir / "progress.jsonl", "a") as out:
            out.write(json.dumps({"time": time.time(), **fields}, default=float) + "\n")

    def should_stop(self) -> bool:
        return self._stop_requested or (self.dir / CANCEL_FLAG).exists()


def _resolve(target: str) -> Callable[[RunContext], Any]:
    module_name, _, function_name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError, ValueError) as err:
        raise RunError(f"No job {target!r}: {err}") from err


def run_child(run_dir: Path, resume: bool = False) -> int:
    """The child process: run the job and record how it ended. Returns the exit status."""
    status_path = run_dir / "status.json"
    config = read_config(run_dir)
    ctx = RunContext(run_dir, config, resume=resume)

    def on_sigterm(signum: int, frame: Any) -> None:
        ctx._stop_requested = True  # finish the current step, save, and return

    signal.signal(signal.SIGTERM, on_sigterm)
    # The job acts for the run's owner: what it may touch was checked when the run was started.
    set_process_actor(Actor(read_json(status_path).get("owner") or "local", "teacher"))
    status: dict[str, Any] = {}

    def start() -> None:  # called inside the queue's lock: the next waiting run sees this one running
        status.update({**read_json(status_path), "state": "running", "pid": os.getpid(), "started": time.time()})
        status.pop("error", None)
        write_json_atomic(status_path, status)

    if not queue.wait_for_turn(run_dir, ctx.should_stop, start):
        write_json_atomic(status_path, {**read_json(status_path), "state": "cancelled", "ended": time.time()})
        return 0
    try:
        result = _resolve(config["target"])(ctx)
    except Exception as err:  # noqa: BLE001 - any failure of the job becomes its status, with the reason
        traceback.print_exc()
        write_json_atomic(status_path, {**status, "state": "failed", "error": f"{type(err).__name__}: {err}", "ended": time.time()})
        return 1
    state = "cancelled" if ctx.should_stop() else "done"
    write_json_atomic(status_path, {**status, "state": state, "result": result, "ended": time.time()})
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the job of a run folder (what the app starts in a child process)")
    p.add_argument("dir", type=Path)
    p.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    return run_child(args.dir, resume=args.resume)


if __name__ == "__main__":
    raise SystemExit(main())
