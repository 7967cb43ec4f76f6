"""Benchmark evaluation: batched against one-at-a-time generation, and the leaderboard of the bundled models.

    .venv/bin/python benchmarks/evaluation.py [--n 24] [--batch-size 8] [--limit 40] [--model NAME ...]

- generation speed: examples/s on the bundled dialogsum test split (zero-shot summaries, greedy, at most 48 new
  tokens) when prompts are generated together in left-padded batches with the KV cache, against one prompt at a time
  (``core.prompting.generate_answer``). Goal: >= 2x. Also checks that both give the same summaries.
- the leaderboard: every bundled model on every bundled task (first ``--limit`` test examples, zero-shot), with the
  headline metric of each task. These are tiny models: expect near-chance scores on hard tasks.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bench_generation(loaded, n: int, batch_size: int) -> None:
    from core.data import load_bundled
    from core.prompting import build_prompt, generate_answer
    from core.sampling import generate_batch

    task = load_bundled("dialogsum")
    prompts = [build_prompt(loaded, task, [], e.input).ids for e in task.split("test")[:n]]
    generate_batch(loaded, prompts[:2], 4)  # warm-up
    start = time.perf_counter()
    alone = [generate_answer(loaded, ids, 48) for ids in prompts]
    one_at_a_time = len(prompts) / (time.perf_counter() - start)
    start = time.perf_counter()
    batched = [text for i in range(0, len(prompts), batch_size) for text in generate_batch(loaded, prompts[i:i + batch_size], 48)]
    together = len(prompts) / (time.perf_counter() - start)
    same = sum(a == b for a, b in zip(alone, batched))
    print(f"  {len(prompts)} summaries: one at a time {one_at_a_time:.2f} examples/s | batches of {batch_size} {together:.2f} "
          f"examples/s | speed-up x{together / one_at_a_time:.2f} (goal >= 2) | identical outputs {same}/{len(prompts)}")


def bench_leaderboard(models: list[str], limit: int, precision: str) -> None:
    from core import store
    from core.evaluation import BUNDLED_TASKS, EvalConfig, leaderboard, run_evaluations

    os.environ.setdefault("LAB_DB_URL", "sqlite://")  # an in-memory database: the benchmark leaves no results behind
    start = time.perf_counter()
    ids = run_evaluations(EvalConfig(models=tuple(models), tasks=tuple(BUNDLED_TASKS), limit=limit, precision=precision))
    rows = leaderboard([store.load_evaluation(i) for i in ids])
    print(f"\nLeaderboard: first {limit} test examples of each task, zero-shot, {precision} ({time.perf_counter() - start:.0f} s)")
    columns = [c for c in rows[0] if c != "model"]
    print("| model | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for row in rows:
        print(f"| {row['model']} | " + " | ".join(f"{row.get(c, float('nan')):.3f}" for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled model name (repeatable); default: both")
    parser.add_argument("--n", type=int, default=24, help="dialogues for the generation-speed comparison")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=40, help="test examples per task for the leaderboard")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    import torch

    from core.models import BUNDLED, load_model

    models = args.model or list(BUNDLED)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, precision {args.precision}")
    for name in models:
        print(f"{name}:")
        bench_generation(load_model(name, precision=args.precision), args.n, args.batch_size)
    bench_leaderboard(models, args.limit, args.precision)


if __name__ == "__main__":
    main()
