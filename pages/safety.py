"""Responsible AI: a guardrail that ships with the lab, the course's detoxification lab, constitutional AI with its
critique and revision, AI feedback set beside people's, and the hallucination & IP checks."""

import streamlit as st

from core.ui.constitution import constitution_tab, feedback_tab, hallucination_ip_tab
from core.ui.frame import run_inside_frame
from core.ui.safety import detox_tab, guardrail_tab
from core.ui.state import current_model_name, current_precision

run_inside_frame()

st.title("Responsible AI")
st.caption(
    "Models can be toxic, make things up and repeat what they were trained on. A guardrail model filters what goes in "
    "and out; PPO against its score detoxifies the model; constitutional AI has the model critique and revise its own "
    "answers against written principles, and RLAIF lets a model's preferences stand in for people's."
)
model_name, precision = current_model_name(), current_precision()
guard, detoxify, cai, feedback, hallucination = st.tabs(["Guardrail", "Detoxify", "Constitution", "AI feedback", "Hallucination & IP"])

with guard:
    guardrail_tab()
with detoxify:
    detox_tab(model_name)
with cai:
    constitution_tab(model_name, precision)
with feedback:
    feedback_tab(model_name, precision)
with hallucination:
    hallucination_ip_tab()
