"""The database engine and its sessions: SQLite in WAL mode under LAB_HOME by default, or ``$LAB_DB_URL``.

Reads and writes take different transactions on SQLite: ``session()`` for reads (a deferred BEGIN: it never waits
for a writer), ``write_session()`` for writes (BEGIN IMMEDIATE: writers queue for the lock instead of failing when a
read turns into a write). ``writes`` wraps every write function: a lock that outlasts busy_timeout is retried a
bounded number of times and then reported as ``StoreBusyError``; a full disk as ``DiskFullError``. New columns are
added to an existing database on first use (``_migrate``), so a LAB_HOME made by an earlier version keeps working.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any, Callable, TypeVar

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.files import disk_full_guard
from core.paths import ensure_dir, lab_home
from core.store.tables import Base, Prompt, text_hash

T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000
WRITE_ATTEMPTS = 3
SYNCHRONOUS = "FULL"


def database_url() -> str:
    """``$LAB_DB_URL``, or SQLite at ``$LAB_HOME/lab.db``."""
    return os.environ.get("LAB_DB_URL") or f"sqlite:///{ensure_dir(lab_home()) / 'lab.db'}"


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine() -> Engine:
    """The engine for the current URL, with the tables created (one per URL per process)."""
    url = database_url()
    with _engines_lock:
        if url not in _engines:
            # pool_pre_ping: a connection the server dropped (a restart, a network cut) is replaced before use
            created = create_engine(url, pool_pre_ping=True)
            if created.dialect.name == "sqlite":
                event.listen(created, "connect", _sqlite_pragmas)
                event.listen(created, "begin", _sqlite_begin)
            else:
                event.listen(created, "handle_error", _unreachable)
            Base.metadata.create_all(created)
            _migrate(created)
            _engines[url] = created
        return _engines[url]


class StoreUnavailableError(ValueError):
    """The database server cannot be reached (stopped, restarting, network gone); what was being saved was not."""


def _unreachable(context: Any) -> None:
    # A server that went away is said plainly, once, instead of as a driver traceback. The transaction rolled back:
    # nothing half-saved. The next call reconnects by itself (pool_pre_ping) once the server is back.
    if getattr(context, "is_pre_ping", False):
        return  # the pool's own check of a pooled connection: it reconnects by itself
    if context.is_disconnect or "connection" in str(context.original_exception).lower():
        where = context.engine.url.render_as_string(hide_password=True) if context.engine is not None else "server"
        raise StoreUnavailableError(f"The lab's database ({where}) cannot be reached "
                                    f"({type(context.original_exception).__name__}); nothing was saved. The lab reconnects "
                                    "by itself when it is back: try again in a moment.") from context.original_exception


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL: readers never wait for the writer; busy_timeout: a second writer waits its turn (then write() retries);
    # foreign keys: deleting an evaluation deletes its examples; synchronous=FULL: a committed ranking survives a power
    # cut too (NORMAL may lose the last commits; FULL cost 0.35 ms more per save here: 1.27 vs 0.92 ms, benchmarks/store.py).
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    cursor.close()
    connection.isolation_level = None  # the driver's own BEGIN is off: the "begin" event below issues ours


def _sqlite_begin(connection: Any) -> None:
    # A write transaction takes the write lock at its start (BEGIN IMMEDIATE): one that starts reading and then writes
    # cannot wait for the lock and fails at once. Reads start a plain deferred transaction and never queue behind writers.
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("lab_write") else "BEGIN")


def _migrate(created: Engine) -> None:
    """Columns added since the first version: added to an existing database (and filled) on first use."""
    from sqlalchemy import inspect, text, update

    if "text_hash" not in {c["name"] for c in inspect(created).get_columns("rlhf_prompts")}:
        with created.connect().execution_options(lab_write=True) as conn, conn.begin():
            conn.execute(text("ALTER TABLE rlhf_prompts ADD COLUMN text_hash VARCHAR(64)"))
            conn.execute(text("CREATE INDEX IF NOT EXISTS ix_rlhf_prompts_text_hash ON rlhf_prompts (text_hash)"))
    # A ranking's comment and flags (issue 15): nullable, so older rows need no filling. TEXT and JSON are column
    # types on both SQLite and PostgreSQL. Checked again inside the write transaction (SQLite) or with IF NOT EXISTS
    # (PostgreSQL), so two processes upgrading one database at once do not both add a column.
    # An evaluation's owner (issue 21): NULL for older rows, which only the teacher may then delete.
    for table, column, sql_type in (("rlhf_rankings", "comment", "TEXT"), ("rlhf_rankings", "flags", "JSON"),
                                    ("evaluations", "owner", "VARCHAR(100)")):
        if column not in {c["name"] for c in inspect(created).get_columns(table)}:
            with created.connect().execution_options(lab_write=True) as conn, conn.begin():
                if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
                    guard = " IF NOT EXISTS" if created.dialect.name == "postgresql" else ""
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN{guard} {column} {sql_type}"))
    with Session(created.execution_options(lab_write=True)) as s, s.begin():
        for prompt_id, prompt_text in s.execute(select(Prompt.id, Prompt.text).where(Prompt.text_hash.is_(None))).all():
            s.execute(update(Prompt).where(Prompt.id == prompt_id).values(text_hash=text_hash(prompt_text)))


def session() -> Session:
    """A session for reading (on SQLite a deferred transaction: it never waits for a writer)."""
    return Session(engine(), expire_on_commit=False)


def write_session() -> Session:
    """A session for one write transaction (on SQLite BEGIN IMMEDIATE: writers queue instead of failing)."""
    return Session(engine().execution_options(lab_write=True), expire_on_commit=False)


class StoreBusyError(ValueError):
    """The database stayed locked by other writers past the retries; nothing was saved."""


def writes(function: Callable[..., T]) -> Callable[..., T]:
    """A write that meets a locked database waits (busy_timeout) and retries a bounded number of times, then says so
    plainly; a full disk says so too. Either way the transaction rolled back: nothing was half-saved."""
    from sqlalchemy.exc import OperationalError

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with disk_full_guard("the change to the lab's database"):
                    return function(*args, **kwargs)
            except OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    raise StoreBusyError(f"The lab's database stayed busy for {WRITE_ATTEMPTS * BUSY_TIMEOUT_MS / 1000:.0f} s "
                                         "(a large import or many saves at once); nothing was saved. Try again in a moment.") from err
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper
