"""Inside the model: the forward pass of the chosen model with its real shapes, and the logit lens (the next-token
prediction read out of every layer)."""

import streamlit as st

from core.models.anatomy import forward_pass_outline
from core.sampling import encode_prompt
from core.sampling.lens import check_fits, token_for
from core.ui.frame import run_inside_frame
from core.ui.lens import MAX_POSITIONS, PRESETS, choose_preset, lens_for, lens_heatmap, outline_chart, outline_metrics, track_chart
from core.ui.state import current_model_name, current_precision, init_state
from core.ui.widgets import current_model, escape_markdown

run_inside_frame()
FIRST = next(iter(PRESETS))
init_state({"inside.preset": FIRST, "inside.prompt": FIRST, "inside.track": PRESETS[FIRST], "inside.space": True})

st.title("Inside the model")
st.caption(
    "A transformer turns tokens into vectors, lets every layer add to them (the residual stream), and reads the "
    "last vector out as a score for every token in the vocabulary. Here is that path for the model in the sidebar, "
    "with its real sizes, and what each layer would predict if the model stopped there."
)
loaded = current_model()
name, precision = current_model_name(), current_precision()

left, right = st.columns([3, 1])
left.selectbox("Preset", list(PRESETS), key="inside.preset", on_change=choose_preset)
st.text_area("Prompt", key="inside.prompt", height=68)
try:
    ids = encode_prompt(loaded, st.session_state["inside.prompt"])
    check_fits(loaded, ids)
except ValueError as err:
    st.error(str(err))
    st.stop()
right.metric("Tokens", len(ids))

outline_tab, lens_tab = st.tabs(["Forward pass", "Logit lens"])

with outline_tab:
    try:
        outline = forward_pass_outline(loaded.model.config, name=name)
    except ValueError as err:
        st.info(f"No outline for this model: {err}")
    else:
        outline_metrics(outline)
        st.write(
            f"For a prompt of **T = {len(ids)}** tokens every step keeps T rows, one vector per token. The "
            f"{outline.shape.layers} decoder layers have the same shapes and their own weights; each adds its "
            "attention and MLP outputs to the residual stream. Hover a bar for what the step does."
        )
        st.plotly_chart(outline_chart(outline), key="inside.outline")
        with st.expander("Table of the steps"):
            st.dataframe(outline.rows(), hide_index=True)
        st.caption(f"The parameters add up to {outline.total_params:,}; the loaded model has {loaded.info.parameters:,}.")

with lens_tab:
    st.write(
        "The **logit lens** applies the model's final norm and output layer to the residual stream after every "
        "layer: what would the model predict if it stopped there? Each cell is the most likely next token after "
        "that position; its colour is that token's probability. The top row is the model's real prediction. In "
        "a small model the middle layers often predict filler (a space, “and”, a comma) and the answer appears "
        "only in the last few layers; track a word to see when."
    )
    c1, c2 = st.columns([3, 1])
    c1.text_input("Track a token (optional)", key="inside.track", placeholder="account",
                  help="Its probability as the next token after the last prompt token, layer by layer.")
    c2.checkbox("Word starts with a space", key="inside.space", help="Mid-sentence words carry a leading space.")
    word, target = st.session_state["inside.track"].strip(), None
    if word:
        try:
            target, pieces = token_for(loaded.tokenizer, word, st.session_state["inside.space"])
        except ValueError as err:
            st.error(escape_markdown(str(err)))
            st.stop()
        if len(pieces) > 1:
            st.caption(escape_markdown(f"“{word}” is {len(pieces)} tokens; tracking the first, {pieces[0]!r}."))
    try:
        lens = lens_for(loaded, name, precision, tuple(ids), target)
    except ValueError as err:
        st.info(f"No logit lens for this model: {err}")
        st.stop()
    st.plotly_chart(lens_heatmap(lens), key="inside.heatmap")
    if lens.start:
        st.caption(f"Showing the last {MAX_POSITIONS} of {len(ids)} positions.")
    if target is not None:
        st.plotly_chart(track_chart(lens, word), key="inside.trackchart")
        by_layer = lens.target_probs[:, -1]
        st.caption(escape_markdown(f"p({word}) after the last token: {by_layer[0]:.3f} at the embedding, "
                                   f"{by_layer[-1]:.3f} at the output, highest ({by_layer.max():.3f}) at layer "
                                   f"{int(by_layer.argmax())}."))
