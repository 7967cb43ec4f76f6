"""Benchmark the Responsible AI stage on the bundled models.

    .venv/bin/python benchmarks/safety.py [--steps 20] [--skip-detox] [--skip-rlaif] [--rlaif-limit N]

- guardrail: precision, recall and F1 on the held-out test split for the lab's guardrail (MiniLM + logistic
  regression) and for alt-profanity-check (TF-IDF + linear SVM, its own weights), each at the threshold chosen on the
  train split, plus hard negatives flagged; latency per text for both, scoring 1,000 texts in one call and one text
  alone; and both on 48 of SmolLM2's answers labelled by hand (``toxicity_model_answers.jsonl``), the text the detox
  lab scores. Goal: ours above the library's F1.
- detox: the PPO preset (assets/configs/ppo-detox.yaml) on SmolLM2: toxic rate (the guardrail's verdict) of the
  reference's and the policy's answers to the 24 held-out provocative requests, sampled 4 times each, with the KL.
  Goal: the toxic rate falls, at a KL below 10 nats.
- RLAIF: each bundled model as judge of the 186 bundled human preference pairs, A/B swapped: agreement (chance is
  50%), each pass alone, and the mean p(A) (position bias).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LAB_MODEL_CACHE", str(ROOT / ".lab" / "models"))


def bench_guardrail() -> None:
    from profanity_check import predict_prob

    from core.data import DATASETS_DIR
    from core.safety.guardrail import Guardrail, load_rows, metrics_at

    start = time.perf_counter()
    guardrail = Guardrail()
    print(f"guardrail trained (or read back) and loaded in {time.perf_counter() - start:.1f} s")
    w = guardrail.weights
    print(f"test split: {w['test']} texts ({w['hard_negatives']} hard negatives); train {w['train']}; C = {w['C']:g}")
    for name, m, threshold, hard in [("lab guardrail", w["test_metrics"], w["threshold"], w["hard_negatives_flagged"]),
                                     (w["library"]["name"], w["library"]["test_metrics"], w["library"]["threshold"],
                                      w["library"]["hard_negatives_flagged"])]:
        print(f"  {name:<28} threshold {threshold:.3f}: precision {m['precision']:.3f} recall {m['recall']:.3f} "
              f"F1 {m['f1']:.3f} accuracy {m['accuracy']:.3f} | hard negatives flagged {hard} of {w['hard_negatives']}")
    half = w["library"]["test_metrics_at_half"]
    print(f"  {w['library']['name']} at its default 0.5: precision {half['precision']:.3f} recall {half['recall']:.3f} F1 {half['f1']:.3f}")
    answers = [json.loads(line) for line in (DATASETS_DIR / "toxicity_model_answers.jsonl").read_text().splitlines()]
    truth = [a["label"] == "toxic" for a in answers]
    ours = [v["toxic"] for v in guardrail.score([a["answer"] for a in answers])]
    theirs = predict_prob([a["answer"] for a in answers]) >= w["library"]["threshold"]
    print(f"SmolLM2's answers to held-out provocative requests, labelled by hand ({len(answers)}, {sum(truth)} toxic):")
    for name, flagged in (("lab guardrail", ours), (w["library"]["name"], theirs)):
        m = metrics_at(truth, flagged)
        print(f"  {name:<28} flags {sum(flagged)} of {len(answers)} ({sum(flagged) / len(answers):.0%}; truly toxic "
              f"{sum(truth) / len(answers):.0%}): precision {m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f}")
    texts = [r["text"] for r in load_rows()] * 2
    texts = texts[:1000]
    guardrail.score(texts[:8])  # warm-up
    timings = {}
    for name, fn in [("lab guardrail", lambda batch: guardrail.score(batch)), ("alt-profanity-check", predict_prob)]:
        start = time.perf_counter()
        fn(texts)
        batched = (time.perf_counter() - start) / len(texts)
        start = time.perf_counter()
        for text in texts[:50]:
            fn([text])
        alone = (time.perf_counter() - start) / 50
        timings[name] = (batched, alone)
        print(f"  latency {name:<22}: {batched * 1000:.2f} ms/text batched (1,000 texts) | {alone * 1000:.2f} ms for one text alone")
    ratio = timings["lab guardrail"][0] / timings["alt-profanity-check"][0]
    print(f"  ours is x{ratio:.1f} the library's time per text (an embedding model against TF-IDF); "
          f"F1 {w['test_metrics']['f1']:.3f} vs {w['library']['test_metrics']['f1']:.3f}")


def bench_detox(steps: int) -> None:
    import torch

    from core.jobs import RunContext
    from core.rlhf.policy import encode_prompts, reference_mode, sample
    from core.rlhf.ppo import PPOConfig
    from core.rlhf.ppo_job import PPORun
    from core.safety.detox import preset
    from core.safety.guardrail import shared_guardrail

    config = PPOConfig.from_dict({**preset(), "max_steps": steps})
    folder = Path(tempfile.mkdtemp(prefix="detox-")) / "run"
    folder.mkdir(parents=True)
    start = time.perf_counter()
    run = PPORun(config, RunContext(folder, config.to_dict()))  # the job's own loop, kept in memory to sample after
    while run.step_index < steps:
        run.step()
    wall = time.perf_counter() - start
    scores = [h["objective/scores"] for h in run.history]
    kl = statistics.mean(h["objective/kl"] for h in run.history[-5:])
    print(f"detox PPO, {steps} steps, beta {config.beta}: not-toxic logit first 5 {statistics.mean(scores[:5]):.2f} -> "
          f"last 5 {statistics.mean(scores[-5:]):.2f} | KL last 5 {kl:.2f} nats/answer | wall {wall / 60:.1f} min")
    query, mask = encode_prompts(run.policy, run.heldout_prompts, config.max_prompt_tokens)
    guardrail, rates = shared_guardrail(), {}
    for side in ("before", "after"):
        answers = []
        for seed in range(4):
            torch.manual_seed(seed)
            with reference_mode(run.policy) if side == "before" else contextlib.nullcontext():
                ids = sample(run.policy, query, mask, config.max_new_tokens, lambda: False)
            answers += run.policy.tokenizer.batch_decode(ids, skip_special_tokens=True)
        verdicts = guardrail.score(answers)
        rates[side] = (sum(v["toxic"] for v in verdicts) / len(verdicts), statistics.mean(v["toxic_probability"] for v in verdicts),
                       len(verdicts), [a for a, v in zip(answers, verdicts) if v["toxic"]][:3])
    (b, bp, n, examples), (a, ap, _, left) = rates["before"], rates["after"]
    print(f"  toxic rate on {n} held-out answers ({len(run.heldout_prompts)} requests x 4 samples): before {b:.1%} "
          f"(mean p {bp:.3f}) -> after {a:.1%} (mean p {ap:.3f}) at KL {kl:.2f}")
    print(f"  flagged before, e.g.: {examples}")
    print(f"  flagged after, e.g.: {left}")


def bench_rlaif(limit: int | None) -> None:
    from core.models import BUNDLED, load_model
    from core.safety.constitution import load_constitution
    from core.safety.rlaif import agreement, human_pairs

    pairs = human_pairs("bundled", limit)
    for name in BUNDLED:
        loaded = load_model(name)
        start = time.perf_counter()
        r = agreement(loaded, pairs, load_constitution())
        wall = time.perf_counter() - start
        aspects = ", ".join(f"{k} {v['agreement']:.0%} of {v['pairs']}" for k, v in r["by_aspect"].items())
        print(f"RLAIF {name}: agreement {r['agreement']:.1%} of {r['decided']} decided ({r['undecided']} undecided) | "
              f"pass 1 alone {r['agreement_pass1']:.1%}, swapped alone {r['agreement_pass2']:.1%} | mean p(A) "
              f"{r['position_a']:.2f} | {aspects} | {wall / len(pairs):.2f} s/pair")
        del loaded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip-detox", action="store_true")
    parser.add_argument("--skip-rlaif", action="store_true")
    parser.add_argument("--rlaif-limit", type=int, default=None)
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    os.environ.setdefault("LAB_HOME", tempfile.mkdtemp(prefix="bench-safety-"))
    bench_guardrail()
    if not args.skip_rlaif:
        bench_rlaif(args.rlaif_limit)
    if not args.skip_detox:
        bench_detox(args.steps)


if __name__ == "__main__":
    main()
