"""The guardrail in use on any page: a switch, a check of prompts and answers, and a flagged text masked with its
reason and score (one click shows it, for a teacher). Everything it catches in this browser session is counted in
``safety.caught`` for the Responsible AI page. Texts are shown with ``st.text``: never as HTML or markdown.
"""

from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

CAUGHT = "safety.caught"


@st.cache_resource(show_spinner="Loading the guardrail (trained on first use, a few seconds)...")
def shared_guardrail() -> Any:
    """The process-wide guardrail: read-only, shared by every session."""
    from core.safety.guardrail import shared_guardrail as build

    return build()


def guardrail_switch(prefix: str, container: Any = st) -> bool:
    return container.toggle(
        "Guardrail", key=f"{prefix}.guardrail",
        help="Checks the prompt and the answer with the lab's toxicity classifier (MiniLM + logistic regression, "
             "trained on the bundled toxicity set). A flagged prompt is not sent; a flagged answer is hidden.")


def check(texts: Sequence[str], where: str, kind: str) -> list[dict[str, Any]]:
    """Score texts and count what was caught (once per page, kind and text, however often the page reruns)."""
    verdicts = shared_guardrail().score(list(texts))
    record(verdicts, where, kind)
    return verdicts


def record(verdicts: Sequence[dict[str, Any]], where: str, kind: str) -> None:
    """Add the flagged verdicts to this session's list of catches (each page, kind and text once)."""
    caught = st.session_state.setdefault(CAUGHT, [])
    seen = {(c["page"], c["kind"], c["text"]) for c in caught}
    for v in verdicts:
        if v["toxic"] and (where, kind, v["text"]) not in seen:
            caught.append({"page": where, "kind": kind, "reason": v["reason"], "toxic_probability": round(v["toxic_probability"], 3),
                           "text": v["text"]})


def blocked_prompt(prompt: str, where: str) -> bool:
    """True (and says why) when the guardrail stops a prompt before the model sees it."""
    [verdict] = check([prompt], where, "prompt")
    if verdict["toxic"]:
        st.warning(f"The guardrail stopped this prompt: it reads as toxic ({verdict['reason']}, probability "
                   f"{verdict['toxic_probability']:.2f}). Rephrase it, or switch the guardrail off.", icon=":material/shield:")
    return verdict["toxic"]


def show_checked(text: str, verdict: dict[str, Any] | None, key: str) -> None:
    """The text, or, when the guardrail flagged it, why it is hidden and a switch that shows it."""
    if verdict and verdict["toxic"]:
        st.warning(shared_guardrail().explain(verdict), icon=":material/shield:")
        if st.toggle("Show the text", key=key, help="For a teacher reviewing what was caught."):
            st.text(text)
    else:
        st.text(text)
