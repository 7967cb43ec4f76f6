"""``lab shots``: accuracy or ROUGE-L of a bundled task as few-shot examples are added."""

from __future__ import annotations

import argparse
import json
import sys

from core import models
from core.cli.common import add_precision, int_list


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shots", help="score a bundled task with 0, 1, 2... examples in the prompt")
    p.add_argument("--task", default="sentiment", help="bundled dataset: sentiment or dialogsum")
    p.add_argument("--k", type=int_list, default=[0, 1, 2, 4, 8], help="comma-separated numbers of shots (0-8)")
    p.add_argument("--n", type=int, default=20, help="test examples scored at each k")
    p.add_argument("--model", action="append", help="model to test (repeatable; default: the default model)")
    p.add_argument("--strategy", default="balanced", help="random, balanced or similar")
    p.add_argument("--scoring", default="loglik", help="loglik or generate")
    p.add_argument("--chat", action="store_true", help="use the chat template")
    p.add_argument("--seed", type=int, default=0)
    add_precision(p)
    p.add_argument("--json", action="store_true", help="print JSON (summary and every example)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.data import load_bundled
    from core.prompting.shots import ShotsConfig, metric_name, run_shots, summarize

    config = ShotsConfig(ks=tuple(args.k), n=args.n, strategy=args.strategy, scoring=args.scoring, chat=args.chat,
                         seed=args.seed)
    task = load_bundled(args.task)
    embedder = None
    if config.strategy == "similar":
        from core.embeddings import load_embedder

        embedder = load_embedder()
    results = []
    for name in args.model or [models.DEFAULT_MODEL]:
        loaded = models.load_model(name, precision=args.precision)
        progress = None if args.json else (
            lambda done, total, _, n=name: print(f"\r{n}: {done}/{total}", end="", file=sys.stderr))
        results += run_shots(loaded, task, config, embedder, on_progress=progress)
        if not args.json:
            print(file=sys.stderr)
    rows = summarize(results)
    if args.json:
        print(json.dumps({"task": args.task, "metric": metric_name(task), "summary": rows,
                          "examples": [r.__dict__ for r in results]}, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.task}: {metric_name(task)} by number of shots ({config.strategy} selection, {config.scoring} scoring)")
    print(f"{'model':24} {'k':>2} {'score':>7} {'prompt tokens':>14} {'n':>4}")
    for row in rows:
        print(f"{row['model']:24} {row['k']:>2} {row['score']:>7.3f} {row['prompt_tokens']:>14.0f} {row['n']:>4}")
    return 0
