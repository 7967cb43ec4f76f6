"""`lab` / `python -m core`: the command groups, the models listing, streaming generation and one clear message per bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.cli import main


def test_models_json_lists_the_bundled_models(capsys):
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"smollm2-135m-instruct", "gemma-3-270m"}
    assert rows["smollm2-135m-instruct"]["default"] and rows["smollm2-135m-instruct"]["installed"]
    assert rows["gemma-3-270m"]["kind"] == "base"


def test_generate_streams_a_completion(tiny_model_dir, capsys):
    code = main(["generate", "--model", str(tiny_model_dir), "--prompt", "Once upon a time", "--max-new-tokens", "8", "--quiet"])
    assert code == 0
    assert capsys.readouterr().out.strip() != ""


def test_unknown_model_is_one_clear_line(capsys):
    assert main(["generate", "--model", "gpt-17", "--prompt", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown model 'gpt-17'") and err.count("\n") == 1


def test_hub_id_without_network_exits_nonzero(capsys):
    assert main(["generate", "--model", "someone/not-cached", "--prompt", "hi"]) == 2
    assert "no network" in capsys.readouterr().err


def test_bad_sampling_value_exits_nonzero(tiny_model_dir, capsys):
    assert main(["generate", "--model", str(tiny_model_dir), "--prompt", "hi", "--top-p", "0"]) == 2
    assert "top_p must be in (0, 1]" in capsys.readouterr().err


def test_prompt_too_long_for_the_context_window(tiny_model_dir, capsys):
    code = main(["generate", "--model", str(tiny_model_dir), "--prompt", "bank " * 200, "--quiet"])
    assert code == 2 and "context window of 128 tokens" in capsys.readouterr().err


def test_entry_point_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "core", "models"], capture_output=True, text=True, check=True).stdout
    assert "smollm2-135m-instruct" in out and "(default)" in out


def test_lab_console_script_is_installed_and_lists_every_command_group():
    """`make` installs the project editable, so `.venv/bin/lab` exists beside the venv's python."""
    lab = Path(sys.executable).parent / "lab"
    assert lab.is_file(), "run `make setup`: it installs the lab command with `pip install --no-deps -e .`"
    out = subprocess.run([str(lab), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("models", "generate", "next-token", "shots", "train", "eval", "labels", "rag"):
        assert command in out


def test_each_command_group_is_its_own_module():
    from core.cli import GROUPS

    for group in GROUPS:
        assert group.__name__.startswith("core.cli.") and callable(group.add_commands)


def test_eval_prints_json_and_saves_to_the_database(tiny_model_dir, tmp_path, capsys):
    from core import store

    data = tmp_path / "mc.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"q{i}", "question": f"Question {i}?", "choices": ["yes", "no", "maybe"], "answer": i % 3})
                              for i in range(4)))
    code = main(["eval", "--model", str(tiny_model_dir), "--task", f"multiple_choice:{data}", "--limit", "3", "--precision", "float32", "--json"])
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["n"] == 3 and set(result["metrics"]) == {"acc", "acc_norm"}
    assert [e["id"] for e in result["examples"]] == ["q0", "q1", "q2"]
    assert store.list_evaluations()[0]["id"] == result["id"]


def test_eval_with_a_broken_task_file_is_one_clear_line(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "fine", "label": "a"}\n{"text": "no label"}\n')
    assert main(["eval", "--model", str(tiny_model_dir), "--task", f"classification:{data}"]) == 2
    assert "bad.jsonl, line 2: missing 'label'" in capsys.readouterr().err


def test_rag_ingest_search_and_ask(tmp_path, tiny_wide_dir, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "gate.md").write_text("# Orchard\n\nThe gate code of the Brindle Farm orchard is 4417.")
    (docs / "bees.txt").write_text("Bees make honey from nectar. A colony has one queen.")
    (docs / "empty.txt").write_text("")
    assert main(["rag", "ingest", str(docs), "--collection", "mine"]) == 1  # one file skipped
    out, err = capsys.readouterr()
    assert "mine: 2 file(s) added; 2 documents" in out and "skipped: empty.txt is empty" in err
    assert main(["rag", "search", "What is the gate code?", "--collection", "mine", "-k", "1", "--retriever", "dense", "--json"]) == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert hit["source"] == "gate.md" and hit["rank"] == 1 and hit["score"] > 0.3
    assert main(["rag", "ask", "What is the gate code?", "--collection", "mine", "--model", str(tiny_wide_dir), "--precision", "float32"]) == 0


def test_rag_ingest_of_only_bad_files_changes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 broken")
    assert main(["rag", "ingest", str(bad), "--collection", "mine"]) == 2
    assert "No file gave any text; the collection was not changed." in capsys.readouterr().err
    from core.retrieval.storage import list_collections

    assert list_collections() == []


def test_labels_export_import_and_stats(tmp_path, monkeypatch, capsys):
    from core import store

    [prompt_id] = store.add_prompts([{"text": "Name a bee.", "category": "helpful"}])
    cid = store.add_comparison(prompt_id, [{"text": t, "model": "m"} for t in ("Buzz", "A honeybee.", "Bees?")])
    ids = [c["id"] for c in store.get_comparison(cid)["completions"]]
    store.save_ranking(cid, "ann", [[ids[1]], [ids[0], ids[2]]])
    assert main(["labels", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rankings"] == 1 and stats["pairs"] == 2
    out = tmp_path / "rankings.jsonl"
    assert main(["labels", "export", "--output", str(out)]) == 0
    assert main(["labels", "export", "--pairs"]) == 0
    pairs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("A honeybee.", "Buzz"), ("A honeybee.", "Bees?")]
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "other"))
    assert main(["labels", "import", str(out)]) == 0
    assert len(store.list_rankings()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    assert main(["labels", "import", str(bad)]) == 2
    assert "line 1: missing annotator, completions, ranking" in capsys.readouterr().err


def test_nan_and_negative_numbers_exit_2_with_the_value_named(tiny_model_dir, capsys):
    base = ["generate", "--model", str(tiny_model_dir), "--prompt", "hi", "--quiet"]
    assert main([*base, "--temperature", "nan"]) == 2
    assert "temperature must be a finite number, got nan" in capsys.readouterr().err
    assert main([*base, "--temperature", "inf"]) == 2
    assert "temperature must be a finite number, got inf" in capsys.readouterr().err
    assert main([*base, "--max-new-tokens", "-5"]) == 2
    assert "max_new_tokens must be in [1, ∞], got -5" in capsys.readouterr().err


def test_next_token_at_temperature_0_gives_the_top_token_probability_1(tiny_model_dir, capsys):
    assert main(["next-token", "--model", str(tiny_model_dir), "--prompt", "the bank", "--temperature", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"][0]["final"] == 1.0 and all(t["final"] == 0.0 for t in out["tokens"][1:])
    assert out["entropy_bits"]["greedy"] == 0.0
