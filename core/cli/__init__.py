"""The command line: ``lab <command>`` (or ``python -m core <command>``), on the same code path as the pages.

The parser is built from one module per command group, each with an ``add_commands(sub)`` that registers its
subcommands and their functions: ``models``, ``sampling`` (generate, next-token), ``shots``, ``train``, ``evaluate`` (eval),
``labels``, ``rag``, ``align`` (ppo, dpo, rloo), ``safety`` (score, revise, rlaif),
``reason`` (sandbox, solve, eval), ``pretrain`` (pretrain, scaling sweep), ``compute`` (memory, chinchilla),
``deploy`` (quantize, prune, distil, compare), ``class`` (init, add-students, reset-password, list).
Add a group by writing its module and one line in ``GROUPS``.
Errors a user can fix print one line to stderr and exit with status 2; nothing here imports streamlit.
"""

from __future__ import annotations

import argparse
import sys

from core.cli import align, classroom, compute, deploy, evaluate, labels, models, pretrain, rag, reason, safety, sampling, shots, train

GROUPS = (models, sampling, shots, train, align, evaluate, labels, rag, safety, reason, pretrain, compute, deploy, classroom)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="LLM Lifecycle Lab from the command line "
                                     "(also `python -m core`).")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from core.classroom.accounts import LOCAL, set_process_actor

    args = build_parser().parse_args(argv)
    set_process_actor(LOCAL)  # whoever has the server's shell acts as the teacher
    try:
        return args.func(args)
    except ValueError as err:  # ModelError and settings errors: the user can fix these
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        set_process_actor(None)
