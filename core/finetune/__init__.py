"""Instruction fine-tuning: full, LoRA and prompt tuning, run in the background, then compared with the base model.

``config``: ``FinetuneConfig``. ``methods``: the registry (a method builds the model to train). ``pairs``: prompt and
completion rows, loss on the completion only. ``train``: the training job (``JOB``) on HF Trainer. ``estimate``:
trainable parameters and memory before launch. ``report``: base vs tuned answers, ROUGE and forgetting, and the
forgetting of several runs side by side. ``mixing``: multi-task data mixed by weight. ``preview``: the training data
as the trainer sees it (loss mask, lengths). ``export``: a finished run merged and zipped, or its adapter alone.
"""

from core.finetune.config import FinetuneConfig
from core.finetune.estimate import Estimate, estimate
from core.finetune.methods import METHODS, count_parameters, prepare_model
from core.finetune.pairs import instruction_pairs, load_pairs, tokenize_pairs
from core.finetune.train import JOB, REPORTED, build_trainer, run_callback, train_job

__all__ = [
    "JOB", "METHODS", "REPORTED", "Estimate", "FinetuneConfig", "build_trainer", "count_parameters", "estimate",
    "instruction_pairs", "load_pairs", "prepare_model", "run_callback", "tokenize_pairs", "train_job",
]
