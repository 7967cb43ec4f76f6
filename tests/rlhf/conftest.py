"""Fixtures for alignment tests: a tiny chat model that has learned four sentences, so a policy has real choices."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.conftest import TINY_CORPUS, build_tiny_model, build_tiny_tokenizer

TINY_PROMPTS = ["Say something.", "Tell me a fact.", "Write one sentence.", "Go on."]


@pytest.fixture(scope="session")
def tiny_chat_policy_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama trained for a few seconds to answer any of four prompts with one of four sentences (about a
    quarter each). A random tiny model cannot be steered by a reward: its outputs are noise in every context. This
    one picks between modes, like a real model, so PPO can shift probability between them. Also holds prompts.txt."""
    import torch

    folder = tmp_path_factory.mktemp("tiny-chat-policy")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer), context=256)
    sentences = sorted(set(TINY_CORPUS))
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": s}], tokenize=False)
             for p in TINY_PROMPTS for s in sentences]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    model.train()
    for _ in range(300):
        batch = tokenizer(rng.sample(texts, 8), return_tensors="pt", padding=True)
        loss = model(**batch, labels=batch.input_ids.masked_fill(batch.attention_mask == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "prompts.txt").write_text("\n".join(TINY_PROMPTS * 3) + "\n")
    return folder
