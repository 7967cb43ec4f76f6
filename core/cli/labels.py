"""``lab labels export|import|stats|overlap``: the preference rankings people made in the lab."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    labels = sub.add_parser("labels", help="the preference rankings people made: export, import, stats")
    commands = labels.add_subparsers(dest="labels_command", required=True)
    p = commands.add_parser("export", help="rankings as JSONL (lossless), or --pairs for TRL's {prompt, chosen, rejected}")
    p.add_argument("--pairs", action="store_true", help="write TRL pairs instead of rankings")
    p.add_argument("--output", type=Path, help="file to write (default: stdout)")
    p.set_defaults(func=export)
    p = commands.add_parser("import", help="rankings or TRL pairs from JSONL; all or nothing")
    p.add_argument("file", type=Path)
    p.set_defaults(func=import_)
    p = commands.add_parser("stats", help="counts, pairs and agreement between annotators")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=stats)
    p = commands.add_parser("overlap", help="show, or set, k: annotators per comparison before new ones are served")
    p.add_argument("k", type=int, nargs="?", help="the new k (1 to 20); without it, print the current k")
    p.set_defaults(func=overlap)


def export(args: argparse.Namespace) -> int:
    from core import store
    from core.rlhf import preferences

    rankings = store.list_rankings()
    text = preferences.export_pairs(rankings) if args.pairs else preferences.export_rankings(rankings)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{len(rankings)} rankings written to {args.output}" + (" as TRL pairs" if args.pairs else ""),
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def import_(args: argparse.Namespace) -> int:
    from core.rlhf import preferences

    count = preferences.import_jsonl(args.file.read_text(encoding="utf-8"))
    print(f"{count} rankings imported from {args.file}")
    return 0


def stats(args: argparse.Namespace) -> int:
    from core import store
    from core.rlhf import preferences

    rankings = store.list_rankings()
    counts = {**store.label_counts(), "pairs": len(preferences.pairs_from_rankings(rankings))}
    result = preferences.agreement(rankings)
    counts.update({"agreement_items": result.items, "pairwise_agreement": result.pairwise,
                   "fleiss_kappa": result.fleiss_kappa, "cohen_kappa": result.cohen_kappa,
                   "krippendorff_alpha": result.krippendorff_alpha, "overlap_k": store.labelling_overlap()})
    print(json.dumps(counts, indent=2) if args.json else "\n".join(f"{k:20} {v}" for k, v in counts.items()))
    return 0


def overlap(args: argparse.Namespace) -> int:
    from core import store

    k = store.labelling_overlap() if args.k is None else store.set_labelling_overlap(args.k)
    progress = store.class_progress(k)
    print(f"k = {k}: {progress['done']} of {progress['total']} comparisons ranked by at least {k} annotators")
    return 0
