"""core.prompting (prompts and the shots sweep) on a tiny model: prompts, selection, budgets, scoring and the k sweep."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import Example, TaskData
from core.prompting import (
    build_prompt,
    fit_prompt,
    label_ids,
    parse_label,
    score_labels,
    score_labels_naive,
    select_examples,
)
from core.prompting.shots import ShotsConfig, run_shots, summarize


@pytest.fixture
def task() -> TaskData:
    texts = ["loved it", "great fun", "what a bore", "awful food", "a delight", "never again", "so good", "too slow"]
    labels = ["positive", "positive", "negative", "negative", "positive", "negative", "positive", "negative"]
    examples = [Example(f"e{i}", t, label, "pool" if i < 6 else "test") for i, (t, label) in enumerate(zip(texts, labels))]
    return TaskData("toy", "classification", tuple(examples), ("negative", "positive"))


def test_raw_prompt_has_instruction_shots_input_and_cue(tiny_loaded, task):
    prompt = build_prompt(tiny_loaded, task, task.split("pool")[:2], "so good")
    assert prompt.text == (
        "Classify the sentiment of each text as negative or positive.\n\n"
        "Text: loved it\nSentiment: positive\n\nText: great fun\nSentiment: positive\n\nText: so good\nSentiment:"
    )
    assert [p.kind for p in prompt.parts] == ["instruction", "example", "example", "input", "cue"]
    assert sum(p.tokens for p in prompt.parts) == len(prompt.ids)
    assert "".join(p.text for p in prompt.parts) == prompt.text


def test_chat_prompt_puts_shots_in_earlier_turns(tiny_loaded, task):
    prompt = build_prompt(tiny_loaded, task, task.split("pool")[:1], "so good", chat=True)
    assert prompt.text.startswith("<|im_start|>system\nClassify")
    assert "<|im_start|>user\nText: loved it<|im_end|>\n<|im_start|>assistant\npositive<|im_end|>" in prompt.text
    assert prompt.text.endswith("<|im_start|>assistant\n")
    assert sum(p.tokens for p in prompt.parts) == len(prompt.ids)


def test_zero_shot_has_no_examples(tiny_loaded, task):
    assert build_prompt(tiny_loaded, task, [], "so good").tokens_by_kind().get("example", 0) == 0


def test_random_selection_is_seeded(task):
    pool = task.split("pool")
    assert select_examples(pool, 3, "random", seed=1) == select_examples(pool, 3, "random", seed=1)
    assert {e.id for e in select_examples(pool, 6, "random", seed=2)} == {e.id for e in pool}


def test_balanced_selection_takes_each_label_in_turn(task):
    chosen = select_examples(task.split("pool"), 4, "balanced", seed=0, labels=task.labels)
    assert sorted(e.target for e in chosen) == ["negative", "negative", "positive", "positive"]


def test_similar_selection_puts_the_nearest_last(task):
    pool = task.split("pool")
    vectors = np.eye(len(pool), dtype=np.float32)
    query = vectors[4] * 0.9 + vectors[1] * 0.1
    chosen = select_examples(pool, 2, "similar", query_vector=query, pool_vectors=vectors)
    assert [e.id for e in chosen] == [pool[1].id, pool[4].id]


def test_selection_rejects_bad_arguments(task):
    with pytest.raises(ValueError, match="Unknown strategy 'best'"):
        select_examples(task.split("pool"), 2, "best")
    with pytest.raises(ValueError, match="needs embeddings"):
        select_examples(task.split("pool"), 2, "similar")


def test_examples_are_dropped_to_fit_the_window(tiny_loaded, task):
    long_pool = [Example(f"l{i}", "word " * 30, "positive", "pool") for i in range(6)]
    prompt = fit_prompt(tiny_loaded, task, long_pool, "so good", answer_tokens=8)
    assert prompt.dropped > 0 and len(prompt.ids) + 8 <= tiny_loaded.info.context_window
    assert len(prompt.examples) == 6 - prompt.dropped


def test_an_input_too_long_for_the_window_is_refused(tiny_loaded, task):
    with pytest.raises(ValueError, match="Even with no examples.*context window of 128"):
        fit_prompt(tiny_loaded, task, [], "word " * 200, answer_tokens=8)


@pytest.mark.parametrize("chat", [False, True])
def test_shared_prefix_scoring_equals_one_forward_per_label(tiny_loaded, task, chat):
    labels = ("negative", "positive", "neutral-ish")  # several tokens each with the tiny tokenizer
    assert max(len(ids) for ids in label_ids(tiny_loaded, labels, chat)) > 1
    prompt = build_prompt(tiny_loaded, task, task.split("pool")[:3], "so good", chat=chat)
    shared = score_labels(tiny_loaded, prompt.ids, labels, chat)
    naive = score_labels_naive(tiny_loaded, prompt.ids, labels, chat)
    for label in labels:
        assert shared.logprobs[label] == pytest.approx(naive.logprobs[label], abs=1e-4)
    assert sum(shared.probabilities.values()) == pytest.approx(1.0)


def test_parse_label_finds_the_first_label_word():
    assert parse_label("I think it is Positive.", ["negative", "positive"]) == "positive"
    assert parse_label("not sure", ["negative", "positive"]) is None
    assert parse_label("positively negative", ["negative", "positive"]) == "negative"


def test_sweep_scores_every_example_at_every_k(tiny_loaded, task):
    seen = []
    results = run_shots(tiny_loaded, task, ShotsConfig(ks=(0, 2), n=2, strategy="balanced"), on_progress=lambda d, t, r: seen.append((d, t)))
    assert len(results) == 4 and seen[-1] == (4, 4)
    summary = summarize(results)
    assert [(row["k"], row["n"]) for row in summary] == [(0, 2), (2, 2)]
    assert summary[1]["prompt_tokens"] > summary[0]["prompt_tokens"]
    assert all(r.score in (0.0, 1.0) and r.prediction in task.labels for r in results)


def test_sweep_stops_when_asked(tiny_loaded, task):
    results = run_shots(tiny_loaded, task, ShotsConfig(ks=(0, 1, 2), n=2), should_stop=lambda: True)
    assert results == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"ks": (9,)}, r"k must be in \[0, 8\]"), ({"n": 0}, r"n must be in \[1, 100000\], got 0"), ({"cot": True}, "needs scoring='generate'")],
)
def test_bad_sweep_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShotsConfig(**kwargs)


def test_summaries_are_scored_with_rouge_l(tiny_wide_dir):
    from core.models import load_model

    tiny_loaded = load_model(str(tiny_wide_dir))
    dialogue = "Ann: Lunch at noon?\nBen: Sure, see you then."
    examples = tuple(Example(f"d{i}", dialogue, "Ann and Ben meet for lunch at noon.", "pool" if i < 3 else "test") for i in range(5))
    task = TaskData("chat", "generation", examples)
    results = run_shots(tiny_loaded, task, ShotsConfig(ks=(0, 1), n=1, strategy="random", scoring="generate"))
    assert len(results) == 2 and all(0.0 <= r.score <= 1.0 for r in results)


def test_cli_shots_json(capsys, tiny_wide_dir):
    import json

    from core.cli import main

    assert main(["shots", "--task", "sentiment", "--k", "0,1", "--n", "2", "--model", str(tiny_wide_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "accuracy" and [row["k"] for row in out["summary"]] == [0, 1]
    assert len(out["examples"]) == 4


def test_cli_shots_rejects_a_bad_k(capsys, tiny_model_dir):
    from core.cli import main

    assert main(["shots", "--k", "0,12", "--model", str(tiny_model_dir)]) == 2
    assert "k must be in [0, 8], got 12" in capsys.readouterr().err
