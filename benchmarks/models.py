"""Benchmark the model layer: GGUF conversion vs cached load, and generation speed against the memory-bandwidth bound.

    .venv/bin/python benchmarks/models.py [--model NAME ...] [--new-tokens 128]

Everything is measured in this one run on this machine, and printed as ratios:
- load: the first load of a bundled model (GGUF dequantized, then saved as safetensors) against a later load from the
  cache. Goal: cached <= 0.15x the conversion.
- generation: tokens/s for greedy decoding of --new-tokens tokens in float32, bfloat16 and int8 weights: transformers'
  ``model.generate``, the app's eager loop (core.sampling.stream_generate with LAB_COMPILE=0: the generator before
  issue #17) and the compiled decode step (a static cache under torch.compile, core.sampling.fast), each checked to give
  the same tokens as ``model.generate``. llama.cpp is timed too where ``llama-bench`` is on the PATH (optional).
- bound: decoding one token reads every weight once, so tokens/s <= memory bandwidth / bytes read per token. The
  bandwidth is measured here with a large tensor copy.
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

GOALS = {"smollm2-135m-instruct": 60, "gemma-3-270m": 30}  # issue #17, on 2 cores
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


def timed_tokens(loaded, ids: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """Tokens/s of core.sampling.stream_generate (greedy, exactly new_tokens tokens) and the tokens."""
    from core.sampling import SamplingSettings, stream_generate

    greedy = SamplingSettings(temperature=0)
    start = time.perf_counter()
    tokens = [s.token_id for s in stream_generate(loaded, ids, greedy, max_new_tokens=new_tokens, stop_at_eos=False)]
    return len(tokens) / (time.perf_counter() - start), tokens


def timed_generate(model, ids: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """Tokens/s of transformers' own greedy model.generate, and the tokens."""
    import torch

    with torch.inference_mode():
        start = time.perf_counter()
        out = model.generate(torch.tensor([ids]), max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        seconds = time.perf_counter() - start
    return new_tokens / seconds, out[0, len(ids):].tolist()


def bytes_per_token(model) -> int:
    """Bytes of weights one decoding step reads: every tensor except the input embedding (one row of it is read),
    a tied output head counted once."""
    import torch

    seen: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            continue
        for tensor in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False)):
            seen[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return sum(seen.values())


def agreement(model, ids: list[int], ours: list[int], reference: list[int]) -> str:
    """"= generate", or where the two first differ and by how much the reference's top two logits were apart there
    (a gap of a few thousandths is a tie that float rounding in another kernel order can flip)."""
    import torch

    if ours == reference:
        return "= generate"
    first = next(i for i, (a, b) in enumerate(zip(ours, reference)) if a != b)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids + reference[:first]]), use_cache=False).logits[0, -1].float()
    top = logits.topk(2).values
    return f"= generate for {first} tokens, then a near-tie (top-2 logit gap {float(top[0] - top[1]):.4f})"


def measure_generation(name: str, new_tokens: int, bandwidth: float, compile_too: bool) -> list[tuple[str, float, str]]:
    """Rows (what, tokens/s, remark) for one model: the eager loop before this work, model.generate, and ours."""
    from core import models
    from core.sampling import encode_prompt, fast

    rows = []
    for precision in ("float32", "bfloat16", "int8"):
        loaded = models.load_model(name, precision=precision)
        ids = encode_prompt(loaded, PROMPT, chat=loaded.info.has_chat_template)
        bound = bandwidth / bytes_per_token(loaded.model)
        os.environ["LAB_COMPILE"] = "0"
        timed_tokens(loaded, ids, 8)  # warm-up
        speed, eager = timed_tokens(loaded, ids, new_tokens)
        reference_speed, reference = timed_generate(loaded.model, ids, new_tokens)
        same = agreement(loaded.model, ids, eager, reference)
        rows.append((f"{precision:8} model.generate", reference_speed, f"bound {bound:5.1f} tok/s"))
        rows.append((f"{precision:8} ours, eager", speed, same))
        if compile_too and precision != "bfloat16":
            os.environ["LAB_COMPILE"] = "1"
            report = fast.compile_now(loaded.model, len(ids) + new_tokens, loaded.info.context_window)
            if report["state"] != "ready":
                rows.append((f"{precision:8} ours, compiled", 0.0, f"not used ({report['state']}): {report['error']}"))
                continue
            speed, compiled = timed_tokens(loaded, ids, new_tokens)
            same = agreement(loaded.model, ids, compiled, reference)
            rows.append((f"{precision:8} ours, compiled", speed, f"{same}; compiled in {report['seconds']:.0f} s"))
    return rows


def time_llama_cpp(name: str, new_tokens: int) -> str:
    """llama.cpp's decode speed on the bundled GGUF where ``llama-bench`` is on the PATH (optional, never installed)."""
    import shutil
    import subprocess

    from core.models import locate_gguf

    bench = shutil.which("llama-bench")
    if not bench:
        return "llama.cpp: not installed (optional; put llama-bench on the PATH to time it here)"
    out = subprocess.run([bench, "-m", str(locate_gguf(name)), "-p", "0", "-n", str(new_tokens), "-t", str(os.cpu_count()),
                          "-o", "csv"], capture_output=True, text=True, timeout=600)
    return "llama.cpp llama-bench: " + (out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled model name (repeatable); default: both")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--skip-load", action="store_true", help="skip the GGUF conversion timing")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (about a minute per model)")
    args = parser.parse_args()

    import torch

    from core import models

    names = args.model or list(models.BUNDLED)
    bandwidth = measure_bandwidth()
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {models.pick_device()}; copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    for name in names:
        print(f"\n{name}")
        if not args.skip_load:
            first, cached = measure_load(name)
            print(f"  load   first (GGUF -> safetensors) {first:6.1f} s | cached {cached:5.2f} s | "
                  f"cached/first = {cached / first:.3f}  (goal <= 0.15)")
        rows = measure_generation(name, args.new_tokens, bandwidth, compile_too=not args.no_compile)
        before = rows[1][1]  # float32, the eager loop: the app's generator before the fast path
        for what, speed, remark in rows:
            print(f"  {what:28} {speed:5.1f} tok/s | {speed / before:4.2f}x the float32 eager loop | {remark}")
        best = max(rows, key=lambda row: row[1])
        print(f"  fastest: {best[0].strip()} at {best[1]:.1f} tok/s = {best[1] / before:.2f}x the eager float32 loop "
              f"(goal: {GOALS.get(name, '?')} tok/s, 2x)")
        print("  " + time_llama_cpp(name, args.new_tokens))

if __name__ == "__main__":
    main()
