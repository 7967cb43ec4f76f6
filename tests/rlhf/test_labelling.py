"""Labelling as a class does it: overlap assignment (k annotators per comparison first), progress counts, a ranking's
comment and flags (saved, replaced, exported and imported), and the Data tab's search and filters."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core import store
from core.rlhf import preferences
from core.rlhf.label_filters import RankingFilter, disputed_comparisons, filter_rankings
from tests.rlhf.test_preferences import completion_ids, database, seed_comparisons  # noqa: F401 (fixture)


def rank(comparison_id: int, annotator: str, reverse: bool = False, **note) -> None:
    ids = completion_ids(comparison_id)
    store.save_ranking(comparison_id, annotator, [[i] for i in (reversed(ids) if reverse else ids)], **note)


# ---------------------------------------------------------------- overlap assignment


def test_with_k_2_and_three_annotators_every_comparison_gets_two_rankings_before_any_gets_three(database):  # noqa: F811
    comparisons = seed_comparisons(5, size=2)
    store.set_labelling_overlap(2)
    counts: Counter[int] = Counter()
    seen: dict[str, set[int]] = {name: set() for name in ("ann", "bob", "cat")}
    served = []
    while True:
        progressed = False
        for name in seen:  # the three take turns, one comparison each
            comparison = store.next_comparison(name)
            if comparison is None:
                continue
            cid = comparison["id"]
            assert cid not in seen[name], f"{name} was served comparison {cid} twice"
            waiting = [c for c in comparisons if c not in seen[name]]
            if counts[cid] >= 2:  # a comparison past k only once nothing this annotator may rank is below k
                assert all(counts[c] >= 2 for c in waiting), (name, cid, dict(counts))
            if counts[cid] == 0:  # a new one only once none this annotator may rank is started and below k
                assert not any(0 < counts[c] < 2 for c in waiting), (name, cid, dict(counts))
            rank(cid, name)
            seen[name].add(cid)
            counts[cid] += 1
            served.append(cid)
            progressed = True
        if not progressed:
            break
    first_third = next(i for i, cid in enumerate(served) if Counter(served[: i + 1])[cid] == 3)
    assert all(Counter(served[:first_third])[c] == 2 for c in comparisons)  # all at two before the first third
    assert all(seen[name] == set(comparisons) for name in seen) and store.label_counts()["rankings"] == 15


def test_two_annotators_at_once_are_served_the_same_comparison_under_k_2_and_different_ones_under_k_1():
    first, second, _third = seed_comparisons(3, size=2)
    assert store.labelling_overlap() == 1  # the default: today's "fewest rankings first"
    rank(first, "ann")
    assert store.next_comparison("bob")["id"] == second  # k = 1: a new comparison before a second look
    store.set_labelling_overlap(2)  # the lab's setting, read by every session on its next comparison
    assert store.next_comparison("bob")["id"] == first and store.next_comparison("cat")["id"] == first
    assert store.next_comparison("ann")["id"] == second  # ann already ranked the first
    assert store.next_comparison("bob", k=1)["id"] == second  # k can be given per call too


@pytest.mark.parametrize("k", [0, 21, 1.5, True])
def test_an_overlap_outside_1_to_20_is_refused(k):
    with pytest.raises(ValueError, match="overlap k .* from 1 to 20"):
        store.set_labelling_overlap(k)
    assert store.labelling_overlap() == 1


# ---------------------------------------------------------------- progress


def test_progress_counts_what_is_left_for_the_annotator_and_for_the_class():
    comparisons = seed_comparisons(4, size=2)
    rank(comparisons[0], "ann")
    rank(comparisons[0], "bob")
    rank(comparisons[1], "ann")
    rank(comparisons[2], "bob")
    assert store.annotator_progress("ANN ") == {"ranked": 2, "total": 4, "left": 2}
    assert store.annotator_progress("cat") == {"ranked": 0, "total": 4, "left": 4}
    assert store.class_progress(1) == {"k": 1, "done": 3, "total": 4, "left": 1}
    assert store.class_progress(2) == {"k": 2, "done": 1, "total": 4, "left": 3}
    store.set_labelling_overlap(2)
    assert store.class_progress() == store.class_progress(2)


# ---------------------------------------------------------------- comment and flags


def test_a_comment_and_flags_are_saved_with_the_ranking_and_replaced_by_a_resubmit():
    [cid] = seed_comparisons(1, size=2)
    rank(cid, "ann", comment="  Both dodge the question.  ", flags=["can't judge", "all harmful"])
    [row] = store.list_rankings()
    assert row["comment"] == "Both dodge the question." and row["flags"] == ["all harmful", "can't judge"]  # FLAGS order
    rank(cid, "ann", reverse=True)
    [row] = store.list_rankings()
    assert row["comment"] is None and row["flags"] == []


@pytest.mark.parametrize(("note", "message"), [
    ({"flags": ["spam"]}, r"Unknown flag\(s\) \['spam'\]"),
    ({"flags": "all harmful"}, "Flags must be a list"),
    ({"comment": "x" * 2001}, "at most 2000 characters; got 2001"),
])
def test_bad_flags_or_a_huge_comment_are_refused_and_nothing_is_saved(note, message):
    [cid] = seed_comparisons(1, size=2)
    with pytest.raises(ValueError, match=message):
        rank(cid, "ann", **note)
    assert store.list_rankings() == []


def test_comment_and_flags_survive_export_and_import_and_an_older_export_without_them_imports(monkeypatch, tmp_path):
    [cid] = seed_comparisons(1, size=2)
    rank(cid, "ann", comment="«Second» is rude — 🐝", flags=["off-topic"])
    rank(cid, "bob", reverse=True)
    exported = preferences.export_rankings(store.list_rankings())
    assert [json.loads(line)["flags"] for line in exported.splitlines()] == [["off-topic"], []]
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "elsewhere"))  # a second, empty lab
    assert preferences.import_jsonl(exported) == 2
    assert preferences.export_rankings(store.list_rankings()) == exported
    older = [{k: v for k, v in json.loads(line).items() if k not in ("comment", "flags")} for line in exported.splitlines()]
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "third"))
    assert preferences.import_jsonl("\n".join(json.dumps(r) for r in older)) == 2
    assert [(r["comment"], r["flags"]) for r in store.list_rankings()] == [(None, []), (None, [])]


def test_an_import_with_an_unknown_flag_names_the_line_and_imports_nothing():
    line = {"prompt": "p", "annotator": "a", "completions": [{"text": "x"}, {"text": "y"}], "ranking": [[0], [1]]}
    text = json.dumps({**line, "flags": ["all harmful"]}) + "\n" + json.dumps({**line, "flags": ["boring"]})
    with pytest.raises(preferences.ImportError_, match=r"line 2: Unknown flag\(s\) \['boring'\]"):
        preferences.import_jsonl(text)
    assert store.list_rankings() == []


# ---------------------------------------------------------------- search and filters


def row(rid: int, comparison_id: int, annotator: str, order: list[list[int]], prompt: str = "Water tomatoes?", flags=()) -> dict:
    return {"id": rid, "comparison_id": comparison_id, "annotator": annotator, "order": order, "prompt": prompt,
            "flags": list(flags), "comment": None}


ROWS = [
    row(1, 1, "ann", [[1], [2]], "How do I water TOMATOES?", ["can't judge"]),
    row(2, 1, "bob", [[2], [1]], "How do I water TOMATOES?"),  # bob disagrees with ann on comparison 1
    row(3, 2, "ann", [[3], [4]], "Name a pollinator."),
    row(4, 2, "bob", [[3], [4]], "Name a pollinator.", ["all equally good"]),  # they agree on 2
    row(5, 3, "cat", [[5, 6]], "Is a tomato a fruit?", ["can't judge", "off-topic"]),  # one annotator: no disagreement
]


def ids(filters: RankingFilter) -> list[int]:
    return [r["id"] for r in filter_rankings(ROWS, filters)]


def test_each_filter_alone():
    assert ids(RankingFilter()) == [1, 2, 3, 4, 5]
    assert ids(RankingFilter(annotator=" Ann")) == [1, 3]  # the name is normalised as the store keeps it
    assert ids(RankingFilter(text="tomato")) == [1, 2, 5]  # any case, a substring
    assert ids(RankingFilter(flag="can't judge")) == [1, 5]
    assert disputed_comparisons(ROWS) == {1}
    assert ids(RankingFilter(disagreement_only=True)) == [1, 2]


def test_filters_combine_and_disagreement_is_judged_on_everyone():
    assert ids(RankingFilter(annotator="bob", disagreement_only=True)) == [2]
    assert ids(RankingFilter(text="TOMATO", flag="can't judge")) == [1, 5]
    assert ids(RankingFilter(annotator="cat", text="pollinator")) == []


def test_an_unknown_flag_filter_is_refused():
    with pytest.raises(ValueError, match="Unknown flag 'spam'"):
        RankingFilter(flag="spam")


def test_the_cli_shows_and_sets_the_overlap_and_reports_alpha(capsys):
    from core.cli import main

    [cid] = seed_comparisons(1, size=2)
    rank(cid, "ann")
    rank(cid, "bob", reverse=True)
    assert main(["labels", "overlap", "2"]) == 0 and store.labelling_overlap() == 2
    assert "k = 2: 1 of 1 comparisons ranked by at least 2 annotators" in capsys.readouterr().out
    assert main(["labels", "overlap", "0"]) == 2 and "from 1 to 20" in capsys.readouterr().err
    assert main(["labels", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["overlap_k"] == 2 and stats["krippendorff_alpha"] is not None  # alpha is computed
