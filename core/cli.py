"""The command line: ``python -m core <command>``. Each page's work has a subcommand on the same code path as the page.

Commands: ``models`` (the registry, what is installed and cached), ``generate`` (stream a completion to stdout).
Errors a user can fix print one line to stderr and exit with status 2; nothing here imports streamlit.
"""

from __future__ import annotations

import argparse
import json
import sys

from core import models


def _cmd_models(args: argparse.Namespace) -> int:
    rows = models.list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':24} {'kind':9} {'installed':10} {'cached':7} package")
    for row in rows:
        mark = " (default)" if row["default"] else ""
        print(
            f"{row['name']:24} {row['kind']:9} {'yes' if row['installed'] else 'NO':10} "
            f"{'yes' if row['cached'] else 'no':7} {row['package']}{mark}"
        )
    print("\nAny local folder saved with save_pretrained, or a Hugging Face Hub id in the local cache, works too.")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from core.sampling import SamplingSettings, encode_prompt, stream_generate

    settings = SamplingSettings(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        do_sample=args.temperature > 0,
        seed=args.seed,
    )
    progress = (lambda message: print(message, file=sys.stderr)) if not args.quiet else None
    loaded = models.load_model(args.model, precision=args.precision, on_progress=progress)
    ids = encode_prompt(loaded, args.prompt, chat=args.chat)
    for token in stream_generate(loaded, ids, settings, max_new_tokens=args.max_new_tokens):
        sys.stdout.write(token.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="LLM Lifecycle Lab from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the bundled models and whether they are installed and cached")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("generate", help="stream a completion to stdout")
    p.add_argument("--model", default=models.DEFAULT_MODEL, help="bundled name, local folder or hub id")
    p.add_argument("--prompt", required=True)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--precision", choices=models.PRECISIONS, default="auto")
    p.add_argument("--quiet", action="store_true", help="no loading messages on stderr")
    p.set_defaults(func=_cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # ModelError and settings errors: the user can fix these
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
