"""Home: what the lab is, the project lifecycle mapped to the pages that teach each stage, and the bundled models."""

import streamlit as st

from core.models import list_models
from core.ui.frame import run_inside_frame

run_inside_frame()

# The course's generative-AI project lifecycle, in order, with the pages that let you do each stage here.
LIFECYCLE = [
    ("Define the use case", "Decide what the model must do: write, summarise, translate, classify, chat, call tools.", []),
    ("Choose or pre-train a model", "Start from a pre-trained model (base or instruct) and see how it picks each next "
     "token; or see how pre-training works, what it costs, and train a small one from scratch.",
     [("pages/sampling.py", "Sampling visualizer"), ("pages/inside.py", "Inside the model"), ("pages/generate.py", "Generate"),
      ("pages/pretraining.py", "Pre-training & scaling")]),
    ("Prompt", "Adapt with no training at all: instructions and examples in the context window (in-context learning).",
     [("pages/shots.py", "Prompt shots")]),
    ("Fine-tune", "Train on prompt-completion pairs: all weights, or a few with LoRA or soft prompts.",
     [("pages/finetune.py", "Fine-tune runner")]),
    ("Align with human feedback", "People rank answers, a reward model learns their taste, the policy follows it (PPO, DPO).",
     [("pages/rlhf.py", "RLHF: human feedback"), ("pages/align.py", "Align: PPO & DPO")]),
    ("Evaluate", "Measure with ROUGE, BLEU and benchmarks, model against model.", [("pages/evaluate.py", "Evaluation dashboard")]),
    ("Optimise and deploy", "Make it smaller and faster for inference: quantisation, distillation, pruning.", []),
    ("Augment with retrieval", "Ground the answers in your own documents (RAG) and show the sources.", [("pages/rag.py", "RAG chat")]),
    ("Reason and use tools", "Chain of thought, programs run in a sandbox (PAL), and search-and-lookup agents (ReAct).",
     [("pages/reasoning.py", "Reasoning & tools")]),
    ("Use it responsibly", "Filter toxic text with a guardrail, detoxify with PPO, critique and revise against a constitution.",
     [("pages/safety.py", "Responsible AI")]),
]

st.title("LLM Lifecycle Lab")
st.markdown(
    "A hands-on playground for the whole life of a large-language-model project, with **real models running on "
    "this machine** and no network. Pick a model in the sidebar, then follow the lifecycle."
)

st.subheader("The project lifecycle")
for number, (stage, what, pages) in enumerate(LIFECYCLE, start=1):
    with st.container(border=True):
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown(f"**{number}. {stage}**  \n{what}")
        for page, title in pages:
            right.page_link(page, label=title, icon=":material/arrow_forward:")
        if not pages:
            right.caption("Not in the lab yet")

st.subheader("Bundled models")
st.dataframe(
    [{k: m[k] for k in ("title", "kind", "installed", "cached", "description")} for m in list_models()],
    hide_index=True,
    column_config={"cached": st.column_config.CheckboxColumn("converted", help="GGUF converted once to safetensors")},
)
st.caption("The first use of a bundled model converts its GGUF file once (20-60 s); later loads take a few seconds.")
