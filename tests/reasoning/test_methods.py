"""The reasoning methods against crafted outputs and a scripted fake model: answer parsing, PAL on the exemplar
programs (through the real sandbox), self-consistency's vote, ReAct reaching finish through search and lookup,
malformed actions, and the step limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data import DATASETS_DIR
from core.reasoning import cot, pal
from core.reasoning.methods import calculator_tools, is_correct, solve, solve_many
from core.reasoning.react import Tools, parse_action, react
from core.reasoning.tasks import extract_number, find_task, load_hop_questions, load_problems, numbers_match, text_matches

KNOWLEDGE = Path(__file__).resolve().parents[2] / "assets" / "knowledge" / "lumenfold"


class ScriptedModel:
    """A TextModel that answers from a script, recording every prompt it was given."""

    name = "scripted"

    def __init__(self, turns: list[str], samples: list[str] | None = None):
        self.turns, self.samples, self.prompts = list(turns), samples or [], []

    def render(self, user: str, cue: str = "") -> str:
        return f"{user}\n{cue}"

    def complete(self, prompts, max_new_tokens, stop=()):
        self.prompts += list(prompts)
        return [self.turns.pop(0) for _ in prompts]

    def sample(self, prompt, k, max_new_tokens, stop=(), seed=0, temperature=0.7):
        self.prompts.append(prompt)
        return self.samples[:k]


# ---------------------------------------------------------------- the data


def test_the_datasets_have_their_splits_and_sources():
    problems, questions = load_problems(), load_hop_questions()
    assert len(problems) == 120 and len(load_problems("dev")) == len(load_problems("test")) == 60
    assert {p.steps for p in problems} == {1, 2, 3, 4}
    assert len(questions) == 40 and len(load_hop_questions("test")) == 30
    for row in map(json.loads, (DATASETS_DIR / "two_hop.jsonl").read_text().splitlines()):
        sources = [hop["source"] for hop in row["hops"]]
        assert len(set(sources)) == 2 and all((KNOWLEDGE / s).exists() for s in sources)
    with pytest.raises(ValueError, match="dev or test"):
        load_problems("train")


def test_every_worked_chain_states_its_answer():
    for problem in load_problems():
        assert numbers_match(extract_number(problem.cot), problem.answer), problem.id


# ---------------------------------------------------------------- reading answers


@pytest.mark.parametrize("text, prefer, expected", [
    ("So the total is 3 + 4 = 7. The answer is 12.50.", "last", 12.5),
    ("The answer is $1,234.50 in total", "last", 1234.5),
    ("First 40 - 10 = 30, then 30 * 2 = 60", "last", 60.0),
    ("42 dollars, because 6 times 7 is 42, not 43", "first", 42.0),
    ("The answer is: **-3**", "last", -3.0),
    ("steps 3,4 and 5", "first", 3.0),
    ("I do not know.", "last", None),
    ("", "last", None),
])
def test_numbers_are_read_out_of_text(text, prefer, expected):
    assert extract_number(text, prefer) == expected


def test_numbers_match_with_a_small_tolerance_and_text_by_containment():
    assert numbers_match(32.400000000000006, 32.4) and numbers_match(12.5, 12.50)
    assert not numbers_match(12.6, 12.5) and not numbers_match(None, 1.0)
    assert text_matches("It is open **10:00 to 16:00**, Tuesday to Saturday.", "10:00 to 16:00")
    assert text_matches("about eight", "8", ("eight",)) and not text_matches("", "8") and not text_matches("nine", "8")


def test_the_reasoning_steps_are_set_apart_from_the_conclusion():
    steps, conclusion = cot.split_steps("The shirt costs 40. The discount is 10. So 40 - 10 = 30.\nThe answer is 30.")
    assert steps == ["The shirt costs 40.", "The discount is 10.", "So 40 - 10 = 30."] and conclusion == "The answer is 30."


# ---------------------------------------------------------------- chain of thought and self-consistency


def test_few_shot_cot_shows_worked_dev_examples_and_reads_the_answer():
    problem = load_problems("test")[0]
    model = ScriptedModel([f"Half of it is 10. The answer is {problem.answer:g}."])
    solution = solve(model, "cot-fewshot", problem.question)
    assert all(example.cot in solution.prompt for example in cot.exemplars(4))
    assert not any(p.question in solution.prompt for p in load_problems("test") if p is not problem)
    assert solution.prompt.endswith("Answer:") and is_correct(solution, problem)
    assert solution.steps == ["Half of it is 10."]


def test_direct_reads_the_first_number_and_zero_shot_opens_with_the_cue():
    model = ScriptedModel([" 30 dollars. Or maybe 31.", "40 - 10 = 30. The answer is 30."])
    direct = solve(model, "direct", "How much?")
    assert direct.value == 30 and model.prompts[0].endswith("The answer is")
    zero = solve(model, "cot", "How much?")
    assert zero.value == 30 and model.prompts[1].endswith("Let's think step by step.")


def test_an_output_without_a_number_is_an_error_not_a_crash():
    solution = solve(ScriptedModel(["I am not sure."]), "cot", "How much?")
    assert solution.answer is None and "could not be read" in solution.error


def test_self_consistency_takes_the_majority_and_first_sampled_breaks_ties():
    chains = ["The answer is 12.", "The answer is 15.", "So 15. The answer is 15.", "The answer is 12.", "no idea"]
    solution = solve(ScriptedModel([], chains), "self-consistency", "How much?", k=5)
    assert solution.value == 12 and solution.trace[-1]["votes"] == {"12": 2, "15": 2}
    assert [t.get("answer") for t in solution.trace[:5]] == ["12", "15", "15", "12", None]
    assert cot.majority([None, None])[0] is None
    with pytest.raises(ValueError, match="2 to 20"):
        cot.self_consistency(ScriptedModel([]), "q", k=1)


# ---------------------------------------------------------------- PAL


def test_pal_on_every_exemplar_program_gives_the_gold_answer():
    """Each dataset program, as a model would write it inside the opened code block, run by the real sandbox."""
    problems = load_problems()
    model = ScriptedModel([f"{p.program}\n```\nQuestion: next" for p in problems])
    solutions = solve_many(model, "pal", [p.question for p in problems])
    wrong = [(p.id, s.answer, s.error) for p, s in zip(problems, solutions) if not is_correct(s, p)]
    assert wrong == []
    assert solutions[0].trace[0]["sandbox"]["ok"] and solutions[0].steps == problems[0].program.strip().splitlines()


@pytest.mark.parametrize("output, program", [
    ("x = 2\nprint(x)\n```\nQuestion: more", "x = 2\nprint(x)"),
    ("```python\nanswer = 3\n```", "answer = 3"),
    ("answer = 4", "answer = 4"),
    ("", ""),
])
def test_the_program_is_cut_at_the_closing_fence(output, program):
    assert pal.extract_program(output) == program


@pytest.mark.parametrize("output, message", [
    ("", "empty"),
    ("x = (1 +\n", "SyntaxError"),
    ("x = 1\n", "printed nothing"),
    ("print('many')", "not a number"),
    ("while True:\n    pass\n", "time limit"),
])
def test_a_broken_program_is_shown_as_what_it_is(output, message):
    solution = pal.run_solution("q", "prompt", output, 0.0, timeout=1.0)
    assert solution.answer is None and message in solution.error


# ---------------------------------------------------------------- ReAct

DOCUMENTS = {
    "people.md": "Maurice Tolland is head of sales. He works at the Port Aveline office.",
    "offices.md": "Port Aveline office. It has a demo room. The demo room is open 10:00 to 16:00. Parking is free.",
}


def fake_tools() -> Tools:
    def search(query: str) -> list[tuple[str, str]]:
        words = set(query.lower().split())
        ranked = sorted(DOCUMENTS, key=lambda name: -len(words & set(DOCUMENTS[name].lower().replace(".", "").split())))
        return [(name, DOCUMENTS[name]) for name in ranked]
    return Tools(search, DOCUMENTS.__getitem__)


def test_react_reaches_finish_through_search_and_lookup():
    turns = [" I need the head of sales.\nAction 1: search[head of sales]",
             " He works at Port Aveline. Find its demo room.\nAction 2: search[Port Aveline office demo room]",
             " Look for the hours.\nAction 3: lookup[open]",
             " It is open 10:00 to 16:00.\nAction 4: finish[10:00 to 16:00]"]
    model = ScriptedModel(turns)
    solution = react(model, "When is the demo room of the head of sales open?", fake_tools(), max_steps=6)
    assert solution.answer == "10:00 to 16:00" and solution.error is None
    assert [t["action"] for t in solution.trace] == ["search", "search", "lookup", "finish"]
    assert solution.trace[0]["observation"].startswith("[people.md] Maurice Tolland")
    assert solution.trace[2]["observation"] == "(Result 1 of 1 in offices.md) The demo room is open 10:00 to 16:00."
    # each turn sees the observations so far; the model never writes them
    episode = model.prompts[2].split("Question: When is")[1]  # after the worked examples
    assert "Observation 2: [offices.md]" in episode and "Observation 3" not in episode
    assert is_correct(solution, find_task("th-008"))


def test_react_answers_malformed_actions_and_stops_at_the_step_limit():
    turns = [" Hmm.\nAction 1: fly[to the moon]", " Let me search.\nAction 2: search[]", " I will look.\nAction 3: lookup[x]"]
    solution = react(ScriptedModel(turns), "q", fake_tools(), max_steps=3)
    assert solution.answer is None and "step limit of 3" in solution.error
    observations = [t["observation"] for t in solution.trace]
    assert "Unknown action 'fly'" in observations[0] and "needs a query" in observations[1]
    assert "search first" in observations[2]


def test_a_thought_without_an_action_is_asked_for_its_action():
    model = ScriptedModel([" I should look this up.", " finish[42]"])
    solution = react(model, "q", fake_tools(), max_steps=2)
    assert solution.answer == "42" and model.prompts[1].endswith("I should look this up.\nAction 1:")


def test_react_calculates_in_the_sandbox():
    turns = [" Add them.\nAction 1: calculate[189 + 19]", " So 208.\nAction 2: finish[208]"]
    solution = solve(ScriptedModel(turns), "react", "How much together?", tools=calculator_tools())
    assert solution.trace[0]["observation"] == "208" and solution.answer == "208"
    bad = Tools(lambda q: [], lambda n: "").run("calculate", "__import__('os').system('id')")
    assert bad.startswith("Could not calculate")


@pytest.mark.parametrize("text, parsed", [
    ("Thought.\nAction 2: search[HiveScale H2 price]", ("search", "HiveScale H2 price")),
    ("Action: Finish[€208]\n", ("finish", "€208")),
    ("I will lookup[warranty] now", ("lookup", "warranty")),
    ("Action 1: search HiveScale", None),
])
def test_actions_are_parsed_from_the_models_turn(text, parsed):
    assert parse_action(text) == parsed


def test_method_names_are_checked_per_task():
    with pytest.raises(ValueError, match="does not apply"):
        solve(ScriptedModel([]), "pal", "q", kind="documents")
    with pytest.raises(ValueError, match="step limit"):
        react(ScriptedModel([]), "q", fake_tools(), max_steps=0)


def test_wrong_sums_in_a_chain_of_thought_are_found():
    text = "8% of 40 is 0.08 * 40 = 3.2, and 25% of 40 is 0.22 * 40 = 8.2; 40 - 10 = 30; 6 ÷ 0 = 1; 3 × 4 = 13."
    assert cot.arithmetic_slips(text) == [{"wrote": "0.22 * 40 = 8.2", "is": "8.8"}, {"wrote": "3 × 4 = 13", "is": "12"}]
    assert cot.arithmetic_slips("") == []


@pytest.mark.parametrize("text, expected", [
    ("Luis pays 2 × 20 = 40 dollars. The answer is 40 - 20 = 20 dollars.", 20.0),
    ("The answer is 12.50. Next question", 12.5),
    ("The answer is about 7, I think. Or 8.", 7.0),
    ("The answer is unclear. 40 - 10 = 30", 30.0),
])
def test_the_answer_sentence_gives_its_result(text, expected):
    assert extract_number(text) == expected


def test_a_search_repeated_word_for_word_gets_a_nudge_not_the_same_result():
    turns = [" Search.\nAction 1: search[head of sales]", " Again.\nAction 2: search[head of sales]",
             " Look.\nAction 3: lookup[Maurice]", " Look again.\nAction 4: lookup[Maurice]"]
    solution = react(ScriptedModel(turns), "q", fake_tools(), max_steps=4)
    observations = [t["observation"] for t in solution.trace]
    assert observations[1].startswith("You just did search[head of sales]")
    assert observations[2].startswith("(Result 1 of 1") and observations[3].startswith("No more results")
