"""``lab eval``: models × tasks (× prompt templates), each result saved to the lab's database (the dashboard shows
them too), with each metric's standard error; ``lab eval-compare A B``: a paired comparison of two saved evaluations."""

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
    p.add_argument("--max-new-tokens", type=int, default=48, help="the longest answer a model may write")
    p.add_argument("--template", action="append", help="a prompt template with {input} (repeatable: each (model, "
                   "template) is saved as its own evaluation); write \\n for a new line")
    add_precision(p)
    p.add_argument("--json", action="store_true", help="print JSON: metrics, standard errors and every example")
    p.set_defaults(func=run)
    c = sub.add_parser("eval-compare", help="is evaluation B better than evaluation A? paired bootstrap and sign test "
                       "on their shared examples")
    c.add_argument("a", type=int, help="id of the baseline evaluation (see the dashboard's History)")
    c.add_argument("b", type=int, help="id of the challenger evaluation")
    c.add_argument("--metric", help="metric to compare (default: the task's headline metric)")
    c.add_argument("--iters", type=int, default=1000, help="bootstrap resamples")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.set_defaults(func=compare)


def run(args: argparse.Namespace) -> int:
    from core.evaluation import EvalConfig, evaluation_label, run_evaluations, stderrs
    from core.store import load_evaluation

    templates = tuple(t.replace("\\n", "\n") for t in args.template or ())
    config = EvalConfig(models=tuple(args.model or [models.DEFAULT_MODEL]), tasks=tuple(args.task or ["sentiment"]),
                        limit=args.limit, shots=args.shots, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                        precision=args.precision, templates=templates)

    def progress(event: dict) -> None:
        if not args.json and "done" in event:
            print(f"\r{event['model']} on {event['task']}: {event['done']}/{event['total']}", end="", file=sys.stderr)

    ids = run_evaluations(config, progress)
    results = [load_evaluation(i) for i in ids]
    errors = [stderrs(r) for r in results]
    if args.json:
        print(json.dumps([{**r, "stderr": e, "created": str(r["created"])} for r, e in zip(results, errors)], indent=2,
                         ensure_ascii=False))
        return 0
    print(file=sys.stderr)
    for r, e in zip(results, errors):
        shown = ", ".join(f"{k} {v:.3f}" + (f" ± {e[k]:.3f}" if k in e else "") for k, v in r["metrics"].items()
                          if not k.endswith(("_precision", "_recall")))
        print(f"{evaluation_label(r):24} {r['task']:14} n={r['n']:<4} {shown}  (saved as evaluation {r['id']})")
    return 0


def compare(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from core.evaluation import HEADLINE, compare_pair, evaluation_label, task_kind
    from core.store import load_evaluation

    try:
        a, b = load_evaluation(args.a), load_evaluation(args.b)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    labels = (f"#{a['id']} {evaluation_label(a)}", f"#{b['id']} {evaluation_label(b)}")
    result = compare_pair(a, b, args.metric or HEADLINE[task_kind(a["task"])], iters=args.iters, labels=labels)
    if args.json:
        print(json.dumps({**asdict(result), "significant": result.significant, "verdict": result.verdict}, indent=2,
                         ensure_ascii=False))
    else:
        print(result.verdict)
    return 0
