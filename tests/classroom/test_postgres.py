"""The lab on PostgreSQL: two lab processes share one class (accounts, rankings), and a server that goes away is a
clear error that loses nothing, after which the lab reconnects by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core import store
from core.classroom import accounts
from core.classroom.accounts import Actor
from tests.conftest import ROOT

# One lab process: sign in as a student, rank the comparison as them, print every ranking it then sees.
STUDENT = """
import json, sys
from core import store
from core.classroom import accounts
actor, _ = accounts.sign_in(sys.argv[1], sys.argv[2])
comparison = store.next_comparison(actor.name)
ids = [c["id"] for c in comparison["completions"]]
store.save_ranking(comparison["id"], actor.name, [[ids[0]], [ids[1]]], actor=actor)
print(json.dumps(sorted(r["annotator"] for r in store.list_rankings())))
"""


def comparison() -> int:
    prompt = store.add_prompts([{"text": "Say hi"}])[0]
    return store.add_comparison(prompt, [{"text": t, "model": "m", "settings": {}, "seed": 0} for t in ("hi", "yo")])


def lab_process(name: str, password: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", STUDENT, name, password], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_lab_processes_on_one_postgresql_see_each_others_accounts_and_labels(postgres_db):
    accounts.init_class("teacher", "correct horse")
    accounts.add_students("alice\nbob\n", actor=Actor("teacher", "teacher"))
    for name in ("alice", "bob"):
        accounts.change_password(Actor(name, "student"), f"{name} secret")
    comparison()
    assert lab_process("alice", "alice secret") == ["alice"]
    assert lab_process("bob", "bob secret") == ["alice", "bob"]  # bob's process saw alice's ranking
    assert sorted(r["annotator"] for r in store.list_rankings()) == ["alice", "bob"]


def test_a_dropped_connection_reconnects_and_an_unreachable_server_is_a_clear_error(postgres_db, monkeypatch):
    from sqlalchemy import create_engine, text

    cid = comparison()
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[ids[0]], [ids[1]]])
    admin = create_engine(os.environ["LAB_TEST_PG_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # the server drops every connection of the lab (a restart, a network cut)
        dropped = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = :name AND pid <> pg_backend_pid()"),
                               {"name": postgres_db.rsplit("/", 1)[1]}).scalar()
    admin.dispose()
    assert dropped >= 1
    store.save_ranking(cid, "other", [[ids[1]], [ids[0]]])  # the pool noticed and reconnected
    assert store.label_counts()["rankings"] == 2
    monkeypatch.setenv("LAB_DB_URL", "postgresql+psycopg://lab:lab@127.0.0.1:1/nowhere")  # no server there
    with pytest.raises(store.StoreUnavailableError, match=r"cannot be reached .*nothing was saved"):
        store.save_ranking(cid, "third", [[ids[0]], [ids[1]]])
