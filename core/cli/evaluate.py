"""``lab eval``: models × tasks, each result saved to the lab's database (the dashboard shows them too)."""

from __future__ import annotations

import argparse
import json
import sys

from core import models
from core.cli.common import add_precision


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate models on tasks; results are saved in the lab's database")
    p.add_argument("--model", action="append", help="model to evaluate (repeatable; default: the default model)")
    p.add_argument("--task", action="append", help="bundled task (knowledge_mc, sentiment, dialogsum, translation, "
                   "general_text) or KIND:PATH for your own file (repeatable)")
    p.add_argument("--limit", type=int, default=20, help="first N test examples per task (0 = all)")
    p.add_argument("--shots", type=int, default=0, help="examples from the pool put in each prompt")
    p.add_argument("--batch-size", type=int, default=8, help="prompts generated together")
    add_precision(p)
    p.add_argument("--json", action="store_true", help="print JSON: metrics and every example")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.evaluation import EvalConfig, run_evaluations
    from core.store import load_evaluation

    config = EvalConfig(models=tuple(args.model or [models.DEFAULT_MODEL]), tasks=tuple(args.task or ["sentiment"]),
                        limit=args.limit, shots=args.shots, batch_size=args.batch_size, precision=args.precision)

    def progress(event: dict) -> None:
        if not args.json and "done" in event:
            print(f"\r{event['model']} on {event['task']}: {event['done']}/{event['total']}", end="", file=sys.stderr)

    ids = run_evaluations(config, progress)
    results = [load_evaluation(i) for i in ids]
    if args.json:
        print(json.dumps([{**r, "created": str(r["created"])} for r in results], indent=2, ensure_ascii=False))
        return 0
    print(file=sys.stderr)
    for r in results:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if not k.endswith(("_precision", "_recall")))
        print(f"{r['model']:24} {r['task']:14} n={r['n']:<4} {shown}  (saved as evaluation {r['id']})")
    return 0
