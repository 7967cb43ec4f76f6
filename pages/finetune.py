"""Fine-tune runner: full fine-tuning, LoRA and prompt tuning as background runs, with their cost before and their loss during."""

import streamlit as st
import yaml

from core import jobs
from core.finetune import JOB, METHODS, FinetuneConfig, estimate
from core.models import BUNDLED
from core.ui import charts
from core.ui import finetune as panels
from core.ui.finetune import DEFAULT_LR, METHOD_TITLES, comparison_panel, method_settings, pick_dataset, run_monitor
from core.ui.finetune_preview import data_preview
from core.ui.frame import run_inside_frame
from core.ui.resources import shared_model
from core.ui.runs import start_into
from core.ui.state import current_model_name, float_precision
from core.ui.widgets import help_for, human_count

run_inside_frame()

st.title("Fine-tune runner")
st.caption(
    "Instruction fine-tuning: train on prompt-completion pairs. Full fine-tuning changes every weight; LoRA and prompt "
    "tuning train a tiny add-on and leave the model frozen. Runs train in the background: leave the page and come back."
)
h = lambda name: help_for(FinetuneConfig, name)  # noqa: E731

left, right = st.columns(2)
bundled = list(BUNDLED)
base = left.selectbox("Base model", bundled, index=bundled.index(current_model_name()) if current_model_name() in bundled else 0,
                      key="finetune.base", help=h("base_model"))
method = right.segmented_control("Method", list(METHODS), format_func=METHOD_TITLES.get, default="lora", key="finetune.method",
                                 help=h("method")) or "lora"
method_fields = method_settings(method)
data_fields = pick_dataset()
c1, c2, c3, c4 = st.columns(4)
steps = c1.number_input("Steps", 1, 5000, 60, key="finetune.steps", help=h("max_steps"))
lr = c2.number_input("Learning rate", 1e-7, 0.5, DEFAULT_LR[method], format="%.1e", key=f"finetune.lr.{method}", help=h("learning_rate"))
batch = c3.select_slider("Batch size", [1, 2, 4, 8, 16], 4, key="finetune.batch", help=h("batch_size"))
max_length = c4.select_slider("Max length", [64, 128, 256, 512, 1024], 256, key="finetune.max_length", help=h("max_length"))
with st.expander("More settings"):
    c1, c2, c3 = st.columns(3)
    eval_steps = c1.number_input("Eval every", 1, 1000, 10, key="finetune.eval_steps", help=h("eval_steps"))
    save_steps = c2.number_input("Checkpoint every", 1, 1000, 20, key="finetune.save_steps", help=h("save_steps"))
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="finetune.seed", help=h("seed"))
try:
    config = FinetuneConfig(base_model=base, method=method, **data_fields, max_steps=int(steps), learning_rate=float(lr),
                            batch_size=batch, max_length=max_length, eval_steps=int(eval_steps), save_steps=int(save_steps),
                            seed=int(seed), **method_fields)
except ValueError as err:
    st.error(str(err))
    st.stop()

st.subheader("Data preview")
st.caption("The first rows as the trainer sees them: green tokens count in the loss (label ≠ -100), the prompt does not.")
preview = data_preview(config, shared_model(base, float_precision()).tokenizer)

st.subheader("Before you start")
guess = estimate(shared_model(base, float_precision()).model, config)
c1, c2 = st.columns([1, 3])
c1.metric("Trainable parameters", human_count(guess.trainable), help=f"of {human_count(guess.total)}")
c1.caption(f"{guess.share:.3%} of the model")
c2.plotly_chart(charts.memory_chart({"weights": guess.weights_bytes, "gradients": guess.gradients_bytes,
                                     "optimizer (AdamW)": guess.optimizer_bytes, "activations": guess.activations_bytes}),
                key="finetune.memory")
c2.caption(guess.note or "Float32 training with AdamW, from the Pre-training & scaling page's calculator (checked "
           "against measured peaks there); the activations grow with batch size × max length.")
with st.expander("Preview command"):
    st.code(yaml.safe_dump(config.for_method(), sort_keys=False), language="yaml")
    st.code("lab train config.yaml\n# two data-parallel processes (DDP: gloo on CPUs, NCCL on GPUs):\n"
            "accelerate launch --multi_gpu --num_processes 2 -m core train config.yaml", language="bash")
if st.button("Start training", type="primary", key="finetune.start", icon=":material/model_training:",
             disabled=preview is None or preview.n_over > 0, help="Every row must fit in max_length (see the data preview)."):
    # the Run picker below (not drawn yet in this run) follows the new run
    start_into("finetune.run", JOB, config.to_dict(), name=f"{method}{'-mix' if config.mix else ''}-{base}")

st.subheader("Runs")
runs = jobs.list_runs(JOB)
if not runs:
    st.info("No runs yet.")
    st.stop()
ids = [r.id for r in runs]
if st.session_state.get("finetune.run") not in ids:  # a run deleted meanwhile, or none chosen yet: the newest
    st.session_state["finetune.run"] = ids[0]
selected = st.selectbox("Run", ids, key="finetune.run")
run_monitor(selected)
selected_run = jobs.get_run(selected)
if selected_run.state == "done":
    comparison_panel(selected_run, float_precision())
    panels.export_panel(selected_run)
panels.forgetting_across_runs(runs)
with st.expander("Compare runs"):
    overlay = st.multiselect("Overlay the loss curves of", ids, default=ids[:2], key="finetune.overlay")
    if overlay:
        st.plotly_chart(charts.loss_chart({i: [p for p in jobs.get_run(i).progress() if "step" in p] for i in overlay}), key="finetune.overlay_chart")
    st.dataframe([{"run": r.id, "state": r.state, "method": r.config.get("method"), "base": r.config.get("base_model"),
                   "steps": r.config.get("max_steps"), "learning rate": r.config.get("learning_rate")} for r in runs], hide_index=True)
