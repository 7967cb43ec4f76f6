"""Benchmark fine-tuning on the bundled SmolLM2: the three methods, and the runner's overhead over a plain script.

    .venv/bin/python benchmarks/finetune.py [--steps 8] [--batch 4] [--length 256]

- per method (full, LoRA, prompt tuning; same batch, same data, float32 on the CPU): seconds per step, training
  tokens per second, trainable parameters, and the peak resident memory of a fresh process doing only that run.
- overhead: the same LoRA run through ``core.finetune.train_job`` (progress to JSONL, cancel checks, checkpoints at the
  end) against a plain HF Trainer + PEFT script with the same model and data. Goal: <= 5%.
Each measurement runs in its own child process so that peak memory and warm caches do not leak between them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def measure(method: str, steps: int, batch: int, length: int, runner: bool) -> dict:
    """Runs in a child process: train ``steps`` steps and time steps 2..n (the first one warms up)."""
    from transformers import TrainerCallback

    from core.finetune import FinetuneConfig, build_trainer, count_parameters

    lr = {"full": 1e-5, "lora": 2e-4, "prompt_tuning": 3e-2}[method]
    config = FinetuneConfig(method=method, max_steps=steps, batch_size=batch, max_length=length, learning_rate=lr,
                            eval_steps=10_000, save_steps=10_000, eval_fraction=0.05)
    times: list[float] = []
    tokens: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.start)

    with tempfile.TemporaryDirectory() as out:
        if runner:
            from core.finetune import run_callback
            from core.jobs import RunContext

            trainer, _ = build_trainer(config, Path(out), [Clock(), run_callback(RunContext(Path(out), config.to_dict()))])
        else:  # what a plain script would do: the same Trainer, no progress file, no cancel checks
            trainer, _ = build_trainer(config, Path(out), [Clock()])
        for batch_data in trainer.get_train_dataloader():  # the tokens a step trains on (padding excluded)
            tokens.append(int(batch_data["attention_mask"].sum()))
            if len(tokens) >= steps:
                break
        trainer.train()
        trainable, total = count_parameters(trainer.model)
    per_step = sum(times[1:]) / max(len(times) - 1, 1)
    mean_tokens = sum(tokens[1:]) / max(len(tokens) - 1, 1)
    return {"method": method, "s_per_step": per_step, "tokens_per_s": mean_tokens / per_step, "trainable": trainable,
            "total": total, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(method: str, steps: int, batch: int, length: int, runner: bool) -> dict:
    cmd = [sys.executable, __file__, "--one", method, "--steps", str(steps), "--batch", str(batch), "--length", str(length)]
    cmd += ["--runner"] if runner else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--runner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.batch, args.length, args.runner)))
        return

    print(f"smollm2-135m-instruct, float32, batch {args.batch}, max length {args.length}, dialogsum pool, {args.steps} steps "
          f"(first one not timed); {os.cpu_count()} cores")
    for method in ("full", "lora", "prompt_tuning"):
        r = child(method, args.steps, args.batch, args.length, runner=True)
        print(f"  {method:14} {r['s_per_step']:6.2f} s/step | {r['tokens_per_s']:6.0f} tokens/s | trainable "
              f"{r['trainable']:>11,} of {r['total']:,} ({r['trainable'] / r['total']:.3%}) | peak RSS {r['peak_rss_mib']:6.0f} MiB")
    plain = child("lora", args.steps, args.batch, args.length, runner=False)
    ours = child("lora", args.steps, args.batch, args.length, runner=True)
    print(f"  runner overhead (LoRA): runner {ours['s_per_step']:.3f} s/step vs plain Trainer + PEFT {plain['s_per_step']:.3f} "
          f"s/step = {ours['s_per_step'] / plain['s_per_step'] - 1:+.1%} (goal <= +5%)")


if __name__ == "__main__":
    main()
