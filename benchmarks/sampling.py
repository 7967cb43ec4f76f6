"""Benchmark the Sampling visualizer's hot paths, measured in this one run and printed as ratios.

    .venv/bin/python benchmarks/sampling.py [--model NAME ...] [--repeats 30]

- re-sampling: what the page does when a slider moves (cached logits -> every stage's distribution -> the top-token
  table), over the full vocabulary, against a fresh forward pass of the prompt. Goal: median <= 10 ms.
- step: one generated token with the KV cache (a forward pass over the new token alone) against one without it (a
  forward pass over the whole text), at several context lengths.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "I took my money to the bank, and the teller asked me"
SETTINGS = dict(temperature=0.8, top_k=40, top_p=0.9, min_p=0.05, repetition_penalty=1.3)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_resampling(loaded, repeats: int) -> None:
    from core.sampling import SamplingSettings, encode_prompt, next_token_logits, trace_stages
    from core.sampling.views import next_token_table

    ids = encode_prompt(loaded, PROMPT)
    logits = next_token_logits(loaded, ids).numpy()  # what st.cache_data keeps per prompt
    settings = SamplingSettings(**SETTINGS)

    def resample():  # what the page draws: every stage, the top-20 table, entropy before and after
        views = trace_stages(logits, settings, ids)
        next_token_table(views, loaded.tokenizer, ids, top=20)
        views[0].entropy, views[-1].entropy

    resample_ms = median_ms(resample, repeats)
    forward_ms = median_ms(lambda: next_token_logits(loaded, ids), max(5, repeats // 3))
    print(f"  re-sampling {loaded.info.vocab_size:,} logits, all five stages + table + entropies: median {resample_ms:6.2f} ms "
          f"(goal <= 10) | fresh forward of {len(ids)} tokens {forward_ms:6.1f} ms | ratio {resample_ms / forward_ms:.3f}")


def bench_steps(loaded, contexts: list[int], repeats: int) -> None:
    from core.sampling import SamplingSettings, Stepper, next_token_logits

    filler = loaded.tokenizer(" the quick brown fox jumps over the lazy dog" * 200)["input_ids"]
    for n in contexts:
        ids = filler[:n]
        stepper = Stepper(loaded, ids, SamplingSettings(temperature=0))
        _ = stepper.logits  # the prompt goes through once

        def cached_step(stepper=stepper):
            stepper.advance()
            _ = stepper.logits

        with_cache = median_ms(cached_step, repeats)
        without = median_ms(lambda stepper=stepper: next_token_logits(loaded, stepper.ids), max(5, repeats // 3))
        print(f"  step at {n:4} tokens of context: with KV cache {with_cache:6.1f} ms | without {without:7.1f} ms | "
              f"speed-up x{without / with_cache:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled model name (repeatable); default: both")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import torch

    from core import models

    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.model or list(models.BUNDLED):
        loaded = models.load_model(name)  # the app's default precision
        print(f"\n{name} ({loaded.info.dtype})")
        bench_resampling(loaded, args.repeats)
        bench_steps(loaded, [64, 256, 1024], args.repeats)


if __name__ == "__main__":
    main()
