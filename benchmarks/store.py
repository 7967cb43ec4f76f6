"""The labels store: what synchronous=FULL costs against NORMAL per save, a 30,000-record import, and people's
saves during that import. Prints figures measured in one run.

    .venv/bin/python benchmarks/store.py [--records 30000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fresh_home() -> None:
    from core import store

    os.environ["LAB_HOME"] = tempfile.mkdtemp(prefix="lab-store-bench-")
    store._engines.clear()


def seed(n: int) -> list[tuple[int, list[int]]]:
    from core import store

    prompt_ids = store.add_prompts([{"text": f"Prompt {i}"} for i in range(n)])
    out = []
    for p in prompt_ids:
        cid = store.add_comparison(p, [{"text": f"a {p}", "model": "m"}, {"text": f"b {p}", "model": "m"}])
        out.append((cid, [c["id"] for c in store.get_comparison(cid)["completions"]]))
    return out


def save_latency(mode: str, saves: int) -> float:
    from core import store
    from core.store import database

    database.SYNCHRONOUS = mode
    fresh_home()
    comparisons = seed(saves)
    times = []
    for i, (cid, ids) in enumerate(comparisons):
        started = time.perf_counter()
        store.save_ranking(cid, f"ann{i % 7}", [[ids[0]], [ids[1]]])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def records(n: int) -> list[dict]:
    return [{"prompt": f"Imported prompt {i % 5000}?", "category": "", "annotator": f"importer-{i // 5000}",
             "completions": [{"text": f"yes {i % 5000}"}, {"text": f"no {i % 5000}"}], "ranking": [[0], [1]]}
            for i in range(n)]


def import_under_load(n: int) -> None:
    from core import store
    from core.store import database

    database.SYNCHRONOUS = "FULL"
    fresh_home()
    comparisons = seed(20)
    started = time.perf_counter()
    done = {}
    importer = threading.Thread(target=lambda: done.update(n=store.import_rankings(records(n)), at=time.perf_counter()))
    importer.start()
    latencies, errors = [], []

    def annotate(who: int) -> None:
        for cid, ids in comparisons:
            t = time.perf_counter()
            try:
                store.save_ranking(cid, f"student-{who}", [[ids[1]], [ids[0]]])
                latencies.append(time.perf_counter() - t)
            except ValueError as err:
                errors.append(str(err))

    workers = [threading.Thread(target=annotate, args=(w,)) for w in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    importer.join()
    print(f"import of {n:,} records: {done['at'] - started:.1f} s ({n / (done['at'] - started):,.0f} records/s) "
          f"while 20 people saved 20 rankings each")
    print(f"their 400 saves: {len(errors)} failed; latency median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--saves", type=int, default=300)
    args = parser.parse_args()
    full, normal = save_latency("FULL", args.saves), save_latency("NORMAL", args.saves)
    print(f"one ranking saved, median of {args.saves}: synchronous=FULL {full:.2f} ms, NORMAL {normal:.2f} ms "
          f"(FULL/NORMAL = {full / normal:.2f})")
    import_under_load(args.records)


if __name__ == "__main__":
    main()
