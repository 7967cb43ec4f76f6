"""Session-state keys shared across pages, with their defaults. Keys carry their owner's prefix ("model.", "generate.")."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.models import DEFAULT_MODEL

OTHER_MODEL = "other"  # the picker's choice for a hub id or local folder typed by the user

DEFAULTS: dict[str, Any] = {
    "model.choice": DEFAULT_MODEL,
    "model.custom": "",
    "model.precision": "auto",
}


def init_state(defaults: dict[str, Any] = DEFAULTS) -> None:
    """Set defaults for keys not yet in session state (before their widgets are drawn, so widgets need no value=)."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def current_model_name() -> str:
    """The model the sidebar picker points at (bundled name, or what the user typed)."""
    init_state()
    choice = st.session_state["model.choice"]
    return st.session_state["model.custom"].strip() if choice == OTHER_MODEL else choice


def current_precision() -> str:
    init_state()
    return st.session_state["model.precision"]


def float_precision() -> str:
    """The sidebar's precision for work on float weights (training estimates, adapters): int8 reads as float32."""
    precision = current_precision()
    return "float32" if precision == "int8" else precision
