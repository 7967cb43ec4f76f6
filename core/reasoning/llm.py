"""The model as the reasoning methods see it: render a prompt, complete it (greedy, one or many at once), sample k.

``TextModel`` is the protocol the methods use, so tests can drive them with a scripted fake; ``LabModel`` wraps a
loaded model. With a chat template the instructions are one user turn and the ``cue`` (``Let's think step by step.``,
```` ```python ````, ``Thought 1:``) opens the assistant's turn, so the model continues from it; a base model gets the
plain text with the cue on the last line. Every prompt is checked against the context window before it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from core.models import LoadedModel


class TextModel(Protocol):
    name: str

    def render(self, user: str, cue: str = "") -> str: ...

    def complete(self, prompts: Sequence[str], max_new_tokens: int, stop: Sequence[str] = ()) -> list[str]: ...

    def sample(self, prompt: str, k: int, max_new_tokens: int, stop: Sequence[str] = (), seed: int = 0,
               temperature: float = 0.7) -> list[str]: ...


class LabModel:
    """A loaded model behind the ``TextModel`` protocol."""

    def __init__(self, loaded: "LoadedModel"):
        self.loaded = loaded
        self.name = loaded.info.name
        self.chat = bool(getattr(loaded.tokenizer, "chat_template", None))

    def render(self, user: str, cue: str = "") -> str:
        if not user.strip():
            raise ValueError("The question is empty: type a problem or pick a bundled one.")
        if self.chat:
            head = self.loaded.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                             add_generation_prompt=True)
            return head + cue
        return f"{user}\n{cue}" if cue else user

    def encode(self, text: str, max_new_tokens: int) -> list[int]:
        from core.sampling import check_context

        ids = self.loaded.tokenizer(text, add_special_tokens=not self.chat)["input_ids"]
        window = self.loaded.info.context_window
        if len(ids) + max_new_tokens > window:
            raise ValueError(f"The prompt takes {len(ids):,} tokens and the answer up to {max_new_tokens}: more than "
                             f"{self.name}'s context window of {window:,} tokens. Shorten the question or use fewer examples.")
        check_context(self.loaded, len(ids), max_new_tokens)
        return ids

    def complete(self, prompts: Sequence[str], max_new_tokens: int, stop: Sequence[str] = ()) -> list[str]:
        """Greedy completions of several prompts in one batch, each cut at its first stop string."""
        from core.sampling import generate_batch

        ids = [self.encode(p, max_new_tokens) for p in prompts]
        return generate_batch(self.loaded, ids, max_new_tokens, stop_at_newline=False, stop=stop)

    def sample(self, prompt: str, k: int, max_new_tokens: int, stop: Sequence[str] = (), seed: int = 0,
               temperature: float = 0.7) -> list[str]:
        """k sampled completions of one prompt, drawn together in one batch (transformers' ``generate``)."""
        import torch

        from core.sampling.generation import cut_at

        ids = self.encode(prompt, max_new_tokens)
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        device = next(model.parameters()).device
        torch.manual_seed(seed)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.inference_mode():
            out = model.generate(torch.tensor([ids], device=device), attention_mask=torch.ones(1, len(ids), dtype=torch.long,
                                 device=device), do_sample=True, temperature=temperature, top_p=0.95, top_k=0,
                                 num_return_sequences=k, max_new_tokens=max_new_tokens, pad_token_id=pad)
        texts = tokenizer.batch_decode(out[:, len(ids):], skip_special_tokens=True)
        return [cut_at(t.rstrip("\ufffd"), stop).strip() for t in texts]
