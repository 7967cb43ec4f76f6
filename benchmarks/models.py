"""Benchmark the model layer: GGUF conversion vs cached load, and generation speed against the memory-bandwidth bound.

    .venv/bin/python benchmarks/models.py [--model NAME ...] [--new-tokens 128]

Everything is measured in this one run on this machine, and printed as ratios:
- load: the first load of a bundled model (GGUF dequantized, then saved as safetensors) against a later load from the
  cache. Goal: cached <= 0.15x the conversion.
- generation: tokens/s for greedy decoding of --new-tokens tokens with core.sampling.stream_generate (the app's loop),
  in float32 and bfloat16.
- bound: decoding one token reads every weight once, so tokens/s <= memory bandwidth / bytes of weights. The bandwidth
  is measured here with a large tensor copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def measure_bandwidth(megabytes: int = 1024, repeats: int = 5) -> float:
    """Bytes per second moved by a tensor copy (each copy reads and writes the buffer once)."""
    import torch

    src = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm up: page in both buffers
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * 4 / best


def measure_load(name: str) -> tuple[float, float]:
    """Seconds for the first load (GGUF conversion into an empty cache) and for a load from that cache."""
    from core import models

    with tempfile.TemporaryDirectory() as cache:
        os.environ["LAB_MODEL_CACHE"] = cache
        start = time.perf_counter()
        models.load_model(name, precision="float32")
        first = time.perf_counter() - start
        models.load_model(name, precision="float32")  # once to warm the page cache, as on any later start
        start = time.perf_counter()
        models.load_model(name, precision="float32")
        cached = time.perf_counter() - start
        del os.environ["LAB_MODEL_CACHE"]
    return first, cached


def measure_generation(name: str, precision: str, new_tokens: int) -> tuple[float, int]:
    """Greedy tokens/s over new_tokens tokens, and the bytes of weights that each token reads."""
    from core import models
    from core.sampling import SamplingSettings, encode_prompt, stream_generate

    loaded = models.load_model(name, precision=precision)
    ids = encode_prompt(loaded, PROMPT, chat=loaded.info.has_chat_template)
    greedy = SamplingSettings(temperature=0)
    for _ in stream_generate(loaded, ids, greedy, max_new_tokens=8, stop_at_eos=False):
        pass  # warm-up
    start = time.perf_counter()
    count = sum(1 for _ in stream_generate(loaded, ids, greedy, max_new_tokens=new_tokens, stop_at_eos=False))
    return count / (time.perf_counter() - start), loaded.info.memory_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled model name (repeatable); default: both")
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()

    import torch

    from core import models

    names = args.model or list(models.BUNDLED)
    bandwidth = measure_bandwidth()
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {models.pick_device()}; copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    for name in names:
        first, cached = measure_load(name)
        print(f"\n{name}")
        print(f"  load   first (GGUF -> safetensors) {first:6.1f} s | cached {cached:5.2f} s | "
              f"cached/first = {cached / first:.3f}  (goal <= 0.15)")
        for precision in ("float32", "bfloat16"):
            speed, weight_bytes = measure_generation(name, precision, args.new_tokens)
            bound = bandwidth / weight_bytes
            print(f"  {precision:8} {speed:5.1f} tok/s for {args.new_tokens} new tokens | bandwidth bound "
                  f"{bound:6.1f} tok/s ({weight_bytes / 2**20:.0f} MiB of weights) | achieved {speed / bound:.0%} of bound")


if __name__ == "__main__":
    main()
