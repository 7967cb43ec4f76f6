"""Benchmark few-shot classification: shared-prefix label scoring against one forward pass per label, and the k sweep.

    .venv/bin/python benchmarks/shots.py [--n 40] [--model NAME ...]

- scoring speed: examples/s when the prompt runs once and every label continues from its KV cache, against running
  prompt + label once per label (what a naive scorer does). Goal: >= 2x. Measured on 4-shot sentiment prompts.
- the sweep: accuracy on the bundled sentiment test split at k = 0, 1, 2, 4, 8 (balanced shots, log-likelihood
  scoring, raw prompts) for each model, with the mean prompt length. Small models score what they score.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bench_scoring(loaded, task, n: int) -> None:
    from core.prompting import build_prompt, score_labels, score_labels_naive, select_examples

    pool = task.split("pool")
    prompts = [
        build_prompt(loaded, task, select_examples(pool, 4, "balanced", seed=i, labels=task.labels), e.input).ids
        for i, e in enumerate(task.split("test")[:n])
    ]
    speeds = {}
    for name, scorer in (("shared prefix", score_labels), ("one pass per label", score_labels_naive)):
        scorer(loaded, prompts[0], task.labels)  # warm-up
        start = time.perf_counter()
        for ids in prompts:
            scorer(loaded, ids, task.labels)
        speeds[name] = len(prompts) / (time.perf_counter() - start)
    mean_tokens = sum(map(len, prompts)) / len(prompts)
    print(f"  scoring {len(prompts)} 4-shot prompts ({mean_tokens:.0f} tokens on average, {len(task.labels)} labels): "
          f"shared prefix {speeds['shared prefix']:.1f} examples/s | one pass per label {speeds['one pass per label']:.1f} "
          f"examples/s | speed-up x{speeds['shared prefix'] / speeds['one pass per label']:.2f} (goal >= 2)")


def bench_sweep(loaded, task, n: int) -> None:
    from core.prompting.shots import ShotsConfig, run_shots, summarize

    start = time.perf_counter()
    rows = summarize(run_shots(loaded, task, ShotsConfig(ks=(0, 1, 2, 4, 8), n=n, strategy="balanced")))
    print(f"  sweep on {n} test reviews ({time.perf_counter() - start:.0f} s):")
    for row in rows:
        print(f"    k={row['k']}  accuracy {row['score']:.3f}  prompt tokens {row['prompt_tokens']:5.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled model name (repeatable); default: both")
    parser.add_argument("--n", type=int, default=40, help="test examples")
    args = parser.parse_args()

    import torch

    from core import models
    from core.data import load_bundled

    task = load_bundled("sentiment")
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.model or list(models.BUNDLED):
        loaded = models.load_model(name)
        print(f"\n{name} ({loaded.info.dtype})")
        bench_scoring(loaded, task, args.n)
        bench_sweep(loaded, task, args.n)


if __name__ == "__main__":
    main()
