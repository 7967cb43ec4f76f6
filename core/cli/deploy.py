"""``lab deploy quantize|prune|distil|compare``: make a smaller or faster variant as a run and wait for it.

Each variant is the same background run the Optimise & deploy page starts; this command waits for it and prints its
measurements (``--json``: one object with size_bytes, size_ratio, perplexity, perplexity_ratio, tokens_per_s,
tokens_per_s_base, accuracy and the path of the saved variant). ``compare`` prints the comparison table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.common import read_settings

SUMMARY = (("size_bytes", "memory (bytes)"), ("size_ratio", "memory / float32 base"), ("perplexity", "perplexity"),
           ("perplexity_ratio", "perplexity / base"), ("tokens_per_s", "tokens/s"), ("tokens_per_s_base", "base tokens/s"),
           ("accuracy", "knowledge_mc acc"), ("path", "saved in"))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="quantise, prune or distil a model into a variant; compare the variants")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("quantize", help="int8 or int4 weights")
    q.add_argument("--model", required=True, help="a bundled model name or run:<id>")
    q.add_argument("--method", default="int8", help="int8 or int4")
    r = actions.add_parser("prune", help="drop decoder layers by saliency, MLP channels, or magnitude zeros")
    r.add_argument("--model", required=True)
    r.add_argument("--drop-layers", type=int, default=0)
    r.add_argument("--mlp-fraction", type=float, default=0.0)
    r.add_argument("--sparsity", type=float, default=0.0)
    d = actions.add_parser("distil", help="train a smaller student on a teacher's distributions (YAML config)")
    d.add_argument("config", type=Path, help="e.g. assets/configs/distil-smollm2.yaml")
    c = actions.add_parser("compare", help="the table of base models and variants, Pareto front marked")
    for parser in (q, r, d, c):
        parser.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=run_variant, kind="quantize")
    r.set_defaults(func=run_variant, kind="prune")
    d.set_defaults(func=run_variant, kind="distil")
    c.set_defaults(func=run_compare)


def settings(args: argparse.Namespace) -> dict:
    if args.kind == "quantize":
        return {"base_model": args.model, "scheme": args.method}
    if args.kind == "prune":
        if not (args.drop_layers or args.mlp_fraction or args.sparsity):
            raise ValueError("Say how to prune: --drop-layers N, --mlp-fraction F or --sparsity S.")
        return {"base_model": args.model, "drop_layers": args.drop_layers, "mlp_fraction": args.mlp_fraction,
                "sparsity": args.sparsity}
    return read_settings(args.config)


def run_variant(args: argparse.Namespace) -> int:
    from core import jobs
    from core.deploy.variants import start_variant

    run = start_variant(args.kind, settings(args))
    if not args.json:
        print(f"run {run.id} started; waiting (follow it on the Optimise & deploy page, or in {run.dir / 'log.txt'})")
    run = jobs.wait_for(run.id, timeout=6 * 3600)
    if run.state != "done":
        print(json.dumps({"run": run.id, "state": run.state, "error": run.status.get("error")}) if args.json
              else f"error: run {run.id} {run.state}: {run.status.get('error', '')}")
        return 1
    result = {"run": run.id, "model": f"run:{run.id}", **(run.status.get("result") or {})}
    if args.json:
        print(json.dumps(result, default=str))
    else:
        for key, title in SUMMARY:
            print(f"{title:24} {result.get(key)}")
        print(f"use it as --model run:{run.id}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from core.deploy.compare import COLUMNS, comparison

    rows = comparison()
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print("No finished variants yet: lab deploy quantize --model smollm2-135m-instruct --method int8")
        return 0
    print("  ".join(f"{c:>14}" for c in COLUMNS))
    for row in rows:
        print("  ".join(f"{_cell(row.get(c)):>14}" for c in COLUMNS))
    return 0


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)[:28]
