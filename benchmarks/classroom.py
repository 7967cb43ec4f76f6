"""A class of thirty on one lab: shared generation, thirty annotators saving at once, a kill -9 in the middle, and a
thousand browser sessions opened and closed. Prints figures measured in one run.

    .venv/bin/python benchmarks/classroom.py generation [--tokens 48]
    .venv/bin/python benchmarks/classroom.py labels [--students 30] [--seconds 60] [--db URL]
    .venv/bin/python benchmarks/classroom.py kill [--students 30] [--db URL]
    .venv/bin/python benchmarks/classroom.py sessions [--sessions 1000] [--db URL]

``generation``: total tokens/s of 1, 5 and 10 people generating at once from the bundled SmolLM2, each in its own
thread: every one running its own decode loop (the Generate page before issue 21) against the shared worker that
batches them (``core.sampling.shared``). ``labels``: N student processes sign in and rank comparisons through core
for a while; every saved ranking must be in the database exactly once; save latency p50/p95. ``kill``: the same,
with every process killed -9 in the middle: every ranking a student was told was saved must be there afterwards.
``sessions``: the app's server, and N sessions that each connect to its websocket, run the home page and leave; the
server's memory every 100 sessions. ``--db`` takes a PostgreSQL URL (``postgresql+psycopg://...``) instead of SQLite.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generation(tokens: int, counts: tuple[int, ...] = (1, 5, 10)) -> None:
    from core.models import load_model
    from core.sampling import SamplingSettings, encode_prompt, stream_generate
    from core.sampling.shared import BatchServer

    loaded = load_model("smollm2-135m-instruct")
    greedy = SamplingSettings(temperature=0, do_sample=False)
    prompts = [encode_prompt(loaded, f"Write a short note, number {i}, about the sea.", chat=True) for i in range(max(counts))]
    for _ in stream_generate(loaded, prompts[0], greedy, 4):
        pass  # warm-up
    print("| people generating at once | own loop each: total tok/s | shared worker: total tok/s | ratio | batches |")
    print("|---:|---:|---:|---:|---|")
    for n in counts:
        def own(i: int) -> int:
            return sum(1 for _ in stream_generate(loaded, prompts[i], greedy, tokens, stop_at_eos=False))

        started = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            separate = sum(pool.map(own, range(n))) / (time.perf_counter() - started)
        server = BatchServer(loaded)

        def shared(i: int, server: BatchServer = server) -> int:
            return sum(1 for _ in server.submit(prompts[i], greedy, tokens, stop_at_eos=False))

        started = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            together = sum(pool.map(shared, range(n))) / (time.perf_counter() - started)
        print(f"| {n} | {separate:.1f} | {together:.1f} | {together / separate:.2f} | {server.batches} |", flush=True)


# ---------------------------------------------------------------- annotators


def _environment(home: str, db: str | None) -> None:
    os.environ["LAB_HOME"] = home
    if db:
        os.environ["LAB_DB_URL"] = db


def _seed(comparisons: int) -> None:
    from core import store

    for prompt_id in store.add_prompts([{"text": f"Prompt {i}: say something kind."} for i in range(comparisons)]):
        store.add_comparison(prompt_id, [{"text": f"{w} {prompt_id}", "model": "m", "settings": {}} for w in ("yes", "no", "maybe")])


def _student(home: str, db: str | None, name: str, seconds: float, log: str) -> list[float]:
    """One annotator: rank comparisons through core until time is up; each save is logged (and fsynced) only once
    save_ranking has returned, as the page shows "saved" only then."""
    _environment(home, db)
    from core import store
    from core.classroom.accounts import Actor

    actor, latencies, skipped = Actor(name, "student"), [], set()
    deadline = time.monotonic() + seconds
    with open(log, "a") as out:
        while time.monotonic() < deadline:
            comparison = store.next_comparison(name, exclude=skipped)
            if comparison is None:
                break
            ids = [c["id"] for c in comparison["completions"]]
            started = time.perf_counter()
            store.save_ranking(comparison["id"], name, [[ids[0]], ids[1:]], actor=actor)
            latencies.append(time.perf_counter() - started)
            skipped.add(comparison["id"])
            out.write(f"{comparison['id']}\n")
            out.flush()
            os.fsync(out.fileno())
    return latencies


def _fresh(db: str | None) -> tuple[str, str | None]:
    home = tempfile.mkdtemp(prefix="lab-class-bench-")
    if db and db.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        name = f"lab_bench_{os.getpid()}"
        admin = create_engine(db, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        db = db.rsplit("/", 1)[0] + f"/{name}"
    return home, db


def _check(home: str, db: str | None, logs: list[Path]) -> tuple[int, int, int]:
    """(rankings in the database, rankings the students were told were saved, of those missing)."""
    _environment(home, db)
    from core import store

    stored = {(r["comparison_id"], r["annotator"]) for r in store.list_rankings()}
    told = {(int(line), log.stem) for log in logs if log.exists() for line in log.read_text().split()}
    return len(stored), len(told), len(told - stored)


def labels(students: int, seconds: float, db: str | None, kill_after: float | None = None) -> None:
    home, db = _fresh(db)
    _environment(home, db)
    _seed(max(200, students * 20))
    logs = [Path(home) / f"student{i:02d}.log" for i in range(students)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(students) as pool:
        jobs = [pool.apply_async(_student, (home, db, log.stem, seconds, str(log))) for log in logs]
        if kill_after is not None:
            time.sleep(kill_after)
            for process in pool._pool:  # kill -9 in the middle of saving
                os.kill(process.pid, signal.SIGKILL)
            pool.terminate()
            latencies = []
        else:
            latencies = [x for job in jobs for x in job.get(timeout=seconds + 120)]
    stored, told, missing = _check(home, db, logs)
    where = "PostgreSQL" if db and db.startswith("postgresql") else "SQLite"
    if kill_after is None:
        p50, p95 = statistics.median(latencies) * 1000, statistics.quantiles(latencies, n=20)[-1] * 1000
        print(f"{where}: {students} students for {seconds:.0f} s saved {told} rankings ({told / seconds:.1f}/s); in the "
              f"database: {stored}; missing: {missing}; save p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    else:
        print(f"{where}: {students} students killed -9 after {kill_after:.0f} s: {told} rankings shown as saved, "
              f"{stored} in the database, missing: {missing}")


# ---------------------------------------------------------------- browser sessions


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _one_session(port: int) -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], open_timeout=30) as ws:
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_name = ""
        ws.send(message.SerializeToString())
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(ws.recv(timeout=60))
            if forward.WhichOneof("type") == "script_finished":
                return


def sessions(count: int, db: str | None, port: int = 8765) -> None:
    home, db = _fresh(db)
    env = {**os.environ, "LAB_HOME": home, **({"LAB_DB_URL": db} if db else {})}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                _one_session(port)
                break
            except OSError:
                time.sleep(0.5)
        print(f"sessions | server RSS (MiB)\n0 | {_rss_mib(server.pid):.0f}")
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            for done in range(100, count + 1, 100):
                list(pool.map(lambda _: _one_session(port), range(100)))
                time.sleep(1.0)
                print(f"{done} | {_rss_mib(server.pid):.0f}", flush=True)
        where = "PostgreSQL" if db and db.startswith("postgresql") else "SQLite"
        print(f"{count} sessions in {time.perf_counter() - started:.0f} s ({where})")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["generation", "labels", "kill", "sessions"])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--db", help="a PostgreSQL URL; SQLite under a fresh LAB_HOME without it")
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.part == "generation":
        generation(args.tokens)
    elif args.part == "labels":
        labels(args.students, args.seconds, args.db)
    elif args.part == "kill":
        labels(args.students, args.seconds, args.db, kill_after=args.seconds / 2)
    else:
        sessions(args.sessions, args.db)


if __name__ == "__main__":
    main()
