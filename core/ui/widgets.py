"""Widgets shared by several pages: the sidebar model picker, the model card, and help text taken from config dataclasses."""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path
from typing import Any

import streamlit as st

from core import data, models
from core.ui.resources import shared_model
from core.ui.state import OTHER_MODEL, current_model_name, current_precision, init_state


def help_for(config_class: type, field_name: str) -> str | None:
    """The help text a config dataclass carries for one field, so the widget and the config never disagree."""
    for f in dataclasses.fields(config_class):
        if f.name == field_name:
            return f.metadata.get("help")
    raise KeyError(f"{config_class.__name__} has no field {field_name!r}")


def model_picker() -> None:
    """The sidebar's model choice; it persists across pages because app.py draws it on every run."""
    init_state()
    names = [*models.BUNDLED, *models.finetuned_runs(), OTHER_MODEL]
    failed = st.session_state.pop("model.failed", None)
    if failed or st.session_state["model.choice"] not in names:  # it would not load, or its run was deleted meanwhile
        st.session_state["model.choice"] = models.DEFAULT_MODEL
    st.selectbox(
        "Model",
        names,
        key="model.choice",
        format_func=_model_label,
        help="The bundled models work offline; fine-tuned runs appear here when they finish. Any model folder saved "
        "with save_pretrained, or a hub id already in the local Hugging Face cache, works too.",
    )
    if failed:
        st.error(f"{failed} The default model is chosen instead.")
    if st.session_state["model.choice"] == OTHER_MODEL:
        st.text_input("Hub id or folder", key="model.custom", placeholder="HuggingFaceTB/SmolLM2-360M or /path/to/model")
    st.radio(
        "Precision",
        models.PRECISIONS,
        key="model.precision",
        horizontal=True,
        help="auto = bfloat16 where the device supports it (half the memory); float32 is exact; int8 = int8 weights "
        "with float32 arithmetic around them, a quarter of the memory and the fastest decoding on a CPU (CPU only).",
    )


_ESCAPE = {c: "\\" + c for c in string.punctuation}


def escape_markdown(text: str) -> str:
    """Text from a dataset, an upload or a model shown literally inside Streamlit markdown (no links, no formatting)."""
    return "".join(_ESCAPE.get(c, c) for c in text)


def save_upload(upload: Any) -> Path:
    """An uploaded file kept under $LAB_HOME/uploads/ with a safe name (core.data.save_upload)."""
    return data.save_upload(upload.getvalue(), upload.name)


def human_count(n: int) -> str:
    """135 M, 1.2 B, 48 K: the way parameter counts are usually written."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{_short(n / size)} {unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for size, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= size:
            return f"{_short(n / size)} {unit}"
    return f"{n} B"


def _short(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def _model_label(name: str) -> str:
    if name in models.BUNDLED:
        return models.BUNDLED[name].title
    if name.startswith(models.RUN_PREFIX):
        return f"{models.run_kind(name)}: {name.removeprefix(models.RUN_PREFIX)}"
    return "Other: hub id or local folder"


def model_card(info: models.ModelInfo) -> None:
    """Parameters, context window, memory and what kind of model it is, compact enough for the sidebar."""
    kind = "instruct, chat template" if info.has_chat_template else ("instruct" if info.is_instruct else "base model")
    st.markdown(
        f"**{human_count(info.parameters)}** parameters  \n"
        f"**{info.context_window:,}** tokens of context  \n"
        f"**{info.vocab_size:,}** tokens in the vocabulary  \n"
        f"**{human_bytes(info.memory_bytes)}** of weights ({info.dtype}, {info.device})"
    )
    st.caption(f"{info.architecture} · {kind}")


def current_model() -> models.LoadedModel:
    """The shared model the picker points at, with its card in the sidebar; on a model error, show it and stop."""
    name = current_model_name()
    if not name:
        st.info("Type a hub id or a local folder in the sidebar to choose a model.")
        st.stop()
    try:
        loaded = shared_model(name, current_precision())
    except models.ModelError as err:
        if st.session_state.get("model.choice") in (OTHER_MODEL, models.DEFAULT_MODEL):  # typed, or nothing to fall back to
            st.error(str(err))
            st.stop()
        st.session_state["model.failed"] = str(err)  # the picker says so and falls back to the default
        st.rerun()
    with st.sidebar:
        model_card(loaded.info)
    return loaded


def wait_your_turn(ticket: Any) -> None:
    """While a shared-generation request (``core.sampling.shared``) waits for the model, say where it is in line."""
    if ticket.started.wait(0.3):
        return
    note = st.empty()
    while not ticket.started.wait(0.5):
        ahead = ticket.ahead
        note.info("The shared model is answering other people; yours is next." if ahead == 0 else
                  f"The shared model is answering other people; {ahead} request{'s' if ahead > 1 else ''} before yours.",
                  icon=":material/hourglass_top:")
    note.empty()
