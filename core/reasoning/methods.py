"""The methods by name, for the page, the CLI and the experiment, on two kinds of task.

Arithmetic word problems: ``direct``, ``cot``, ``cot-fewshot``, ``self-consistency``, ``pal`` and ``react`` (which can
use ``calculate``). Two-hop questions over a document collection: ``direct`` (closed book), ``rag`` (one retrieval,
the RAG page's prompt) and ``react`` (search and lookup as often as it needs). ``solve_many`` batches the methods that
make one greedy completion per question (one forward pass per token for the whole batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from core.reasoning import cot, pal
from core.reasoning.cot import Solution
from core.reasoning.llm import LabModel, TextModel
from core.reasoning.react import Tools, react
from core.reasoning.tasks import HopQuestion, Problem, extract_number, numbers_match, text_matches

ARITHMETIC_METHODS = ("direct", "cot", "cot-fewshot", "self-consistency", "pal", "react")
DOCUMENT_METHODS = ("direct", "rag", "react")
LABELS = {"direct": "Direct answer", "cot": "Zero-shot chain of thought", "cot-fewshot": "Few-shot chain of thought",
          "self-consistency": "Self-consistency (k chains, majority vote)", "pal": "PAL (program + sandbox)",
          "react": "ReAct (thought, action, observation)", "rag": "RAG (one retrieval)"}


@dataclass(frozen=True)
class SingleShot:
    """A method that is one greedy completion: its prompt, its length, where it stops, and how it is read."""

    prompt: Callable[[TextModel, str], str]
    max_new_tokens: int
    stop: tuple[str, ...]
    read: Callable[[str, str, str, float], Solution]  # (question, prompt, output, start) -> Solution


def _reader(method: str, prefer: str = "last") -> Callable[[str, str, str, float], Solution]:
    return lambda question, prompt, output, start: cot.read_solution(method, question, prompt, output, start, prefer)


def _closed_book_prompt(model: TextModel, question: str) -> str:
    return model.render(f"Answer the question about the company Lumenfold Instruments in a few words.\n\n"
                        f"Question: {question.strip()}", "Answer:")


def _text_reader(method: str) -> Callable[[str, str, str, float], Solution]:
    def read(question: str, prompt: str, output: str, start: float) -> Solution:
        return Solution(method, question, prompt, output, output.strip() or None, None, [], [],
                        round(time.perf_counter() - start, 3), None if output.strip() else "The model said nothing.")
    return read


ARITHMETIC_SINGLE = {
    "direct": SingleShot(cot.direct_prompt, 16, cot.STOP, _reader("direct", "first")),
    "cot": SingleShot(cot.zero_shot_prompt, cot.COT_TOKENS, cot.STOP, _reader("cot")),
    "cot-fewshot": SingleShot(cot.few_shot_prompt, cot.COT_TOKENS, cot.STOP, _reader("cot-fewshot")),
    "pal": SingleShot(pal.pal_prompt, pal.PAL_TOKENS, (pal.FENCE, "\nQuestion:"), pal.run_solution),
}
DOCUMENT_SINGLE = {"direct": SingleShot(_closed_book_prompt, 48, ("\nQuestion:", "\n\n"), _text_reader("direct"))}


def methods_for(kind: str) -> tuple[str, ...]:
    if kind not in ("arithmetic", "documents"):
        raise ValueError(f"Unknown task kind {kind!r}: arithmetic or documents.")
    return ARITHMETIC_METHODS if kind == "arithmetic" else DOCUMENT_METHODS


def solve_many(model: TextModel, method: str, questions: Sequence[str], kind: str = "arithmetic", tools: Tools | None = None,
               rag: Callable[[str], Solution] | None = None, k: int = 5, seed: int = 0, max_steps: int = 6) -> list[Solution]:
    """Each question solved with one method; single-completion methods run as one batch."""
    if method not in methods_for(kind):
        raise ValueError(f"Method {method!r} does not apply to {kind} tasks: choose one of {', '.join(methods_for(kind))}.")
    if any(not (q or "").strip() for q in questions):
        raise ValueError("The question is empty: type a problem or pick a bundled one.")
    single = (ARITHMETIC_SINGLE if kind == "arithmetic" else DOCUMENT_SINGLE).get(method)
    if single is not None:
        start = time.perf_counter()
        prompts = [single.prompt(model, q) for q in questions]
        outputs = model.complete(prompts, single.max_new_tokens, single.stop)
        solutions = [single.read(q, p, o, start) for q, p, o in zip(questions, prompts, outputs)]
        for s in solutions:  # one batch: each row gets its share of the time
            s.seconds = round(s.seconds / max(len(questions), 1), 3)
        return solutions
    if method == "self-consistency":
        return [cot.self_consistency(model, q, k=k, seed=seed + i) for i, q in enumerate(questions)]
    if method == "react":
        if tools is None:
            raise ValueError("ReAct needs tools: a document collection to search.")
        return [react(model, q, _fresh(tools), max_steps=max_steps) for q in questions]
    if method == "rag":
        if rag is None:
            raise ValueError("RAG needs a document collection.")
        return [rag(q) for q in questions]
    raise AssertionError(method)


def solve(model: TextModel, method: str, question: str, kind: str = "arithmetic", **options: Any) -> Solution:
    return solve_many(model, method, [question], kind, **options)[0]


def calculator_tools() -> Tools:
    """ReAct's tools for arithmetic: calculate works; there are no documents to search."""
    return Tools(lambda query: [], lambda name: "")


def task_tools(kind: str, model: LabModel, embedder: Any = None) -> dict[str, Any]:
    """What ``solve_many`` needs for a kind of task: the calculator for arithmetic; for documents, search and lookup
    over the bundled Lumenfold collection (built on first use) and the one-retrieval RAG solver."""
    if kind != "documents":
        return {"tools": calculator_tools(), "rag": None}
    from core.embeddings import load_embedder
    from core.reasoning.react import collection_tools
    from core.retrieval.rag import ensure_bundled_collection

    embedder = embedder if embedder is not None else load_embedder()
    collection = ensure_bundled_collection(embedder)
    return {"tools": collection_tools(collection, embedder), "rag": rag_solver(model, collection, embedder)}


def _fresh(tools: Tools) -> Tools:
    return Tools(tools.search, tools.document, tools.timeout)


def rag_solver(model: LabModel, collection: Any, embedder: Any, k: int = 4) -> Callable[[str], Solution]:
    """One retrieval, then the RAG page's prompt (numbered, delimited sources) and a greedy answer."""
    from core.embeddings import embed
    from core.retrieval import rag
    from core.retrieval.index import search

    def solve_one(question: str) -> Solution:
        start = time.perf_counter()
        hits = search(collection, embed(embedder, [question])[0], k)
        prompt = rag.build_rag_prompt(model.loaded, question, hits, 64)
        output = rag.answer(model.loaded, prompt, 64)
        trace = [{"source": h.chunk.source, "score": round(h.score, 3)} for h in hits]
        return Solution("rag", question, prompt.text, output, output or None, None, [], trace,
                        round(time.perf_counter() - start, 3), None if output else "The model said nothing.")
    return solve_one


def is_correct(solution: Solution, task: Problem | HopQuestion) -> bool:
    if isinstance(task, Problem):  # ReAct finishes with text: read the number from it
        value = solution.value if solution.value is not None else extract_number(solution.answer)
        return numbers_match(value, task.answer)
    return text_matches(solution.answer, task.answer, task.aliases)
