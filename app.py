"""LLM Lifecycle Lab: the frame. Page config, navigation by lifecycle stage, the shared sidebar model picker."""

import streamlit as st

from core.ui.widgets import model_picker

st.set_page_config(page_title="LLM Lifecycle Lab", page_icon=":material/science:", layout="wide")

# Sections follow the course's project lifecycle. Add a page here when it is built; no placeholders.
navigation = st.navigation(
    {
        "": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
        "Explore": [
            st.Page("pages/sampling.py", title="Sampling visualizer", icon=":material/casino:"),
            st.Page("pages/inside.py", title="Inside the model", icon=":material/layers:"),
            st.Page("pages/generate.py", title="Generate", icon=":material/edit_note:"),
            st.Page("pages/pretraining.py", title="Pre-training & scaling", icon=":material/stacked_line_chart:"),
        ],
        "Adapt & align": [
            st.Page("pages/shots.py", title="Prompt shots", icon=":material/format_list_numbered:"),
            st.Page("pages/finetune.py", title="Fine-tune runner", icon=":material/model_training:"),
            st.Page("pages/rlhf.py", title="RLHF: human feedback", icon=":material/thumbs_up_down:"),
            st.Page("pages/align.py", title="Align: PPO & DPO", icon=":material/tune:"),
        ],
        "Evaluate": [
            st.Page("pages/evaluate.py", title="Evaluation dashboard", icon=":material/leaderboard:"),
        ],
        "Optimise & deploy": [
            st.Page("pages/deploy.py", title="Optimise & deploy", icon=":material/speed:"),
        ],
        "Augment": [
            st.Page("pages/rag.py", title="RAG chat", icon=":material/forum:"),
            st.Page("pages/reasoning.py", title="Reasoning & tools", icon=":material/psychology:"),
        ],
        "Responsible AI": [
            st.Page("pages/safety.py", title="Responsible AI", icon=":material/shield:"),
        ],
    }
)

with st.sidebar:
    st.subheader("Model")
    model_picker()

navigation.run()
