"""A scripted lesson: the course's whole lifecycle on the bundled models, timed stage by stage, as a teacher would
run it in one class. The goal: all of it in 45 minutes on 2 cores.

    .venv/bin/python benchmarks/lesson.py [--steps 20] [--ppo-steps 4]

Stages: prompt the model (``lab generate``); a LoRA fine-tune; completions for 20 prompts, ranked by three
annotators (the simulated class: each prefers the shorter or the longer answer, and they disagree on some); a
reward model on those rankings; a short PPO against it; an evaluation (``lab eval``); a RAG question
(``lab rag ask``). Training runs go through ``core.jobs`` as the app starts them (a PPO config names its reward model
as a run), the rest through the command line. Everything lives in a fresh LAB_HOME (the converted models are
reused from the usual cache).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"lab {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def run_job(target: str, config: dict, name: str) -> str:
    from core import jobs

    run = jobs.wait_for(jobs.start_run(target, config, name=name).id, timeout=3600, poll=1.0)
    if run.state != "done":
        raise SystemExit(f"{name} ended {run.state}: {run.status.get('error')}\n{run.log_tail()}")
    return run.id


def rank_as_three_annotators(prompts: int) -> int:
    """20 comparisons, each ranked by three annotators: two like short answers, one likes long ones."""
    from core import store

    saved = 0
    for annotator, prefers_long in (("ana", False), ("ben", False), ("chloe", True)):
        for _ in range(prompts):
            comparison = store.next_comparison(annotator)
            if comparison is None:
                break
            order = sorted(comparison["completions"], key=lambda c: len(c["text"]), reverse=prefers_long)
            store.save_ranking(comparison["id"], annotator, [[c["id"]] for c in order])
            saved += 1
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="LoRA and reward-model training steps")
    parser.add_argument("--ppo-steps", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["LAB_HOME"] = tempfile.mkdtemp(prefix="lab-lesson-")
    os.environ.setdefault("LAB_MODEL_CACHE", str(ROOT / ".lab" / "models"))  # converted once, as on a teacher's laptop
    from core.classroom.accounts import LOCAL, set_process_actor
    from core.finetune import JOB as FINETUNE_JOB
    from core.rlhf import preferences
    from core.rlhf.ppo import JOB as PPO_JOB
    from core.rlhf.reward import JOB as REWARD_JOB

    set_process_actor(LOCAL)
    model = "smollm2-135m-instruct"
    times: list[tuple[str, float, str]] = []

    def stage(name: str, work) -> None:
        started = time.perf_counter()
        note = work()
        times.append((name, time.perf_counter() - started, str(note or "")))
        print(f"{name}: {times[-1][1]:.0f} s {times[-1][2]}", flush=True)

    stage("prompt", lambda: cli("generate", "--prompt", "Explain what a language model does in two sentences.",
                                "--chat", "--max-new-tokens", "64", "--quiet")[:60].replace("\n", " "))
    stage("LoRA fine-tune", lambda: run_job(FINETUNE_JOB, {
        "base_model": model, "method": "lora", "dataset": "dialogsum", "max_steps": args.steps, "batch_size": 4,
        "max_length": 256, "learning_rate": 2e-4, "lora_r": 8, "lora_alpha": 16}, "lesson-lora"))

    def label() -> str:
        preferences.load_bundled_prompts()
        run_job(preferences.GENERATE_JOB, {"model": model, "n": 2, "precision": "auto", "limit": args.prompts},
                "lesson-completions")
        return f"{rank_as_three_annotators(args.prompts)} rankings"

    stage("completions + 3 annotators", label)
    reward = {}

    def reward_model() -> str:
        reward["id"] = run_job(REWARD_JOB, {"task": "reward", "base_model": model, "method": "lora", "data": "labels",
                                            "max_steps": args.steps, "batch_size": 8, "max_length": 256,
                                            "eval_steps": 10, "lora_r": 8, "seed": 0}, "lesson-reward")
        return reward["id"]

    stage("reward model", reward_model)
    stage("PPO", lambda: run_job(PPO_JOB, {
        "task": "align", "method": "ppo", "policy": model, "reward": "run:" + reward["id"], "prompts": "rlhf",
        "max_steps": args.ppo_steps, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "max_new_tokens": 32,
        "seed": 0}, "lesson-ppo"))
    stage("evaluation", lambda: cli("eval", "--model", model, "--task", "knowledge_mc", "--limit", "40").strip()
          .splitlines()[-1][:80])
    stage("RAG question", lambda: cli("rag", "ask", "What is Lumenfold?")[:60].replace("\n", " "))
    total = sum(seconds for _, seconds, _ in times)
    print("\n| stage | wall time |\n|---|---:|")
    for name, seconds, _ in times:
        print(f"| {name} | {seconds / 60:.1f} min |")
    print(f"| **total** | **{total / 60:.1f} min** (goal ≤ 45) |")


if __name__ == "__main__":
    main()
