"""The PPO run: a background job (``core.jobs``) that repeats rollout → rewards → advantages → optimisation.

``ppo_job`` loads the policy (``core.rlhf.policy``), the reward (``core.rlhf.rewards``) and the prompts, then runs
``PPORun.step`` ``max_steps`` times. Each step reports TRL's metric names, seconds per phase, the alarms of
``core.rlhf.hacking`` and four sample answers to progress.jsonl. Checkpoints (``checkpoints/checkpoint-N/state.pt``)
hold everything a step depends on, the random states included, so a run resumed from one equals a run that was never
interrupted. At the end: the adapter in PEFT format in ``model/``, and ``before_after.json``, the reference's and
the policy's answers to held-out prompts with their rewards.

Does not hold: the maths of a step (``core.rlhf.ppo``).
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core import checkpoints
from core.data import DATASETS_DIR
from core.rlhf import hacking
from core.rlhf.policy import Policy, encode_prompts, forward, load_policy, reference_mode, response_mask, sample, save_policy
from core.rlhf.ppo import KLController, PPOConfig, gae, kl_per_token, masked_mean, masked_whiten, optimise, shaped_rewards
from core.rlhf.prompts import load_prompts
from core.rlhf.rewards import load_reward

if TYPE_CHECKING:
    from core.jobs import RunContext

SAMPLES_PER_STEP = 4


class PPORun:
    """One PPO run's models, optimiser and state. ``step`` is one PPO step; the rest saves and measures."""

    def __init__(self, config: PPOConfig, ctx: "RunContext"):
        import torch

        self.config, self.ctx = config, ctx
        self.train_prompts, self.heldout_prompts = load_prompts(config.prompts)
        self.reward = load_reward(config.reward)
        self.policy: Policy = load_policy(config.policy, config.lora_r, config.seed)
        self.optimizer = torch.optim.Adam([
            {"params": self.policy.trainable_parameters(), "lr": config.learning_rate},
            {"params": list(self.policy.value_head.parameters()), "lr": config.value_learning_rate}])
        self.kl = KLController(config.beta, config.adaptive_kl, config.target_kl, config.kl_horizon)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        self.step_index, self.history, self.baseline = 0, [], {}

    # ------------------------------------------------------------ phase I

    def rollout(self, prompts: Sequence[str]) -> dict[str, Any] | None:
        """Answers to the prompts and everything phase II needs; None if the run was cancelled while sampling."""
        import torch

        policy, config, started = self.policy, self.config, time.monotonic()
        query, query_mask = encode_prompts(policy, prompts, config.max_prompt_tokens)
        response = sample(policy, query, query_mask, config.max_new_tokens, self.ctx.should_stop)
        if response is None:
            return None
        eos = policy.tokenizer.eos_token_id
        mask = response_mask(response, eos)
        texts = policy.tokenizer.batch_decode(response, skip_special_tokens=True)
        generated = time.monotonic()
        scores = torch.tensor(self.reward.score(list(prompts), texts), dtype=torch.float32, device=policy.device)
        if not torch.isfinite(scores).all():
            raise FloatingPointError(f"The reward {self.reward.name} gave {scores.tolist()}: not finite numbers.")
        ended = (response == eos).any(1)
        scores_shaped = scores - config.missing_eos_penalty * (~ended).float()
        with torch.no_grad():
            logprobs, _, values = forward(policy, query, query_mask, response, mask)
            with reference_mode(policy):
                ref_logprobs, _, _ = forward(policy, query, query_mask, response, mask, values=False)
        kl = kl_per_token(logprobs, ref_logprobs) * mask
        rewards, non_score = shaped_rewards(scores_shaped, kl, mask, self.kl.value)
        if config.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = gae(rewards, values, mask, config.gamma, config.lam)
        return {"prompts": list(prompts), "texts": texts, "query": query, "query_mask": query_mask, "response": response,
                "mask": mask.float(), "scores": scores, "logprobs": logprobs, "values": values, "kl": kl,
                "non_score": non_score, "advantages": advantages, "returns": returns, "ended": ended,
                "time/generation_s": generated - started, "time/scoring_s": time.monotonic() - generated}

    # ------------------------------------------------------------ one step

    def step(self) -> dict[str, Any] | None:
        """Rollout, then K epochs of optimisation, then the metrics of the step (None: cancelled while sampling)."""
        config = self.config
        rng = random.Random(config.seed * 100_003 + self.step_index)  # the prompts of step N do not depend on a resume
        batch = self.rollout(rng.choices(self.train_prompts, k=config.batch_size))
        if batch is None:
            return None
        started = time.monotonic()

        def current(idx: Any) -> tuple[Any, Any, Any]:
            mask = batch["mask"][idx].long()
            return forward(self.policy, batch["query"][idx], batch["query_mask"][idx], batch["response"][idx], mask)

        stats = optimise(batch, config, current, self.optimizer,
                         self.policy.trainable_parameters() + list(self.policy.value_head.parameters()), self.shuffle)
        metrics = self.metrics(batch, stats, time.monotonic() - started)
        self.kl.update(metrics["objective/kl"], config.batch_size)
        self.step_index += 1
        if self.step_index % config.eval_every == 0 or self.step_index == config.max_steps:
            metrics["heldout/perplexity"] = self.heldout_perplexity()
        if "length" not in self.baseline:  # the first rollout comes from the untrained policy: the reference's length
            self.baseline["length"] = metrics["tokens/responses_len_mean"]
        alarms = hacking.check(metrics, self.history, self.baseline, hacking.AlarmSettings())
        self.history.append(metrics)
        samples = [{"prompt": p, "completion": t, "score": float(s)}
                   for p, t, s in zip(batch["prompts"], batch["texts"], batch["scores"])][:SAMPLES_PER_STEP]
        return {**metrics, "alarms": hacking.fired(alarms), "samples": samples}

    def metrics(self, batch: dict[str, Any], stats: dict[str, float], optimisation_s: float) -> dict[str, Any]:
        mask, scores = batch["mask"], batch["scores"]
        kl_sum = batch["kl"].sum(1)
        non_score = batch["non_score"].sum(1)
        return {
            "step": self.step_index + 1, "episode": (self.step_index + 1) * self.config.batch_size,
            "objective/kl": float(kl_sum.mean()), "objective/entropy": float((-batch["logprobs"] * mask).sum(1).mean()),
            "objective/non_score_reward": float(non_score.mean()), "objective/scores": float(scores.mean()),
            "objective/scores_std": float(scores.std()) if len(scores) > 1 else 0.0,
            "objective/rlhf_reward": float((scores + non_score).mean()), "beta": self.kl.value,
            "val/num_eos_tokens": int(batch["ended"].sum()), "tokens/responses_len_mean": float(mask.sum(1).mean()),
            "val/mean": float(masked_mean(batch["values"], mask)), "lr": self.config.learning_rate,
            **stats, **hacking.text_measures(batch["prompts"], batch["texts"]),
            "time/generation_s": batch["time/generation_s"], "time/scoring_s": batch["time/scoring_s"],
            "time/optimisation_s": optimisation_s,
            "memory/peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    # ------------------------------------------------------------ measures beside training

    def heldout_perplexity(self, texts: int = 8, tokens: int = 64) -> float:
        """Perplexity of the policy on general text it never trains on: it rises when alignment costs general skill."""
        import math

        import torch

        rows = [json.loads(line) for line in (DATASETS_DIR / "general_text.jsonl").read_text().splitlines() if line.strip()]
        tokenizer, model = self.policy.tokenizer, self.policy.model
        losses = []
        with torch.no_grad():
            for row in rows[:texts]:
                ids = tokenizer(row["text"], return_tensors="pt", truncation=True, max_length=tokens).input_ids.to(self.policy.device)
                losses.append(float(model(input_ids=ids, labels=ids).loss))
        return math.exp(sum(losses) / len(losses))

    def before_after(self, limit: int = 24) -> list[dict[str, Any]]:
        """The reference's and the policy's answers to held-out prompts (same seed for both), with their rewards."""
        import torch

        prompts = self.heldout_prompts[:limit]
        query, query_mask = encode_prompts(self.policy, prompts, self.config.max_prompt_tokens)
        answers = {}
        for side in ("before", "after"):
            torch.manual_seed(self.config.seed + 1)
            with reference_mode(self.policy) if side == "before" else nullcontext():
                response = sample(self.policy, query, query_mask, self.config.max_new_tokens, lambda: False)
            answers[side] = self.policy.tokenizer.batch_decode(response, skip_special_tokens=True)
        before, after = self.reward.score(prompts, answers["before"]), self.reward.score(prompts, answers["after"])
        return [{"prompt": p, "before": b, "before_score": bs, "after": a, "after_score": a_s}
                for p, b, bs, a, a_s in zip(prompts, answers["before"], before, answers["after"], after)]

    # ------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> None:
        import torch

        folder = self.ctx.checkpoints / f"checkpoint-{self.step_index}"
        with checkpoints.saving(self.ctx.dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            state = {"step": self.step_index, "history": self.history, "baseline": self.baseline, "beta": self.kl.value,
                     "adapter": {n: p.detach().clone() for n, p in self.policy.model.named_parameters() if p.requires_grad},
                     "value_head": self.policy.value_head.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "torch_rng": torch.get_rng_state(), "shuffle_rng": self.shuffle.get_state()}
            torch.save(state, folder / "state.pt")
            checkpoints.mark_complete(folder)
        for old in self.ctx.checkpoints.glob("checkpoint-*"):  # keep the newest two
            if old.name not in (folder.name, f"checkpoint-{self.step_index - self.config.save_every}"):
                shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self, folder: Path) -> None:
        import torch

        state = torch.load(folder / "state.pt", weights_only=False)  # written by save_checkpoint in this run's folder
        missing = set(state["adapter"]) - {n for n, _ in self.policy.model.named_parameters()}
        if missing:
            raise ValueError(f"{folder} does not fit this policy ({len(missing)} unknown weights).")
        self.policy.model.load_state_dict(state["adapter"], strict=False)
        self.policy.value_head.load_state_dict(state["value_head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.kl.value, self.step_index = state["beta"], state["step"]
        self.history, self.baseline = state["history"], state["baseline"]
        torch.set_rng_state(state["torch_rng"])
        self.shuffle.set_state(state["shuffle_rng"])


def ppo_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``core.rlhf.ppo.JOB``)."""
    config = PPOConfig.from_dict(ctx.config)
    run = PPORun(config, ctx)
    trainable = sum(p.numel() for p in run.policy.trainable_parameters())
    if ctx.resume and (found := checkpoints.resume_point(ctx.checkpoints)[0]):
        run.load_checkpoint(found)
        ctx.progress(event="resume", checkpoint=found.name)
    else:
        run.baseline["perplexity"] = run.heldout_perplexity()
        ctx.progress(event="start", trainable=trainable, value_head=sum(p.numel() for p in run.policy.value_head.parameters()),
                     reward=run.reward.name, train_prompts=len(run.train_prompts), heldout_prompts=len(run.heldout_prompts),
                     heldout_perplexity=run.baseline["perplexity"])
    durations: list[float] = []
    while run.step_index < config.max_steps:
        if ctx.should_stop():
            break
        started = time.monotonic()
        metrics = run.step()
        if metrics is None:  # cancelled during generation: this step is dropped, the last checkpoint stands
            break
        durations.append(time.monotonic() - started)
        eta = sum(durations[-3:]) / len(durations[-3:]) * (config.max_steps - run.step_index)
        ctx.progress(max_steps=config.max_steps, eta_s=eta, **metrics)
        if run.step_index % config.save_every == 0 and run.step_index < config.max_steps:
            run.save_checkpoint()
    if run.step_index < config.max_steps:
        if run.step_index:
            run.save_checkpoint()
        return {"stopped_at": run.step_index}
    final = checkpoints.save_final(ctx.dir, lambda folder: save_policy(run.policy, folder))
    pairs = run.before_after()
    (ctx.dir / "before_after.json").write_text(json.dumps(pairs, indent=1))
    last = run.history[-5:]
    return {"steps": run.step_index, "model": str(final), "method": "ppo", "policy": config.policy, "reward": config.reward,
            "beta": config.beta, "trainable": trainable,
            "score_last5": sum(h["objective/scores"] for h in last) / len(last),
            "kl_last5": sum(h["objective/kl"] for h in last) / len(last),
            "heldout_before": sum(p["before_score"] for p in pairs) / len(pairs),
            "heldout_after": sum(p["after_score"] for p in pairs) / len(pairs)}
