"""Optimise & deploy: make a model smaller and faster (quantise, prune, distil), then see what each variant costs."""

import streamlit as st

from core.deploy import compare, variants
from core.ui.compute import formats_section
from core.ui.deploy import (
    comparison_chart,
    comparison_table,
    distil_form,
    downloads,
    prune_form,
    quantize_form,
    run_monitor,
    saliency_chart,
    side_by_side,
)
from core.ui.frame import run_inside_frame

run_inside_frame()

st.title("Optimise & deploy")
st.caption(
    "Before a model serves anyone, make it cheaper to run. Three ways, each a background run whose result joins the "
    "model picker and the Evaluation dashboard: store the weights in fewer bits (quantise), remove parts of the "
    "network (prune), or train a smaller student to imitate the model (distil). Every variant is measured beside its "
    "base in the same run: memory, tokens/s, perplexity on general text and knowledge_mc accuracy."
)

quantise, prune, distil, comparison = st.tabs(["Quantise", "Prune", "Distil", "Compare"])
with quantise:
    st.markdown(
        "Post-training quantisation keeps each weight as an 8-bit or 4-bit integer times a shared scale. Decoding one "
        "token reads every weight once, so on a CPU fewer bytes per weight is also more tokens per second, as long as "
        "a kernel multiplies the small integers directly (PyTorch's int8 and int4 CPU kernels do). The Compare tab shows what "
        "each costs in perplexity and accuracy."
    )
    quantize_form()
    with st.expander("Number formats: bits of sign, exponent and mantissa, range, and the error of storing a value"):
        formats_section("deploy")
with prune:
    st.markdown(
        "Structured pruning removes whole decoder layers (the ones that change their input least) or MLP channels: "
        "the model gets smaller and faster. Magnitude pruning only writes zeros into dense matrices: the same bytes, "
        "the same speed. Pruning costs quality; heal it with a short fine-tune of the variant (Fine-tune runner)."
    )
    prune_form()
    pruned = [r for r in variants.variant_runs() if r.config.get("variant") == "prune"]
    if pruned and (pruned[0].status.get("result") or {}).get("saliency"):
        st.plotly_chart(saliency_chart(pruned[0].status["result"]), key="deploy.saliency")
with distil:
    st.markdown(
        "Distillation trains a small student on the teacher's whole next-token distributions (softened by a "
        "temperature), not only on the one right token: the teacher's second guesses carry information. The student "
        "here is the teacher minus its least salient layers, so it starts close. Compare with the hard-label baseline "
        "trained at the same budget."
    )
    distil_form()
with comparison:
    rows = compare.comparison()
    if not rows:
        st.info("No finished variants yet: quantise, prune or distil a model first.")
    else:
        comparison_table(rows)
        st.plotly_chart(comparison_chart(rows), key="deploy.chart")
        downloads(rows)
        st.subheader("Answers side by side")
        side_by_side(rows)

run_monitor()
