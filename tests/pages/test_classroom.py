"""AppTest with a class: only the sign-in form until someone signs in, a one-time password replaced first, a student
who cannot delete another's evaluation through the page, and the class dashboard for the teacher alone."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import store
from core.classroom import accounts
from core.classroom.accounts import Actor
from tests.conftest import ROOT
from tests.pages.helpers import page_test

TEACHER, ALICE, BOB = Actor("teacher", "teacher"), Actor("alice", "student"), Actor("bob", "student")


@pytest.fixture
def passwords() -> dict[str, str]:
    accounts.init_class("teacher", "correct horse")
    return dict(accounts.add_students("alice\nbob\n", actor=TEACHER))


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)


def test_a_visitor_sees_only_the_sign_in_form_until_signed_in(passwords):
    at = app().run()
    assert not at.exception
    assert [t.value for t in at.subheader] == ["Sign in"]
    assert not at.sidebar.selectbox  # no model picker, no navigation: nothing of the lab runs
    assert "Choose or pre-train a model" not in " ".join(m.value for m in at.markdown)
    at.text_input(key="class.name").input("alice")
    at.text_input(key="class.password").input("wrong password")
    at.button[0].click().run()
    assert "Wrong name or password. 4 tries left" in at.error[0].value
    at.text_input(key="class.password").input(passwords["alice"])
    at.button[0].click().run()
    assert at.subheader[0].value == "Choose your password, alice"  # a one-time password works once
    at.text_input(key="class.new_password").input("my own secret")
    at.text_input(key="class.new_password_again").input("my own secret")
    at.button[0].click().run()
    assert not at.exception
    assert "Choose or pre-train a model" in " ".join(m.value for m in at.markdown)
    assert any("Signed in as **alice** (student)" in c.value for c in at.sidebar.caption)
    assert accounts.sign_in("alice", "my own secret")[1] is False


def test_sign_in_on_without_a_class_says_how_to_make_one(monkeypatch):
    monkeypatch.setenv("LAB_AUTH", "on")
    at = app().run()
    assert "python -m core class init" in at.info[0].value and not at.sidebar.selectbox


def test_a_student_cannot_delete_another_students_evaluation_from_the_page(passwords):
    example = {"id": "x", "input": "i", "reference": "r", "prediction": "p", "scores": {"rougeL_f": 0.5}}
    theirs = store.save_evaluation("m", "dialogsum", {"rougeL_f": 0.5}, {}, [example], 0.1, actor=ALICE)
    at = page_test("evaluate")
    at.session_state["class.actor"] = BOB
    at.run()
    at.multiselect(key="evaluate.delete_ids").set_value([theirs]).run()
    at.button(key="evaluate.delete").click().run()
    assert not at.exception
    assert f"Evaluation {theirs} belongs to alice" in at.error[0].value
    assert [e["id"] for e in store.list_evaluations()] == [theirs]


def test_the_class_dashboard_is_the_teachers_alone(passwords):
    prompt = store.add_prompts([{"text": "Say hi"}])[0]
    comparison = store.add_comparison(prompt, [{"text": t, "model": "m", "settings": {}, "seed": 0} for t in ("hi", "yo")])
    a, b = (c["id"] for c in store.get_comparison(comparison)["completions"])
    store.save_ranking(comparison, "alice", [[a], [b]], actor=ALICE)
    store.save_ranking(comparison, "bob", [[b], [a]], actor=BOB)
    student = page_test("classroom")
    student.session_state["class.actor"] = ALICE
    student.run()
    assert "Only the teacher" in student.error[0].value and not student.dataframe
    teacher = page_test("classroom")
    teacher.session_state["class.actor"] = TEACHER
    teacher.run()
    assert not teacher.exception
    table = next(d.value for d in teacher.dataframe if "agreement" in d.value.columns)
    assert dict(zip(table["name"], table["rankings"])) == {"teacher": 0, "alice": 1, "bob": 1}
    assert list(table["agreement"][table["name"] == "alice"]) == [0.0]  # they disagreed on their one shared pair
    teacher.selectbox(key="class.account").select("bob").run()
    teacher.button(key="class.reset").click().run()
    handed_out = teacher.code[0].value.split()
    assert handed_out[0] == "bob" and accounts.sign_in("bob", handed_out[1])[0] == BOB


def test_a_student_sees_only_their_own_rankings_on_the_data_tab(passwords):
    prompt = store.add_prompts([{"text": "Say hi"}])[0]
    comparison = store.add_comparison(prompt, [{"text": t, "model": "m", "settings": {}, "seed": 0} for t in ("hi", "yo")])
    a, b = (c["id"] for c in store.get_comparison(comparison)["completions"])
    store.save_ranking(comparison, "alice", [[a], [b]], actor=ALICE)
    store.save_ranking(comparison, "bob", [[b], [a]], actor=BOB)
    student = page_test("rlhf")
    student.session_state["class.actor"] = BOB
    student.run()
    assert not student.exception
    assert any("You see and export your own 1 rankings" in c.value for c in student.caption)
    found = next(d.value for d in student.dataframe if "ranking" in d.value.columns)
    assert found["annotator"].tolist() == ["bob"]
    teacher = page_test("rlhf")
    teacher.session_state["class.actor"] = TEACHER
    teacher.run()
    found = next(d.value for d in teacher.dataframe if "ranking" in d.value.columns)
    assert sorted(found["annotator"].tolist()) == ["alice", "bob"]
