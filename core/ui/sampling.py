"""Widgets of the Sampling visualizer page: the prompt presets, a card per sampler stage, the stepper kept in
session state, and the side-by-side strategy runs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.sampling import NEUTRAL, SamplingSettings, Step, Stepper, comparison_settings, generate_steps
from core.ui.widgets import help_for

PRESETS = [
    "I took my money to the bank",
    "The teacher taught the student with the book",
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "The best thing about learning a new language is",
]

# One card per stage: title, the rule in one line, and its slider (min, max, default when switched on, step).
CARDS: dict[str, dict[str, Any]] = {
    "repetition_penalty": dict(title="Repetition penalty", rule="seen tokens: z → z/θ if z > 0, else z·θ", slider=(1.0, 2.0, 1.3, 0.05), on=False),
    "temperature": dict(title="Temperature", rule="p = softmax(z / T): T < 1 sharpens, T > 1 flattens", slider=(0.0, 2.0, 0.8, 0.05), on=True),
    "top_k": dict(title="Top-k", rule="keep the k most likely tokens", slider=(1, 200, 40, 1), on=False),
    "top_p": dict(title="Top-p (nucleus)", rule="keep the fewest tokens whose p adds up to ≥ P", slider=(0.05, 1.0, 0.9, 0.05), on=False),
    "min_p": dict(title="Min-p", rule="keep tokens with p ≥ min_p × p(top token)", slider=(0.0, 0.5, 0.05, 0.01), on=False),
}


def stage_card(stage: str, applies: bool = True) -> float:
    """A bordered card with the stage's switch, rule and slider; returns the stage's value (neutral when off).
    ``applies=False`` (greedy decoding, where only the repetition penalty acts) greys it out and says why."""
    card = CARDS[stage]
    low, high, default, step = card["slider"]
    with st.container(border=True):
        on = st.toggle(card["title"], value=card["on"], key=f"sampling.on.{stage}", help=help_for(SamplingSettings, stage),
                       disabled=not applies)
        value = st.slider(card["title"], low, high, default, step, key=f"sampling.value.{stage}", disabled=not (on and applies),
                          label_visibility="collapsed")
        st.caption(card["rule"] if applies else "Does not apply under greedy decoding: the most likely token is always picked.")
    return value if on else NEUTRAL[stage]


def stage_applies(stage: str, do_sample: bool, values: dict[str, float]) -> bool:
    """Under greedy decoding (sampling off, or temperature 0) only the repetition penalty changes the pick."""
    if stage == "repetition_penalty":
        return True
    if stage == "temperature":
        return do_sample
    return do_sample and values.get("temperature", 1.0) != 0


def stepper_for(loaded: Any, name: str, precision: str, ids: list[int], settings: SamplingSettings) -> Stepper:
    """This session's stepper for this model and prompt (a new one when either changes), with the current settings."""
    key = (name, precision, tuple(ids))
    if st.session_state.get("sampling.stepper_key") != key:
        st.session_state["sampling.stepper"] = Stepper(loaded, ids, settings)
        st.session_state["sampling.stepper_key"] = key
    stepper: Stepper = st.session_state["sampling.stepper"]
    stepper.update_settings(settings)
    return stepper


def compare_strategies(loaded: Any, name: str, ids: list[int], settings: SamplingSettings, max_new_tokens: int) -> dict[str, list[Step]] | None:
    """A button that runs greedy, temperature, top-k and top-p with the same seed; the results stay until inputs change."""
    state = st.session_state
    strategies = comparison_settings(
        state.get("sampling.value.temperature", 0.8), int(state.get("sampling.value.top_k", 40)),
        state.get("sampling.value.top_p", 0.9), settings.seed or 0,
    )
    key = (name, tuple(ids), tuple(strategies), max_new_tokens)
    if st.button(f"Generate {max_new_tokens} tokens four ways", key="sampling.compare", icon=":material/compare:"):
        progress = st.progress(0.0)
        results = {}
        for i, (label, strategy) in enumerate(strategies.items()):
            progress.progress(i / len(strategies), text=f"{label}...")
            results[label] = generate_steps(loaded, ids, strategy, max_new_tokens)
        progress.empty()
        state["sampling.compare_results"] = (key, results)
    stored = state.get("sampling.compare_results")
    return stored[1] if stored and stored[0] == key else None
