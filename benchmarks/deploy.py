"""Benchmark the Optimise & deploy variants: every variant's size, speed and quality beside its base, in one run.

    .venv/bin/python benchmarks/deploy.py [--model NAME ...] [--skip-distil] [--distil-steps 20]

For each model: quantise int8 and int4, prune (drop a fifth of the layers by saliency; drop them plus 25 % of the MLP
channels; 50 % magnitude zeros), and, for SmolLM2, distil its 10-layers-lighter copy against the same student trained
on hard labels at the same budget. Each is the same background run the page starts (core.deploy.variants), in a
fresh LAB_HOME, measured with core.deploy.measure beside its float32 base. Prints one Markdown table and the goals:
int8 at <= 0.4x the float32 memory with perplexity within 10 % of the base.
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


def plans(name: str, layers: int, distil_steps: int, distil: bool) -> list[tuple[str, dict]]:
    drop = max(1, layers // 5)
    out = [("quantize", {"base_model": name, "scheme": "int8"}), ("quantize", {"base_model": name, "scheme": "int4"}),
           ("prune", {"base_model": name, "drop_layers": drop}),
           ("prune", {"base_model": name, "drop_layers": drop, "mlp_fraction": 0.25}),
           ("prune", {"base_model": name, "sparsity": 0.5})]
    if distil:
        for mode in ("distil", "hard"):
            out.append(("distil", {"teacher": name, "drop_layers": 10, "mode": mode, "max_steps": distil_steps}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled model name (repeatable); default: both")
    parser.add_argument("--skip-distil", action="store_true")
    parser.add_argument("--distil-steps", type=int, default=20)
    args = parser.parse_args()
    os.environ["LAB_HOME"] = tempfile.mkdtemp(prefix="lab-deploy-bench-")
    os.environ["LAB_COMPILE"] = "0"  # every model is timed with the same eager loop

    from core import jobs, models
    from core.deploy.compare import comparison
    from core.deploy.prune import base_layers
    from core.deploy.variants import start_variant

    names = args.model or list(models.BUNDLED)
    print(f"machine: {os.cpu_count()} cores; LAB_HOME {os.environ['LAB_HOME']}")
    for name in names:
        distil = name == "smollm2-135m-instruct" and not args.skip_distil
        for kind, settings in plans(name, base_layers(name), args.distil_steps, distil):
            start = time.perf_counter()
            run = jobs.wait_for(start_variant(kind, settings).id, timeout=4 * 3600)
            print(f"  {kind:8} {settings} -> {run.state} in {time.perf_counter() - start:.0f} s"
                  + (f": {run.status.get('error')}" if run.state != "done" else ""), flush=True)
    rows = comparison()
    print("\n| model | variant | memory MiB | disk MiB | memory ratio | tokens/s | speed ratio | perplexity | ppl ratio "
          "| knowledge_mc acc | Pareto |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    for r in rows:
        disk = f"{r['disk_bytes'] / 2**20:.0f}" if r.get("disk_bytes") else ""
        print(f"| {r['base_model']} | {r['variant']} | {r['size_bytes'] / 2**20:.0f} | {disk} | {r['size_ratio']:.2f} | "
              f"{r['tokens_per_s']:.1f} | {r['speedup']:.2f} | {r['perplexity']:.2f} | {r['perplexity_ratio']:.3f} | "
              f"{r['accuracy']:.2f} | {'★' if r['pareto'] else ''} |")
    for r in rows:
        if r["variant"] == "quantised int8":
            ok = r["size_ratio"] <= 0.4 and r["perplexity_ratio"] <= 1.10
            print(f"goal {r['base_model']} int8: memory {r['size_ratio']:.2f}x (<= 0.4) and perplexity "
                  f"{r['perplexity_ratio']:.3f}x (<= 1.10): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
