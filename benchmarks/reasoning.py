"""Benchmark the Reasoning & tools stage: the sandbox's overhead, and each method's accuracy on both bundled models.

    .venv/bin/python benchmarks/reasoning.py [--limit N] [--expensive-limit N] [--k 5] [--save assets/measured/reasoning.json]

- sandbox: wall time per run of a trivial program (``print(1)``) through the full path (launcher, limits, namespaces,
  Landlock, Monty), median of 30, beside a bare ``python -c pass`` child. Goal: at most 150 ms.
- accuracy on the test splits, each with its binomial standard error: arithmetic (60 problems) by direct, zero-shot
  CoT, few-shot CoT and PAL on all of them, and self-consistency (k chains) and ReAct on the first
  ``--expensive-limit`` (they cost k or up to 6 completions a problem); two-hop questions over Lumenfold (30) by
  direct (closed book) and RAG on all, ReAct on the first ``--expensive-limit``. Also how many PAL programs ran, and
  the problems PAL got right where few-shot CoT got them wrong.
``--work DIR`` keeps the per-problem rows there, and a second run with the same folder skips what the first finished
(so the models can be measured in separate sittings). ``--save`` writes the summary (with the machine and date)
where the page shows it as the measured example.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LAB_MODEL_CACHE", str(ROOT / ".lab" / "models"))
MODELS = ("smollm2-135m-instruct", "gemma-3-270m")


def bench_sandbox(runs: int = 30) -> dict:
    from core.reasoning.sandbox import run_program

    run_program("print(1)")  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run_program("print(1)")
        times.append(time.perf_counter() - start)
        assert result.ok and result.answer == "1", result
    bare = []
    for _ in range(10):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    out = {"median_ms": round(statistics.median(times) * 1000, 1), "p90_ms": round(sorted(times)[int(0.9 * runs)] * 1000, 1),
           "bare_python_ms": round(statistics.median(bare) * 1000, 1), "isolation": result.isolation}
    print(f"sandbox, trivial program: median {out['median_ms']} ms, p90 {out['p90_ms']} ms per run "
          f"(a bare `python -I -S -c pass` child: {out['bare_python_ms']} ms). Goal: <= 150 ms.")
    for layer, state in result.isolation.items():
        print(f"  {layer}: {state}")
    return out


def run_experiment(model: str, task: str, methods: list[str], limit: int | None, k: int, folder: Path) -> list[dict]:
    from core.jobs import RunContext
    from core.reasoning.experiment import experiment_job, read_results

    folder.mkdir(parents=True, exist_ok=True)
    resume = (folder / "results.jsonl").exists()  # --work of an earlier run: what it finished is skipped
    ctx = RunContext(folder, {"task": task, "methods": methods, "models": [model], "limit": limit, "k": k}, resume=resume)
    last = [0.0]

    def progress(**fields: object) -> None:
        if time.time() - last[0] > 30 or fields.get("event"):
            last[0] = time.time()
            print(f"    {json.dumps(fields, default=float)}", file=sys.stderr, flush=True)
    ctx.progress = progress  # type: ignore[method-assign]
    start = time.perf_counter()
    experiment_job(ctx)
    print(f"    ({task}, {', '.join(methods)}: {time.perf_counter() - start:.0f} s)", flush=True)
    return read_results(folder)


def main() -> None:
    from core.reasoning.experiment import fixed_by, rescore, summarise

    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="test problems for the cheap methods (default: all)")
    parser.add_argument("--expensive-limit", type=int, default=12, help="problems for self-consistency and ReAct")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None, help="keep per-problem rows here; a second run resumes")
    args = parser.parse_args()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}", "date": time.strftime("%Y-%m-%d"),
              "command": "benchmarks/reasoning.py " + " ".join(sys.argv[1:]), "sandbox": bench_sandbox(), "summary": [],
              "pal_fixed": {}, "pal_ran": {}}
    work = args.work or Path(tempfile.mkdtemp(prefix="lab-bench-reasoning-"))
    rows: list[dict] = []
    for model in args.models:
        print(f"\n{model}:", flush=True)
        for task, cheap, expensive in (("arithmetic", ["direct", "cot", "cot-fewshot", "pal"], ["self-consistency", "react"]),
                                       ("documents", ["direct", "rag"], ["react"])):
            for methods, limit in ((cheap, args.limit), (expensive, args.expensive_limit)):
                results = run_experiment(model, task, methods, limit, args.k, work / f"{model}-{task}-{methods[0]}")
                for row in results:
                    row["task"] = task
                rows += results
    rows = rescore(rows)  # rows kept from an earlier sitting are read with today's answer reader
    for task in ("arithmetic", "documents"):
        task_rows = [r for r in rows if r["task"] == task]
        print(f"\n{task} (test split): accuracy ± standard error")
        for line in summarise(task_rows):
            line["task"] = task
            report["summary"].append(line)
            print(f"  {line['model']:<24} {line['method']:<17} {line['accuracy']:6.1%} ± {line['standard_error']:5.1%}  "
                  f"n={line['n']:<3} unreadable {line['unreadable']:<3} {line['seconds']:.2f} s each")
    for model in {r["model"] for r in rows}:
        pal_rows = [r for r in rows if r["model"] == model and r["method"] == "pal"]
        ran = sum(1 for r in pal_rows if r["trace"] and r["trace"][0]["sandbox"]["ok"])
        fixed = fixed_by([r for r in rows if r["task"] == "arithmetic"], "pal", "cot-fewshot", model)
        broke = fixed_by([r for r in rows if r["task"] == "arithmetic"], "cot-fewshot", "pal", model)
        report["pal_ran"][model], report["pal_fixed"][model] = f"{ran} of {len(pal_rows)}", {"fixed": fixed, "broke": broke}
        print(f"{model}: PAL programs that ran without error {ran} of {len(pal_rows)}; PAL right where few-shot CoT was "
              f"wrong: {len(fixed)} {fixed}; the reverse: {len(broke)}")
    print(f"\nper-problem rows: {work}")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=1) + "\n")
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
