"""The guardrail trained once per test session (about 8 s: MiniLM embeddings of the 600 bundled texts)."""

import pytest


@pytest.fixture(scope="session")
def guardrail():
    from core.safety.guardrail import shared_guardrail

    return shared_guardrail()


@pytest.fixture(scope="session")
def tiny_wide_loaded(tiny_wide_dir):
    """The tiny model with a 2,048-token window: room for critique and revision prompts (do not modify it)."""
    from core.models import load_model

    return load_model(str(tiny_wide_dir), precision="float32")
