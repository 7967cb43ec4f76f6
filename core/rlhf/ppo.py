"""PPO with a KL penalty, written to be read beside the lecture: the settings and the maths of one step.

One PPO step has two phases (the run around them is ``core.rlhf.ppo_job``):
- Phase I, rollout: the policy answers a batch of prompts; the reward model scores each answer; the frozen reference
  and the value head give per-token log-probs and values. Then ``shaped_rewards`` (the KL penalty), ``gae``
  (advantages and returns).
- Phase II, optimisation: ``optimise`` runs K epochs over minibatches of ``ppo_losses``: the clipped policy loss, the
  clipped value loss and an entropy bonus.
Tensor shapes: (batch, response tokens); ``mask`` is 1 on a response's tokens up to and including its EOS.
Names of the logged metrics follow TRL's last PPO trainer (``objective/kl``, ``policy/clipfrac_avg`` ...).

Does not hold: models (``core.rlhf.policy``), rewards (``core.rlhf.rewards``), alarms (``core.rlhf.hacking``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from core.config import DictConfig, check_range

JOB = "core.rlhf.ppo_job:ppo_job"


@dataclass(frozen=True)
class PPOConfig(DictConfig):
    KIND = "PPO"

    task: str = field(default="align", metadata={"help": "Marks an alignment config."})
    method: str = field(default="ppo", metadata={"help": "ppo (this project's loop)."})
    policy: str = field(default="smollm2-135m-instruct",
                        metadata={"help": "The model to align: bundled, a fine-tuned run (run:<id>) or a folder."})
    reward: str = field(default="sentiment", metadata={"help": "sentiment (bundled classifier), guardrail (its \"not toxic\" "
                                                               "logit), run:<id> (a reward model from the RLHF page), "
                                                               "rule:length or rule:count:<text>."})
    prompts: str = field(default="reviews", metadata={"help": "reviews (96 bundled review requests), rlhf (the 120 "
                                                              "bundled RLHF prompts), provocative (96 requests that "
                                                              "invite a rude answer) or a path to a JSONL/text file."})
    max_steps: int = field(default=30, metadata={"help": "PPO steps; each is one rollout of a batch and its optimisation."})
    batch_size: int = field(default=8, metadata={"help": "Prompts answered per step (the rollout)."})
    mini_batch_size: int = field(default=4, metadata={"help": "Answers per gradient step in phase II."})
    ppo_epochs: int = field(default=2, metadata={"help": "K: passes over each rollout in phase II."})
    max_new_tokens: int = field(default=32, metadata={"help": "Longest answer sampled."})
    max_prompt_tokens: int = field(default=128, metadata={"help": "Longest prompt accepted (after the chat template)."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Adam step size for the LoRA adapter."})
    value_learning_rate: float = field(default=1e-3, metadata={"help": "Adam step size for the value head."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank of the policy's adapter."})
    beta: float = field(default=0.1, metadata={"help": "β, the KL penalty's weight: reward − β·(log π − log π_ref) per "
                                                       "token. 0 lets the policy drift anywhere the reward pays (hacking)."})
    adaptive_kl: bool = field(default=False, metadata={"help": "Adjust β each step towards target_kl (Ziegler et al.)."})
    target_kl: float = field(default=6.0, metadata={"help": "With adaptive_kl: the KL (nats per answer) β steers to."})
    kl_horizon: int = field(default=10_000, metadata={"help": "With adaptive_kl: how slowly β moves (in answers)."})
    gamma: float = field(default=1.0, metadata={"help": "γ, discount per token in GAE."})
    lam: float = field(default=0.95, metadata={"help": "λ of GAE: 0 trusts the value head, 1 the sampled returns."})
    clip_range: float = field(default=0.2, metadata={"help": "ε: the policy ratio is clipped to [1−ε, 1+ε]."})
    clip_range_value: float = field(default=0.2, metadata={"help": "How far a value may move from the rollout's per step."})
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss in the total loss."})
    entropy_coef: float = field(default=0.0, metadata={"help": "Weight of the entropy bonus (keeps answers varied)."})
    max_approx_kl: float = field(default=0.5, metadata={"help": "Stop phase II early when approx-KL to the rollout "
                                                                "policy passes this (per token)."})
    whiten_rewards: bool = field(default=False, metadata={"help": "Normalise the per-token rewards of each rollout."})
    missing_eos_penalty: float = field(default=0.0, metadata={"help": "Subtracted from the score of an answer that did "
                                                                      "not end (no EOS) within max_new_tokens; 0 = off."})
    eval_every: int = field(default=5, metadata={"help": "Measure the held-out check (perplexity on general text) every N steps."})
    save_every: int = field(default=5, metadata={"help": "Checkpoint every N steps (and on cancel)."})
    seed: int = field(default=0, metadata={"help": "Fixes the adapter's start, the prompts of each step and the sampling."})

    def __post_init__(self) -> None:
        if self.task != "align" or self.method != "ppo":
            raise ValueError(f"a PPO config needs task 'align' and method 'ppo', got {self.task!r} and {self.method!r}")
        ints = (("max_steps", self.max_steps, 1, 10_000), ("batch_size", self.batch_size, 1, 256),
                ("mini_batch_size", self.mini_batch_size, 1, 256), ("ppo_epochs", self.ppo_epochs, 1, 32),
                ("max_new_tokens", self.max_new_tokens, 1, 1024), ("max_prompt_tokens", self.max_prompt_tokens, 8, 8192),
                ("lora_r", self.lora_r, 1, 256), ("kl_horizon", self.kl_horizon, 1, 10**9),
                ("eval_every", self.eval_every, 1, 10_000), ("save_every", self.save_every, 1, 10_000),
                ("seed", self.seed, 0, 2**31))
        for name, value, low, high in ints:
            check_range(name, value, low, high, integer=True)
        if self.batch_size % self.mini_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of mini_batch_size ({self.mini_batch_size})")
        for name in ("learning_rate", "value_learning_rate"):
            check_range(name, getattr(self, name), 0, 1, low_open=True, high_open=True)
        for name in ("gamma", "lam"):
            check_range(name, getattr(self, name), 0, 1)
        for name in ("beta", "vf_coef", "entropy_coef", "missing_eos_penalty"):
            check_range(name, getattr(self, name), 0, 100)
        for name in ("target_kl", "clip_range", "clip_range_value", "max_approx_kl"):
            check_range(name, getattr(self, name), 0, 100, low_open=True)


# ---------------------------------------------------------------- helpers on masked tensors


def masked_mean(x: Any, mask: Any, dim: int | None = None) -> Any:
    return (x * mask).sum() / mask.sum().clamp(min=1) if dim is None else (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_whiten(x: Any, mask: Any, shift_mean: bool = True) -> Any:
    """(x − mean) / std over the unmasked entries; with shift_mean=False the mean is kept (used for rewards, whose
    sign matters)."""
    import torch

    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    return (whitened if shift_mean else whitened + mean) * mask


# ---------------------------------------------------------------- phase I: from scores to advantages


def kl_per_token(logprobs: Any, ref_logprobs: Any) -> Any:
    """log π(a) − log π_ref(a) for the sampled tokens. Its average over samples drawn from π is the true KL(π‖π_ref):
    one sample can be negative, the mean over many cannot (unless the samples did not come from π, e.g. top-k)."""
    return logprobs - ref_logprobs


def shaped_rewards(scores: Any, kl: Any, mask: Any, beta: float) -> tuple[Any, Any]:
    """Per-token rewards: −β·KL at every token, plus the reward model's score at the answer's last token.
    Returns (rewards, non_score_rewards)."""
    import torch

    non_score = -beta * kl * mask
    last = (mask.sum(1) - 1).clamp(min=0).long()  # the EOS, or the final token of an answer that did not end
    rewards = non_score.clone()
    rewards[torch.arange(len(scores)), last] += scores
    return rewards, non_score


def gae(rewards: Any, values: Any, mask: Any, gamma: float, lam: float) -> tuple[Any, Any]:
    """Generalised advantage estimation, from the last token back: δ_t = r_t + γ·V_{t+1} − V_t and
    A_t = δ_t + γλ·A_{t+1}. After an answer's end, rewards and values are zero, so nothing leaks across it.
    Returns (advantages whitened over the batch, returns = A + V before whitening)."""
    import torch

    rewards, values = rewards * mask, values * mask
    width = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(width)):
        next_value = values[:, t + 1] if t + 1 < width else torch.zeros_like(values[:, 0])
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    returns = advantages + values
    return masked_whiten(advantages, mask), returns


class KLController:
    """β: fixed, or adapted each step so that the measured KL moves towards a target (proportional control, the
    error clipped to ±20%, as Ziegler et al. and TRL's old PPO did)."""

    def __init__(self, beta: float, adaptive: bool, target: float, horizon: int):
        self.value, self.adaptive, self.target, self.horizon = beta, adaptive, target, horizon

    def update(self, current_kl: float, n_answers: int) -> None:
        if self.adaptive:
            error = min(max(current_kl / self.target - 1, -0.2), 0.2)
            self.value *= 1 + error * n_answers / self.horizon


# ---------------------------------------------------------------- phase II: the losses and the epochs


def ppo_losses(new_logprobs: Any, old_logprobs: Any, advantages: Any, new_values: Any, old_values: Any, returns: Any,
               entropy: Any, mask: Any, clip_range: float, clip_range_value: float, vf_coef: float,
               entropy_coef: float) -> tuple[Any, dict[str, Any]]:
    """The clipped surrogate (ε), the clipped value loss, the entropy bonus, and their weighted sum.
    Clipping takes the pessimistic (larger) loss, so a step gains nothing by moving the ratio past 1 ± ε."""
    import torch

    log_ratio = new_logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    pg_unclipped = -advantages * ratio
    pg_clipped = -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = masked_mean(torch.max(pg_unclipped, pg_clipped), mask)
    values_clipped = old_values + torch.clamp(new_values - old_values, -clip_range_value, clip_range_value)
    vf_unclipped, vf_clipped = (new_values - returns) ** 2, (values_clipped - returns) ** 2
    value_loss = 0.5 * masked_mean(torch.max(vf_unclipped, vf_clipped), mask)
    mean_entropy = masked_mean(entropy, mask)
    loss = policy_loss + vf_coef * value_loss - entropy_coef * mean_entropy
    stats = {"loss/policy_avg": policy_loss.detach(), "loss/value_avg": value_loss.detach(),
             "policy/entropy_avg": mean_entropy.detach(),
             "policy/approxkl_avg": (0.5 * masked_mean(log_ratio**2, mask)).detach(),
             "policy/clipfrac_avg": masked_mean((pg_clipped > pg_unclipped).float(), mask).detach(),
             "val/clipfrac_avg": masked_mean((vf_clipped > vf_unclipped).float(), mask).detach(),
             "val/ratio": masked_mean(ratio, mask).detach()}
    return loss, stats


def optimise(batch: dict[str, Any], config: PPOConfig, forward: Callable[..., tuple[Any, Any, Any]], optimizer: Any,
             parameters: list[Any], generator: Any) -> dict[str, float]:
    """K epochs over shuffled minibatches of one rollout. ``forward(indices)`` gives the current (log-probs, entropy,
    values) of those answers. An epoch ends the phase early once approx-KL passes ``max_approx_kl``: the policy has
    moved far from the one that sampled, and the clipped objective no longer keeps it honest."""
    import math

    import torch

    stats: dict[str, list[float]] = {}
    n = batch["mask"].shape[0]
    epochs_done = 0
    for _ in range(config.ppo_epochs):
        order = torch.randperm(n, generator=generator)
        epoch_kl = []
        for start in range(0, n, config.mini_batch_size):
            idx = order[start:start + config.mini_batch_size]
            new_logprobs, entropy, new_values = forward(idx)
            loss, step_stats = ppo_losses(new_logprobs, batch["logprobs"][idx], batch["advantages"][idx], new_values,
                                          batch["values"][idx], batch["returns"][idx], entropy, batch["mask"][idx],
                                          config.clip_range, config.clip_range_value, config.vf_coef, config.entropy_coef)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"The PPO loss became {loss.item()}; lower the learning rate or β.")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            for key, value in step_stats.items():
                stats.setdefault(key, []).append(float(value))
            epoch_kl.append(float(step_stats["policy/approxkl_avg"]))
        epochs_done += 1
        if sum(epoch_kl) / len(epoch_kl) > config.max_approx_kl:
            break
    return {**{key: sum(v) / len(v) for key, v in stats.items()}, "policy/epochs": epochs_done}
