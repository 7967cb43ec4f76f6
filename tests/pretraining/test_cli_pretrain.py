"""`lab pretrain CONFIG.yaml` and `lab scaling sweep`: the same jobs in the foreground, one clear line per bad input."""

from __future__ import annotations

import json

from core.cli import main


def test_pretrain_trains_and_saves_a_model(tiny_corpus, tmp_path, capsys):
    config = tmp_path / "small.yaml"
    config.write_text("layers: 1\nhidden: 64\nheads: 2\ncontext: 32\nbatch_size: 4\ntokens: 2560\n"
                      "eval_every: 10\nsample_every: 10\n")
    assert main(["pretrain", str(config), "--output-dir", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["result"]["steps"] == 20 and any("sample" in line for line in lines)
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()


def test_pretrain_refuses_a_bad_config_and_a_used_folder(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("layers: 1\nhidden: 100\nheads: 3\n")
    assert main(["pretrain", str(config)]) == 2
    assert "split into 3 heads" in capsys.readouterr().err
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    config.write_text("layers: 2\n")
    assert main(["pretrain", str(config), "--output-dir", str(tmp_path / "used")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["pretrain", str(tmp_path / "missing.yaml")]) == 2


def test_scaling_sweep_refuses_a_used_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert main(["scaling", "sweep", "--output-dir", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
