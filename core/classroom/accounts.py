"""A class's accounts and who is acting: sign-in with bcrypt-hashed passwords, roles, and the ownership check.

On a laptop there is no class and one local user, who may change everything (``LOCAL``). A class exists once the
teacher runs ``python -m core class init``; from then on (or whenever ``LAB_AUTH=on``) the app shows only the sign-in
form until someone signs in, and every ``core`` function that changes or deletes takes the acting user (``Actor``)
and refuses another student's objects with ``OwnershipError``. Passwords are hashed with bcrypt (pyca's library, not
hand-written crypto); a student's name is also their annotator name, normalised as ``core.store.normalize_annotator``
keeps names. Five wrong passwords in a row lock an account for five minutes.

Whoever has a shell on the server can change everything anyway: the command line acts as the teacher
(``set_process_actor``), and a background run acts for the account that started it, which was checked at its start.

Does not hold: the sign-in form (``core.ui.classroom``) or the run queue (``core.classroom.queue``).
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

ROLES = ("teacher", "student")
MAX_ATTEMPTS = 5  # wrong passwords in a row before the account is locked
LOCK_SECONDS = 300
PASSWORD_MIN = 8
PASSWORD_MAX_BYTES = 72  # bcrypt reads no further (and bcrypt 5 refuses longer passwords)


@dataclass(frozen=True)
class Actor:
    """Who is acting: an account's name and role (or the local user of a laptop with no class)."""

    name: str
    role: str

    @property
    def is_teacher(self) -> bool:
        return self.role == "teacher"


LOCAL = Actor("local", "teacher")
_process_actor: Actor | None = None


class AccountError(ValueError):
    """A class command or sign-in cannot be done; the message says why."""


class OwnershipError(ValueError):
    """The acting user may not change this object (it is another student's), or nobody is signed in."""


def _rounds() -> int:
    # bcrypt's cost: 12 (about 0.25 s a hash here) unless LAB_BCRYPT_ROUNDS says otherwise (the tests use 4)
    return int(os.environ.get("LAB_BCRYPT_ROUNDS", "12"))


def _hash(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=_rounds())).decode("ascii")


def _matches(password: str, hashed: str) -> bool:
    import bcrypt

    encoded = password.encode("utf-8")
    return len(encoded) <= PASSWORD_MAX_BYTES and bcrypt.checkpw(encoded, hashed.encode("ascii"))


def _dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _hash(secrets.token_urlsafe(12))
    return _DUMMY


_DUMMY: str | None = None


def new_password() -> str:
    """A one-time password: 12 characters from the URL-safe alphabet (72 bits)."""
    return secrets.token_urlsafe(9)


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"A password needs at least {PASSWORD_MIN} characters (this one has {len(password)}).")
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise AccountError(f"A password can be at most {PASSWORD_MAX_BYTES} bytes long.")
    return password


def check_name(name: str) -> str:
    from core.store import normalize_annotator

    try:
        return normalize_annotator(name)
    except ValueError as err:
        raise AccountError(str(err)) from None


# ---------------------------------------------------------------- the class


def has_class() -> bool:
    """Whether the lab's database holds a class (any account)."""
    from core.store import session
    from core.store.tables import Account

    with session() as s:
        return s.scalars(select(Account.name).limit(1)).first() is not None


def auth_enabled() -> bool:
    """Sign-in is on with ``LAB_AUTH=on``, and always once the lab holds a class."""
    return os.environ.get("LAB_AUTH", "").lower() in ("on", "1", "true", "yes") or has_class()


def _add(s: Any, name: str, role: str, hashed: str, must_change: bool) -> None:
    from core.store.tables import Account

    s.add(Account(name=name, role=role, password_hash=hashed, must_change=must_change))

def _writes(function: Any) -> Any:
    """``core.store.database.writes`` (a busy database is waited for and retried, then said plainly), imported when
    called: the store imports this module."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from core.store.database import writes

        return writes(function)(*args, **kwargs)

    return wrapper


# bcrypt is slow on purpose (a quarter of a second a hash): every hash and check is done before a write transaction
# opens, never inside one, or thirty students signing in at once would hold SQLite's write lock in turn for seconds
# and the labels saved meanwhile would time out (seen in benchmarks/class_browsers.py).


@_writes
def init_class(teacher: str, password: str | None = None) -> str:
    """Create the class with its teacher's account; returns the password (a one-time one when none is given)."""
    from core.store import write_session

    name = check_name(teacher)
    if has_class():
        raise AccountError("This lab already has a class; use `class reset-password NAME` to give someone a new password.")
    chosen = password is not None
    password = check_password(password) if chosen else new_password()
    hashed = _hash(password)
    with write_session() as s, s.begin():
        _add(s, name, "teacher", hashed, must_change=not chosen)
    return password


def parse_students(text: str) -> list[str]:
    """One name per line (blank lines and lines starting with # are skipped). Every bad line is reported, with its
    number, in one AccountError: a name that is not valid, or one that appears twice."""
    names: list[str] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name = check_name(line)
        except AccountError as err:
            errors.append(f"line {number}: {err}")
            continue
        if name in first_line:
            errors.append(f"line {number}: {name!r} is already on line {first_line[name]}")
            continue
        first_line[name] = number
        names.append(name)
    if errors:
        raise AccountError("The student list has bad lines; nobody was added:\n" + "\n".join(errors))
    if not names:
        raise AccountError("The student list holds no names (one name per line).")
    return names


@_writes
def add_students(text: str, actor: Actor | None = None) -> list[tuple[str, str]]:
    """Add every student of a list (see ``parse_students``) with a one-time password each, all or none: a name that
    already has an account is refused. Returns (name, password) pairs to hand out."""
    from core.store import write_session
    from core.store.tables import Account

    check_teacher(actor, "add students")
    names = parse_students(text)
    if not has_class():
        raise AccountError("No class yet: run `python -m core class init` first.")
    passwords = [(name, new_password()) for name in names]
    hashes = [_hash(password) for _, password in passwords]
    with write_session() as s, s.begin():
        taken = set(s.scalars(select(Account.name).where(Account.name.in_(names))))
        if taken:
            raise AccountError(f"These names already have accounts; nobody was added: {', '.join(sorted(taken))}.")
        for (name, _), hashed in zip(passwords, hashes):
            _add(s, name, "student", hashed, must_change=True)
    return passwords


@_writes
def reset_password(name: str, actor: Actor | None = None) -> str:
    """A new one-time password for an account (and its lock lifted): the teacher's call."""
    from core.store import write_session
    from core.store.tables import Account

    check_teacher(actor, "give out new passwords")
    name = check_name(name)
    password = new_password()
    hashed = _hash(password)
    with write_session() as s, s.begin():
        row = s.get(Account, name)
        if row is None:
            raise AccountError(f"No account {name!r}.")
        row.password_hash, row.must_change, row.failed, row.locked_until = hashed, True, 0, 0.0
    return password


def list_accounts() -> list[dict[str, Any]]:
    from core.store import session
    from core.store.tables import Account

    with session() as s:
        rows = s.scalars(select(Account).order_by(Account.role.desc(), Account.name))
        return [{"name": r.name, "role": r.role, "must_change": r.must_change, "locked": r.locked_until > time.time(),
                 "created": r.created} for r in rows]


# ---------------------------------------------------------------- signing in


def sign_in(name: str, password: str) -> tuple[Actor, bool]:
    """The account's Actor and whether it must choose a new password first. A wrong name or password says only that
    (and how many tries are left); after MAX_ATTEMPTS wrong ones in a row the account is locked for LOCK_SECONDS."""
    from core.store import session
    from core.store.tables import Account

    wrong = "Wrong name or password."
    try:
        name = check_name(name)
    except AccountError:
        raise AccountError(wrong) from None
    with session() as s:
        row = s.get(Account, name)
    if row is None:
        _matches(password, _dummy_hash())  # as slow as a real check: the time does not tell which names exist
        raise AccountError(wrong)
    now = time.time()
    if row.locked_until > now:
        raise AccountError(f"Too many wrong passwords for {name!r}: try again in {row.locked_until - now:.0f} s, "
                           "or ask the teacher for a new password.")
    if _matches(password, row.password_hash):
        if row.failed:
            _record_attempt(name, right=True)
        return Actor(row.name, row.role), row.must_change
    raise AccountError(_record_attempt(name, right=False))


@_writes
def _record_attempt(name: str, right: bool) -> str:
    """Count a wrong password (locking the account at MAX_ATTEMPTS in a row) or clear the count after a right one. In
    its own short write transaction, counted on the row as it is now: two wrong tries at once both count. Returns
    what to tell the user after a wrong one."""
    from core.store import write_session
    from core.store.tables import Account

    wrong = "Wrong name or password."
    with write_session() as s, s.begin():
        row = s.get(Account, name)
        if row is None:
            raise AccountError(wrong)
        if right:
            row.failed = 0
            return ""
        now = time.time()
        row.failed += 1
        if row.failed >= MAX_ATTEMPTS:
            row.failed, row.locked_until = 0, now + LOCK_SECONDS
            message = f"{wrong} That was {MAX_ATTEMPTS} in a row: {name!r} is locked for {LOCK_SECONDS // 60} minutes."
        else:
            message = f"{wrong} {MAX_ATTEMPTS - row.failed} tries left before the account is locked."
    return message


@_writes
def change_password(actor: Actor, new: str) -> None:
    """The signed-in user's own new password (ending a one-time one)."""
    from core.store import write_session
    from core.store.tables import Account

    hashed = _hash(check_password(new))
    with write_session() as s, s.begin():
        row = s.get(Account, actor.name)
        if row is None:
            raise AccountError(f"No account {actor.name!r}.")
        row.password_hash, row.must_change = hashed, False


# ---------------------------------------------------------------- who is acting, and may they


def set_process_actor(actor: Actor | None) -> None:
    """Who acts when a function is given no actor, in this process: the command line (the teacher) and a run's child
    process (the run's owner). The app's server never sets it: there every change names its actor."""
    global _process_actor
    _process_actor = actor


def acting(actor: Actor | None) -> Actor:
    """The actor, else this process's actor, else the local user while there is no class. With a class and nobody
    named, nothing may change: OwnershipError (so a forgotten actor fails closed instead of acting as the teacher)."""
    if actor is not None:
        return actor
    if _process_actor is not None:
        return _process_actor
    if auth_enabled():
        raise OwnershipError("Sign in first: this lab has a class, and every change needs an account.")
    return LOCAL


def check_owner(actor: Actor | None, owner: str | None, what: str) -> Actor:
    """Refuse with OwnershipError unless the actor is the teacher (or the local user) or owns the object."""
    who = acting(actor)
    if not who.is_teacher and owner != who.name:
        owned_by = f"belongs to {owner}" if owner else "belongs to the class"
        raise OwnershipError(f"{what} {owned_by}; a student can change only their own.")
    return who


def check_teacher(actor: Actor | None, what: str) -> Actor:
    who = acting(actor)
    if not who.is_teacher:
        raise OwnershipError(f"Only the teacher can {what}.")
    return who
