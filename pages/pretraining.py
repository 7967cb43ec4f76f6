"""Pre-training & scaling: what each pre-training objective trains on, a small model trained from scratch, a
Chinchilla sweep on this machine, and memory and compute calculators checked against measurement."""

import streamlit as st

from core.ui.compute import compute_tab
from core.ui.frame import run_inside_frame
from core.ui.pretraining import objectives_tab, scaling_tab, scratch_tab
from core.ui.state import current_model_name, current_precision

run_inside_frame()

st.title("Pre-training & scaling")
st.caption(
    "Before any prompt or fine-tune, a model is pre-trained on a huge pile of text with a self-supervised "
    "objective. See what it learns from, train a tiny one yourself, find the compute-optimal size the way "
    "Chinchilla did, and work out what a model of any size needs in memory and compute."
)
model_name, precision = current_model_name(), current_precision()
objectives_view, scratch_view, scaling_view, compute_view = st.tabs(
    ["Objectives", "Train from scratch", "Scaling laws", "Memory & compute"])

with objectives_view:
    objectives_tab(model_name, precision)
with scratch_view:
    scratch_tab()
with scaling_view:
    scaling_tab()
with compute_view:
    compute_tab(model_name)
