"""Attention weights of a prompt, for the attention view: how much each token looks at each earlier token.

The fast attention kernels (SDPA) do not return weights, so this needs a model loaded with
``attn_implementation="eager"`` (``core.models.load_model(..., attn_implementation="eager")``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from core.models import LoadedModel


def attention_weights(loaded: "LoadedModel", ids: list[int]) -> "np.ndarray":
    """An array (layers, heads, tokens, tokens): row i is how token i spreads its attention over tokens 0..i."""
    import torch

    if loaded.model.config._attn_implementation != "eager":
        raise ValueError("Attention weights need a model loaded with attn_implementation='eager'.")
    if not ids:
        raise ValueError("The prompt is empty.")
    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([ids], device=device), output_attentions=True, use_cache=False)
    return torch.stack([layer[0] for layer in out.attentions]).float().cpu().numpy()
