"""The fences STYLE.md draws, checked on the source: pages stay thin, core stays free of streamlit, trl stays in rlhf."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

HEAVY = {"torch", "transformers", "peft", "trl", "faiss"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pages_do_not_import_model_libraries():
    for page in (ROOT / "pages").glob("*.py"):
        assert not imported_modules(page) & HEAVY, page.name


def test_core_outside_ui_does_not_import_streamlit():
    for module in (ROOT / "core").rglob("*.py"):
        if "ui" not in module.relative_to(ROOT / "core").parts:
            assert "streamlit" not in imported_modules(module), module


def test_only_core_rlhf_imports_trl():
    users = {m.relative_to(ROOT).as_posix() for m in (ROOT / "core").rglob("*.py") if "trl" in imported_modules(m)}
    assert users <= {"core/rlhf.py"}


def test_pages_stay_short():
    for page in (ROOT / "pages").glob("*.py"):
        assert len(page.read_text().splitlines()) <= 150, page.name
