"""Sampling visualizer: the next-token distribution of a real model, each sampler stage, step-by-step and full generation."""

import streamlit as st

from core.sampling import STAGES, SamplingSettings, encode_prompt, stop_ids, trace_stages, truncate_left
from core.sampling.views import next_token_table, visible
from core.ui import charts
from core.ui.frame import run_inside_frame
from core.ui.resources import next_logits, prompt_attention
from core.ui.sampling import PRESETS, compare_strategies, stage_applies, stage_card, stepper_for
from core.ui.state import current_model_name, current_precision, init_state
from core.ui.widgets import current_model

run_inside_frame()
init_state({"sampling.preset": PRESETS[0], "sampling.prompt": PRESETS[0], "sampling.chat": False})

st.title("Sampling visualizer")
st.caption(
    "A language model turns the text so far into a score (logit) for every token in its vocabulary. The sampler turns "
    "those scores into probabilities and picks one. Change the sampler and watch the distribution change."
)
loaded = current_model()
name, precision = current_model_name(), current_precision()

# ---- prompt
left, right = st.columns([3, 1])
left.selectbox("Preset", PRESETS, key="sampling.preset",
               on_change=lambda: st.session_state.update({"sampling.prompt": st.session_state["sampling.preset"]}))
right.toggle("Chat template", key="sampling.chat", disabled=not loaded.info.has_chat_template,
             help="Wrap the prompt as a user turn (instruct models only).")
st.text_area("Prompt", key="sampling.prompt", height=80)
max_new_tokens = st.slider("Max new tokens", 1, 256, 40, key="sampling.max_new_tokens", help="Capped by the context window.")

try:
    ids = encode_prompt(loaded, st.session_state["sampling.prompt"], chat=st.session_state["sampling.chat"] and loaded.info.has_chat_template)
    kept, cut = truncate_left(ids, loaded.info.context_window, max_new_tokens)
except ValueError as err:
    st.error(str(err))
    st.stop()
if cut:
    st.warning(f"The prompt has {len(ids):,} tokens; with {max_new_tokens} new tokens it does not fit the context "
               f"window of {loaded.info.context_window:,}.")
    if not st.checkbox(f"Drop the first {cut:,} tokens and go on", key="sampling.truncate"):
        st.stop()
    ids = kept

with st.expander(f"Tokens: {len(ids)} in the prompt", expanded=False):
    st.plotly_chart(charts.context_window_bar({"prompt": len(ids), "new tokens": max_new_tokens}, loaded.info.context_window))
    st.dataframe({"token": [visible(loaded.tokenizer.decode([i])) for i in ids], "id": ids}, hide_index=False, height=200)

# ---- the sampler: one card per stage, in the order they apply
st.subheader("Sampler")
mode_col, seed_col = st.columns([3, 1])
do_sample = mode_col.toggle("Random sampling (off = greedy: always the most likely token)", value=True, key="sampling.do_sample")
seed = seed_col.number_input("Seed", 0, 2**31 - 1, 0, key="sampling.seed")
values = {}
for column, stage in zip(st.columns(len(STAGES)), STAGES):
    with column:
        values[stage] = stage_card(stage, stage_applies(stage, do_sample, values))
try:
    settings = SamplingSettings(**values, do_sample=do_sample, seed=int(seed))
except ValueError as err:
    st.error(str(err))
    st.stop()

next_tab, step_tab, generate_tab, attention_tab = st.tabs(["Next token", "Step by step", "Generate", "Attention"])

with next_tab:
    logits = next_logits(name, precision, tuple(ids))  # cached per prompt: moving a slider does not run the model
    views = trace_stages(logits, settings, ids)
    top = st.slider("Tokens shown", 5, 50, 20, key="sampling.top")
    table = next_token_table(views, loaded.tokenizer, ids, top=top)
    stages_now = [v.stage for v in views]  # a new choice of bars whenever the stages change (greedy on or off...)
    shown = st.multiselect("Distributions", stages_now, default=[views[0].stage, views[-1].stage],
                           format_func=charts.STAGE_LABELS.get, key="sampling.shown." + "-".join(stages_now))
    c1, c2, c3 = st.columns(3)
    c1.metric("Entropy, raw", f"{views[0].entropy:.2f} bits")
    c2.metric("Entropy, final", f"{views[-1].entropy:.2f} bits", delta=f"{views[-1].entropy - views[0].entropy:+.2f}", delta_color="off")
    c3.metric("Tokens left to sample from", f"{views[-1].kept:,}", help=f"of {loaded.info.vocab_size:,} in the vocabulary")
    st.plotly_chart(charts.next_token_chart(table, shown or ["raw"]), key="sampling.chart")
    st.caption("Red bands: tokens a stage cut. ↺: tokens already in the text (the repetition penalty applies to them).")
    with st.expander("Table"):
        st.dataframe(table, hide_index=True)

with step_tab:
    stepper = stepper_for(loaded, name, precision, ids, settings)
    b1, b2, b3 = st.columns(3)
    if b1.button("Sample one token", type="primary", key="sampling.step", icon=":material/skip_next:"):
        stepper.advance()
    if b2.button("Undo", key="sampling.undo", disabled=not stepper.steps, icon=":material/undo:"):
        stepper.undo()
    if b3.button("Start again", key="sampling.reset", icon=":material/restart_alt:"):
        stepper.reset()
    st.code(stepper.text or " ", language=None, wrap_lines=True)
    if stepper.steps and stepper.steps[-1].token_id in stop_ids(loaded):
        st.info("The model chose its end-of-text token: a chat app would stop here. You can still go on.")
    st.caption("Or force one of the likely next tokens (the model continues from your choice):")
    final = stepper.distribution()
    choices = final.topk(6)
    for column, (p, token_id) in zip(st.columns(6), zip(choices.values.tolist(), choices.indices.tolist())):
        if p > 0 and column.button(f"{visible(loaded.tokenizer.decode([token_id]))}  {p:.0%}", key=f"sampling.force.{token_id}"):
            stepper.advance(forced_token=token_id)
            st.rerun()
    if stepper.steps:
        st.dataframe(
            [{"step": i + 1, "token": visible(s.text), "p (sampled from)": round(s.probability, 4), "p (model)": round(s.model_probability, 4),
              "model's rank": s.rank, "forced": s.forced} for i, s in enumerate(stepper.steps)],
            hide_index=True,
        )

with generate_tab:
    st.write("The same prompt and seed, four ways to choose: each token is coloured by its probability; hover for the alternatives.")
    results = compare_strategies(loaded, name, ids, settings, max_new_tokens)
    if results:
        for column, (label, steps) in zip(st.columns(2) * 2, results.items()):
            with column:
                st.markdown(f"**{label}**")
                st.plotly_chart(charts.token_probability_chart(steps, width=48), key=f"sampling.run.{label}")

with attention_tab:
    st.write("Which earlier tokens each token attends to. Try the homonym preset: does “bank” look at “money”?")
    if st.toggle("Compute attention", key="sampling.attention"):
        try:
            weights = prompt_attention(name, precision, tuple(ids[-64:]))
        except ValueError as err:
            st.info(f"No attention view for this model: {err}")
            st.stop()
        layers, heads = weights.shape[0], weights.shape[1]
        c1, c2, c3 = st.columns([2, 2, 1])
        layer = c1.slider("Layer", 1, layers, layers // 2, key="sampling.layer")
        head = c2.selectbox("Head", ["average", *range(1, heads + 1)], key="sampling.head")
        hide_first = c3.checkbox("Hide the first token", value=True, key="sampling.hide_sink",
                                 help="Many heads park most of their attention on the first token (an attention sink).")
        grid = weights[layer - 1].mean(0) if head == "average" else weights[layer - 1, head - 1]
        tokens = [visible(loaded.tokenizer.decode([i])) for i in ids[-64:]]
        st.plotly_chart(charts.attention_heatmap(grid, tokens, hide_first=hide_first))
        if len(ids) > 64:
            st.caption("Showing the last 64 tokens of the prompt.")
