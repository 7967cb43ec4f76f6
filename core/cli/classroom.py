"""``lab class init|add-students|reset-password|list``: the teacher sets up a class on the server's command line.

``init`` creates the teacher's account: at a terminal it asks for a password (twice); otherwise (a script, CI) it makes
a one-time password and prints it with how to sign in. ``add-students FILE`` (one name per line) prints each
student's one-time password; a bad line or a taken name adds nobody. Whoever runs these has the server's shell,
so the command line acts as the teacher.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("class", help="a class of students: sign-in accounts for the teacher and students")
    commands = group.add_subparsers(dest="class_command", required=True)
    p = commands.add_parser("init", help="create the class and the teacher's account (sign-in is on from then on)")
    p.add_argument("--teacher", default="teacher", help="the teacher's account name (default: teacher)")
    p.set_defaults(func=init)
    p = commands.add_parser("add-students", help="accounts for a list of names (one per line); prints one-time passwords")
    p.add_argument("file", type=Path)
    p.set_defaults(func=add_students)
    p = commands.add_parser("reset-password", help="a new one-time password for an account (and its lock lifted)")
    p.add_argument("name")
    p.set_defaults(func=reset_password)
    p = commands.add_parser("list", help="the class's accounts")
    p.set_defaults(func=list_accounts)


def _sign_in_hint() -> str:
    return "Start the app with `make run` and sign in at http://<this machine>:8501 with the name and password."


def init(args: argparse.Namespace) -> int:
    from core.classroom import accounts

    password = None
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.teacher} (at least {accounts.PASSWORD_MIN} characters): ")
        if getpass.getpass("Once more: ") != password:
            raise accounts.AccountError("The two passwords differ; nothing was created.")
    made = accounts.init_class(args.teacher, password)
    name = accounts.check_name(args.teacher)
    print(f"Class created. Teacher account: {name}" + ("" if password else f"\nOne-time password: {made} "
          "(you choose a new one at the first sign-in)"))
    print(_sign_in_hint())
    return 0


def add_students(args: argparse.Namespace) -> int:
    from core.classroom import accounts

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise accounts.AccountError(f"Cannot read {args.file}: {err}") from None
    made = accounts.add_students(text)
    width = max(len(name) for name, _ in made)
    print(f"{len(made)} students added. One-time passwords (each student chooses a new one at the first sign-in):")
    for name, password in made:
        print(f"{name:<{width}}  {password}")
    return 0


def reset_password(args: argparse.Namespace) -> int:
    from core.classroom import accounts

    password = accounts.reset_password(args.name)
    print(f"New one-time password for {accounts.check_name(args.name)}: {password}")
    return 0


def list_accounts(args: argparse.Namespace) -> int:
    from core.classroom import accounts

    for row in accounts.list_accounts():
        state = " (locked)" if row["locked"] else " (one-time password)" if row["must_change"] else ""
        print(f"{row['role']:<8} {row['name']}{state}")
    return 0
