"""core.classroom.accounts: the class, bcrypt-hashed passwords, the limit on wrong passwords, and who is acting."""

from __future__ import annotations

import bcrypt
import pytest

from core.classroom import accounts
from core.classroom.accounts import AccountError, Actor, OwnershipError


@pytest.fixture
def klass() -> dict[str, str]:
    """A class: the teacher (password chosen) and two students (one-time passwords)."""
    accounts.init_class("Teacher", "correct horse")
    return {"teacher": "correct horse", **dict(accounts.add_students("Alice\nbob\n", actor=accounts.LOCAL))}


def test_no_class_means_the_local_user_and_no_sign_in(monkeypatch):
    monkeypatch.delenv("LAB_AUTH", raising=False)
    assert not accounts.auth_enabled() and accounts.acting(None) == accounts.LOCAL
    monkeypatch.setenv("LAB_AUTH", "on")
    assert accounts.auth_enabled()
    with pytest.raises(OwnershipError, match="Sign in first"):
        accounts.acting(None)


def test_a_class_turns_sign_in_on_and_stores_only_bcrypt_hashes(klass):
    from core.store import session
    from core.store.tables import Account

    assert accounts.auth_enabled()
    with session() as s:
        rows = {row.name: row for row in s.query(Account)}
    assert set(rows) == {"teacher", "alice", "bob"}
    assert bcrypt.checkpw(klass["alice"].encode(), rows["alice"].password_hash.encode())  # the reference: bcrypt itself
    assert klass["alice"] not in rows["alice"].password_hash
    assert (rows["teacher"].role, rows["alice"].role, rows["alice"].must_change) == ("teacher", "student", True)


def test_sign_in_gives_the_role_and_a_one_time_password_must_be_replaced(klass):
    assert accounts.sign_in("teacher", klass["teacher"]) == (Actor("teacher", "teacher"), False)
    actor, must_change = accounts.sign_in(" ALICE ", klass["alice"])  # names compare as the store keeps them
    assert actor == Actor("alice", "student") and must_change
    accounts.change_password(actor, "a new secret")
    assert accounts.sign_in("alice", "a new secret") == (actor, False)
    with pytest.raises(AccountError, match="Wrong name or password"):
        accounts.sign_in("alice", klass["alice"])


def test_wrong_passwords_lock_the_account_until_the_teacher_resets_it(klass):
    for left in range(accounts.MAX_ATTEMPTS - 1, 0, -1):
        with pytest.raises(AccountError, match=f"{left} tries left"):
            accounts.sign_in("bob", "guess")
    with pytest.raises(AccountError, match="locked for 5 minutes"):
        accounts.sign_in("bob", "guess")
    with pytest.raises(AccountError, match="Too many wrong passwords"):
        accounts.sign_in("bob", klass["bob"])  # even the right one, while locked
    fresh = accounts.reset_password("bob", actor=Actor("teacher", "teacher"))
    assert accounts.sign_in("bob", fresh)[0].name == "bob"
    with pytest.raises(AccountError, match="^Wrong name or password.$"):
        accounts.sign_in("nobody", "guess")  # an unknown name says no more than a wrong password


def test_a_student_list_with_bad_lines_or_taken_names_adds_nobody(klass):
    with pytest.raises(AccountError, match=r"line 3: 'carol' is already on line 1(.|\n)*line 4: .*invisible"):
        accounts.add_students("carol\n# a comment\nCarol\nda\u200bve\n", actor=accounts.LOCAL)
    with pytest.raises(AccountError, match="already have accounts; nobody was added: alice"):
        accounts.add_students("carol\nalice\n", actor=accounts.LOCAL)
    with pytest.raises(AccountError, match="no names"):
        accounts.add_students("\n# nobody\n", actor=accounts.LOCAL)
    assert [a["name"] for a in accounts.list_accounts()] == ["teacher", "alice", "bob"]


def test_only_the_teacher_adds_students_or_resets_passwords(klass):
    alice = Actor("alice", "student")
    with pytest.raises(OwnershipError, match="Only the teacher can add students"):
        accounts.add_students("mallory\n", actor=alice)
    with pytest.raises(OwnershipError, match="Only the teacher"):
        accounts.reset_password("bob", actor=alice)
    with pytest.raises(AccountError, match="already has a class"):
        accounts.init_class("someone")


@pytest.mark.parametrize("password, message", [("short", "at least 8"), ("é" * 40, "at most 72 bytes")])
def test_a_password_too_short_or_too_long_is_refused(klass, password, message):
    with pytest.raises(AccountError, match=message):
        accounts.change_password(Actor("alice", "student"), password)


def test_the_cli_creates_a_class_without_prompting_and_prints_passwords(tmp_path, capsys):
    from core.cli import main

    assert main(["class", "init"]) == 0
    assert "One-time password:" in capsys.readouterr().out
    names = tmp_path / "names.txt"
    names.write_text("Alice\nbob\nalice\n")
    assert main(["class", "add-students", str(names)]) == 2
    assert "line 3: 'alice' is already on line 1" in capsys.readouterr().err
    names.write_text("Alice\nbob\n")
    assert main(["class", "add-students", str(names)]) == 0
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines()[1:])
    assert accounts.sign_in("alice", printed["alice"])[0] == Actor("alice", "student")
    assert main(["class", "reset-password", "bob"]) == 0
    assert accounts.sign_in("bob", capsys.readouterr().out.split()[-1])[0].name == "bob"


def test_checking_a_password_does_not_hold_the_databases_write_lock(monkeypatch):
    """bcrypt takes a quarter of a second on purpose; thirty sign-ins at once must not hold the write lock in turn
    (the labels saved meanwhile timed out in benchmarks/class_browsers.py). Here a write must get through while a
    sign-in is in the middle of its password check."""
    import threading

    from core import store

    accounts.init_class("teacher", "correct horse")
    real_matches, checking, written = accounts._matches, threading.Event(), threading.Event()

    def slow_matches(password: str, hashed: str) -> bool:
        checking.set()
        assert written.wait(timeout=20), "a write could not get through during the password check"
        return real_matches(password, hashed)

    monkeypatch.setattr(accounts, "_matches", slow_matches)
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(accounts.sign_in("teacher", "correct horse")))
    thread.start()
    assert checking.wait(timeout=20)
    store.add_prompts([{"text": "written while a password is checked"}])  # a write transaction of its own
    written.set()
    thread.join(timeout=30)
    assert results and results[0][0].name == "teacher"
    assert [p["text"] for p in store.prompts_without_comparison()] == ["written while a password is checked"]
