"""Shared by the page tests: open a page file in AppTest, optionally on a model folder picked in the sidebar state."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def page_test(page: str, model_dir: Path | None = None, timeout: float = 120) -> AppTest:
    """AppTest for pages/<page>.py; ``model_dir`` selects that folder as the model, as the sidebar's "Other" would."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=timeout)
    if model_dir:
        at.session_state["model.choice"] = "other"
        at.session_state["model.custom"] = str(model_dir)
    return at
