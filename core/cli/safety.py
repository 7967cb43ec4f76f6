"""``lab safety score|revise|rlaif``: the guardrail, a constitutional critique-and-revision, and AI feedback.

``score TEXT...`` (or ``--file``) prints one line per text, or with ``--json`` a list of
``{"text", "logits": {"not toxic", "toxic"}, "toxic_probability", "toxic", "reason"}``. ``revise --prompt TEXT``
prints the initial answer, each critique and revision (``--json``: every exact prompt too). ``rlaif`` judges the
bundled human preference pairs (or ``--source labels``) with the model, A/B swapped, and prints the agreement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import models


def add_commands(sub: argparse._SubParsersAction) -> None:
    safety = sub.add_parser("safety", help="the guardrail, constitutional AI and AI feedback (RLAIF)")
    commands = safety.add_subparsers(dest="safety_command", required=True)
    p = commands.add_parser("score", help="toxicity of texts: two logits, the probability and the verdict")
    p.add_argument("texts", nargs="*", help="texts to score")
    p.add_argument("--file", type=Path, help="one text per line, or JSONL with a \"text\" on each line")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=score)
    p = commands.add_parser("revise", help="answer, critique and revise against the constitution")
    p.add_argument("--prompt", required=True)
    p.add_argument("--principle", default=None, help="number (1-based) or id; default: one at random per round")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--constitution", type=Path, default=None, help="a JSON constitution (default: the bundled one)")
    p.add_argument("--model", default=models.DEFAULT_MODEL)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=revise)
    p = commands.add_parser("rlaif", help="the model as judge of people's preference pairs, and their agreement")
    p.add_argument("--source", choices=("bundled", "labels"), default="bundled")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--principle", default=None, help="hhh or a principle id; default: by each pair's aspect")
    p.add_argument("--model", default=models.DEFAULT_MODEL)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=rlaif)


def score(args: argparse.Namespace) -> int:
    from core.safety.guardrail import read_texts
    from core.safety.guardrail import score as score_texts

    texts = list(args.texts) + (read_texts(args.file) if args.file else [])
    if not texts:
        raise ValueError("Give texts to score (arguments or --file).")
    progress = (lambda done, total: print(f"scored {done} of {total}", file=sys.stderr)) if len(texts) > 256 else None
    verdicts = score_texts(texts, progress)
    if args.json:
        print(json.dumps(verdicts, indent=1))
    else:
        for v in verdicts:
            label = f"toxic ({v['reason']})" if v["toxic"] else "not toxic"
            print(f"{v['toxic_probability']:.3f}  {label:<28} {v['text']}")
    return 0


def revise(args: argparse.Namespace) -> int:
    from core.safety.constitution import load_constitution
    from core.safety.constitution import revise as revise_answer

    principles = load_constitution(args.constitution)
    loaded = models.load_model(args.model)
    principle = int(args.principle) if args.principle and args.principle.isdigit() else args.principle
    trace = revise_answer(loaded, args.prompt, principles, rounds=args.rounds, which=principle, seed=args.seed,
                          max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(trace, indent=1))
        return 0
    print(f"Initial answer:\n{trace['initial']}\n")
    for number, step in enumerate(trace["rounds"], 1):
        print(f"Round {number}, principle: {step['principle']['title']}")
        print(f"Critique:\n{step['critique']}\n\nRevision:\n{step['revision']}\n")
    return 0


def rlaif(args: argparse.Namespace) -> int:
    from core.safety.constitution import load_constitution
    from core.safety.rlaif import agreement, human_pairs

    pairs = human_pairs(args.source, args.limit)
    loaded = models.load_model(args.model)
    result = agreement(loaded, pairs, load_constitution(), args.principle,
                       progress=lambda done, total: print(f"judged {done} of {total}", file=sys.stderr) if done % 20 == 0 else None)
    summary = {k: v for k, v in result.items() if k != "rows"}
    if args.json:
        print(json.dumps({**summary, "model": loaded.info.name}, indent=1))
        return 0
    if summary["agreement"] is None:
        print(f"The judge decided none of {summary['pairs']} pairs.")
        return 0
    print(f"{loaded.info.name} as judge: agrees with people on {summary['agreement']:.1%} of {summary['decided']} pairs "
          f"({summary['undecided']} undecided); first pass alone {summary['agreement_pass1']:.1%}, swapped pass alone "
          f"{summary['agreement_pass2']:.1%}; mean p(A) {summary['position_a']:.2f} (0.5 = no position bias)")
    for aspect, row in summary["by_aspect"].items():
        print(f"  {aspect}: {row['agreement']:.1%} of {row['pairs']}")
    return 0
