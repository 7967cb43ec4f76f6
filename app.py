"""LLM Lifecycle Lab: the frame. Page config, navigation by lifecycle stage, the shared sidebar model picker."""

import streamlit as st

from core.ui.classroom import account_box, is_teacher, sign_in_gate
from core.ui.widgets import model_picker

st.set_page_config(page_title="LLM Lifecycle Lab", page_icon=":material/science:", layout="wide")
sign_in_gate()  # in a class: nothing but the sign-in form until this session is signed in

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
    # The teacher (or a laptop's one user) also sees the class: accounts, labels, the run queue, memory.
    | ({"Class": [st.Page("pages/classroom.py", title="Class dashboard", icon=":material/groups:")]} if is_teacher() else {})
)

with st.sidebar:
    account_box()
    st.subheader("Model")
    model_picker()

navigation.run()
