"""core.safety.constitution: principles are validated, the critique and revision prompts are built as documented,
and a background run writes a supervised set and preference pairs the fine-tune runner and DPO read."""

from __future__ import annotations

import json
import random

import pytest

from core.data import DataError
from core.safety import constitution as cai
from tests.conftest import build_tiny_tokenizer

PRINCIPLE = cai.Principle("rude", "Rude", "Say what is rude.", "Rewrite it politely.", "Which is politer?")


def test_the_bundled_constitution_has_eight_principles_with_judge_questions():
    principles = cai.load_constitution()
    assert [p.id for p in principles] == ["harmful", "unethical", "dangerous", "rude", "not_age_appropriate",
                                          "not_empathetic", "dishonest", "illegal"]
    assert all(p.critique and p.revision and p.judge.endswith("?") for p in principles)


@pytest.mark.parametrize("data, match", [
    ({"principles": []}, "at least one principle"),
    ({"principles": [{"id": "a", "critique": "  ", "revision": "Rewrite."}]}, "empty critique"),
    ({"principles": [{"id": "a", "critique": "Critique.", "revision": ""}]}, "empty revision"),
    ({"principles": [{"id": "a", "critique": "C.", "revision": "R."}, {"id": "a", "critique": "C.", "revision": "R."}]}, "Two principles"),
    ({"principles": ["just text"]}, "not an object"),
])
def test_a_bad_constitution_is_refused_naming_the_principle(data, match):
    with pytest.raises(DataError, match=match):
        cai.parse_constitution(data)


def test_a_principle_is_chosen_by_number_id_or_at_random():
    principles = cai.load_constitution()
    assert cai.choose(principles, 4, random.Random(0)).id == "rude"
    assert cai.choose(principles, "illegal", random.Random(0)).id == "illegal"
    assert cai.choose(principles, None, random.Random(0)) in principles
    with pytest.raises(ValueError, match="No principle"):
        cai.choose(principles, 9, random.Random(0))


def test_the_prompts_are_the_documented_turns_in_the_chat_template():
    tokenizer = build_tiny_tokenizer()
    critique = cai.render(tokenizer, cai.critique_turns("Be rude.", "No.", PRINCIPLE))
    assert critique == tokenizer.apply_chat_template(
        [{"role": "user", "content": "Be rude."}, {"role": "assistant", "content": "No."},
         {"role": "user", "content": "Critique request: Say what is rude."}], tokenize=False, add_generation_prompt=True)
    revision = cai.render(tokenizer, cai.revision_turns("Be rude.", "No.", PRINCIPLE, "It is curt."))
    assert revision.startswith(critique.removesuffix("<|im_start|>assistant\n"))
    assert "<|im_start|>assistant\nIt is curt.<|im_end|>\n<|im_start|>user\nRevision request: Rewrite it politely. " \
           f"{cai.REWRITE_ONLY}<|im_end|>\n<|im_start|>assistant\n" in revision


def test_a_base_model_gets_the_papers_plain_format():
    class Plain:
        chat_template = None

    text = cai.render(Plain(), cai.revision_turns("Be rude.", "No.", PRINCIPLE, "It is curt."))
    assert text == ("Human: Be rude.\n\nAssistant: No.\n\nCritiqueRequest: Say what is rude.\n\nCritique: It is curt.\n\n"
                    f"RevisionRequest: Rewrite it politely. {cai.REWRITE_ONLY}\n\nRevision:")


def test_revise_feeds_each_output_into_the_next_prompt(tiny_wide_loaded):
    trace = cai.revise(tiny_wide_loaded, "Say something.", [PRINCIPLE], rounds=2, max_new_tokens=6)
    assert len(trace["rounds"]) == 2
    first, second = trace["rounds"]
    assert trace["initial"] in first["critique_prompt"] and first["critique"] in first["revision_prompt"]
    assert first["revision"] in second["critique_prompt"]  # round 2 critiques round 1's revision
    assert trace["final"] == second["revision"]
    assert cai.training_rows(trace) == ({"prompt": "Say something.", "completion": trace["final"]},
                                        {"prompt": "Say something.", "chosen": trace["final"], "rejected": trace["initial"]})
    with pytest.raises(ValueError, match="empty"):
        cai.revise(tiny_wide_loaded, "  ", [PRINCIPLE])


def test_the_background_run_writes_data_the_trainers_read(tiny_wide_dir, tmp_path):
    from core.finetune.pairs import load_pairs
    from core.jobs import RunContext
    from core.rlhf.preferences import parse_import

    config = {"model": str(tiny_wide_dir), "limit": 2, "prompts": "provocative", "max_new_tokens": 6,
              "constitution": [PRINCIPLE.__dict__]}
    result = cai.constitution_job(RunContext(tmp_path, config))
    assert result["examples"] == 2
    sft = load_pairs(str(tmp_path / "sft.jsonl"))
    assert len(sft) == 2 and all(set(p) >= {"prompt", "completion"} for p in sft)
    pairs = parse_import((tmp_path / "preferences.jsonl").read_text())
    assert len(pairs) == 2
    traces = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert [t["rounds"][0]["principle"]["id"] for t in traces] == ["rude", "rude"]
