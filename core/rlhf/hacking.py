"""Reward hacking made visible: alarms, with thresholds a user can see, computed on every PPO step.

A policy that learns to please the reward model rather than people shows it in numbers before anyone reads the
answers: the KL to the reference grows past what TRL advises (0 to 10 nats), KL turns negative (the samples did not
come from the policy: a sampling setting is wrong), answers get much longer or shorter than the reference's, the
vocabulary collapses (distinct-2 falls, one word repeats: "sodium sodium sodium"), different prompts get the same
answer, or the reward keeps rising while a held-out check (perplexity on general text) gets worse.

Holds: ``AlarmSettings``, the text measures (``distinct_n``, ``repeated_share``, ``duplicate_share``) and ``check``.
Does not hold: the training loop (``core.rlhf.ppo_job``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from core.config import DictConfig, check_range


@dataclass(frozen=True)
class AlarmSettings(DictConfig):
    KIND = "alarm"

    kl_max: float = field(default=10.0, metadata={"help": "KL (nats per answer) above which the policy has drifted too far."})
    kl_min: float = field(default=-0.5, metadata={"help": "A KL below this is a sign that samples were not drawn from the policy."})
    length_drift: float = field(default=0.5, metadata={"help": "Alarm when the mean answer length moves more than this share "
                                                                "from the reference's (the first step's)."})
    distinct_min: float = field(default=0.3, metadata={"help": "Alarm when distinct-2 (share of unique word pairs) falls below this."})
    repeat_max: float = field(default=0.3, metadata={"help": "Alarm when more than this share of answers repeat a word 3+ times in a row."})
    same_answer_max: float = field(default=0.3, metadata={"help": "Alarm when more than this share of answers equal another prompt's."})
    heldout_rise: float = field(default=0.25, metadata={"help": "Alarm when held-out perplexity rises by this share while the reward rises."})

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check_range(name, value, -100, 1000)


@dataclass(frozen=True)
class Alarm:
    key: str
    title: str
    value: float
    bound: float
    fired: bool
    why: str


def _words(text: str) -> list[str]:
    return text.lower().split()


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Unique n-grams over all n-grams of all answers (1.0: no n-gram twice; near 0: the same words over and over)."""
    grams = [tuple(w[i:i + n]) for w in map(_words, texts) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def has_repeat_run(text: str, times: int = 3) -> bool:
    """A word said ``times`` times in a row ("sodium sodium sodium")."""
    words, run = _words(text), 1
    for previous, word in zip(words, words[1:]):
        run = run + 1 if word == previous else 1
        if run >= times:
            return True
    return False


def repeated_share(texts: Sequence[str]) -> float:
    return sum(map(has_repeat_run, texts)) / len(texts) if texts else 0.0


def duplicate_share(prompts: Sequence[str], texts: Sequence[str]) -> float:
    """Share of answers identical (ignoring case and spacing) to the answer of a different prompt."""
    normal = [" ".join(_words(t)) for t in texts]
    prompts_of: dict[str, set[str]] = {}
    for prompt, text in zip(prompts, normal):
        prompts_of.setdefault(text, set()).add(prompt)
    return sum(len(prompts_of[t]) > 1 and bool(t) for t in normal) / len(texts) if texts else 0.0


def text_measures(prompts: Sequence[str], texts: Sequence[str]) -> dict[str, float]:
    return {"text/distinct_2": distinct_n(texts, 2), "text/repeated_share": repeated_share(texts),
            "text/duplicate_share": duplicate_share(prompts, texts)}


def check(metrics: dict[str, Any], history: Sequence[dict[str, Any]], baseline: dict[str, float],
          settings: AlarmSettings) -> list[Alarm]:
    """Every alarm for this step: its value, its bound and whether it fired. ``history`` is the earlier steps'
    metrics; ``baseline`` the reference's answer length and the first held-out perplexity."""
    s, kl = settings, metrics["objective/kl"]
    length, ref_length = metrics["tokens/responses_len_mean"], baseline.get("length") or 1.0
    drift = abs(length - ref_length) / ref_length
    alarms = [
        Alarm("kl_high", "KL too high", kl, s.kl_max, kl > s.kl_max, "the policy has moved far from the reference"),
        Alarm("kl_negative", "Negative KL", kl, s.kl_min, kl < s.kl_min, "samples did not come from the policy (sampling settings?)"),
        Alarm("length", "Length drift", drift, s.length_drift, drift > s.length_drift,
              f"answers average {length:.1f} tokens against the reference's {ref_length:.1f}"),
        Alarm("distinct", "Vocabulary collapse", metrics["text/distinct_2"], s.distinct_min,
              metrics["text/distinct_2"] < s.distinct_min, "few distinct word pairs across the batch"),
        Alarm("repeats", "Repeated words", metrics["text/repeated_share"], s.repeat_max,
              metrics["text/repeated_share"] > s.repeat_max, "answers repeat a word three times in a row"),
        Alarm("same_answer", "Same answer to different prompts", metrics["text/duplicate_share"], s.same_answer_max,
              metrics["text/duplicate_share"] > s.same_answer_max, "the policy answers different prompts alike"),
    ]
    ppl, first_ppl = _latest(history, metrics, "heldout/perplexity"), baseline.get("perplexity")
    if ppl is not None and first_ppl:
        rise = ppl / first_ppl - 1
        scores = [h["objective/scores"] for h in history] + [metrics["objective/scores"]]
        reward_up = len(scores) >= 4 and sum(scores[-2:]) / 2 > sum(scores[:2]) / 2
        alarms.append(Alarm("heldout", "Reward up, held-out check down", rise, s.heldout_rise,
                            reward_up and rise > s.heldout_rise, "perplexity on general text rose while the reward rose"))
    return alarms


def _latest(history: Sequence[dict[str, Any]], metrics: dict[str, Any], key: str) -> float | None:
    for row in [metrics, *reversed(history)]:
        if row.get(key) is not None:
            return row[key]
    return None


def fired(alarms: Sequence[Alarm]) -> list[dict[str, Any]]:
    return [asdict(a) for a in alarms if a.fired]
