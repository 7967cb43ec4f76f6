"""Widgets of the Prompt shots page: the task picker (bundled or upload with a column mapping), the prompt with its
parts coloured, and the k-sweep runner with a progress bar and a stop button."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import data
from core.prompting import Prompt
from core.prompting.shots import ShotResult, ShotsConfig, run_shots
from core.ui.widgets import escape_markdown

PART_COLORS = {"instruction": "blue", "example": "green", "input": "orange", "cue": "violet", "template": "gray"}


def pick_task() -> data.TaskData:
    """A bundled dataset, or an uploaded CSV/JSONL mapped onto input and target columns. Stops the page on bad data."""
    source = st.radio("Task", ["Bundled", "Upload"], horizontal=True, key="shots.source")
    if source == "Bundled":
        name = st.selectbox("Dataset", list(data.BUNDLED), key="shots.dataset",
                            format_func=lambda n: f"{n}: {data.BUNDLED[n].description}")
        return cached_bundled(name)
    upload = st.file_uploader("CSV or JSONL", type=["csv", "jsonl", "json"], key="shots.upload",
                              help="One example per row; pick the input and target columns below. Rows get pool/test "
                              "splits unless a 'split' column says.")
    if upload is None:
        st.info("Upload a file to go on, or pick a bundled task.")
        st.stop()
    try:
        records = data.read_records(upload.getvalue(), upload.name)
        columns = data.columns_of(records)
        c1, c2, c3 = st.columns(3)
        input_column = c1.selectbox("Input column", columns, key="shots.input_column")
        target_column = c2.selectbox("Target column", columns, index=min(1, len(columns) - 1), key="shots.target_column")
        kind = c3.radio("Kind", ["classification", "generation"], key="shots.kind", horizontal=True)
        return data.build_task(records, upload.name, kind, input_column, target_column,
                               split_column="split" if "split" in columns else None)
    except data.DataError as err:
        st.error(str(err))
        st.stop()


@st.cache_data(show_spinner=False)
def cached_bundled(name: str) -> data.TaskData:
    return data.load_bundled(name)


def colored_prompt(prompt: Prompt) -> str:
    """Markdown of the prompt, each part on a background of its colour, line breaks kept."""
    lines: list[str] = [""]
    for part in prompt.parts:
        color = PART_COLORS[part.kind]
        for i, piece in enumerate(part.text.split("\n")):
            if i:
                lines.append("")
            if piece:
                lines[-1] += f":{color}-background[{escape_markdown(piece)}]"
    return "  \n".join(line or "&nbsp;" for line in lines)


def legend() -> str:
    return " ".join(f":{color}-background[{kind}]" for kind, color in PART_COLORS.items() if kind != "template")


def run_sweep(models: list[tuple[str, Any]], task: data.TaskData, config: ShotsConfig, embedder: Any) -> None:
    """Run the sweep for each model with a progress bar; results collect in session state as they come, so a press of
    Stop (which reruns the page and ends this run) keeps what was measured."""
    st.session_state["shots.results"] = []
    st.session_state["shots.stopped"] = False
    total_models = len(models)
    bar = st.progress(0.0, text="Starting...")
    stop = st.empty()
    stop.button("Stop", key="shots.stop", icon=":material/stop:")  # pressing it reruns the page, which ends this loop
    for m, (name, loaded) in enumerate(models):
        def progress(done: int, total: int, result: ShotResult, m=m, name=name) -> None:
            st.session_state["shots.results"].append(result)
            bar.progress((m + done / total) / total_models, text=f"{name}: {done}/{total} prompts scored")
        run_shots(loaded, task, config, embedder, on_progress=progress)
    bar.empty()
    stop.empty()
