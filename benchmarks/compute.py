"""Benchmark the memory calculators against measurement: estimate / measured for training, inference and sharding.

    .venv/bin/python benchmarks/compute.py [--steps 1] [--batch 4] [--length 256] [--prefill 2048]
        [--save assets/measured/compute.json]

- training peak of the bundled SmolLM2's architecture (random weights from its config, float32, AdamW, full and
  LoRA r=8 on q_proj/v_proj as the fine-tune page does, batch x length random tokens, ``steps`` measured steps after
  AdamW's states exist), each run in a fresh child process. Its resident memory after ``import torch,
  transformers`` is the baseline, reported on its own; the weights are what building the model adds; the peak the
  steps add (gradients, optimizer states, activations, logits, temporaries) is set beside the calculator's parts
  other than the weights. Attention is eager (it stores the scores, as Korthikanti et al.'s formula assumes) and SDPA
  (the lab's default, which does not).
- inference peak: one prefill of ``prefill`` tokens with the KV cache on, all positions' logits, float32, SDPA.
- DDP vs FSDP: what each of 2 gloo processes holds after one AdamW step on a small Llama (``core.compute.measure``).
Ratios are estimate / measured. Children run with ``MALLOC_MMAP_THRESHOLD_=131072`` so that freed tensors leave the
resident set (see ``child``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODEL = "smollm2-135m-instruct"
MIB = 2**20


def measure(kind: str, method: str, attention: str, steps: int, batch: int, length: int) -> dict:
    """Runs in a fresh child process."""
    import torch
    import transformers  # noqa: F401  (part of the baseline)
    from transformers import AutoConfig, AutoModelForCausalLM

    from core.compute import measure as m
    from core.models import convert_bundled

    config = AutoConfig.from_pretrained(convert_bundled(MODEL), attn_implementation=attention)
    baseline = m.rss_bytes()
    torch.manual_seed(0)
    # SmolLM2's architecture with random weights: memory does not depend on the values, and a model built in memory
    # holds its weights in anonymous pages (from_pretrained maps the safetensors file, whose pages RSS counts only as
    # they are touched and keeps counting after a copy).
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if kind == "prefill":
        model.eval()
        weights = m.rss_bytes() - baseline
        result = m.measure_prefill(model, batch, length)
    else:
        if method == "lora":
            from core.finetune.config import FinetuneConfig
            from core.finetune.methods import prepare_model

            model = prepare_model(model, FinetuneConfig(method="lora", batch_size=batch, max_length=length), None)
        weights = m.rss_bytes() - baseline
        result = m.measure_training(model, batch, length, steps=steps)
    return {"baseline_rss_bytes": baseline, "weights_rss_bytes": weights, **result}


def child(*args: str) -> dict:
    cmd = [sys.executable, __file__, "--one", *args]
    # A fixed mmap threshold: glibc otherwise raises it after the first large free (up to 32 MiB), so later tensors
    # come from the heap and freed ones stay resident; the peak then measures the allocator, not the tensors (seen:
    # LoRA with eager attention peaked 2,885 MiB above its weights with the default, 2,020 MiB with this).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, estimate: float, measured: float) -> str:
    return f"    {label:<44} estimate {estimate / MIB:8.1f} MiB  measured {measured / MIB:8.1f} MiB  " \
           f"ratio {estimate / measured:5.2f}"


def case(args: argparse.Namespace, mode: str, label: str, estimate: float, r: dict, **extra) -> dict:
    """One measured case as ``--save`` writes it (the compute page shows it beside its estimate)."""
    return {"model": MODEL, "mode": mode, "label": label, "command": args.command, "estimate_bytes": estimate,
            "measured_bytes": r["weights_rss_bytes"] + r["peak_increment_bytes"], **extra, **r}


def report_training(args: argparse.Namespace, shape, cases: list[dict]) -> list[str]:
    from core.compute import training_memory

    lines = []
    for method in ("full", "lora"):
        est = training_memory(shape, "fp32", "adamw", method, lora_r=8, lora_targets=("q_proj", "v_proj"),
                              batch=args.batch, seq_len=args.length)
        beyond = est.total_bytes - est.parts["weights_bytes"]
        for attention in ("sdpa", "eager"):
            r = child("train", method, attention, str(args.steps), str(args.batch), str(args.length))
            lines.append(f"  train {method}, {attention} attention (baseline after imports "
                         f"{r['baseline_rss_bytes'] / MIB:.0f} MiB, not counted):")
            lines.append(row("weights (RSS added by building)", est.parts["weights_bytes"], r["weights_rss_bytes"]))
            lines.append(row("gradients (tensor bytes)", est.parts["gradients_bytes"], r["gradients_bytes"]))
            lines.append(row("optimizer states (tensor bytes)", est.parts["optimizer_bytes"], r["optimizer_bytes"]))
            lines.append(row("peak the steps add (grads+optim+activations)", beyond, r["peak_increment_bytes"]))
            total = r["weights_rss_bytes"] + r["peak_increment_bytes"]
            lines.append(row("total above the baseline", est.total_bytes, total))
            label = f"{method} fine-tune, batch {args.batch} x {args.length}, fp32 AdamW, {attention} attention"
            cases.append(case(args, "train", label, est.total_bytes, r, method=method, attention=attention))
        lines.append(f"    (estimate parts: activations {est.parts['activations_bytes'] / MIB:.1f} MiB, logits "
                     f"{est.parts['logits_bytes'] / MIB:.1f} MiB; trainable {est.trainable_params:,})")
    return lines


def report_prefill(args: argparse.Namespace, shape, cases: list[dict]) -> list[str]:
    from core.compute import inference_memory

    est = inference_memory(shape, "fp32", 1, args.prefill, logits="all")
    r = child("prefill", "none", "sdpa", "0", "1", str(args.prefill))
    beyond = est.parts["kv_cache_bytes"] + est.parts["activations_bytes"]
    label = f"prefill of {args.prefill} tokens, batch 1, fp32, all logits"
    cases.append(case(args, "inference", label, est.total_bytes, r))
    return [
        f"  prefill of {args.prefill} tokens, all logits, sdpa (baseline {r['baseline_rss_bytes'] / MIB:.0f} MiB, "
        "not counted):",
        row("weights (RSS added by building)", est.parts["weights_bytes"], r["weights_rss_bytes"]),
        row("KV cache (tensor bytes)", est.parts["kv_cache_bytes"], r["kv_cache_bytes"]),
        row("peak the forward adds (KV + activations)", beyond, r["peak_increment_bytes"]),
        row("total above the baseline", est.total_bytes, r["weights_rss_bytes"] + r["peak_increment_bytes"]),
        f"    (estimate activations {est.parts['activations_bytes'] / MIB:.1f} MiB of which logits "
        f"{args.prefill * shape.vocab * 4 / MIB:.1f} MiB; measured logits tensor {r['logits_bytes'] / MIB:.1f} MiB)",
    ]


def report_sharding(saved: dict) -> list[str]:
    from core.compute import shape_from_config, shard, training_memory
    from core.compute.measure import measure_sharding, sharding_config

    config = sharding_config()
    shape = shape_from_config(config)
    held = ("weights_bytes", "gradients_bytes", "optimizer_bytes")
    lines = [f"  DDP vs FSDP (FSDP2 fully_shard), 2 gloo processes, Llama of {shape.params:,} parameters, fp32 "
             "AdamW, one step, rank 0:"]
    saved["sharding"] = {"model": f"a {shape.params:,}-parameter Llama", "processes": 2, "strategies": {}}
    for strategy in ("ddp", "fsdp"):
        est = shard(training_memory(shape, "fp32", "adamw"), 2, strategy)
        rank = measure_sharding(strategy, world=2, config=config)[0]
        for part in held:
            lines.append(row(f"{strategy} {part.removesuffix('_bytes')}", est.parts[part], rank[part]))
        total = sum(rank[p] for p in held)
        lines.append(row(f"{strategy} weights + gradients + optimizer", est.total_bytes, total))
        saved["sharding"]["strategies"][strategy] = {"measured_bytes": total, "estimate_bytes": est.total_bytes,
                                                     **{p: rank[p] for p in held}}
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1,
                        help="measured training steps per run (after Adam's states exist)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--prefill", type=int, default=2048)
    parser.add_argument("--save", type=Path, default=None,
                        help="also write the figures as JSON (assets/measured/compute.json)")
    parser.add_argument("--one", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, method, attention, steps, batch, length = args.one
        print(json.dumps(measure(kind, method, attention, int(steps), int(batch), int(length))))
        return
    import platform

    from core.compute import shape_for_model

    args.command = f"benchmarks/compute.py --steps {args.steps} --batch {args.batch} --length {args.length} " \
              f"--prefill {args.prefill}" + (f" --save {args.save}" if args.save else "")
    start = time.perf_counter()
    shape = shape_for_model(MODEL)
    lines = [f"{MODEL} ({shape.params:,} parameters), float32 on the CPU, {os.cpu_count()} cores; training: batch "
             f"{args.batch} x {args.length} tokens, {args.steps} measured AdamW step(s)"]
    saved: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
                   "date": time.strftime("%Y-%m-%d"), "command": args.command, "cases": []}
    lines += report_training(args, shape, saved["cases"])
    lines += report_prefill(args, shape, saved["cases"])
    lines += report_sharding(saved)
    lines.append(f"command: .venv/bin/python {args.command}  ({time.perf_counter() - start:.0f} s)")
    print("\n".join(lines))
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(saved, indent=1) + "\n")


if __name__ == "__main__":
    main()
