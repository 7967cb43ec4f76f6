"""Shared by the fine-tuning tests: a finished run made in this process (no child process: fast)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from core import jobs
from core.finetune import JOB, FinetuneConfig, train_job


def config_for(model_dir, pairs_file, **overrides) -> FinetuneConfig:
    base = dict(base_model=str(model_dir), dataset=str(pairs_file), max_steps=2, batch_size=2, max_length=64,
                eval_fraction=0.2, eval_steps=2, save_steps=2, learning_rate=0.3, lora_r=4, virtual_tokens=4,
                prompt_init_text="Summarize")
    return FinetuneConfig(**{**base, **overrides})


def finished_run(lab_home: Path, config: FinetuneConfig, run_id: str) -> jobs.Run:
    """A run folder as core.jobs leaves a finished run, trained by the job's own function in this process."""
    run_dir = lab_home / "runs" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"target": JOB, **config.to_dict()}, sort_keys=False))
    settings = {k: v for k, v in jobs.read_config(run_dir).items() if k != "target"}  # through config.yaml, as a child reads it
    result = train_job(jobs.RunContext(run_dir, settings))
    (run_dir / "status.json").write_text(json.dumps({"state": "done", "result": result}))
    return jobs.get_run(run_id)
