"""The Memory & compute tab of the Pre-training & scaling page: inference and training memory by part (from the
model's config), per device under DDP / ZeRO / FSDP, compute and Chinchilla's optimum, and number formats. Every
estimate is a stacked bar by part; the figures measured on this machine (benchmarks/compute.py) sit beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core import compute
from core.ui.pretraining_charts import stacked_memory_chart
from core.ui.widgets import human_bytes, human_count

MEASURED = Path(__file__).resolve().parents[2] / "assets" / "measured" / "compute.json"
SOURCES = {"model": "The sidebar model", "params": "A parameter count"}
OPTIMIZER_NAMES = {"adamw": "AdamW", "adam8bit": "8-bit Adam", "sgd": "SGD + momentum"}
FORMAT_HELP = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16 (fp32's range, 8 bits of precision)",
               "fp8-e4m3": "8-bit float (H100-class GPUs)", "int8": "8-bit integer + a scale", "int4": "4-bit "
               "integer + a scale"}


@st.cache_data(show_spinner="Reading the model's config...", max_entries=16)
def _shape(name: str) -> compute.ModelShape:
    return compute.shape_for_model(name)


def compute_tab(model_name: str) -> None:
    memory, sharding, flops, formats = st.tabs(["Memory", "Sharding", "Compute & Chinchilla", "Number formats"])
    with memory:
        shape, training = memory_section(model_name)
    with sharding:
        if training is not None:
            sharding_section(training)
        else:
            st.info("Sharding splits training memory: choose **Train** in the Memory tab.")
    with flops:
        compute_section(shape.params if shape is not None else 135_000_000)
    with formats:
        formats_section()


def memory_section(model_name: str) -> tuple[compute.ModelShape | None, compute.Breakdown | None]:
    c1, c2 = st.columns([2, 1])
    source = c1.radio("Size of", list(SOURCES), format_func=SOURCES.get, key="compute.source", horizontal=True)
    mode = c2.segmented_control("Mode", ["Inference", "Train"], default="Inference", key="compute.mode") or "Inference"
    try:
        if source == "model":
            shape = _shape(model_name)
        else:
            params = st.number_input("Parameters", min_value=1.0, value=1e9, key="compute.params", format="%.3g")
            shape = compute.shape_for_params(params)
    except ValueError as err:
        st.error(str(err))
        return None, None
    st.caption(f"{shape.name}: {human_count(shape.params)} parameters" + (
        f" · {shape.layers} layers · {shape.heads} heads, {shape.kv_heads} KV heads · head size {shape.head_dim}"
        + (f" · sliding window {shape.sliding_window} on {sum(shape.sliding_layers)} of {shape.layers} layers"
           if shape.sliding_window else "") if shape.has_architecture else
        " (only the count: the KV cache and activations need a model's shape)"))
    c1, c2, c3, c4 = st.columns(4)
    sized = shape.has_architecture
    batch = int(c3.number_input("Batch", 1, 4096, 1, key="compute.batch", disabled=not sized))
    seq = int(c4.number_input("Sequence length", 1, 1_048_576, 2048, step=256, key="compute.seq", disabled=not sized))
    try:
        if mode == "Inference":
            precision = c1.selectbox("Weights", compute.INFERENCE_PRECISIONS, key="compute.precision",
                                     format_func=lambda p: f"{p}: {FORMAT_HELP[p]}")
            kv = c2.selectbox("KV cache", ["same"] + ["fp32", "fp16", "bf16", "fp8-e4m3", "int8"], key="compute.kv")
            estimate = compute.inference_memory(shape, precision, batch if sized else None, seq if sized else None,
                                                kv_precision=None if kv == "same" else kv, logits="last")
            training = None
        else:
            precision = c1.selectbox("Precision", compute.TRAINING_PRECISIONS, key="compute.train_precision")
            optimizer = c2.selectbox("Optimizer", compute.OPTIMIZERS, key="compute.optimizer", format_func=OPTIMIZER_NAMES.get)
            c1, c2, c3 = st.columns(3)
            method = c1.selectbox("Method", compute.METHODS, key="compute.method", disabled=not sized,
                                  format_func={"full": "Full fine-tune", "lora": "LoRA", "prompt": "Prompt tuning"}.get)
            rank = int(c2.number_input("LoRA rank", 1, 512, 8, key="compute.rank", disabled=method != "lora"))
            recompute = c3.toggle("Recompute activations", key="compute.recompute", disabled=not sized,
                                  help="Gradient checkpointing: keep only each layer's input, recompute the rest.")
            estimate = training = compute.training_memory(
                shape, precision, optimizer, method if sized else "full", lora_r=rank, batch=batch if sized else None,
                seq_len=seq if sized else None, recompute=recompute)
    except ValueError as err:
        st.error(str(err))
        return shape, None
    show_breakdown(estimate, model_name if source == "model" else None, mode)
    return shape, training


def show_breakdown(estimate: compute.Breakdown, model_name: str | None, mode: str) -> None:
    st.metric("Total", human_bytes(estimate.total_bytes), help="2^30 bytes to the GiB")
    st.plotly_chart(stacked_memory_chart({"these settings": estimate.parts}), key=f"compute.bar.{mode}")
    table = [{"part": k.removesuffix("_bytes").replace("_", " "), "bytes": v, "size": human_bytes(v)}
             for k, v in estimate.parts.items()]
    st.dataframe(pd.DataFrame(table), hide_index=True)
    for note in estimate.notes:
        st.caption(note)
    st.download_button("Download the estimate (JSON)", json.dumps(estimate.to_json(), indent=1),
                       file_name="memory-estimate.json", key=f"compute.download.{mode}", icon=":material/download:")
    if cases := measured_cases(model_name, mode):
        st.markdown("**Checked against measurement** on this machine: the calculator's estimate for the settings of "
                    "each measured run, beside the peak resident memory that run added above the bare process")
        bars = {}
        for case in cases:
            bars[f"{case['label']}: estimate"] = {"estimate_bytes": case["estimate_bytes"]}
            bars[f"{case['label']}: measured"] = {"measured_bytes": case["measured_bytes"]}
        st.plotly_chart(stacked_memory_chart(bars), key=f"compute.measured.{mode}")
        st.caption(f"`{cases[0]['command']}` ({cases[0].get('date', 'see benchmarks/README.md')}). With SDPA "
                   "attention the scores are never stored, so the activation formula reads high there.")
    with st.expander("The course's figures (1 B parameters)"):
        course = compute.course_training_memory(1e9)
        st.dataframe(pd.DataFrame([
            {"what": f"weights in {p}", "GB": compute.inference_memory(compute.shape_for_params(1e9), p, None, None)
             .total_bytes / 1e9} for p in ("fp32", "bf16", "int8")] + [
            {"what": "training in fp32 with Adam (4 + 20 B per parameter)", "GB": course.total_bytes / 1e9}]),
            hide_index=True)


def measured_cases(model_name: str | None, mode: str) -> list[dict[str, Any]]:
    """The benchmark's measured runs of this model in this mode (assets/measured/compute.json)."""
    if not model_name or not MEASURED.exists():
        return []
    measured = json.loads(MEASURED.read_text())
    return [{**c, "date": measured.get("date")} for c in measured.get("cases", [])
            if c.get("model") == model_name and c.get("mode") == ("train" if mode == "Train" else "inference")]


def sharding_section(training: compute.Breakdown) -> None:
    c1, c2 = st.columns(2)
    gpus = int(c1.number_input("Devices", 1, 4096, 8, key="compute.gpus"))
    memory = c2.number_input("Memory per device (GiB)", 1.0, 1024.0, 80.0, key="compute.gib")
    per_device = {s: compute.shard(training, gpus, s) for s in ("ddp", "zero1", "zero2", "zero3")}
    names = {"ddp": "DDP (full replicas)", "zero1": "ZeRO-1 (optimizer states)", "zero2": "ZeRO-2 (+ gradients)",
             "zero3": "ZeRO-3 / FSDP full shard (+ weights)"}
    st.plotly_chart(stacked_memory_chart({names[s]: b.parts for s, b in per_device.items()}, memory * 2**30),
                    key="compute.shard.bar")
    st.dataframe(pd.DataFrame([{"strategy": names[s], "per device": human_bytes(b.total_bytes),
                                f"fits {gpus} × {memory:g} GiB": compute.fits(b.total_bytes, memory)}
                               for s, b in per_device.items()]), hide_index=True)
    if MEASURED.exists() and (real := json.loads(MEASURED.read_text()).get("sharding")):
        st.caption(f"Checked on this machine: a real 2-process CPU run (gloo) of {real['model']} held "
                   + "; ".join(f"{k}: {human_bytes(v['measured_bytes'])} measured vs {human_bytes(v['estimate_bytes'])}"
                               f" estimated per process" for k, v in real["strategies"].items())
                   + " (parameters, gradients and optimizer states).")


def compute_section(default_params: int) -> None:
    c1, c2 = st.columns(2)
    try:
        params = c1.number_input("Parameters N", 1.0, 1e13, float(default_params), format="%.3g", key="compute.n")
        tokens = c2.number_input("Training tokens D", 1.0, 1e15, 20.0 * default_params, format="%.3g", key="compute.d")
        flops = compute.training_flops(params, tokens)
        c1, c2, c3 = st.columns(3)
        c1.metric("Training compute 6·N·D", f"{flops:.3g} FLOPs")
        c2.metric("Inference, per generated token", f"{compute.inference_flops(params):.3g} FLOPs", help="≈ 2·N")
        c3.metric("Chinchilla's predicted loss", f"{compute.chinchilla_loss(params, tokens):.3f}",
                  help="L(N, D) = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28 (Hoffmann et al. 2022, nats per token)")
        st.markdown("**Training time**")
        c1, c2, c3 = st.columns(3)
        gpus = int(c1.number_input("GPUs", 1, 100_000, 8, key="compute.time_gpus"))
        peak = c2.number_input("Peak TFLOP/s per GPU", 0.1, 10_000.0, 989.0, key="compute.peak",
                               help="H100 SXM dense bf16: 989; A100: 312; this laptop's CPU: well under 1")
        util = c3.slider("Utilisation (MFU)", 0.05, 1.0, 0.4, 0.05, key="compute.mfu")
        seconds = compute.training_time(flops, gpus, peak * 1e12, util)
        st.metric("Wall-clock time", _duration(seconds))
        st.markdown("**Chinchilla's compute-optimal model** (20 tokens per parameter)")
        budget = st.number_input("Compute budget C (FLOPs)", 1e6, 1e30, flops, format="%.3g", key="compute.budget")
        optimal = compute.chinchilla_optimal(budget)
        st.dataframe(pd.DataFrame([
            {"from": f"C = {budget:.3g}", "N_opt": human_count(int(optimal.params)),
             "D_opt (tokens)": human_count(int(optimal.tokens)), "loss": round(optimal.loss, 3)},
            {"from": f"N = {human_count(int(params))}", "N_opt": human_count(int(params)),
             "D_opt (tokens)": human_count(int(compute.chinchilla_for_params(params).tokens)),
             "loss": round(compute.chinchilla_for_params(params).loss, 3)}]), hide_index=True)
    except ValueError as err:
        st.error(str(err))


def _duration(seconds: float) -> str:
    for size, unit in ((86400 * 365, "years"), (86400, "days"), (3600, "hours"), (60, "minutes")):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def formats_section(prefix: str = "compute") -> None:
    """The number formats table, and storing one value in each (widget keys under ``prefix``)."""
    st.dataframe(pd.DataFrame([{"format": f.name, "bits": f.bits, "sign": f.sign_bits, "exponent": f.exponent_bits,
                                "mantissa": f.mantissa_bits, "largest": f"{f.max_value:.4g}",
                                "smallest normal": "" if f.min_normal is None else f"{f.min_normal:.3g}",
                                "step at 1 (epsilon)": "" if f.epsilon is None else f"{f.epsilon:.3g}",
                                "bytes per value": f.bytes_per_value} for f in compute.FORMATS.values()]),
                 hide_index=True)
    c1, c2 = st.columns(2)
    value = c1.number_input("Store a value", -1e6, 1e6, 3.14159265, format="%.8f", key=f"{prefix}.value")
    absmax = c2.number_input("Largest magnitude in its block (integer formats)", 1e-6, 1e6, max(abs(value), 1.0),
                             format="%.4g", key=f"{prefix}.absmax", help="int8/int4 keep round(value / scale) with "
                             "scale = absmax / 127 (or / 7): the block's largest weight sets the step.")
    rows = []
    for name, fmt in compute.FORMATS.items():
        try:
            s = compute.store(value, name, absmax if fmt.kind == "int" else None)
            rows.append({"format": name, "stored": f"{s.stored:.10g}", "error": f"{s.abs_error:.3g}",
                         "relative error": f"{s.rel_error:.2e}"})
        except ValueError as err:
            rows.append({"format": name, "stored": "—", "error": str(err), "relative error": ""})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
