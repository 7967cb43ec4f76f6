"""A tiny pre-training corpus (the lab's knowledge base and two made-up packages) built into this test's LAB_HOME,
where the jobs look for it: nothing reads the real standard library here."""

from __future__ import annotations

from pathlib import Path

import pytest

PROSE = [
    "Return the number of items in the queue. This is an approximate count because other threads may add or "
    "remove items at the same time, so the value can be out of date as soon as it is read.",
    "Open the file at the given path and read it into memory. If the file does not exist, an error is raised "
    "and nothing is changed on the disk, so it is safe to call this again when the path is fixed.",
    "Split the text into words and count how often each of them appears. The result is a mapping from a word to "
    "its count, and it is sorted so that the most common word comes first in the list.",
]


def write_package(root: Path, name: str, docs: list[str]) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True)
    body = "\n\n".join(f'def f{i}():\n    """{doc}"""\n' for i, doc in enumerate(docs))
    (pkg / "__init__.py").write_text(f'"""{docs[0]}"""\n\n{body}')
    return pkg


@pytest.fixture
def tiny_packages(tmp_path) -> list[tuple[str, Path]]:
    root = tmp_path / "site"
    return [("pkg/alpha", write_package(root, "alpha", PROSE)),
            ("pkg/beta", write_package(root, "beta", [p.replace("the", "a") for p in PROSE]))]


@pytest.fixture
def tiny_corpus(tiny_packages):
    from core.pretraining import corpus

    return corpus.build_corpus(packages=tiny_packages)
