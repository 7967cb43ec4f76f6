"""``lab models``: the bundled models and whether they are installed and cached."""

from __future__ import annotations

import argparse
import json

from core import models


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the bundled models and whether they are installed and cached")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
