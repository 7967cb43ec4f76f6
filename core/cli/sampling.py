"""``lab generate`` (stream a completion) and ``lab next-token`` (the top next tokens, raw and final)."""

from __future__ import annotations

import argparse
import json
import sys

from core import models
from core.cli.common import add_model_and_sampling, sampling_settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="stream a completion to stdout")
    add_model_and_sampling(p, default_temperature=0.0)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--quiet", action="store_true", help="no loading messages on stderr")
    p.set_defaults(func=generate)

    p = sub.add_parser("next-token", help="the top next tokens with raw and final probabilities")
    add_model_and_sampling(p, default_temperature=1.0)
    p.add_argument("--top", type=int, default=15, help="how many tokens to list")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=next_token)


def generate(args: argparse.Namespace) -> int:
    from core.sampling import encode_prompt, stream_generate

    settings = sampling_settings(args)
    progress = (lambda message: print(message, file=sys.stderr)) if not args.quiet else None
    loaded = models.load_model(args.model, precision=args.precision, on_progress=progress)
    ids = encode_prompt(loaded, args.prompt, chat=args.chat)
    for token in stream_generate(loaded, ids, settings, max_new_tokens=args.max_new_tokens):
        sys.stdout.write(token.piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def next_token(args: argparse.Namespace) -> int:
    import torch

    from core.sampling import encode_prompt, next_token_logits, trace_stages
    from core.sampling.views import next_token_table

    settings = sampling_settings(args)
    loaded = models.load_model(args.model, precision=args.precision)
    ids = encode_prompt(loaded, args.prompt, chat=args.chat)
    views = trace_stages(next_token_logits(loaded, ids), settings, torch.tensor(ids))
    table = next_token_table(views, loaded.tokenizer, torch.tensor(ids), top=args.top)
    if args.json:
        out = {"prompt_tokens": len(ids), "entropy_bits": {v.stage: v.entropy for v in views},
               "tokens": table.to_dict("records")}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(ids)} prompt tokens; entropy {views[0].entropy:.2f} bits raw, {views[-1].entropy:.2f} bits final")
    print(f"{'rank':>4} {'token':20} {'id':>7} {'raw':>8} {'final':>8}  removed by")
    for row in table.itertuples():
        print(f"{row.rank:>4} {row.token[:20]:20} {row.token_id:>7} {row.raw:>8.4f} {row.final:>8.4f}  {row.removed_by}")
    return 0
