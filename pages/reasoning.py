"""Reasoning & tools: chain of thought, PAL with its program run in a sandbox, and ReAct over the lab's documents;
an experiment that scores each method on the test split; and the sandbox on its own."""

import streamlit as st

from core.ui.frame import run_inside_frame
from core.ui.reasoning import experiment_tab, sandbox_tab, solve_tab
from core.ui.state import current_model_name, current_precision

run_inside_frame()

st.title("Reasoning & tools")
st.caption(
    "Language models stumble on multi-step problems and on arithmetic. Worked steps in the prompt (chain of thought) "
    "help the reasoning but not the sums; PAL has the model write a program that an interpreter runs; ReAct lets it "
    "search and look things up between thoughts. Compare them on the same problems."
)
model_name, precision = current_model_name(), current_precision()
solve, measure, sandbox = st.tabs(["Solve", "Experiment", "Sandbox"])

with solve:
    solve_tab(model_name, precision)
with measure:
    experiment_tab(model_name)
with sandbox:
    sandbox_tab()
