"""Ownership enforced in core: a student cannot cancel, resume or delete another student's run, delete their
evaluation or rank as them; the teacher can do all of it; with a class, a change that names nobody is refused."""

from __future__ import annotations

import pytest

from core import jobs, store
from core.classroom import accounts
from core.classroom.accounts import Actor, OwnershipError

ALICE, BOB, TEACHER = Actor("alice", "student"), Actor("bob", "student"), Actor("teacher", "teacher")


@pytest.fixture(autouse=True)
def klass() -> None:
    accounts.init_class("teacher", "correct horse")
    accounts.add_students("alice\nbob\n", actor=TEACHER)


def test_a_run_belongs_to_who_started_it_and_only_they_or_the_teacher_change_it():
    run = jobs.wait_for(jobs.start_run("tests.job_fixtures:count", {"steps": 1}, actor=ALICE).id, timeout=60)
    assert run.owner == "alice" and run.state == "done"
    for change in (lambda: jobs.cancel_run(run.id, actor=BOB), lambda: jobs.delete_run(run.id, actor=BOB)):
        with pytest.raises(OwnershipError, match="Run .* belongs to alice; a student can change only their own"):
            change()
    assert jobs.get_run(run.id).state == "done"
    jobs.delete_run(run.id, actor=TEACHER)
    assert jobs.list_runs() == []


def test_a_cancelled_run_is_resumed_only_by_its_owner_or_the_teacher():
    run = jobs.start_run("tests.job_fixtures:stubborn", {}, actor=BOB)
    jobs.cancel_run(run.id, grace=0.5, actor=BOB)
    with pytest.raises(OwnershipError, match="belongs to bob"):
        jobs.resume_run(run.id, actor=ALICE)
    jobs.cancel_run(jobs.resume_run(run.id, actor=TEACHER).id, grace=0.5, actor=TEACHER)


def test_with_a_class_a_change_that_names_nobody_is_refused():
    with pytest.raises(OwnershipError, match="Sign in first"):
        jobs.start_run("tests.job_fixtures:count", {"steps": 1})
    with pytest.raises(OwnershipError, match="Sign in first"):
        store.delete_evaluation(1)


def test_an_evaluation_is_deleted_only_by_its_owner_or_the_teacher():
    example = {"id": "x", "input": "i", "reference": "r", "prediction": "p", "scores": {"em": 1.0}}
    mine = store.save_evaluation("m", "t", {"em": 1.0}, {}, [example], 0.1, actor=ALICE)
    assert store.load_evaluation(mine)["owner"] == "alice"
    with pytest.raises(OwnershipError, match=f"Evaluation {mine} belongs to alice"):
        store.delete_evaluation(mine, actor=BOB)
    store.delete_evaluation(mine, actor=ALICE)
    theirs = store.save_evaluation("m", "t", {"em": 1.0}, {}, [example], 0.1, actor=BOB)
    store.delete_evaluation(theirs, actor=TEACHER)
    assert store.list_evaluations() == []


def test_a_student_ranks_only_as_themselves_and_cannot_overwrite_another_ranking():
    prompt = store.add_prompts([{"text": "Say hi"}])[0]
    comparison = store.add_comparison(prompt, [{"text": t, "model": "m", "settings": {}, "seed": 0} for t in ("hi", "yo")])
    first, second = store.get_comparison(comparison)["completions"]
    store.save_ranking(comparison, "alice", [[first["id"]], [second["id"]]], actor=ALICE)
    with pytest.raises(OwnershipError, match="annotator 'alice' belongs to alice"):
        store.save_ranking(comparison, "Alice", [[second["id"]], [first["id"]]], actor=BOB)
    with pytest.raises(OwnershipError, match="Only the teacher can import rankings"):
        store.import_rankings([], actor=BOB)
    with pytest.raises(OwnershipError, match="Only the teacher can set the labelling overlap"):
        store.set_labelling_overlap(3, actor=BOB)
    assert [(r["annotator"], r["order"]) for r in store.list_rankings()] == [("alice", [[first["id"]], [second["id"]]])]


def test_a_student_reads_and_exports_only_their_own_rankings_and_the_teacher_everyones():
    from core.rlhf import preferences

    prompt = store.add_prompts([{"text": "Say hi"}])[0]
    comparison = store.add_comparison(prompt, [{"text": t, "model": "m", "settings": {}, "seed": 0} for t in ("hi", "yo")])
    first, second = (c["id"] for c in store.get_comparison(comparison)["completions"])
    store.save_ranking(comparison, "alice", [[first], [second]], actor=ALICE)
    store.save_ranking(comparison, "bob", [[second], [first]], actor=BOB)
    rankings = store.list_rankings()
    assert [r["annotator"] for r in preferences.readable_rankings(rankings, BOB)] == ["bob"]
    exported = preferences.parse_import(preferences.export_rankings(preferences.readable_rankings(rankings, BOB)))
    assert [r["annotator"] for r in exported] == ["bob"]
    assert sorted(r["annotator"] for r in preferences.readable_rankings(rankings, TEACHER)) == ["alice", "bob"]
    assert preferences.readable_rankings(rankings, None) == []  # a class, and nobody signed in
