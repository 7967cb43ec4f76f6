"""Answering directly and with a chain of thought: zero-shot, few-shot, and self-consistency.

The prompts are here; ``core.reasoning.methods`` runs them (one batch for the single-completion methods) and reads
the outputs with ``read_solution``. Every method gives a ``Solution``: the exact prompt, the raw output, the
reasoning steps set apart from the final answer, the parsed answer and a trace (for self-consistency, each sampled
chain and its vote).

- **direct**: the question, then "The answer is" for the model to finish; the first number it gives is its answer.
- **cot** (zero-shot, Kojima et al. 2022): "Let's think step by step." opens the answer.
- **cot-fewshot** (Wei et al. 2022): worked examples from the dev split, each question with its written-out steps.
- **self-consistency** (Wang et al. 2023): k chains sampled from the few-shot prompt; the most common answer wins.

All methods ask for the same closing sentence, "The answer is N.", so their answers are read the same way.
"""

from __future__ import annotations

import operator
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from core.reasoning.llm import TextModel
from core.reasoning.tasks import Problem, extract_number, format_number, load_problems

CLOSING = 'End with the sentence "The answer is N." where N is a number.'
STOP = ("\nQuestion:", "\n\n\n")
COT_TOKENS = 192


@dataclass
class Solution:
    method: str
    question: str
    prompt: str
    output: str
    answer: str | None  # as shown to the user
    value: float | None = None  # the number read from it, for arithmetic
    steps: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def exemplars(n: int = 4) -> list[Problem]:
    """n worked examples from the dev split, with different numbers of steps (2, 3, 4, 1, then any)."""
    dev = load_problems("dev")
    chosen: list[Problem] = []
    for steps in (2, 3, 4, 1):
        chosen += [p for p in dev if p.steps == steps][:1]
    chosen += [p for p in dev if p not in chosen]
    return chosen[:n]


def split_steps(output: str) -> tuple[list[str], str]:
    """The reasoning lines of an output, and its conclusion (the sentence with "the answer is", else the last line)."""
    lines = [line.strip() for line in output.replace(". ", ".\n").splitlines() if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if "answer is" in lines[i].lower():
            return lines[:i], lines[i]
    return (lines[:-1], lines[-1]) if lines else ([], "")


def direct_prompt(model: TextModel, question: str) -> str:
    return model.render(f"Answer with a number only.\n\nQuestion: {question.strip()}", "The answer is")


def zero_shot_prompt(model: TextModel, question: str) -> str:
    return model.render(f"{CLOSING}\n\nQuestion: {question.strip()}", "Let's think step by step.")


def few_shot_prompt(model: TextModel, question: str, shots: int = 4) -> str:
    examples = "".join(f"Question: {p.question}\nAnswer: {p.cot}\n\n" for p in exemplars(shots))
    return model.render(f"{CLOSING}\n\n{examples}Question: {question.strip()}", "Answer:")


def read_solution(method: str, question: str, prompt: str, output: str, start: float, prefer: str = "last",
              trace: list[dict[str, Any]] | None = None) -> Solution:
    steps, conclusion = split_steps(output)
    value = extract_number(output, prefer)
    error = None if value is not None else "No number in the output: the answer could not be read."
    return Solution(method, question, prompt, output, format_number(value) if value is not None else None, value,
                    steps, trace or [], round(time.perf_counter() - start, 3), error)


def majority(values: Sequence[float | None]) -> tuple[float | None, Counter]:
    """The most common answer (ties: the one sampled first) and the vote count; chains without a number abstain."""
    votes = Counter(format_number(v) for v in values if v is not None)
    if not votes:
        return None, votes
    top = max(votes.values())
    winner = next(format_number(v) for v in values if v is not None and votes[format_number(v)] == top)
    return float(winner), votes


def self_consistency(model: TextModel, question: str, k: int = 5, shots: int = 4, seed: int = 0,
                     max_new_tokens: int = COT_TOKENS, temperature: float = 0.7) -> Solution:
    if not 2 <= k <= 20:
        raise ValueError(f"Self-consistency needs 2 to 20 chains, got {k}.")
    start = time.perf_counter()
    prompt = few_shot_prompt(model, question, shots)
    chains = model.sample(prompt, k, max_new_tokens, STOP, seed=seed, temperature=temperature)
    values = [extract_number(c) for c in chains]
    winner, votes = majority(values)
    trace = [{"chain": i + 1, "output": c, "answer": format_number(v) if v is not None else None} for i, (c, v) in
             enumerate(zip(chains, values))]
    best = next((c for c, v in zip(chains, values) if v is not None and winner is not None and
                 format_number(v) == format_number(winner)), chains[0] if chains else "")
    solution = read_solution("self-consistency", question, prompt, best, start, trace=trace)
    solution.value, solution.answer = winner, format_number(winner) if winner is not None else None
    solution.trace.append({"votes": dict(votes)})
    solution.error = None if winner is not None else "No chain gave a number: nothing to vote on."
    return solution


OPERATORS = {"+": operator.add, "-": operator.sub, "−": operator.sub, "*": operator.mul, "×": operator.mul,
             "x": operator.mul, "/": operator.truediv, "÷": operator.truediv}
EQUATION = re.compile(r"(\d+(?:\.\d+)?)\s*([+\-−*×x/÷])\s*(\d+(?:\.\d+)?)\s*=\s*(\d+(?:\.\d+)?)")


def arithmetic_slips(text: str) -> list[dict[str, Any]]:
    """The sums a chain of thought wrote out wrongly ("0.22 * 40 = 8.2", which is 8.8): where the reasoning may be
    right and the arithmetic is not, the gap PAL closes. Only ``a op b = c`` with two numbers is checked."""
    slips = []
    for match in EQUATION.finditer(text or ""):
        a, op, b, stated = float(match.group(1)), match.group(2), float(match.group(3)), float(match.group(4))
        if op in "/÷" and b == 0:
            continue
        actual = OPERATORS[op](a, b)
        if abs(actual - stated) > max(0.01, 1e-6 * abs(actual)):
            slips.append({"wrote": match.group(0), "is": format_number(round(actual, 6))})
    return slips
