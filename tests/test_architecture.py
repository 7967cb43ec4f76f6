"""The fences STYLE.md draws, checked on the source: pages stay thin, core stays free of streamlit, fast-moving
libraries stay where they are fenced, and no core module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

HEAVY = {"torch", "transformers", "peft", "trl", "faiss", "sentence_transformers"}
# Where each fast-moving library may be imported, in one place. A later stage that needs one adds its folder here.
FENCES = {
    "trl": ("core/rlhf/",),
    "peft": ("core/finetune/methods.py", "core/models/runs.py", "core/rlhf/"),
    "streamlit": ("core/ui/",),
}
MAX_CORE_MODULE_LINES = 400


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def core_modules() -> list[Path]:
    return sorted((ROOT / "core").rglob("*.py"))


def test_pages_do_not_import_model_libraries():
    for page in (ROOT / "pages").glob("*.py"):
        assert not imported_modules(page) & HEAVY, page.name


def test_fenced_libraries_are_imported_only_inside_their_fences():
    for library, allowed in FENCES.items():
        users = {m.relative_to(ROOT).as_posix() for m in core_modules() if library in imported_modules(m)}
        outside = {u for u in users if not u.startswith(allowed)}
        assert not outside, f"{library} imported outside {allowed}: {sorted(outside)}"


def test_no_core_module_is_over_400_lines():
    long = {m.relative_to(ROOT).as_posix(): n for m in core_modules()
            if (n := len(m.read_text().splitlines())) > MAX_CORE_MODULE_LINES}
    assert not long, f"split these by noun: {long}"


def test_every_core_package_says_what_it_offers():
    for init in (ROOT / "core").rglob("__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.relative_to(ROOT)} has no docstring"


def test_pages_stay_short():
    for page in (ROOT / "pages").glob("*.py"):
        assert len(page.read_text().splitlines()) <= 150, page.name


def test_nothing_is_rendered_as_raw_html():
    """Model and user text reaches the browser as text: no page or widget opts into raw HTML (the drag-and-drop
    ranker is a component whose script sets textContent; the guardrail's masked text goes through st.text)."""
    for path in sorted((ROOT / "pages").glob("*.py")) + sorted((ROOT / "core").rglob("*.py")):
        source = path.read_text()
        for forbidden in ("unsafe_allow_html", "st.html(", "components.v1.html("):
            assert forbidden not in source, f"{path.relative_to(ROOT)} uses {forbidden}"
    for script in (ROOT / "assets" / "components").glob("*.js"):
        assert "innerHTML" not in script.read_text(), script.name
