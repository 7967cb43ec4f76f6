"""Alignment runs side by side: which runs there are (PPO, DPO, RLOO) and what each reached, for the β trade-off.

Holds: ``ALIGN_JOBS`` (method → job), ``align_runs``, ``curves`` (the per-step rows a chart draws, under common
names across methods) and ``summary`` (score gained, KL, β of one run).
Does not hold: the runs' work (``core.rlhf.ppo_job``, ``core.rlhf.dpo``, ``core.rlhf.rloo``) or charts.
"""

from __future__ import annotations

import json
from typing import Any

from core import jobs
from core.rlhf.dpo import JOB as DPO_JOB
from core.rlhf.ppo import JOB as PPO_JOB
from core.rlhf.rloo import JOB as RLOO_JOB

ALIGN_JOBS = {"ppo": PPO_JOB, "dpo": DPO_JOB, "rloo": RLOO_JOB}
# RLOO logs as TRL's GRPO family does; these are the PPO names for the same quantities, so one chart shows both.
RLOO_NAMES = {"reward": "objective/scores", "kl": "objective/kl", "entropy": "policy/entropy_avg",
              "completions/mean_length": "tokens/responses_len_mean"}


def align_runs() -> list[jobs.Run]:
    """Every PPO, DPO and RLOO run, newest first."""
    targets = set(ALIGN_JOBS.values())
    return [run for run in jobs.list_runs() if run.config.get("target") in targets]


def method_of(run: jobs.Run) -> str:
    return next((m for m, job in ALIGN_JOBS.items() if job == run.config.get("target")), "?")


def curves(run: jobs.Run) -> list[dict[str, Any]]:
    """The run's per-step rows; RLOO's keys are given their PPO names (its KL is per token: times the answer length)."""
    rows = [r for r in run.progress() if "step" in r]
    if method_of(run) != "rloo":
        return rows
    out = []
    for row in rows:
        renamed = {RLOO_NAMES.get(k, k): v for k, v in row.items()}
        if "objective/kl" in renamed and "tokens/responses_len_mean" in renamed:
            renamed["objective/kl"] *= renamed["tokens/responses_len_mean"]
        out.append(renamed)
    return out


def summary(run: jobs.Run, window: int = 5) -> dict[str, Any] | None:
    """Mean score and KL of the first and last ``window`` steps (PPO and RLOO; None when there are too few steps)."""
    rows = [r for r in curves(run) if "objective/scores" in r and "objective/kl" in r]
    if len(rows) < 2:
        return None
    n = min(window, len(rows) // 2)
    mean = lambda part, key: sum(r[key] for r in part) / len(part)  # noqa: E731
    return {"run": run.id, "method": method_of(run), "beta": run.config.get("beta"), "reward": run.config.get("reward"),
            "steps": len(rows), "score_first": mean(rows[:n], "objective/scores"), "score_last": mean(rows[-n:], "objective/scores"),
            "kl_last": mean(rows[-n:], "objective/kl"), "state": run.state}


def before_after(run: jobs.Run) -> list[dict[str, Any]]:
    path = run.dir / "before_after.json"
    return json.loads(path.read_text()) if path.exists() else []
