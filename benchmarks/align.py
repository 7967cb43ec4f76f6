"""Benchmark alignment on the bundled SmolLM2 (LoRA, batch 8, 32 new tokens), the sentiment demo.

    .venv/bin/python benchmarks/align.py [--steps 30] [--no-kl] [--skip-rloo] [--skip-memory]

- rollout speed: answers sampled together in one left-padded batch against one prompt at a time (tokens/s).
- memory: peak RSS of one PPO step with the reference as the adapter switched off (one copy of the weights) against a
  second full model as the reference, each in a fresh process.
- the 30-step sentiment PPO run (assets/configs/ppo-sentiment.yaml): seconds per step split into generation, scoring
  (reward, reference and values) and optimisation; mean score of the first and last 5 steps with their standard
  deviations, KL, wall time. Goals: <= 10 minutes; last-5 mean above first-5 mean by more than their std.
- TRL's RLOO on the same prompts, reward and budget (8 answers of 32 tokens per step): score gained, KL, wall time.
  Goal: ours reaches at least RLOO's score at no more KL.
- with --no-kl: the same PPO run with beta = 0, to see what the penalty holds back.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LAB_MODEL_CACHE", str(ROOT / ".lab" / "models"))  # converted once per checkout, as for the app


def bench_rollout(prompts: int = 8, tokens: int = 32) -> None:
    import torch

    from core.rlhf.policy import encode_prompts, load_policy, sample
    from core.rlhf.prompts import load_prompts

    policy = load_policy("smollm2-135m-instruct")
    train, _ = load_prompts("reviews")
    query, mask = encode_prompts(policy, train[:prompts], 128)
    torch.manual_seed(0)
    sample(policy, query[:2], mask[:2], 4, lambda: False)  # warm-up
    start = time.perf_counter()
    for i in range(prompts):
        one_query, one_mask = encode_prompts(policy, train[i:i + 1], 128)
        sample(policy, one_query, one_mask, tokens, lambda: False)
    alone = prompts * tokens / (time.perf_counter() - start)
    start = time.perf_counter()
    sample(policy, query, mask, tokens, lambda: False)
    together = prompts * tokens / (time.perf_counter() - start)
    print(f"rollout, {prompts} answers x {tokens} tokens: one at a time {alone:.1f} tok/s | one batch {together:.1f} tok/s "
          f"| x{together / alone:.2f}")


def memory_probe(mode: str) -> None:
    """One rollout's forward passes and one optimisation step; prints peak RSS in MB (run in a fresh process)."""
    import torch

    from core import models
    from core.rlhf.policy import encode_prompts, forward, load_policy, reference_mode, sample
    from core.rlhf.prompts import load_prompts

    policy = load_policy("smollm2-135m-instruct")
    reference = models.load_model("smollm2-135m-instruct", precision="float32").model if mode == "copy" else None
    train, _ = load_prompts("reviews")
    query, mask = encode_prompts(policy, train[:8], 128)
    response = sample(policy, query, mask, 32, lambda: False)
    resp_mask = torch.ones_like(response)
    with torch.no_grad():
        if reference is None:
            with reference_mode(policy):
                forward(policy, query, mask, response, resp_mask, values=False)
        else:
            ids = torch.cat([query, response], 1)
            reference(input_ids=ids, attention_mask=torch.cat([mask, resp_mask], 1))
    logprobs, _, values = forward(policy, query[:4], mask[:4], response[:4], resp_mask[:4])
    (logprobs.sum() + values.sum()).backward()
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_memory() -> None:
    peaks = {}
    for mode in ("shared", "copy"):
        out = subprocess.run([sys.executable, __file__, "--memory-probe", mode], capture_output=True, text=True, check=True)
        peaks[mode] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    print(f"peak memory of a PPO step: reference = adapter off {peaks['shared']:.0f} MB | reference = second copy "
          f"{peaks['copy']:.0f} MB | saved {peaks['copy'] - peaks['shared']:.0f} MB (x{peaks['shared'] / peaks['copy']:.2f})")


def run_job(job, config: dict, folder: Path) -> tuple[list[dict], dict, float]:
    from core.jobs import RunContext

    folder.mkdir(parents=True)
    start = time.perf_counter()
    result = job(RunContext(folder, config))
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (folder / "progress.jsonl").read_text().splitlines()]
    return rows, result, wall


def describe(name: str, scores: list[float], kls: list[float], wall: float) -> dict:
    first, last = scores[:5], scores[-5:]
    spread = statistics.stdev(first + last)
    print(f"{name}: score first 5 {statistics.mean(first):.2f} ± {statistics.stdev(first):.2f} -> last 5 "
          f"{statistics.mean(last):.2f} ± {statistics.stdev(last):.2f} (gain {statistics.mean(last) - statistics.mean(first):+.2f}, "
          f"std of the ten {spread:.2f}) | KL last 5 {statistics.mean(kls[-5:]):.2f} nats/answer | wall {wall / 60:.1f} min")
    return {"gain": statistics.mean(last) - statistics.mean(first), "last": statistics.mean(last), "kl": statistics.mean(kls[-5:])}


def bench_ppo(steps: int, beta: float, folder: Path) -> dict:
    import yaml

    from core.rlhf.ppo_job import ppo_job

    config = yaml.safe_load((ROOT / "assets/configs/ppo-sentiment.yaml").read_text())
    config.update(max_steps=steps, beta=beta)
    rows, result, wall = run_job(ppo_job, config, folder)
    steps_rows = [r for r in rows if "objective/kl" in r]
    split = {k: statistics.mean(r[f"time/{k}_s"] for r in steps_rows) for k in ("generation", "scoring", "optimisation")}
    tokens = statistics.mean(r["tokens/responses_len_mean"] for r in steps_rows) * config["batch_size"]
    print(f"PPO beta={beta:g}, {steps} steps: per step {sum(split.values()):.1f} s = generation {split['generation']:.1f} "
          f"+ scoring {split['scoring']:.1f} + optimisation {split['optimisation']:.1f} | rollout {tokens / split['generation']:.0f} tok/s "
          f"| held-out prompts before {result['heldout_before']:.2f} after {result['heldout_after']:.2f} | peak RSS "
          f"{max(r['memory/peak_rss_mb'] for r in steps_rows):.0f} MB")
    alarms = sorted({a["key"] for r in steps_rows for a in r["alarms"]})
    print(f"  alarms fired on some step: {', '.join(alarms) or 'none'}")
    return describe(f"PPO beta={beta:g}", [r["objective/scores"] for r in steps_rows], [r["objective/kl"] for r in steps_rows], wall)


def bench_rloo(steps: int, folder: Path) -> dict:
    import yaml

    from core.rlhf.rloo import rloo_job

    config = yaml.safe_load((ROOT / "assets/configs/rloo-sentiment.yaml").read_text())
    config.update(max_steps=steps)
    rows, _, wall = run_job(rloo_job, config, folder)
    steps_rows = [r for r in rows if "reward" in r and "step" in r]
    kls = [r["kl"] * r["completions/mean_length"] for r in steps_rows]  # TRL logs KL per token; ours is per answer
    return describe("RLOO (TRL)", [r["reward"] for r in steps_rows], kls, wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--no-kl", action="store_true", help="also run PPO with beta = 0")
    parser.add_argument("--skip-rloo", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-probe", choices=["shared", "copy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        return memory_probe(args.memory_probe)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as home:
        os.environ["LAB_HOME"] = home  # the sentiment classifier is trained once here, before the runs are timed
        from core.rlhf.rewards import sentiment_classifier

        print(f"sentiment classifier: test accuracy {sentiment_classifier()['test_accuracy']:.1%}")
        bench_rollout()
        if not args.skip_memory:
            bench_memory()
        ours = bench_ppo(args.steps, 0.1, Path(home) / "ppo")
        if args.no_kl:
            bench_ppo(args.steps, 0.0, Path(home) / "ppo-no-kl")
        if not args.skip_rloo:
            theirs = bench_rloo(args.steps, Path(home) / "rloo")
            print(f"ours against RLOO: score last 5 {ours['last']:.2f} vs {theirs['last']:.2f}, KL {ours['kl']:.2f} vs "
                  f"{theirs['kl']:.2f} -> {'at least RLOO' if ours['last'] >= theirs['last'] else 'below RLOO'}'s score at "
                  f"{'no more' if ours['kl'] <= theirs['kl'] else 'more'} KL")


if __name__ == "__main__":
    main()
