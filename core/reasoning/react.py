"""ReAct (Yao et al. 2023): the model interleaves Thought, Action and Observation; this orchestrator runs the actions.

Each turn the model writes ``Thought n: ...`` and ``Action n: tool[argument]`` and is stopped before it can invent the
observation; the orchestrator runs the action and appends ``Observation n: ...``. The actions:

- ``search[query]``: the best chunks of a RAG collection; the top one's document becomes "the last document";
- ``lookup[term]``: the next sentence of the last document that contains the term (ReAct's Wikipedia lookup);
- ``calculate[expression]``: the expression evaluated by the sandbox (``core.reasoning.sandbox``), never here;
- ``finish[answer]``: the answer, which ends the episode.

A malformed or unknown action gets an observation that says so and shows the format, a search repeated word for word
is answered with a nudge to try something else (small models loop), and the episode stops at the step limit with no
answer. Tools are injected (``Tools``), so a scripted fake model can drive the loop in tests.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.reasoning.cot import Solution
from core.reasoning.llm import TextModel
from core.reasoning.react_exemplar import EXEMPLAR
from core.reasoning.sandbox import run_program

if TYPE_CHECKING:
    from core.retrieval.index import Collection

ACTIONS = ("search", "lookup", "calculate", "finish")
ACTION = re.compile(r"Action(?:\s*\d+)?\s*:\s*([A-Za-z_]+)\s*\[(.*?)\](?=\s*$|\s*\n)", re.DOTALL | re.MULTILINE)
STEP_TOKENS = 96
OBSERVATION_CHARS = 600
INSTRUCTION = (
    "Answer the question by interleaving Thought, Action and Observation steps. Thought reasons about what to do "
    "next. Action is exactly one of:\n"
    "search[query]: search the company documents and show the best passage\n"
    "lookup[term]: the next sentence containing term in the last document found\n"
    "calculate[expression]: evaluate an arithmetic expression\n"
    "finish[answer]: give the final short answer\n"
    "Write one Thought and one Action, then wait for the Observation."
)
FORMAT_HELP = "Write the action as one of search[query], lookup[term], calculate[expression] or finish[answer]."


@dataclass
class Tools:
    """What the actions reach: ``search(query) -> [(document, passage), ...]`` best first, and ``document(name)``."""

    search: Callable[[str], list[tuple[str, str]]]
    document: Callable[[str], str]
    timeout: float = 2.0
    last: str | None = None
    _lookups: dict[str, int] = field(default_factory=dict)

    def run(self, action: str, argument: str) -> str:
        argument = argument.strip()
        if action == "search":
            if not argument:
                return "search needs a query, like search[warranty of the HiveScale H2]."
            hits = self.search(argument)
            if not hits:
                return f"Nothing found for {argument!r}."
            self.last, self._lookups = hits[0][0], {}
            others = ", ".join(dict.fromkeys(name for name, _ in hits[1:] if name != hits[0][0]))
            passage = " ".join(hits[0][1].split())[:OBSERVATION_CHARS]
            return f"[{hits[0][0]}] {passage}" + (f" (Also matching: {others}.)" if others else "")
        if action == "lookup":
            if self.last is None:
                return "There is no document to look in yet: search first."
            sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", self.document(self.last)) if s.strip()]
            found = [s for s in sentences if argument.lower() in s.lower()] if argument else []
            if not found:
                return f"No sentence in {self.last} contains {argument!r}."
            seen = self._lookups.get(argument.lower(), 0)
            self._lookups[argument.lower()] = seen + 1
            if seen >= len(found):
                return f"No more results for {argument!r} in {self.last}."
            return f"(Result {seen + 1} of {len(found)} in {self.last}) {found[seen][:OBSERVATION_CHARS]}"
        if action == "calculate":
            result = run_program(f"print({argument})", self.timeout)
            return result.answer if result.ok and result.answer is not None else f"Could not calculate: {result.error}"
        return f"Unknown action {action!r}. {FORMAT_HELP}"


def collection_tools(collection: "Collection", embedder: Any, k: int = 3) -> Tools:
    """Tools over a RAG collection: search with its index, documents stitched back together from their chunks."""
    from core.embeddings import embed
    from core.retrieval.index import search

    def find(query: str) -> list[tuple[str, str]]:
        return [(hit.chunk.source, hit.chunk.text) for hit in search(collection, embed(embedder, [query])[0], k)]

    def document(name: str) -> str:
        chunks = sorted((c for c in collection.chunks if c.source == name), key=lambda c: (c.page, c.start))
        text, end, page = "", 0, None
        for chunk in chunks:  # overlapping windows: keep only what each chunk adds past the previous one's end
            if chunk.page != page:
                page, end = chunk.page, 0
                text += "\n"
            text += chunk.text[max(0, end - chunk.start):] if chunk.start < end else chunk.text
            end = max(end, chunk.end)
        return text

    return Tools(find, document)


def parse_action(text: str) -> tuple[str, str] | None:
    """The first ``Action: tool[argument]`` in a model's turn, as (tool, argument); None when there is none."""
    match = ACTION.search(text)
    if not match:
        loose = re.search(r"\b(search|lookup|calculate|finish)\s*\[(.*?)\]", text, re.IGNORECASE | re.DOTALL)
        return (loose.group(1).lower(), loose.group(2).strip()) if loose else None
    return match.group(1).lower(), match.group(2).strip()


def react(model: TextModel, question: str, tools: Tools, max_steps: int = 6, examples: Sequence[str] | None = None) -> Solution:
    """Run one ReAct episode; the trace holds each turn's thought, action, argument and observation."""
    if not 1 <= max_steps <= 12:
        raise ValueError(f"The step limit must be 1 to 12, got {max_steps}.")
    start = time.perf_counter()
    shots = "\n\n".join(examples if examples is not None else [EXEMPLAR])
    prompt = model.render(f"{INSTRUCTION}\n\n{shots}\n\nQuestion: {question.strip()}", "Thought 1:")
    transcript, trace, answer = "Thought 1:", [], None
    for step in range(1, max_steps + 1):
        turn = model.complete([prompt + transcript[len("Thought 1:"):]], STEP_TOKENS,
                              (f"\nObservation {step}", "\nObservation:", "\nQuestion:"))[0]
        thought = re.split(r"\n?Action(?:\s*\d+)?\s*:", turn, maxsplit=1)[0].strip()
        parsed = parse_action(turn)
        if parsed is None and "action" not in turn.lower():  # a thought and no action: ask for the action itself
            cue = f" {thought}\nAction {step}:"
            forced = model.complete([prompt + transcript[len("Thought 1:"):] + cue], 32, ("\n",))[0]
            turn += f"\nAction {step}: {forced.strip()}"
            parsed = parse_action(f"Action {step}: {forced.strip()}")
        if parsed is None:
            observation = f"No action found. {FORMAT_HELP}"
            action, argument = None, None
        else:
            action, argument = parsed
            repeated = bool(trace) and (trace[-1]["action"], trace[-1]["argument"]) == (action, argument)
            observation = None if action == "finish" else (
                f"You just did {action}[{argument}]: the result is above. Try another query or lookup, or finish."
                if repeated and action != "lookup" else
                tools.run(action, argument) if action in ACTIONS else f"Unknown action {action!r}. {FORMAT_HELP}")
        trace.append({"step": step, "thought": thought, "action": action, "argument": argument, "observation": observation,
                      "raw": turn})
        if action == "finish":
            answer = argument
            transcript += f" {thought}\nAction {step}: finish[{argument}]"
            break
        shown_action = f"{action}[{argument}]" if action else "(none)"
        transcript += f" {thought}\nAction {step}: {shown_action}\nObservation {step}: {observation}\nThought {step + 1}:"
    error = None if answer is not None else f"No finish[...] within the step limit of {max_steps}."
    return Solution("react", question, prompt, transcript, answer, None, [t["thought"] for t in trace], trace,
                    round(time.perf_counter() - start, 3), error)
