"""The corpus: docstrings read without importing, English prose kept, duplicates dropped, packages held out."""

from __future__ import annotations

import numpy as np

from core.pretraining import corpus
from tests.pretraining.conftest import PROSE


def test_docstrings_of_module_class_and_functions(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Module."""\nclass A:\n    """Class."""\n    def f(self):\n        """Method."""\n'
                    'async def g():\n    """Coroutine."""\nimport os\nos.remove("x")  # never run\n')
    assert sorted(corpus.docstrings(path)) == ["Class.", "Coroutine.", "Method.", "Module."]


def test_a_file_that_does_not_parse_gives_nothing(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def (:\n")
    assert corpus.docstrings(path) == []


def test_doctest_lines_and_their_output_go():
    text = "Add two numbers.\n\n>>> add(1, 2)\n3\n\nThe result is an int."
    assert corpus.strip_examples(text) == "Add two numbers.\n\n\nThe result is an int."


def test_english_prose_is_kept_and_the_rest_dropped():
    assert corpus.is_english_prose(PROSE[0])
    assert not corpus.is_english_prose("Too short to learn from.")
    assert not corpus.is_english_prose("x = np.zeros((3, 4)); y = x[:, 1:] * 2 + 1; z = {k: v for k, v in d}" * 3)
    assert not corpus.is_english_prose("Возвращает число элементов в очереди, это приблизительное значение. " * 3)
    assert not corpus.is_english_prose("Parameters ---------- axis int dtype str shape tuple ndarray " * 4)


def test_duplicates_are_kept_once_whatever_their_spacing_or_case():
    docs = [corpus.Document("a", "Hello   world."), corpus.Document("b", "hello world."), corpus.Document("c", "Other")]
    assert [d.source for d in corpus.deduplicate(docs)] == ["a", "c"]


def test_held_out_sources_are_whole_packages_near_the_share():
    docs = [corpus.Document(f"pkg/p{i}", "x" * 1000) for i in range(100)] + [corpus.Document("lab/knowledge", "y" * 999)]
    held = corpus.held_out_sources(docs, share=0.05)
    assert 4 <= len(held) <= 7 and "lab/knowledge" not in held


def test_build_writes_splits_tokenizer_and_token_streams(tiny_corpus, tiny_packages):
    folder = corpus.corpus_dir()
    assert tiny_corpus["documents"] == tiny_corpus["train_documents"] + tiny_corpus["val_documents"]
    assert tiny_corpus["val_documents"] > 0 and tiny_corpus["vocab_size"] == corpus.VOCAB_SIZE
    train, val = corpus.load_tokens("train"), corpus.load_tokens("val")
    assert (len(train), len(val)) == (tiny_corpus["train_tokens"], tiny_corpus["val_tokens"])
    tokenizer = corpus.load_tokenizer()
    eos = tokenizer.convert_tokens_to_ids(corpus.EOS)
    assert int(np.sum(np.asarray(train) == eos)) == tiny_corpus["train_documents"]
    first = tokenizer.decode(np.asarray(train[: list(np.asarray(train)).index(eos)]).tolist())
    assert first == corpus.knowledge_documents()[0].text  # the first document, byte for byte
    assert (folder / "docs.jsonl").is_file()


def test_a_finished_build_is_not_repeated(tiny_corpus, tiny_packages):
    again = corpus.build_corpus(packages=[])  # no packages: would fail to split if it rebuilt
    assert again == tiny_corpus


def test_a_corpus_too_small_to_split_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "knowledge_documents", lambda: [])
    import pytest

    with pytest.raises(ValueError, match="too small to split"):
        corpus.build_corpus(tmp_path / "c", packages=[])


def test_two_runs_starting_at_once_build_the_corpus_once(tiny_packages, monkeypatch):
    import threading
    import time

    calls, real = [], corpus._build

    def slow_build(*args):
        calls.append(1)
        time.sleep(0.5)  # long enough for the second caller to arrive while the first is building
        return real(*args)

    monkeypatch.setattr(corpus, "_build", slow_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(corpus.build_corpus(packages=tiny_packages)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results[0] == results[1]
    assert not any(p.name.endswith(".tmp") for p in corpus.corpus_dir().parent.iterdir())


def test_a_killed_build_leaves_no_corpus_behind(tiny_packages, monkeypatch):
    def crash(*args):
        raise KeyboardInterrupt  # as a kill in the middle of the build would

    monkeypatch.setattr(corpus, "_build", crash)
    import pytest

    with pytest.raises(KeyboardInterrupt):
        corpus.build_corpus(packages=tiny_packages)
    assert not corpus.corpus_dir().exists()
    monkeypatch.undo()
    assert corpus.build_corpus(packages=tiny_packages)["documents"] > 0
