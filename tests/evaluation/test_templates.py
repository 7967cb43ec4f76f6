"""Prompt variants: EvalConfig.templates is validated, and each (model, template) is run with that prompt and saved
as its own evaluation."""

from __future__ import annotations

import json

import pytest

from core import store
from core.evaluation import EvalConfig, evaluation_label, leaderboard, run_evaluations


@pytest.mark.parametrize("template, message", [
    ("Review: {text}", "placeholder {input} exactly once"),
    ("Review: no placeholder", "placeholder {input} exactly once"),
    ("{input} and {input}", "placeholder {input} exactly once"),
    ("Review: {input", "unbalanced braces"),
])
def test_bad_templates_are_refused(template, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(templates=(template,))


def test_literal_braces_are_allowed_when_doubled():
    assert EvalConfig(templates=('JSON {{"review": "{input}"}} ->',)).templates


def test_templates_do_not_apply_to_perplexity_and_must_differ():
    with pytest.raises(ValueError, match="not to perplexity"):
        EvalConfig(tasks=("general_text",), templates=("{input}",))
    with pytest.raises(ValueError, match="the same"):
        EvalConfig(templates=("{input}", "{input}"))


def test_each_template_is_its_own_evaluation_scored_on_that_exact_prompt(tiny_model_dir, tmp_path):
    from core.models import load_model
    from core.prompting.prompts import score_labels

    path = tmp_path / "reviews.jsonl"
    rows = [{"id": f"r{i}", "text": text, "label": label} for i, (text, label) in
            enumerate([("I loved it", "positive"), ("Awful food", "negative"), ("Great staff", "positive")])]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    templates = ("Review: {input}\nSentiment:", "Is this review positive or negative? {input}\nAnswer:")
    config = EvalConfig(models=(str(tiny_model_dir),), tasks=(f"classification:{path}",), templates=templates,
                        precision="float32")
    ids = run_evaluations(config)
    assert len(ids) == 2
    saved = [store.load_evaluation(i) for i in ids]
    assert [e["config"]["template"] for e in saved] == list(templates) and "templates" not in saved[0]["config"]
    loaded = load_model(str(tiny_model_dir), precision="float32")
    for evaluation, template in zip(saved, templates):  # the stored label probabilities are those of the template's prompt
        for example, row in zip(evaluation["examples"], rows):
            expected = score_labels(loaded, loaded.tokenizer(template.format(input=row["text"]))["input_ids"],
                                    ("negative", "positive")).probabilities
            assert example["scores"]["p_positive"] == pytest.approx(expected["positive"], abs=1e-5)
    labels = [evaluation_label(e) for e in saved]
    assert len(set(labels)) == 2 and all(str(tiny_model_dir) in label for label in labels)
    assert {row["model"] for row in leaderboard(store.list_evaluations())} == set(labels)
