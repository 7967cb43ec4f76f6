"""The methods on a real (tiny) model, the experiment as a background run with its summary, and `lab reason`."""

from __future__ import annotations

import json

import pytest

from core import jobs
from core.cli import main
from core.reasoning import experiment
from core.reasoning.llm import LabModel
from core.reasoning.methods import solve, solve_many
from core.reasoning.tasks import load_problems


@pytest.fixture(scope="module")
def wide_model(tiny_wide_dir):
    from core.models import load_model

    return LabModel(load_model(str(tiny_wide_dir), precision="float32"))


def test_batched_answers_equal_one_at_a_time(wide_model):
    questions = [p.question for p in load_problems("test")[:3]]
    together = solve_many(wide_model, "cot-fewshot", questions)
    alone = [solve(wide_model, "cot-fewshot", q) for q in questions]
    assert [s.output for s in together] == [s.output for s in alone]
    assert together[0].prompt.startswith("<|im_start|>user") and together[0].prompt.endswith("Answer:")


def test_self_consistency_samples_k_different_chains(wide_model):
    solution = solve(wide_model, "self-consistency", load_problems("test")[0].question, k=3)
    chains = [t for t in solution.trace if "chain" in t]
    assert len(chains) == 3 and len({c["output"] for c in chains}) > 1


def test_a_question_longer_than_the_context_window_is_a_clear_error(tiny_loaded):
    model = LabModel(tiny_loaded)  # a context window of 128 tokens
    with pytest.raises(ValueError, match="context window of 128 tokens"):
        solve(model, "cot-fewshot", "How much is it? " * 10)
    with pytest.raises(ValueError, match="question is empty"):
        solve(model, "direct", "  ")


def test_the_experiment_runs_in_the_background_and_summarises(tiny_wide_dir):
    config = experiment.check_config({"task": "arithmetic", "methods": ["direct", "pal"], "models": [str(tiny_wide_dir)],
                                      "limit": 3})
    run = jobs.wait_for(jobs.start_run(experiment.JOB, config, name="reasoning").id, timeout=300)
    assert run.state == "done", run.status
    rows = experiment.read_results(run.dir)
    assert len(rows) == 6 and {r["method"] for r in rows} == {"direct", "pal"}
    pal_rows = [r for r in rows if r["method"] == "pal"]  # the tiny model writes noise: each is run or refused, with a reason
    assert all(r["trace"][0]["sandbox"]["ok"] or r["error"] for r in pal_rows)
    [direct] = [s for s in experiment.summarise(rows) if s["method"] == "direct"]
    p = direct["accuracy"]
    assert direct["n"] == 3 and direct["standard_error"] == pytest.approx((p * (1 - p) / 3) ** 0.5, abs=1e-4)
    assert run.progress()[-1]["done"] == 6


def test_summary_and_fixed_by_on_known_rows():
    rows = [{"model": "m", "method": "pal", "id": "a", "correct": True, "answer": "1", "seconds": 1.0},
            {"model": "m", "method": "pal", "id": "b", "correct": False, "answer": None, "seconds": 3.0},
            {"model": "m", "method": "cot-fewshot", "id": "a", "correct": False, "answer": "2", "seconds": 1.0},
            {"model": "m", "method": "cot-fewshot", "id": "b", "correct": False, "answer": "2", "seconds": 1.0}]
    pal = next(s for s in experiment.summarise(rows) if s["method"] == "pal")
    assert pal == {"model": "m", "method": "pal", "n": 2, "accuracy": 0.5, "standard_error": 0.3536, "unreadable": 1,
                   "seconds": 2.0}
    assert experiment.fixed_by(rows, "pal", "cot-fewshot", "m") == ["a"]
    assert experiment.fixed_by(rows, "cot-fewshot", "pal", "m") == []


@pytest.mark.parametrize("config, message", [
    ({"methods": ["pal"], "models": []}, "at least one model"),
    ({"methods": [], "models": ["m"]}, "at least one method"),
    ({"task": "documents", "methods": ["pal"], "models": ["m"]}, "do not apply"),
    ({"methods": ["pal"], "models": ["m"], "limit": 0}, "1 or more"),
])
def test_bad_experiment_settings_are_clear_errors(config, message):
    with pytest.raises(ValueError, match=message):
        experiment.check_config(config)


def test_cli_sandbox_prints_the_result_as_json(tmp_path, capsys):
    program = tmp_path / "p.py"
    program.write_text("price = 40\nanswer = price * 0.75\nprint(answer)\n")
    assert main(["reason", "sandbox", str(program), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"ok", "stdout", "answer", "error", "timed_out", "seconds"} <= set(out)
    assert out["ok"] and out["answer"] == "30.0" and not out["timed_out"]
    program.write_text("while True:\n    pass\n")
    assert main(["reason", "sandbox", str(program), "--timeout", "0.5", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["timed_out"] is True
    assert main(["reason", "sandbox", str(tmp_path / "missing.py")]) == 2


def test_cli_solve_and_eval(tiny_wide_dir, tmp_path, capsys):
    assert main(["reason", "solve", "--method", "pal", "--question", "What is 6 times 7?", "--model", str(tiny_wide_dir),
                 "--json"]) == 0
    solution = json.loads(capsys.readouterr().out)
    assert solution["method"] == "pal" and "sandbox" in solution["trace"][0]
    assert main(["reason", "eval", "--method", "direct", "--method", "cot", "--model", str(tiny_wide_dir), "--limit", "2",
                 "--output-dir", str(tmp_path / "eval"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert {row["method"] for row in summary} == {"direct", "cot"} and all(row["n"] == 2 for row in summary)


def test_the_slip_report_counts_wrong_sums_and_what_pal_fixed():
    rows = [{"model": "m", "method": "cot", "id": "a", "correct": False, "output": "2 + 2 = 5. The answer is 5."},
            {"model": "m", "method": "cot", "id": "b", "correct": False, "output": "I think 7."},
            {"model": "m", "method": "cot", "id": "c", "correct": True, "output": "2 + 2 = 4."},
            {"model": "m", "method": "pal", "id": "a", "correct": True, "output": ""}]
    assert experiment.slip_report(rows, "m") == {"cot": {"wrong": 2, "with_slip": 1, "pal_right": 1}}


def test_rescore_reads_stored_outputs_again_and_leaves_pal_alone():
    rows = [{"model": "m", "method": "cot", "id": "a", "gold": 20.0, "correct": False, "answer": "40",
             "output": "The answer is 40 - 20 = 20 dollars.", "trace": []},
            {"model": "m", "method": "pal", "id": "a", "gold": 20.0, "correct": False, "answer": "40", "output": "x", "trace": []},
            {"model": "m", "method": "self-consistency", "id": "a", "gold": 20.0, "correct": False, "answer": None,
             "output": "", "trace": [{"chain": 1, "output": "The answer is 20."}, {"chain": 2, "output": "So 5 + 15 = 20"}]},
            {"model": "m", "method": "rag", "id": "t", "gold": "Foundry Yard", "correct": True, "answer": "x", "output": "x",
             "trace": []}]
    again = experiment.rescore(rows)
    assert [r["correct"] for r in again] == [True, False, True, True] and again[0]["answer"] == "20"
    assert rows[0]["correct"] is False  # the stored rows are not changed
