"""Resources cached across all Streamlit sessions. Everything returned here is shared: treat it as read-only
(never attach an adapter, change weights or train it; load a fresh copy with core.models.load_model for that)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core import models

if TYPE_CHECKING:
    import numpy as np


@st.cache_resource(show_spinner=False, max_entries=4)
def _shared_model(name: str, precision: str) -> models.LoadedModel:
    # st.cache_resource computes a key once even when several sessions ask at the same time.
    loaded = models.load_model(name, precision=precision)
    from core.sampling import fast

    fast.prepare(loaded.model, loaded.info.context_window)  # compile the decode step in the background (LAB_COMPILE)
    return loaded


def shared_model(name: str, precision: str = "auto") -> models.LoadedModel:
    """The model every session shares, loaded once; the spinner says when the one-off GGUF conversion is running."""
    spec = models.resolve(name)
    if spec.source == "bundled" and not models.is_cached(spec.name):
        message = f"First use of {spec.name}: converting its GGUF weights to safetensors (once, about 20-60 s)..."
    else:
        message = f"Loading {name}..."
    with st.spinner(message, show_time=True):
        return _shared_model(name, precision)


@st.cache_resource(show_spinner="Loading a copy of the model that reports its attention weights...", max_entries=2)
def shared_eager_model(name: str, precision: str = "auto") -> models.LoadedModel:
    """A second shared copy of a model with eager attention: the fast kernels do not return attention weights."""
    return models.load_model(name, precision=precision, attn_implementation="eager")


@st.cache_data(show_spinner=False, max_entries=64)
def next_logits(name: str, precision: str, ids: tuple[int, ...]) -> "np.ndarray":
    """The model's next-token logits for a prompt, cached per (model, prompt): moving a sampler slider reuses them."""
    from core.sampling import next_token_logits

    return next_token_logits(_shared_model(name, precision), list(ids)).numpy()


@st.cache_data(show_spinner=False, max_entries=16)
def prompt_attention(name: str, precision: str, ids: tuple[int, ...]) -> "np.ndarray":
    """Attention weights (layers, heads, tokens, tokens) for a prompt, cached per (model, prompt)."""
    from core.sampling.attention import attention_weights

    return attention_weights(shared_eager_model(name, precision), list(ids))


@st.cache_resource(show_spinner="Loading the embedding model (all-MiniLM-L6-v2)...")
def shared_embedder():
    from core.embeddings import load_embedder

    return load_embedder()


@st.cache_data(show_spinner="Embedding...", max_entries=32)
def text_embeddings(texts: tuple[str, ...]) -> "np.ndarray":
    """Unit-length MiniLM embeddings of texts, cached by content."""
    from core.embeddings import embed

    return embed(shared_embedder(), texts)
