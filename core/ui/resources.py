"""Resources cached across all Streamlit sessions. Everything returned here is shared: treat it as read-only
(never attach an adapter, change weights or train it; load a fresh copy with core.models.load_model for that)."""

from __future__ import annotations

import streamlit as st

from core import models


@st.cache_resource(show_spinner=False, max_entries=4)
def _shared_model(name: str, precision: str) -> models.LoadedModel:
    # st.cache_resource computes a key once even when several sessions ask at the same time.
    return models.load_model(name, precision=precision)


def shared_model(name: str, precision: str = "auto") -> models.LoadedModel:
    """The model every session shares, loaded once; the spinner says when the one-off GGUF conversion is running."""
    spec = models.resolve(name)
    if spec.source == "bundled" and not models.is_cached(spec.name):
        message = f"First use of {spec.name}: converting its GGUF weights to safetensors (once, about 20-60 s)..."
    else:
        message = f"Loading {name}..."
    with st.spinner(message, show_time=True):
        return _shared_model(name, precision)
