"""core.preferences and the rankings in core.store: pairs, agreement, concurrency, double submits, export/import."""

from __future__ import annotations

import json
import threading

import pytest

from core import store
from core.rlhf import preferences
from core.rlhf.preferences import ImportError_, agreement, cohen_kappa, fleiss_kappa, ranking_to_pairs

# ---------------------------------------------------------------- pairs


def test_a_ranking_of_four_without_ties_gives_six_pairs_best_first():
    pairs = ranking_to_pairs("Q?", [["a"], ["b"], ["c"], ["d"]])
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    assert all(p["prompt"] == "Q?\n" for p in pairs)


def test_tied_completions_give_no_pair_between_them():
    pairs = ranking_to_pairs("Q", [["a", "b"], ["c"], ["d"]])
    assert {(p["chosen"], p["rejected"]) for p in pairs} == {("a", "c"), ("b", "c"), ("a", "d"), ("b", "d"), ("c", "d")}
    assert ranking_to_pairs("Q", [["a", "b", "c"]]) == []


# ---------------------------------------------------------------- agreement against hand-computed values


def test_cohen_kappa_by_hand():
    # 10 items: both "a" on 4, both "b" on 3, disagree on 3 -> p_o = 0.7.
    first = ["a"] * 4 + ["b"] * 3 + ["a", "a", "b"]
    second = ["a"] * 4 + ["b"] * 3 + ["b", "b", "a"]
    # rater 1: 6 a, 4 b; rater 2: 5 a, 5 b -> p_e = 0.6*0.5 + 0.4*0.5 = 0.5 -> kappa = (0.7-0.5)/0.5 = 0.4
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_fleiss_kappa_by_hand():
    # 4 items, 3 raters each. P_i: [1, 1/3, 1, 1/3] -> P_bar = 2/3. Category totals a: 3+2+0+1 = 6, b: 0+1+3+2 = 6
    # -> p_e = 0.5^2 + 0.5^2 = 0.5 -> kappa = (2/3 - 1/2) / (1/2) = 1/3
    items = [["a", "a", "a"], ["a", "a", "b"], ["b", "b", "b"], ["a", "b", "b"]]
    assert fleiss_kappa(items) == pytest.approx(1 / 3)


def test_agreement_of_two_annotators_on_shared_comparisons():
    rankings = [
        {"comparison_id": 1, "annotator": "ann", "order": [[10], [11], [12]]},
        {"comparison_id": 1, "annotator": "bob", "order": [[10], [12], [11]]},
        {"comparison_id": 2, "annotator": "ann", "order": [[20, 21]]},
        {"comparison_id": 2, "annotator": "bob", "order": [[20, 21]]},
        {"comparison_id": 3, "annotator": "ann", "order": [[30], [31]]},  # ranked by one person only: not counted
    ]
    result = agreement(rankings)
    # items: (1,10,11) a/a, (1,10,12) a/a, (1,11,12) a/b, (2,20,21) tie/tie -> 3 of 4 agree
    assert result.items == 4 and result.pairwise == pytest.approx(0.75) and result.annotators == 2
    # ann: a,a,a,tie; bob: a,a,b,tie -> p_o .75; p_e = (3*2 + 0*1 + 1*1)/16 = 7/16 -> (0.75-0.4375)/0.5625
    assert result.cohen_kappa == pytest.approx((0.75 - 7 / 16) / (9 / 16))
    assert agreement(rankings[:1]).items == 0


# ---------------------------------------------------------------- the database


def seed_comparisons(n: int, size: int = 3) -> list[int]:
    prompt_ids = store.add_prompts([{"text": f"Prompt {i} — «ünïcode» 🐝", "category": "helpful"} for i in range(n)])
    return [store.add_comparison(p, [{"text": f"answer {j} to {p}", "model": "m", "settings": {"temperature": j}, "seed": j}
                                     for j in range(size)]) for p in prompt_ids]


def rank_concurrently(comparisons: list[int], threads: int) -> list[Exception]:
    errors: list[Exception] = []

    def annotate(who: int) -> None:
        try:
            for cid in comparisons:
                ids = store.get_comparison(cid)["completions"]
                store.save_ranking(cid, f"annotator-{who}", [[c["id"]] for c in ids])
        except Exception as err:  # noqa: BLE001 - collected and asserted on below
            errors.append(err)

    workers = [threading.Thread(target=annotate, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    if request.param == "postgresql":
        request.getfixturevalue("postgres_db")  # a fresh PostgreSQL database as LAB_DB_URL (tests/conftest.py)
    yield request.param


def test_twenty_threads_times_one_hundred_rankings_give_exactly_two_thousand_rows(database):
    comparisons = seed_comparisons(100)
    errors = rank_concurrently(comparisons, threads=20)
    assert errors == [], [str(e) for e in errors[:3]]
    assert store.label_counts()["rankings"] == 2000


def test_a_double_submit_leaves_one_row_with_the_last_order(database):
    [cid] = seed_comparisons(1)
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[ids[0]], [ids[1]], [ids[2]]])
    store.save_ranking(cid, "ann", [[ids[2]], [ids[0], ids[1]]])
    [row] = store.list_rankings()
    assert row["order"] == [[ids[2]], [ids[0], ids[1]]]


def test_a_ranking_must_place_every_completion_once():
    [cid] = seed_comparisons(1)
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    with pytest.raises(ValueError, match="exactly once"):
        store.save_ranking(cid, "ann", [[ids[0]], [ids[0]]])
    with pytest.raises(ValueError, match="Type your name"):
        store.save_ranking(cid, "  ", [[i] for i in ids])


def test_the_queue_skips_what_the_annotator_ranked_and_prefers_the_least_ranked():
    first, second = seed_comparisons(2)
    ids = [c["id"] for c in store.get_comparison(first)["completions"]]
    store.save_ranking(first, "bob", [[i] for i in ids])
    assert store.next_comparison("ann")["id"] == second  # nobody ranked the second yet
    assert store.next_comparison("bob")["id"] == second
    assert store.next_comparison("bob", exclude={second}) is None


# ---------------------------------------------------------------- export and import


def test_export_then_import_gives_identical_data(lab_home, monkeypatch, tmp_path):
    long_text = "Ein sehr langer Text — 日本語も。 " * 400
    prompt_id = store.add_prompts([{"text": "Résumé: «why»? 🐝", "category": "honest"}])[0]
    cid = store.add_comparison(prompt_id, [{"text": long_text, "model": "m1", "settings": {"temperature": 0.7}, "seed": 3},
                                           {"text": "Short \"quoted\"\nanswer", "model": "m2", "settings": {}, "seed": None},
                                           {"text": "Third", "model": "m1", "settings": {"top_p": 0.9}, "seed": 5}])
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[ids[1]], [ids[0], ids[2]]])
    store.save_ranking(cid, "Zoë", [[ids[2]], [ids[1]], [ids[0]]])
    exported = preferences.export_rankings(store.list_rankings())
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "elsewhere"))  # a second, empty lab
    assert preferences.import_jsonl(exported) == 2
    assert preferences.export_rankings(store.list_rankings()) == exported
    assert len({r["comparison_id"] for r in store.list_rankings()}) == 1  # both annotators ranked one comparison


def test_a_broken_import_names_its_lines_and_imports_nothing():
    good = json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"})
    text = "\n".join([good, '{"prompt": "p", "chosen": "c"}', "{not json", good, json.dumps({"prompt": "p", "annotator": "a",
                      "completions": [{"text": "x"}, {"text": "y"}], "ranking": [[0], [0]]})])
    with pytest.raises(ImportError_, match=r"Nothing was imported\. 3 bad line\(s\): line 2: missing or empty rejected; "
                                           r"line 3: not valid JSON .*; line 5: ranking must list each completion"):
        preferences.import_jsonl(text)
    assert store.label_counts()["rankings"] == 0


def test_pairs_export_is_what_trl_reads(tmp_path):
    """TRL's own dataset preparation accepts the exported file and builds chosen/rejected token ids from it."""
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    [cid] = seed_comparisons(1)
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[ids[0]], [ids[1], ids[2]]])
    path = tmp_path / "pairs.jsonl"
    path.write_text(preferences.export_pairs(store.list_rankings()))
    dataset = load_dataset("json", data_files=str(path), split="train")
    assert len(dataset) == 2 and {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert not is_conversational(dataset[0]) and dataset[0]["prompt"].endswith("\n")


# ---------------------------------------------------------------- annotator names


def completion_ids(comparison_id: int) -> list[int]:
    return [c["id"] for c in store.get_comparison(comparison_id)["completions"]]


@pytest.mark.parametrize("variant", ["Alice", "alice", " alice ", "ALICE", "Ａｌｉｃｅ"])
def test_one_person_typed_several_ways_is_one_annotator(variant):
    [cid] = seed_comparisons(1, size=2)
    first, second = completion_ids(cid)
    store.save_ranking(cid, "alice", [[first], [second]])
    store.save_ranking(cid, variant, [[second], [first]])
    rankings = store.list_rankings()
    assert len(rankings) == 1 and rankings[0]["annotator"] == "alice" and rankings[0]["order"] == [[second], [first]]
    assert store.label_counts()["annotators"] == 1


@pytest.mark.parametrize(("name", "message"), [
    ("alice\u200b", "invisible characters \\(U\\+200B\\)"),
    ("\u0430lice", "mixes Cyrillic and Latin letters"),
    ("   ", "Type your name"),
    ("x" * 5000, "at most 64 characters; got 5000"),
])
def test_names_that_would_split_or_fake_an_annotator_are_refused(name, message):
    [cid] = seed_comparisons(1, size=2)
    ids = completion_ids(cid)
    with pytest.raises(ValueError, match=message):
        store.save_ranking(cid, name, [[ids[0]], [ids[1]]])
    assert store.list_rankings() == []


def test_a_name_in_one_other_script_is_fine():
    assert store.normalize_annotator("  Анна  ") == "анна"


def test_import_normalises_annotators_and_refuses_blank_or_huge_names():
    pair = {"prompt": "Q?", "chosen": "good", "rejected": "bad"}
    rows = [{**pair, "annotator": "Bob"}, {**pair, "prompt": "R?", "annotator": "bob "}]
    assert preferences.import_jsonl("\n".join(json.dumps(r) for r in rows)) == 2
    assert {r["annotator"] for r in store.list_rankings()} == {"bob"}
    bad = [{**pair, "annotator": " "}, {**pair, "annotator": "y" * 5000}]
    with pytest.raises(ImportError_, match="line 1.*line 2"):
        preferences.import_jsonl("\n".join(json.dumps(r) for r in bad))
    assert len(store.list_rankings()) == 2


def test_an_import_line_nested_too_deeply_is_named_and_nothing_is_imported():
    good = json.dumps({"prompt": "Q?", "chosen": "a", "rejected": "b", "annotator": "x"})
    with pytest.raises(ImportError_, match="line 2: the JSON is nested too deeply"):
        preferences.import_jsonl(good + "\n" + "[" * 100_000 + "]" * 100_000)
    assert store.list_rankings() == []


def test_the_completions_queue_completes_only_as_many_prompts_as_asked_and_reports_an_eta(tiny_model_dir):
    from core import jobs

    store.add_prompts([{"text": f"Say something kind about bees ({i})."} for i in range(5)])
    config = {"model": str(tiny_model_dir), "n": 2, "max_new_tokens": 4, "precision": "float32", "limit": 2}
    run = jobs.wait_for(jobs.start_run(preferences.GENERATE_JOB, config).id, 120)
    assert run.state == "done", run.log_tail()
    assert run.status["result"] == {"comparisons": 2} and len(store.prompts_without_comparison()) == 3
    last = run.progress()[-1]
    assert (last["done"], last["total"]) == (2, 2) and last["eta_s"] == 0 and last["seconds_per_prompt"] > 0
