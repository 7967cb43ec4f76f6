"""PAL, program-aided language models (Gao et al. 2023): the model writes the program, the sandbox does the arithmetic.

The prompt shows dev problems with their programs (named variables, ``answer = ...``, ``print(answer)``) and opens a
code block for the new question; the model's program is cut at the closing fence and run by
``core.reasoning.sandbox``, never in this process. The answer is the program's ``answer`` variable, or the last
line it printed. A program that does not run is an answer of None with the sandbox's error, shown as what it is.
"""

from __future__ import annotations

import re
import time

from core.reasoning.cot import Solution, exemplars
from core.reasoning.llm import TextModel
from core.reasoning.sandbox import DEFAULT_TIMEOUT, run_program
from core.reasoning.tasks import extract_number, format_number

INSTRUCTION = ("Write a short Python program that solves the problem. Give each quantity a variable, compute the "
               "result into a variable named answer, and end with print(answer).")
FENCE = "```"
PAL_TOKENS = 192


def pal_prompt(model: TextModel, question: str, shots: int = 4) -> str:
    examples = "".join(f"Question: {p.question}\n{FENCE}python\n{p.program.strip()}\n{FENCE}\n\n" for p in exemplars(shots))
    return model.render(f"{INSTRUCTION}\n\n{examples}Question: {question.strip()}", f"{FENCE}python\n")


def extract_program(output: str) -> str:
    """The code in a completion that began inside a ```python block: up to the closing fence. A completion that
    opens its own block (some chat models repeat the fence) gives that block."""
    text = output.replace("\r\n", "\n")
    opened = re.match(r"\s*```(?:python|py)?\s*\n", text)
    if opened:
        text = text[opened.end():]
    return text.split(FENCE)[0].strip("\n")


def run_solution(question: str, prompt: str, output: str, start: float, timeout: float = DEFAULT_TIMEOUT) -> Solution:
    """Run the program in a completion and make the Solution (``core.reasoning.methods`` makes the completions)."""
    program = extract_program(output)
    result = run_program(program, timeout)
    value = extract_number(result.answer, prefer="last") if result.ok else None
    error = result.error if not result.ok else (None if value is not None else
                                                f"The program's answer {result.answer!r} is not a number.")
    trace = [{"program": program, "sandbox": result.to_json()}]
    steps = [line for line in program.splitlines() if line.strip()]
    return Solution("pal", question, prompt, output, format_number(value) if value is not None else None, value, steps,
                    trace, round(time.perf_counter() - start, 3), error)
