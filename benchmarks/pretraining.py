"""Benchmark the Pre-training & scaling stage: the corpus build, from-scratch training speed, and the Chinchilla sweep.

    .venv/bin/python benchmarks/pretraining.py [--preset quick|full] [--work DIR] [--save assets/measured/scaling_quick.json]

- corpus: the time to extract, filter, split, tokenize the docstring corpus (skipped when ``LAB_HOME`` has one) and
  its size in documents, characters and tokens.
- training speed: tokens per second of the default from-scratch model (4 layers, width 128, 0.92 M parameters) over
  30 steps, and the loss a uniform guess gives (ln 1024) beside the loss after those steps.
- the sweep: every model of the preset, its final validation loss and wall time, the fitted IsoFLOP minima, the
  exponents a (N_opt ∝ C^a) and b (D_opt ∝ C^b) beside Chinchilla's 0.5, the tokens per parameter at the optimum, and
  the whole sweep's wall time. ``--work DIR`` keeps the points, and a second run with the same folder trains only what
  is missing. ``--save`` writes the points with the machine and date, where the page shows them as the finished example.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bench_corpus() -> dict:
    from core.pretraining import corpus

    started = time.time()
    manifest = corpus.build_corpus()
    built_now = time.time() - started > 5
    print(f"corpus: {manifest['documents']:,} documents from {manifest['packages']} packages "
          f"({manifest['extracted_docstrings']:,} docstrings kept as prose before deduplication); "
          f"train {manifest['train_characters'] / 1e6:.1f} M characters = {manifest['train_tokens'] / 1e6:.2f} M "
          f"tokens, validation {manifest['val_characters'] / 1e6:.2f} M characters = "
          f"{manifest['val_tokens'] / 1e6:.2f} M tokens ({len(manifest['val_sources'])} packages held out); "
          + (f"built in {manifest['seconds']:.0f} s" if built_now else f"built earlier in {manifest['seconds']:.0f} s"))
    return manifest


def bench_training(steps: int = 30) -> dict:
    from core.pretraining import corpus, scratch

    config = scratch.ScratchConfig()
    model = scratch.build_model(config)
    train, val = corpus.load_tokens("train"), corpus.load_tokens("val")
    s = scratch.LoopSettings(steps, config.batch_size, config.context, config.learning_rate, 3)
    before = scratch.evaluate(model, val, s)
    scratch.train_steps(model, train, val, scratch.LoopSettings(3, config.batch_size, config.context, 1e-3, 1))
    started = time.time()
    scratch.train_steps(model, train, val, s)
    speed = steps * config.batch_size * config.context / (time.time() - started)
    after = scratch.evaluate(model, val, s)
    print(f"from scratch, default model ({config.params:,} parameters, batch {config.batch_size} x {config.context}): "
          f"{speed:,.0f} tokens/s; validation loss {before:.2f} untrained (ln 1024 = {math.log(1024):.2f}) -> "
          f"{after:.2f} after {steps + 3} steps")
    return {"tokens_per_s": speed, "loss_before": before, "loss_after": after}


def bench_sweep(preset: str, work: Path) -> tuple[list[dict], float]:
    from core.jobs import RunContext
    from core.pretraining import scaling

    work.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(work, {"preset": asdict(scaling.PRESETS[preset]), "preset_name": preset}, resume=True)
    ctx.progress = lambda **fields: None  # type: ignore[method-assign]
    started = time.time()
    scaling.sweep_job(ctx)
    wall = time.time() - started
    points = scaling.read_points(work)
    print(f"\nChinchilla sweep, {preset} preset ({len(points)} models), wall time {wall / 60:.1f} min "
          f"(sum of the models' own times {sum(p['seconds'] for p in points) / 60:.1f} min)")
    print(f"{'budget':>8} {'params':>8} {'tokens':>10} {'batch':>5} {'steps':>5} {'loss':>6} {'s':>6}")
    for p in points:
        print(f"{p['budget']:8.0e} {p['params']:8,} {p['tokens']:10,} {p['batch_size']:5} {p['steps']:5} "
              f"{p['loss']:6.3f} {p['seconds']:6.1f}")
    result = scaling.fit(points)
    for profile in result.profiles:
        where = "no valley" if profile.n_opt is None else (
            f"N_opt = {profile.n_opt:,.0f}, D_opt = {profile.d_opt:,.0f} ({profile.d_opt / profile.n_opt:.0f} tokens "
            f"per parameter), loss {profile.loss_opt:.3f}" + ("" if profile.inside else " (outside the sizes trained)"))
        print(f"C = {profile.budget:.0e}: {where}")
    fmt = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
    print(f"N_opt ∝ C^a: a = {fmt(result.a)} (Chinchilla 0.50); D_opt ∝ C^b: b = {fmt(result.b)} (Chinchilla 0.50)")
    return points, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=["quick", "full"], default="quick")
    parser.add_argument("--work", type=Path, default=None, help="keep the sweep's points here (resumes)")
    parser.add_argument("--save", type=Path, default=None, help="write the points for the page's finished example")
    args = parser.parse_args()
    import torch

    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_corpus()
    bench_training()
    work = args.work or Path(tempfile.mkdtemp(prefix="lab-sweep-"))
    points, wall = bench_sweep(args.preset, work)
    if args.save:
        saved = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
                 "date": time.strftime("%Y-%m-%d"), "preset": args.preset, "wall_s": round(wall, 1),
                 "command": f"benchmarks/pretraining.py --preset {args.preset}", "points": points}
        args.save.write_text(json.dumps(saved, indent=1) + "\n")
        print(f"saved to {args.save}")


if __name__ == "__main__":
    main()
