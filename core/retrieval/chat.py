"""A chat over documents: a follow-up question rewritten into a standalone one before retrieval.

"And how much does it cost?" retrieves nothing useful on its own: the words that matter ("HiveScale H2") are in an
earlier turn. Before searching, the model rewrites the follow-up from the conversation into a question that stands
alone (the "condense question" step of LangChain's and LlamaIndex's chat engines); the first turn is searched as typed.
The page shows the rewritten question, so a bad rewrite is visible rather than a silent cause of a bad answer.

Holds: ``REWRITE_INSTRUCTION``, ``rewrite_prompt`` (the recent turns, oldest dropped to fit the context window),
``clean_rewrite`` and ``rewrite_question``. Does not hold: storing chats (``core.store.conversations``), retrieval
or the answer prompt (``core.retrieval.rag``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from core.models import LoadedModel

REWRITE_INSTRUCTION = (
    "Rewrite the user's last question so that it can be understood without the conversation: replace words such as "
    "it, they, that or there with what they refer to, and keep names, products and numbers. Reply with the rewritten "
    "question only."
)
EXAMPLE = (  # one worked example: a 135M model copies the form far better than it follows the instruction alone
    "Conversation:\nUser: Where is the Eiffel Tower?\nAssistant: It is in Paris.\n\nLast question: How tall is it?\n\n"
    "Standalone question: How tall is the Eiffel Tower?\n\n"
)
MAX_TURNS = 6  # the last three exchanges
TURN_CHARS = 400  # an earlier answer is cut to its first 400 characters: the names in it are what the rewrite needs
REWRITE_TOKENS = 40


def rewrite_prompt(loaded: "LoadedModel", history: Sequence[dict[str, Any]], question: str,
                   answer_tokens: int = REWRITE_TOKENS) -> list[int]:
    """Token ids of the rewrite prompt: the instruction, the last turns (oldest dropped until it fits) and the
    question. ``history``: turns ``{"role", "content"}`` before this question."""
    turns = [t for t in history if t.get("content")][-MAX_TURNS:]
    while True:
        ids = _render(loaded, turns, question)
        if len(ids) + answer_tokens <= loaded.info.context_window or not turns:
            return ids
        turns = turns[1:]


def rewrite_text(turns: Sequence[dict[str, Any]], question: str) -> str:
    lines = [f"{'User' if t['role'] == 'user' else 'Assistant'}: {_short(t['content'])}" for t in turns]
    return EXAMPLE + "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {question.strip()}\n\nStandalone question:"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TURN_CHARS else text[:TURN_CHARS] + "..."


def _render(loaded: "LoadedModel", turns: Sequence[dict[str, Any]], question: str) -> list[int]:
    tokenizer, body = loaded.tokenizer, rewrite_text(turns, question)
    if loaded.info.has_chat_template:
        messages = [{"role": "system", "content": REWRITE_INSTRUCTION}, {"role": "user", "content": body}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(f"{REWRITE_INSTRUCTION}\n\n{body}")["input_ids"]


def clean_rewrite(text: str, question: str, previous: str = "") -> str:
    """The first line of the model's reply without a label or quotes, when it is a question (ends in "?", at most
    300 characters). Otherwise (small models often answer instead of rewriting) the previous question and this one
    together, so the names of the earlier turn still reach the search."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = re.sub(r"^(standalone|rewritten)?\s*question\s*:\s*", "", line, flags=re.IGNORECASE).strip().strip("\"'“”").strip()
    if line.endswith("?") and len(line) <= 300:
        return line
    return f"{previous.strip()} {question.strip()}".strip()


def rewrite_question(loaded: "LoadedModel", history: Sequence[dict[str, Any]], question: str) -> str:
    """The question as it will be searched: as typed on the first turn, else rewritten by the model (greedy)."""
    from core.sampling import SamplingSettings, stream_generate

    if not any(t.get("role") == "user" for t in history):
        return question.strip()
    ids = rewrite_prompt(loaded, history, question)
    if len(ids) + REWRITE_TOKENS > loaded.info.context_window:
        return question.strip()  # even the question alone leaves no room: search it as typed
    pieces = [step.piece for step in stream_generate(loaded, ids, SamplingSettings(temperature=0), REWRITE_TOKENS)]
    previous = next((t.get("rewritten") or t["content"] for t in reversed(history) if t.get("role") == "user"), "")
    return clean_rewrite("".join(pieces), question, previous)
