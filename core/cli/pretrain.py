"""``lab pretrain CONFIG.yaml`` (train a small model from scratch) and ``lab scaling sweep [--preset quick|full]``
(the Chinchilla IsoFLOP sweep), in the foreground on the same code path as the runs the page starts. Progress
prints as JSON lines; the output folder holds what a run folder holds, so an interrupted command resumes."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="train a small Llama from random weights (see assets/configs/pretrain-small.yaml)")
    p.add_argument("config", type=Path)
    p.add_argument("--output-dir", type=Path, default=Path(".lab/pretrain-cli"), help="checkpoints and model/")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    p.set_defaults(func=run_pretrain)

    scaling = sub.add_parser("scaling", help="scaling-law experiments")
    actions = scaling.add_subparsers(dest="action", required=True)
    s = actions.add_parser("sweep", help="Chinchilla IsoFLOP sweep: several sizes at several compute budgets")
    s.add_argument("--preset", choices=["quick", "full"], default="quick")
    s.add_argument("--output-dir", type=Path, default=Path(".lab/scaling-cli"), help="results.jsonl and progress")
    s.add_argument("--resume", action="store_true", help="keep the finished points in --output-dir, train the rest")
    s.add_argument("--json", action="store_true", help="print the fit as JSON")
    s.set_defaults(func=run_sweep)


def _context(folder: Path, config: dict, resume: bool):
    from core.jobs import RunContext

    if folder.exists() and any(folder.iterdir()) and not resume:
        raise ValueError(f"{folder} exists and is not empty; choose another --output-dir or pass --resume.")
    folder.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(folder, config, resume=resume)
    ctx.progress = lambda **fields: print(json.dumps(fields, default=float), flush=True)  # type: ignore[method-assign]
    return ctx


def run_pretrain(args: argparse.Namespace) -> int:
    import yaml

    from core.pretraining.scratch import ScratchConfig, pretrain_job, run_config

    try:
        raw = yaml.safe_load(args.config.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"Cannot read {args.config}: {err}") from err
    config = ScratchConfig.from_dict(raw)
    print(json.dumps({"result": pretrain_job(_context(args.output_dir, run_config(config), args.resume))}))
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from core.pretraining import scaling

    config = {"preset": asdict(scaling.PRESETS[args.preset]), "preset_name": args.preset}
    scaling.plan(scaling.PRESETS[args.preset])
    result = scaling.sweep_job(_context(args.output_dir, config, args.resume))
    if args.json:
        print(json.dumps(result, default=float))
    else:
        for p in result["profiles"]:
            where = "—" if p["n_opt"] is None else f"N_opt ≈ {p['n_opt']:,.0f}" + ("" if p["inside"] else " (outside)")
            print(f"C = {p['budget']:.0e} FLOPs: {where}")
        for name in ("a", "b"):
            value = result[name]
            print(f"{name} = {'—' if value is None else f'{value:.2f}'} (Chinchilla {result['chinchilla_' + name]:.2f})")
    return 0
