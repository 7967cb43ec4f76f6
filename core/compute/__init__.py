"""Compute: memory, FLOP and number-format calculators, checked against measurement.

``formats``: number formats (fp32, fp16, bf16, fp8-e4m3, int8, int4), their ranges and what storing a value costs.
``shapes``: a decoder's shape from its config and its exact parameter count (``shape_for_model``,
``shape_for_params``).
``memory``: a ``Breakdown`` of inference and training memory (weights, KV cache, activations, gradients, optimizer
states, master weights), per device under DDP / ZeRO / FSDP, and the course's rule of thumb.
``flops``: 6 N D to train, 2 N per generated token, Chinchilla's compute-optimal size and loss, training time.
``measure``: real measurements the tests and ``benchmarks/compute.py`` set beside the estimates (imported on its own:
``from core.compute.measure import measure_sharding``).

Nothing here imports torch or transformers at import time.
"""

from core.compute.flops import (
    ChinchillaPoint,
    chinchilla_for_params,
    chinchilla_loss,
    chinchilla_optimal,
    inference_flops,
    training_flops,
    training_time,
)
from core.compute.formats import FORMATS, NumberFormat, Stored, bytes_per_param, get_format, store
from core.compute.memory import (
    COURSE_BYTES_PER_PARAM,
    INFERENCE_PRECISIONS,
    METHODS,
    OPTIMIZERS,
    STRATEGIES,
    TRAINING_PRECISIONS,
    Breakdown,
    course_training_memory,
    fits,
    inference_memory,
    shard,
    trainable_params,
    training_memory,
)
from core.compute.shapes import ModelShape, shape_for_model, shape_for_params, shape_from_config

__all__ = [
    "Breakdown", "COURSE_BYTES_PER_PARAM", "ChinchillaPoint", "FORMATS", "INFERENCE_PRECISIONS", "METHODS",
    "ModelShape", "NumberFormat", "OPTIMIZERS", "STRATEGIES", "Stored", "TRAINING_PRECISIONS", "bytes_per_param",
    "chinchilla_for_params", "chinchilla_loss", "chinchilla_optimal", "course_training_memory", "fits", "get_format",
    "inference_flops", "inference_memory", "shape_for_model", "shape_for_params", "shape_from_config", "shard",
    "store", "trainable_params", "training_flops", "training_memory", "training_time",
]
