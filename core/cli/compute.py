"""``lab compute memory|chinchilla``: memory to run or train a model, and Chinchilla's compute-optimal sizes.

``memory (--model NAME | --params N) --mode inference|train [--precision P] [--optimizer O] [--method M]
[--gpus G --strategy S] [--seq-len L --batch B] [--json]`` prints the parts (weights, KV cache, activations, gradients,
optimizer states, master weights) in MiB/GiB, per device when ``--gpus`` > 1, or their bytes as JSON.
``chinchilla (--params N | --compute C) [--json]`` prints the compute-optimal pairing (20 tokens per parameter), its
FLOPs (6 N D) and the loss Hoffmann et al.'s fit predicts.
"""

from __future__ import annotations

import argparse
import json

from core.compute.memory import INFERENCE_PRECISIONS, METHODS, OPTIMIZERS, STRATEGIES, TRAINING_PRECISIONS

DEFAULT_SEQ_LEN = 2048  # with --model: a typical context; with --params there is no shape to size activations with


def add_commands(sub: argparse._SubParsersAction) -> None:
    compute = sub.add_parser("compute", help="memory and compute calculators")
    commands = compute.add_subparsers(dest="compute_command", required=True)
    p = commands.add_parser("memory", help="memory to run or train a model, part by part")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="bundled name, local folder or hub id (reads its config only)")
    source.add_argument("--params", type=float,
                        help="only a parameter count, e.g. 1e9 (weights, gradients, optimizer states)")
    p.add_argument("--mode", choices=("inference", "train"), default="inference")
    p.add_argument("--precision", choices=sorted(set(INFERENCE_PRECISIONS) | set(TRAINING_PRECISIONS)),
                   default="fp32",
                   help=f"inference: {', '.join(INFERENCE_PRECISIONS)}; train: {', '.join(TRAINING_PRECISIONS)}")
    p.add_argument("--kv-precision", choices=INFERENCE_PRECISIONS, default=None,
                   help="inference: the KV cache's format")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    p.add_argument("--method", choices=METHODS, default="full")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-targets", default="q_proj,v_proj", help="comma-separated layer names")
    p.add_argument("--virtual-tokens", type=int, default=20, help="prompt tuning's soft prompt length")
    p.add_argument("--recompute", action="store_true", help="train: full activation recomputation")
    p.add_argument("--logits", choices=("last", "all"), default="last",
                   help="inference: logits for the last position only, as generation computes them (default), or "
                   "for every position, as scoring a text (perplexity) does; with a large vocabulary this dominates")
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--strategy", choices=STRATEGIES, default="ddp")
    p.add_argument("--seq-len", type=int, default=None,
                   help=f"tokens per sequence (default {DEFAULT_SEQ_LEN} with --model)")
    p.add_argument("--batch", type=int, default=None, help="sequences per step (default 1 with --model)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=memory)
    p = commands.add_parser("chinchilla", help="compute-optimal model and data sizes")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--params", type=float, help="a model size: the tokens and FLOPs it wants")
    size.add_argument("--compute", type=float, help="a FLOP budget: the model and data it should buy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=chinchilla)


def _breakdown(args: argparse.Namespace):
    from core.compute import inference_memory, shape_for_model, shape_for_params, training_memory

    shape = shape_for_model(args.model) if args.model else shape_for_params(args.params)
    batch, seq_len = args.batch, args.seq_len
    if args.model and batch is None and seq_len is None:
        batch, seq_len = 1, DEFAULT_SEQ_LEN
    elif batch is not None or seq_len is not None:  # one given: the other takes its default
        batch, seq_len = batch or 1, seq_len or DEFAULT_SEQ_LEN
    if args.mode == "inference":
        return inference_memory(shape, args.precision, batch, seq_len, kv_precision=args.kv_precision,
                                logits=args.logits)
    targets = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    return training_memory(shape, args.precision, args.optimizer, args.method, lora_r=args.lora_r,
                           lora_targets=targets, virtual_tokens=args.virtual_tokens, batch=batch, seq_len=seq_len,
                           recompute=args.recompute)


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:9.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:9.1f} MiB"


def memory(args: argparse.Namespace) -> int:
    from core.compute import shard

    whole = _breakdown(args)
    per_device = shard(whole, args.gpus, args.strategy) if args.gpus > 1 or args.strategy != "ddp" else None
    if args.json:
        out = whole.to_json()
        if per_device is not None:
            out["per_device"] = per_device.to_json()
        print(json.dumps(out, indent=1))
        return 0
    title = args.model or f"{args.params:.3g} parameters"
    training = f", {args.method}, {args.optimizer}" if args.mode == "train" else ""
    print(f"{title}: {args.mode}, {args.precision}{training}")
    header = f"  {'part':<22}{'total':>14}"
    print(header + (f"{'per device':>14}  ({args.gpus} x {args.strategy})" if per_device else ""))
    for name, nbytes in whole.parts.items():
        row = f"  {name.removesuffix('_bytes'):<22}{_size(nbytes):>14}"
        print(row + (f"{_size(per_device.parts[name]):>14}" if per_device else ""))
    per_device_total = f"{_size(per_device.total_bytes):>14}" if per_device else ""
    print(f"  {'total':<22}{_size(whole.total_bytes):>14}{per_device_total}")
    print(f"  params {whole.params:,}, trainable {whole.trainable_params:,}")
    for note in whole.notes:
        print(f"  note: {note}")
    return 0


def chinchilla(args: argparse.Namespace) -> int:
    from core.compute import chinchilla_for_params, chinchilla_optimal

    point = chinchilla_for_params(args.params) if args.params is not None else chinchilla_optimal(args.compute)
    if args.json:
        print(json.dumps(point.to_json(), indent=1))
        return 0
    print(f"params {point.params:.3g}  tokens {point.tokens:.3g} (20 per parameter)  compute {point.flops:.3g} FLOPs "
          f"(6 N D)  predicted loss {point.loss:.3f}")
    return 0
