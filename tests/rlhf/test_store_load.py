"""The labels store under a class's load: reads never queue behind writers, big imports go in batches between
people's saves, a database that stays busy or is full says so plainly, and an older database is upgraded."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import insert, text

from core import store
from core.files import DiskFullError
from core.rlhf import preferences
from tests.conftest import fill
from tests.rlhf.test_preferences import database, rank_concurrently, seed_comparisons  # noqa: F401 (fixture)


def records(n: int, prompts: int = 2000) -> list[dict]:
    return [{"prompt": f"Imported prompt {i % prompts}?", "category": "helpful", "annotator": f"importer-{i // prompts}",
             "completions": [{"text": f"yes {i % prompts}"}, {"text": f"no {i % prompts}"}], "ranking": [[0], [1]]}
            for i in range(n)]


def test_a_read_does_not_wait_for_a_writer_holding_the_lock():
    seed_comparisons(1)
    with store.write_session() as s, s.begin():
        s.execute(insert(store.Prompt).values(text="held", text_hash=store.text_hash("held")))  # the write lock is taken
        answers = {}
        reader = threading.Thread(target=lambda: answers.update(counts=store.label_counts(), at=time.monotonic()))
        started = time.monotonic()
        reader.start()
        reader.join(timeout=5)
        assert answers, "the read waited for the writer"
        assert answers["at"] - started < 2 and answers["counts"]["prompts"] == 1  # the uncommitted prompt is not seen


def test_saves_go_between_the_batches_of_a_large_import(database):  # noqa: F811
    comparisons = seed_comparisons(20)
    progress: list[tuple[int, int]] = []
    importer = threading.Thread(target=lambda: store.import_rankings(records(6000), lambda d, t: progress.append((d, t))))
    importer.start()
    errors = rank_concurrently(comparisons, threads=20)
    importer.join()
    assert errors == [], [str(e) for e in errors[:3]]
    assert progress[-1] == (6000, 6000) and len(progress) == 6000 // store.IMPORT_BATCH
    assert store.label_counts()["rankings"] == 6000 + 20 * 20


def test_importing_the_same_file_twice_changes_nothing(database):  # noqa: F811
    text_ = "\n".join(json.dumps(r) for r in records(1200, prompts=300))
    preferences.import_jsonl(text_)
    first = store.label_counts()
    preferences.import_jsonl(text_)
    assert store.label_counts() == first == {"prompts": 300, "comparisons": 300, "rankings": 1200, "annotators": 4}


def test_a_database_that_stays_locked_gives_a_plain_error_and_saves_nothing(monkeypatch):
    from core.store import database as store_engine

    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 200)
    [cid] = seed_comparisons(1)
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    blocker = store_engine.engine().connect().execution_options(lab_write=True)
    blocker.begin()
    blocker.execute(text("UPDATE rlhf_prompts SET category = 'held' WHERE id = 1"))
    try:
        started = time.monotonic()
        with pytest.raises(store.StoreBusyError, match="stayed busy .* nothing was saved. Try again in a moment"):
            store.save_ranking(cid, "ann", [[i] for i in ids])
        assert time.monotonic() - started < 5  # bounded: three attempts of 0.2 s plus short pauses
    finally:
        blocker.rollback()
        blocker.close()
    assert store.list_rankings() == []
    store.save_ranking(cid, "ann", [[i] for i in ids])  # once the lock is gone, the same save works
    assert len(store.list_rankings()) == 1


def test_a_full_disk_during_an_import_says_so_and_keeps_the_labels(small_disk, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(small_disk / "lab"))
    comparisons = seed_comparisons(3)
    first = [c["id"] for c in store.get_comparison(comparisons[0])["completions"]]
    store.save_ranking(comparisons[0], "ann", [[i] for i in first])
    fill(small_disk, 16 * 1024)
    with pytest.raises(DiskFullError, match="Disk full: the change to the lab's database was not saved and nothing changed"):
        store.import_rankings(records(3000))
    (small_disk / "ballast.bin").unlink()
    assert store.label_counts()["rankings"] == 1  # the batch rolled back; the earlier label is there
    store.save_ranking(comparisons[1], "ann", [[c["id"]] for c in store.get_comparison(comparisons[1])["completions"]])
    assert store.label_counts()["rankings"] == 2  # and the database works once there is room again


def test_an_older_database_without_the_hash_column_is_upgraded_on_first_use(lab_home):
    seed_comparisons(2)
    engine = store.engine()
    with engine.connect() as conn:
        conn.execute(text("DROP INDEX ix_rlhf_prompts_text_hash"))
        conn.execute(text("ALTER TABLE rlhf_prompts DROP COLUMN text_hash"))
        conn.commit()
    store._engines.clear()  # as a new process of the new version would start
    engine.dispose()
    assert store.label_counts()["prompts"] == 2
    with store.session() as s:
        hashes = s.execute(text("SELECT text, text_hash FROM rlhf_prompts")).all()
    assert all(h == store.text_hash(t) for t, h in hashes)


def test_an_older_database_without_comment_and_flags_is_upgraded_and_keeps_its_rankings(database):  # noqa: F811
    [cid] = seed_comparisons(1)
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[i] for i in ids])
    engine = store.engine()
    with engine.connect() as conn:  # the rankings table as the version before comments and flags made it
        conn.execute(text("ALTER TABLE rlhf_rankings DROP COLUMN comment"))
        conn.execute(text("ALTER TABLE rlhf_rankings DROP COLUMN flags"))
        conn.commit()
    store._engines.clear()  # as a new process of the new version would start
    engine.dispose()
    [old] = store.list_rankings()
    assert old["annotator"] == "ann" and old["comment"] is None and old["flags"] == []
    store.save_ranking(cid, "bob", [[i] for i in ids], comment="fine", flags=["all equally good"])
    assert [(r["comment"], r["flags"]) for r in store.list_rankings()] == [(None, []), ("fine", ["all equally good"])]
