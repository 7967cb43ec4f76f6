"""The logit lens: the next-token prediction read out of every layer's residual stream.

After each decoder layer the residual stream has the same width as the one the final norm and ``lm_head`` read, so
the model's own read-out (final norm, ``lm_head``, Gemma's final soft-capping where its config sets one) can be
applied to it early. Layer 0 is the embedding, layer L the model's real output.

Holds: ``check_fits``, ``token_for`` (the token to track for a word), ``residual_stream`` (one forward pass with
``output_hidden_states``), ``read_out`` (norm, lm_head, soft-cap on a batch of residual vectors), ``layer_logits``
and ``logit_lens`` (per layer x position: top token, its probability, and the probability of a tracked token),
``LogitLens``.

Does not hold: drawing it (``core.ui.lens``), the forward-pass outline (``core.models.anatomy``).
The model is used read-only under ``torch.inference_mode()`` (it may be the copy every Streamlit session shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from core.models import LoadedModel

# Logits are computed a block of rows at a time: (layers + 1) x T x vocab floats at once would be 1.2 GB for 200
# tokens of SmolLM2 and 5 GB for Gemma's vocabulary of 262k.
BLOCK_ELEMENTS = 2**24


@dataclass(frozen=True)
class LogitLens:
    """Rows are layers 0..L (0 = the embedding, L = the model's output), columns the prompt's positions. Position t
    holds the prediction for the token after token t."""

    tokens: list[str]  # the prompt's tokens as text, from position ``start`` on
    start: int  # the position of the first column in the prompt (0 unless only the last positions were read)
    top_ids: "np.ndarray"  # (L + 1, T) int: the most likely next token read out of each layer
    top_tokens: list[list[str]]  # the same, as text
    top_probs: "np.ndarray"  # (L + 1, T) float: its probability
    target_id: int | None = None
    target_probs: "np.ndarray | None" = None  # (L + 1, T): the tracked token's probability, where one was asked for

    @property
    def layers(self) -> int:
        return self.top_probs.shape[0] - 1


def token_for(tokenizer: Any, word: str, leading_space: bool = True) -> tuple[int, list[str]]:
    """The token id to track for a word: its first token (with the space a word carries mid-sentence when
    ``leading_space``), and all its tokens as text, so a caller can say when the word is more than one token."""
    from core.sampling.generation import token_text

    word = word.strip()
    if not word:
        raise ValueError("Type a word to track.")
    ids = tokenizer((" " if leading_space else "") + word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"{word!r} gives no tokens.")
    return ids[0], [token_text(tokenizer, i) for i in ids]


def _unwrap(model: Any) -> Any:
    """The transformers model under a PEFT wrapper or the adapter host's view (core.models.runs)."""
    model = getattr(model, "host", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _final_norm(model: Any) -> Any:
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    norm = getattr(decoder, "norm", None)
    if norm is None:
        raise ValueError(f"{type(model).__name__} has no final norm at model.norm: the logit lens reads Llama- and "
                         "Gemma-style decoders.")
    return norm


def _last_state_is_normed(config: Any) -> bool:
    # transformers 5 (utils/output_capturing.py, capture_outputs) replaces hidden_states[-1] with last_hidden_state,
    # which is already through the final norm (LlamaModel and Gemma3TextModel end with ``self.norm``), unless the
    # config sets tie_last_hidden_states=False. Layers 0..L-1 are the raw residual stream.
    return getattr(config, "tie_last_hidden_states", None) is not False


def check_fits(loaded: "LoadedModel", ids: list[int]) -> None:
    """Raise ValueError for an empty prompt or one longer than the context window (one forward pass reads it all)."""
    if not ids:
        raise ValueError("The prompt is empty: type something for the model to read.")
    window = loaded.info.context_window
    if len(ids) > window:
        raise ValueError(f"The prompt has {len(ids):,} tokens, more than the context window of {window:,}: shorten it.")


def residual_stream(loaded: "LoadedModel", ids: list[int]) -> "torch.Tensor":
    """One forward pass. Returns the residual stream (L + 1, T, hidden) in the model's dtype, with the final norm
    already applied to row L only (see ``_last_state_is_normed``)."""
    import torch

    check_fits(loaded, ids)
    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        # logits_to_keep=1: the lens reads the positions out itself, the model need not project all of them too
        out = loaded.model(input_ids=torch.tensor([ids], device=device), output_hidden_states=True, use_cache=False,
                           logits_to_keep=1)
        return torch.stack([h[0, -len(ids):] for h in out.hidden_states])  # prompt tuning prepends virtual tokens


def read_out(loaded: "LoadedModel", states: "torch.Tensor", normed: bool = False) -> "torch.Tensor":
    """The model's read-out applied to residual vectors (..., hidden): final norm (unless ``normed``), lm_head and
    the config's final logit soft-capping, in the model's dtype, as the model's own forward pass does it."""
    import torch

    model = _unwrap(loaded.model)
    with torch.inference_mode():
        x = states if normed else _final_norm(model)(states)
        logits = model.get_output_embeddings()(x)
        cap = getattr(model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config,
                      "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
    return logits


def layer_logits(loaded: "LoadedModel", ids: list[int], layer: int) -> "torch.Tensor":
    """The lens logits (T, vocab) of one layer (0 = embedding, L = output). Layer L equals the model's logits."""
    states = residual_stream(loaded, ids)
    if not 0 <= layer < states.shape[0]:
        raise ValueError(f"Layer {layer} does not exist: this model has layers 0 (the embedding) to {states.shape[0] - 1}.")
    return read_out(loaded, states[layer], normed=layer == states.shape[0] - 1 and _last_state_is_normed(loaded.model.config))


def logit_lens(loaded: "LoadedModel", ids: list[int], target: int | None = None, last: int | None = None) -> LogitLens:
    """Read every layer's residual stream at every position of ``ids`` (or only the ``last`` positions) through the
    model's final norm and lm_head: the top token, its probability and, if ``target`` (a token id) is given, that
    token's probability. One forward pass over the whole prompt; the read-outs go a block of rows at a time so memory
    stays under ~64 MB of logits."""
    import torch

    from core.sampling.generation import token_text
    from core.sampling.views import visible

    vocab = loaded.info.vocab_size
    if target is not None and not 0 <= target < vocab:
        raise ValueError(f"Token id {target} is outside the vocabulary (0 to {vocab - 1}).")
    if last is not None and last < 1:
        raise ValueError(f"last must be at least 1 position, got {last}.")
    states = residual_stream(loaded, ids)
    start = max(0, len(ids) - last) if last else 0
    states = states[:, start:]
    n_layers, n_tokens = states.shape[0], states.shape[1]
    with torch.inference_mode():  # every layer through the final norm (row L may have been through it already)
        if _last_state_is_normed(loaded.model.config):
            normed = torch.cat([_final_norm(_unwrap(loaded.model))(states[:-1]), states[-1:]])
        else:
            normed = _final_norm(_unwrap(loaded.model))(states)
    rows = normed.reshape(n_layers * n_tokens, -1)
    top_ids = torch.empty(len(rows), dtype=torch.long)
    top_probs = torch.empty(len(rows))
    target_probs = torch.empty(len(rows)) if target is not None else None
    block = max(1, BLOCK_ELEMENTS // max(vocab, 1))
    for start_row in range(0, len(rows), block):
        part = slice(start_row, start_row + block)
        probs = read_out(loaded, rows[part], normed=True).float().softmax(-1).cpu()
        top_probs[part], top_ids[part] = probs.max(-1)
        if target_probs is not None:
            target_probs[part] = probs[:, target]
    top_ids, top_probs = top_ids.view(n_layers, n_tokens), top_probs.view(n_layers, n_tokens)
    if target_probs is not None:
        target_probs = target_probs.view(n_layers, n_tokens)
    tokenizer = loaded.tokenizer
    texts: dict[int, str] = {}
    top_tokens = [[texts.setdefault(t, visible(token_text(tokenizer, t))) for t in row] for row in top_ids.tolist()]
    return LogitLens(
        tokens=[visible(token_text(tokenizer, t)) for t in ids[start:]], start=start, top_ids=top_ids.numpy(),
        top_tokens=top_tokens,
        top_probs=top_probs.numpy(), target_id=target,
        target_probs=target_probs.numpy() if target_probs is not None else None,
    )
