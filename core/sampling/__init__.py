"""How a model picks its next token.

``stages``: the sampler settings and stages as pure functions on logits (checked against transformers' processors).
``generation``: prompts, the context window, next-token logits, step-by-step generation with the KV cache.
``attention``: attention weights of a prompt, for the attention view.
"""

from core.sampling.generation import (
    Alternative,
    Step,
    Stepper,
    check_context,
    encode_prompt,
    generate_batch,
    generate_steps,
    generate_text,
    next_token_logits,
    stop_ids,
    stream_generate,
    token_text,
    truncate_left,
)
from core.sampling.stages import (
    NEUTRAL,
    STAGES,
    SamplingSettings,
    StageView,
    comparison_settings,
    entropy_bits,
    pick_token,
    process_logits,
    token_distribution,
    trace_stages,
)

__all__ = [
    "NEUTRAL", "STAGES", "Alternative", "SamplingSettings", "StageView", "Step", "Stepper", "check_context", "comparison_settings",
    "encode_prompt", "entropy_bits", "generate_batch", "generate_steps", "generate_text", "next_token_logits", "pick_token",
    "process_logits", "stop_ids", "stream_generate", "token_distribution", "token_text", "trace_stages", "truncate_left",
]
