"""``lab align ppo|dpo|rloo CONFIG.yaml``: align a policy on the same code path as a run the app starts.

Prints each step's logged metrics as one JSON line, then ``{"result": ...}``. See assets/configs/ppo-*.yaml,
dpo-bundled.yaml and rloo-sentiment.yaml.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.common import read_settings

METHODS = ("ppo", "dpo", "rloo")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="align a policy with PPO, DPO or RLOO from a YAML config (see assets/configs/)")
    p.add_argument("method", choices=METHODS)
    p.add_argument("config", type=Path)
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    p.add_argument("--output-dir", type=Path, default=Path(".lab/align-cli"), help="checkpoints and the final adapter")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    p.set_defaults(func=run)


def config_class(method: str) -> type:
    from core.rlhf.dpo import DPOConfig
    from core.rlhf.ppo import PPOConfig
    from core.rlhf.rloo import RLOOConfig

    return {"ppo": PPOConfig, "dpo": DPOConfig, "rloo": RLOOConfig}[method]


def job(method: str):
    from core.rlhf.dpo import dpo_job
    from core.rlhf.ppo_job import ppo_job
    from core.rlhf.rloo import rloo_job

    return {"ppo": ppo_job, "dpo": dpo_job, "rloo": rloo_job}[method]


def run(args: argparse.Namespace) -> int:
    from core.jobs import RunContext

    raw = read_settings(args.config)
    if raw.get("method", args.method) != args.method:
        raise ValueError(f"{args.config} is a {raw['method']} config; run it with `lab align {raw['method']}`.")
    raw = {**raw, "task": "align", "method": args.method}
    if args.max_steps:
        raw["max_steps"] = args.max_steps
    config = config_class(args.method).from_dict(raw)
    if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.resume:
        raise ValueError(f"{args.output_dir} exists and is not empty; choose another --output-dir or pass --resume.")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(args.output_dir, config.to_dict(), resume=args.resume)
    ctx.progress = _print_progress  # type: ignore[method-assign]
    print(json.dumps({"result": job(args.method)(ctx)}, default=str))
    return 0


def _print_progress(**fields: object) -> None:
    print(json.dumps(fields, default=float), flush=True)
