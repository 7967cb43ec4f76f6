"""``lab train CONFIG.yaml``: fine-tune, or train a reward model, on the same code path as a run the app starts.
``lab export RUN``: zip a finished fine-tuning run (the LoRA merged into its base, or ``--adapter`` alone), as the
page's download buttons do.

Works under ``accelerate launch`` too (DDP or FSDP): every process trains, only rank 0 checks the folder and prints.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune, or train a reward model, from a YAML config (see assets/configs/)")
    p.add_argument("config", type=Path)
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    p.add_argument("--output-dir", type=Path, default=Path(".lab/train-cli"), help="checkpoints and the final model")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    p.set_defaults(func=run)
    e = sub.add_parser("export", help="zip a finished fine-tuning run: the merged model, or --adapter alone")
    e.add_argument("run_id", help="the run's id (its folder name under $LAB_HOME/runs)")
    e.add_argument("--adapter", action="store_true", help="the adapter alone (LoRA, prompt tuning) instead of the merged model")
    e.add_argument("--to", type=Path, default=None, help="copy the zip here (default: leave it in the run's exports/)")
    e.set_defaults(func=export)


def run(args: argparse.Namespace) -> int:
    import yaml

    from core.finetune import FinetuneConfig, train_job
    from core.jobs import RunContext

    try:
        raw = yaml.safe_load(args.config.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"Cannot read {args.config}: {err}") from err
    if args.max_steps:
        raw["max_steps"] = args.max_steps
    if raw.get("task") == "reward":  # a reward model (see assets/configs/reward-bundled.yaml)
        from core.rlhf.reward import RewardConfig, train_reward_job

        reward_config = RewardConfig.from_dict(raw)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(args.output_dir, reward_config.to_dict())
        ctx.progress = _print_progress  # type: ignore[method-assign]
        print(json.dumps({"result": train_reward_job(ctx)}, default=str))
        return 0
    config = FinetuneConfig.from_dict(raw)
    main_process = os.environ.get("RANK", "0") == "0"  # under accelerate/torchrun only rank 0 checks the folder
    if main_process:  # the other processes of `accelerate launch` write nothing before the first save
        if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.resume:
            raise ValueError(f"{args.output_dir} exists and is not empty; choose another --output-dir or pass --resume.")
        args.output_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(args.output_dir, config.to_dict(), resume=args.resume)
    ctx.progress = _print_progress  # type: ignore[method-assign]
    result = train_job(ctx)
    if main_process:
        print(json.dumps({"result": result}, default=str))
    return 0


def _print_progress(**fields: object) -> None:
    print(json.dumps(fields, default=float), flush=True)


def export(args: argparse.Namespace) -> int:
    import shutil

    from core import jobs
    from core.finetune.export import export_adapter, export_merged

    run = jobs.get_run(args.run_id)
    path = (export_adapter if args.adapter else export_merged)(run)
    if args.to:
        shutil.copyfile(path, args.to)
        path = args.to
    print(path)
    return 0
