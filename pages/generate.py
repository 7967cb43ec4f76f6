"""Generate: prompt the chosen model and watch the completion stream in, token by token."""

import time

import streamlit as st

from core.sampling import SamplingSettings, encode_prompt, fast
from core.sampling.shared import shared_generate
from core.ui.frame import run_inside_frame
from core.ui.guardrail import blocked_prompt, check, guardrail_switch, show_checked
from core.ui.state import init_state
from core.ui.widgets import current_model, help_for, wait_your_turn

run_inside_frame()

init_state({"generate.prompt": "Explain in two sentences why the sky is blue.", "generate.chat": True})

st.title("Generate")
st.caption("A language model predicts one token at a time; each new token is fed back in to predict the next.")

loaded = current_model()
has_template = loaded.info.has_chat_template

st.text_area("Prompt", key="generate.prompt", height=120)
left, middle, right = st.columns([1, 1, 2])
chat = left.toggle(
    "Use the chat template",
    key="generate.chat",
    disabled=not has_template,
    help="Instruct models were trained on conversations wrapped in special tokens; base models have no template.",
)
guarded = guardrail_switch("generate", middle)
max_new_tokens = right.slider("Max new tokens", 1, 512, 96, key="generate.max_new_tokens")

with st.expander("Sampling", expanded=True):
    c1, c2, c3, c4 = st.columns(4)
    temperature = c1.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="generate.temperature", help=help_for(SamplingSettings, "temperature"))
    top_k = c2.number_input("Top-k", 0, 1000, 0, key="generate.top_k", help=help_for(SamplingSettings, "top_k"))
    top_p = c3.slider("Top-p", 0.05, 1.0, 1.0, 0.05, key="generate.top_p", help=help_for(SamplingSettings, "top_p"))
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="generate.seed", help=help_for(SamplingSettings, "seed"))

settings = SamplingSettings(temperature=temperature, top_k=int(top_k), top_p=top_p, do_sample=temperature > 0, seed=int(seed))

if st.button("Generate", type="primary", icon=":material/play_arrow:"):
    try:
        prompt = st.session_state["generate.prompt"]
        prompt_ids = encode_prompt(loaded, prompt, chat=chat and has_template)
        if guarded and blocked_prompt(prompt, "Generate"):
            st.stop()
        # Everyone's requests to this model take turns, and those waiting together are decoded in one batch.
        tokens = shared_generate(loaded, prompt_ids, settings, max_new_tokens=max_new_tokens)
        wait_your_turn(tokens)
        started, received = time.perf_counter(), []

        def pieces():
            for token in tokens:
                received.append(token)
                yield token.piece

        if guarded:  # the whole answer is checked before anyone sees it: no streaming
            with st.spinner("Generating; the guardrail reads the answer before it is shown..."):
                answer = "".join(pieces())
            st.session_state["generate.checked"] = (answer, check([answer], "Generate", "answer")[0])
            st.session_state.pop("generate.reveal", None)
        else:
            st.session_state.pop("generate.checked", None)
            st.container(border=True).write_stream(pieces())
        elapsed, count = time.perf_counter() - started, len(received)
        used = len(prompt_ids) + count
        st.caption(
            f"{len(prompt_ids)} prompt tokens + {count} new tokens in {elapsed:.1f} s "
            f"({count / max(elapsed, 1e-9):.1f} tokens/s) · {used:,} of {loaded.info.context_window:,} context tokens used"
            + (f" · decoded in one batch with {tokens.batch_size - 1} other request(s)" if tokens.batch_size > 1 else "")
        )
        st.progress(min(used / loaded.info.context_window, 1.0))
        st.caption(fast.describe(loaded.model))
    except ValueError as err:
        st.error(str(err))
if guarded and (checked := st.session_state.get("generate.checked")):  # kept, so "Show the text" can rerun the page
    with st.container(border=True):
        show_checked(*checked, key="generate.reveal")
