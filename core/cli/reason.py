"""``lab reason sandbox|solve|eval``: the PAL sandbox, one problem solved by a method, and accuracy per method.

``sandbox FILE.py [--timeout S] --json`` runs a file through exactly the path PAL uses and prints
``{"ok", "stdout", "answer", "error", "timed_out", "seconds"}`` (and which isolation layers held).
``solve --method M --question TEXT`` prints the answer, or with ``--json`` the exact prompt, raw output and trace.
``eval --method M [--method M2 ...] [--limit N]`` scores methods on the test split and prints accuracy ± standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from core import models
from core.reasoning.methods import ARITHMETIC_METHODS, DOCUMENT_METHODS


def add_commands(sub: argparse._SubParsersAction) -> None:
    reason = sub.add_parser("reason", help="chain of thought, PAL in a sandbox, ReAct")
    commands = reason.add_subparsers(dest="reason_command", required=True)
    p = commands.add_parser("sandbox", help="run a Python file in the PAL sandbox")
    p.add_argument("file", type=Path)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds of wall-clock time (0.1 to 60)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=sandbox)
    methods = sorted(set(ARITHMETIC_METHODS) | set(DOCUMENT_METHODS))
    p = commands.add_parser("solve", help="solve one problem with one method")
    p.add_argument("--method", choices=methods, required=True)
    p.add_argument("--question", required=True)
    p.add_argument("--task", choices=("arithmetic", "documents"), default=None,
                   help="default: documents for rag, arithmetic otherwise (react searches the Lumenfold documents "
                        "only with --task documents)")
    p.add_argument("--model", default=models.DEFAULT_MODEL)
    p.add_argument("--k", type=int, default=5, help="chains for self-consistency")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=solve)
    p = commands.add_parser("eval", help="accuracy of methods on the test split")
    p.add_argument("--method", action="append", choices=methods, required=True, help="repeat for several methods")
    p.add_argument("--model", action="append", default=None, help="repeat for several models (default: the default model)")
    p.add_argument("--task", choices=("arithmetic", "documents"), default="arithmetic")
    p.add_argument("--limit", type=int, default=None, help="only the first N test problems")
    p.add_argument("--k", type=int, default=5, help="chains for self-consistency")
    p.add_argument("--output-dir", type=Path, default=None, help="keep results.jsonl here (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=evaluate)


def sandbox(args: argparse.Namespace) -> int:
    from core.reasoning.sandbox import run_program

    try:
        code = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"Cannot read {args.file}: {err}") from err
    result = run_program(code, args.timeout)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(result.stdout)
        print(f"answer: {result.answer}  ({result.seconds:.3f} s)" if result.ok else f"error: {result.error}", file=sys.stderr)
    return 0 if result.ok else 1


def solve(args: argparse.Namespace) -> int:
    from core.reasoning.llm import LabModel
    from core.reasoning.methods import solve, task_tools

    kind = args.task or ("documents" if args.method == "rag" else "arithmetic")
    model = LabModel(models.load_model(args.model))
    options = {"k": args.k, **task_tools(kind, model)}
    solution = solve(model, args.method, args.question, kind, **options)
    if args.json:
        print(json.dumps(solution.to_json(), indent=1, default=str))
        return 0
    print(solution.output)
    print(f"\nanswer: {solution.answer}" if solution.answer is not None else f"\n{solution.error}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from core.jobs import RunContext
    from core.reasoning.experiment import check_config, experiment_job, read_results, summarise

    config = check_config({"task": args.task, "methods": args.method, "models": args.model or [models.DEFAULT_MODEL],
                           "limit": args.limit, "k": args.k})
    folder = args.output_dir or Path(tempfile.mkdtemp(prefix="lab-reason-eval-"))
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "results.jsonl").exists():
        raise ValueError(f"{folder} already holds results.jsonl; choose another --output-dir.")
    ctx = RunContext(folder, config)
    ctx.progress = lambda **fields: print(json.dumps(fields, default=float), file=sys.stderr, flush=True)  # type: ignore[method-assign]
    experiment_job(ctx)
    summary = summarise(read_results(folder))
    if args.json:
        print(json.dumps({"results": str(folder / "results.jsonl"), "summary": summary}, indent=1))
        return 0
    for row in summary:
        print(f"{row['model']:<24} {row['method']:<17} {row['accuracy']:6.1%} ± {row['standard_error']:.1%}  "
              f"(n={row['n']}, unreadable {row['unreadable']}, {row['seconds']:.2f} s each)")
    print(f"results: {folder / 'results.jsonl'}")
    return 0
