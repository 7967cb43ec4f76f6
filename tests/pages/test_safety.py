"""AppTest: the Responsible AI page, and the guardrail switch on Generate and RLHF labelling (a flagged answer is
masked with its reason; one click shows it; what is caught is counted)."""

from __future__ import annotations

import dataclasses

from core.sampling import generation
from tests.pages.helpers import page_test

INSULT = "You're a useless idiot and everyone knows it."


def test_the_page_runs_and_scores_texts(tiny_model_dir):
    at = page_test("safety", str(tiny_model_dir), timeout=300).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [t.label for t in at.tabs] == ["Guardrail", "Detoxify", "Constitution", "AI feedback", "Hallucination & IP"]
    at.text_area(key="safety.texts").set_value(f"kill the process\n{INSULT}")
    at.button(key="safety.score").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [table] = [d.value for d in at.dataframe if "toxic probability" in d.value.columns]
    assert list(table["toxic"]) == [False, True] and table["reason"][1]
    assert len(at.session_state["safety.caught"]) == 1


def test_nothing_to_score_is_a_clear_error(tiny_model_dir):
    at = page_test("safety", str(tiny_model_dir), timeout=300).run()
    at.text_area(key="safety.texts").set_value("  \n")
    at.button(key="safety.score").click().run()
    assert not at.exception and "Nothing to score" in at.error[0].value


def _toxic_generator(monkeypatch, text=INSULT):
    """The tiny model writes noise; for the mask to be tested, its answer is made an insult (the guardrail is real)."""
    real = generation.stream_generate

    def insulting(loaded, prompt_ids, settings, max_new_tokens=64, stop_at_eos=True):
        steps = list(real(loaded, prompt_ids, settings, 1))
        for piece in text.split(" "):
            yield dataclasses.replace(steps[0], piece=piece + " ")

    monkeypatch.setattr("core.sampling.stream_generate", insulting)
    monkeypatch.setattr("core.sampling.shared.stream_generate", insulting)  # the Generate page's shared worker


def test_generate_masks_a_flagged_answer_and_shows_it_on_one_click(tiny_model_dir, monkeypatch):
    _toxic_generator(monkeypatch)
    at = page_test("generate", str(tiny_model_dir), timeout=300).run()
    at.slider(key="generate.max_new_tokens").set_value(16)  # the tiny model's window is 128 tokens
    at.toggle(key="generate.guardrail").set_value(True).run()
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Hidden by the guardrail" in w.value and "insult" in w.value for w in at.warning)
    assert not any("idiot" in t.value for t in at.text)
    assert at.session_state["safety.caught"][0]["kind"] == "answer"
    at.toggle(key="generate.reveal").set_value(True).run()
    assert any(INSULT.strip() in t.value for t in at.text)


def test_generate_stops_a_flagged_prompt(tiny_model_dir):
    at = page_test("generate", str(tiny_model_dir), timeout=300).run()
    at.toggle(key="generate.guardrail").set_value(True)
    at.text_area(key="generate.prompt").set_value(INSULT)
    at.button[0].click().run()
    assert not at.exception
    assert any("stopped this prompt" in w.value for w in at.warning)
    assert not any("new tokens" in c.value for c in at.caption)


def test_rlhf_labelling_masks_a_flagged_completion(tiny_model_dir):
    from core import store

    [prompt_id] = store.add_prompts([{"text": "Say something.", "source": "user"}])
    store.add_comparison(prompt_id, [{"text": INSULT, "model": "m", "settings": {}, "seed": 0},
                                     {"text": "Have a lovely day.", "model": "m", "settings": {}, "seed": 1}])
    at = page_test("rlhf", str(tiny_model_dir), timeout=300).run()
    at.text_input(key="rlhf.annotator").set_value("alice")
    at.toggle(key="rlhf.guardrail").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sum("Hidden by the guardrail" in w.value for w in at.warning) == 1
    assert any(t.value == "Have a lovely day." for t in at.text)
    assert not any(t.value == INSULT for t in at.text)
