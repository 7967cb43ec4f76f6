"""``lab align``: a PPO run from a YAML config prints JSON lines and resumes; wrong input exits 2 with one line."""

from __future__ import annotations

import json

import yaml

from core.cli import main


def write_config(tmp_path, policy_dir, **overrides):
    settings = {"policy": str(policy_dir), "reward": "rule:count:the", "prompts": str(policy_dir / "prompts.txt"),
                "max_steps": 4, "batch_size": 4, "mini_batch_size": 2, "max_new_tokens": 8, "save_every": 1, **overrides}
    path = tmp_path / "ppo.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_align_ppo_prints_each_step_and_resumes(tiny_chat_policy_dir, tmp_path, capsys):
    config, out = write_config(tmp_path, tiny_chat_policy_dir), tmp_path / "out"
    assert main(["align", "ppo", str(config), "--max-steps", "2", "--output-dir", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["step"] for row in lines if "objective/kl" in row] == [1, 2]
    assert lines[-1]["result"]["steps"] == 2
    assert main(["align", "ppo", str(config), "--output-dir", str(out)]) == 2  # the folder is taken
    assert "--resume" in capsys.readouterr().err


def test_a_config_of_another_method_is_one_clear_line(tiny_chat_policy_dir, tmp_path, capsys):
    config = write_config(tmp_path, tiny_chat_policy_dir, method="dpo")
    assert main(["align", "ppo", str(config), "--output-dir", str(tmp_path / "o")]) == 2
    assert "lab align dpo" in capsys.readouterr().err


def test_the_bundled_example_configs_are_valid():
    from core.cli.align import config_class
    from tests.conftest import ROOT

    for path in sorted((ROOT / "assets" / "configs").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if raw.get("task") == "align":
            config_class(raw["method"]).from_dict(raw)
