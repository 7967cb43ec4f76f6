"""core.evaluation: task files, the multiple-choice scorer, evaluations that persist, and evaluation as a run."""

from __future__ import annotations

import json

import pytest

from core import evaluation, jobs, store
from core.evaluation import EvalConfig, EvalError, load_task, parse_task


def jsonl(*rows: dict) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


# ---------------------------------------------------------------- task files


def test_bundled_tasks_load_with_their_kinds_and_splits():
    for name, (kind, _, _) in evaluation.BUNDLED_TASKS.items():
        task = load_task(name)
        assert task.kind == kind and task.test, name
    mc = load_task("knowledge_mc")
    assert {len(i.choices) for i in mc.items} == {4}
    assert len({i.subject for i in mc.test}) >= 4 and len(mc.test) >= 100
    assert all(i.reference == i.choices[i.answer] for i in mc.items)


def test_a_missing_field_names_the_line_and_the_schema():
    data = jsonl({"dialogue": "A: hi", "summary": "A greets."}, {"dialogue": "B: bye"})
    with pytest.raises(EvalError, match=r"x.jsonl, line 2: missing 'summary' \(a summarization task needs dialogue, summary\)"):
        parse_task(data, "x.jsonl", "summarization")


def test_a_broken_line_names_its_number():
    with pytest.raises(EvalError, match="line 2: not valid JSON"):
        parse_task(b'{"text": "a", "label": "x"}\n{"text": \n', "x.jsonl", "classification")


def test_multiple_choice_answers_may_be_an_index_a_letter_or_the_text():
    rows = [{"question": "2+2?", "choices": ["3", "4"], "answer": a} for a in (1, "B", "4")]
    task = parse_task(jsonl(*[{**r, "id": str(i)} for i, r in enumerate(rows)]), "mc.jsonl", "multiple_choice")
    assert [i.answer for i in task.items] == [1, 1, 1]


@pytest.mark.parametrize("row, message", [
    ({"question": "q", "choices": ["a"], "answer": 0}, "at least two non-empty strings"),
    ({"question": "q", "choices": ["a", "a"], "answer": 0}, "two choices are the same"),
    ({"question": "q", "choices": ["a", "b"], "answer": "E"}, "answer 'E' is not an index"),
])
def test_bad_multiple_choice_rows_are_refused(row, message):
    with pytest.raises(EvalError, match=message):
        parse_task(jsonl(row), "mc.jsonl", "multiple_choice")


def test_a_task_without_test_rows_is_refused():
    data = jsonl({"text": "a", "label": "x", "split": "pool"}, {"text": "b", "label": "y", "split": "pool"})
    with pytest.raises(EvalError, match="no rows to score"):
        parse_task(data, "x.jsonl", "classification")


def test_csv_uploads_work_too():
    task = parse_task(b"source,target\nHello.,Bonjour.\nThank you.,Merci.\n", "t.csv", "translation")
    assert [i.reference for i in task.test] == ["Bonjour.", "Merci."]


# ---------------------------------------------------------------- scoring


def test_multiple_choice_scorer_picks_the_answer_a_model_was_taught(tiny_wide_dir):
    """A tiny model trained on the right answers must then score them above the distractors."""
    import torch

    from core.models import load_model

    rows = [
        {"id": "q1", "question": "What colour is the sky?", "choices": ["green", "blue", "red"], "answer": 1, "subject": "colours"},
        {"id": "q2", "question": "What do cows drink?", "choices": ["water", "milk", "oil"], "answer": 0, "subject": "colours"},
    ]
    task = parse_task(jsonl(*rows), "mc.jsonl", "multiple_choice")
    loaded = load_model(str(tiny_wide_dir), precision="float32")
    header = "The following are multiple choice questions (with answers) about colours.\n\n"
    texts = [f"{header}Question: {r['question']}\nAnswer: {r['choices'][r['answer']]}" for r in rows]
    before = evaluation.evaluate(loaded, task, EvalConfig(models=("tiny",), tasks=("mc",)))
    optimizer = torch.optim.Adam(loaded.model.parameters(), lr=1e-2)
    loaded.model.train()
    for _ in range(40):
        for text in texts:
            ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
            loss = loaded.model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    loaded.model.eval()
    after = evaluation.evaluate(loaded, task, EvalConfig(models=("tiny",), tasks=("mc",)))
    assert after.metrics == {"acc": 1.0, "acc_norm": 1.0}
    assert [e["prediction"] for e in after.examples] == ["blue", "water"]
    assert before.metrics != after.metrics or before.examples != after.examples


def test_generation_tasks_report_rouge_bleu_and_empty_outputs(tiny_loaded):
    task = parse_task(jsonl({"dialogue": "A: hi", "summary": "A says hi."}, {"dialogue": "B: bye", "summary": "B leaves."}),
                      "s.jsonl", "summarization")
    result = evaluation.evaluate(tiny_loaded, task, EvalConfig(models=("tiny",), tasks=("s",), max_new_tokens=6, batch_size=2))
    assert {"rouge1_f", "rouge2_precision", "rougeL_recall", "rougeLsum_f", "bleu", "exact_match", "empty_outputs"} <= set(result.metrics)
    assert len(result.examples) == 2 and all("rougeL_f" in e["scores"] for e in result.examples)


def test_a_task_the_model_cannot_fit_is_a_clear_error(tiny_loaded):
    task = parse_task(jsonl({"dialogue": "word " * 400, "summary": "long"}), "s.jsonl", "summarization")
    with pytest.raises(EvalError, match="cannot do example summarization-1: .*context window of 128 tokens"):
        evaluation.evaluate(tiny_loaded, task, EvalConfig(models=("tiny",), tasks=("s",)))


def test_stopping_keeps_the_examples_already_scored(tiny_loaded):
    task = parse_task(jsonl(*[{"text": f"review {i}", "label": "good" if i % 2 else "bad"} for i in range(6)]), "c.jsonl", "classification")
    calls = []
    result = evaluation.evaluate(tiny_loaded, task, EvalConfig(models=("tiny",), tasks=("c",)),
                                 on_progress=lambda done, total: calls.append(done), should_stop=lambda: len(calls) >= 3)
    assert len(result.examples) == 3 and not result.complete


# ---------------------------------------------------------------- persistence and runs


def sentiment_file(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_bytes(jsonl(*[{"id": f"r{i}", "text": f"Café number {i} was {'great' if i % 2 else 'awful'} — «{i}»",
                              "label": "positive" if i % 2 else "negative"} for i in range(5)]))
    return f"classification:{path}"


def test_evaluations_persist_and_reload_after_a_restart(tiny_model_dir, tmp_path):
    config = EvalConfig(models=(str(tiny_model_dir),), tasks=(sentiment_file(tmp_path),), limit=4, precision="float32")
    ids = evaluation.run_evaluations(config)
    store._engines.clear()  # a new process would start with no engine
    [summary] = store.list_evaluations()
    assert summary["id"] == ids[0] and summary["n"] == 4 and set(summary["metrics"]) == {"accuracy"}
    loaded = store.load_evaluation(ids[0])
    assert [e["id"] for e in loaded["examples"]] == ["r0", "r1", "r2", "r3"]
    assert loaded["examples"][0]["input"].startswith("Café number 0") and "«0»" in loaded["examples"][0]["input"]
    store.delete_evaluation(ids[0])
    assert store.list_evaluations() == []


def test_an_evaluation_run_saves_its_results_with_the_run_id(tiny_model_dir, tmp_path):
    config = EvalConfig(models=(str(tiny_model_dir),), tasks=(sentiment_file(tmp_path),), limit=3, precision="float32")
    run = jobs.start_run(evaluation.JOB, config.to_dict(), name="eval")
    run = jobs.wait_for(run.id, timeout=240)
    assert run.state == "done", run.status.get("error")
    [saved] = run.status["result"]["evaluations"]
    assert store.load_evaluation(saved)["run_id"] == run.id
    events = run.progress()
    assert events[-1]["event"] == "saved" and any(e.get("done") == 3 and e.get("total") == 3 for e in events)


def test_leaderboard_and_side_by_side_rows():
    runs = [
        {"id": 1, "model": "a", "task": "sentiment", "metrics": {"accuracy": 0.5}},
        {"id": 2, "model": "b", "task": "sentiment", "metrics": {"accuracy": 0.75}},
        {"id": 3, "model": "a", "task": "sentiment", "metrics": {"accuracy": 0.6}},
    ]
    assert evaluation.leaderboard(runs) == [{"model": "a", "warning": "", "sentiment · accuracy": 0.6},
                                           {"model": "b", "warning": "", "sentiment · accuracy": 0.75}]
    examples = [
        {"model": "a", "examples": [{"id": "x", "input": "i", "reference": "r", "prediction": "p", "scores": {"accuracy": 1.0}}]},
        {"model": "b", "examples": [{"id": "x", "input": "i", "reference": "r", "prediction": "q", "scores": {"accuracy": 0.0}}]},
    ]
    [row] = evaluation.compare_examples(examples, "accuracy")
    assert row["a output"] == "p" and row["b output"] == "q" and row["gap"] == 1.0


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"shots must be in \[0, 8\], got 9"):
        EvalConfig(shots=9)
    with pytest.raises(ValueError, match="Unknown evaluation settings: colour"):
        EvalConfig.from_dict({"colour": "red"})
    with pytest.raises(EvalError, match="Unknown task 'nope'"):
        load_task("nope")


def test_the_leaderboard_and_the_drill_down_flag_empty_and_echoed_outputs():
    dialogue = "#Person1#: Shall we meet at noon? #Person2#: Yes, at the station."
    def result(model, predictions):
        examples = [{"id": f"e{i}", "input": dialogue, "reference": "They meet at noon at the station.", "prediction": p,
                     "scores": {"rougeL_f": 0.5}} for i, p in enumerate(predictions)]
        return {"id": len(model), "model": model, "task": "dialogsum", "n": len(examples), "examples": examples,
                "metrics": evaluation.summarize("summarization", [{**e, "scores": {**e["scores"], "exact_match": 0.0,
                    "echo": float(evaluation.metrics.output_flag(e["prediction"], dialogue) == "echo")}} for e in examples])}
    echo, good = result("echo-lora", [dialogue, dialogue, ""]), result("base", ["They meet at noon.", "Noon, at the station.", "A meeting."])
    board = {r["model"]: r for r in evaluation.leaderboard([echo, good])}
    assert board["echo-lora"]["warning"] == "⚠ dialogsum: 1/3 empty, 2/3 echo the input" and board["base"]["warning"] == ""
    rows = evaluation.compare_examples([echo, good], "rougeL_f")
    assert [r["echo-lora flag"] for r in rows] == ["echo", "echo", "empty"] and {r["base flag"] for r in rows} == {""}


def test_a_model_that_cannot_load_fails_the_grid_before_any_model_is_evaluated(tiny_model_dir):
    config = EvalConfig(models=(str(tiny_model_dir), "someone/not-cached-anywhere"), tasks=("sentiment",), limit=2)
    with pytest.raises(ValueError, match="someone/not-cached-anywhere"):
        evaluation.run_evaluations(config)
    assert store.list_evaluations() == []  # the first model was not evaluated in vain
