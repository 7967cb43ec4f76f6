"""Where rewards come from: a small registry of scorers that turn (prompt, completion) pairs into one number each.

Alignment (PPO, RLOO) asks a reward for a score per completion and knows nothing else about it. A reward is named:
- ``run:<id>``: a reward model trained on the RLHF page (TRL's RewardTrainer). The policy's text is decoded and
  re-tokenised for the reward model, so the two may have different tokenisers and devices.
- ``sentiment``: the bundled sentiment classifier, all-MiniLM-L6-v2 embeddings + logistic regression trained on
  the bundled reviews the first time it is asked for (seconds) and cached under ``$LAB_HOME/rewards/``. Its two
  logits are ("negative", "positive"); the reward is the positive logit minus the negative one (the log-odds).
- ``rule:length`` (words, up to 50: the classic length hack) and ``rule:count:<text>`` (occurrences of a text, up
  to 10): rewards anyone can read, for tests and for watching a policy game a rule.
- ``guardrail``: the guardrail's "not toxic" logit (``core.safety.guardrail``), the detoxification reward.
Other stages add their own with ``register(prefix, factory, description)`` from a module listed in ``PLUGINS``,
imported the first time the registry is asked (so ``import core.rlhf`` stays light).

Does not hold: training reward models (``core.rlhf.reward``) or using rewards (``core.rlhf.ppo``, ``core.rlhf.rloo``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from core.data import DATASETS_DIR
from core.files import cached_json
from core.paths import lab_home

SENTIMENT = "sentiment"
SENTIMENT_VERSION = 1  # bump when the classifier's data or recipe change: the cache is then rebuilt


class Reward(Protocol):
    name: str

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]: ...


_FACTORIES: dict[str, Callable[[str], Reward]] = {}
_DESCRIPTIONS: dict[str, str] = {}


PLUGINS = ("core.safety.guardrail",)  # each has register_reward()
_PLUGINS_LOADED: list[bool] = []


def _load_plugins() -> None:
    if not _PLUGINS_LOADED:
        import importlib

        _PLUGINS_LOADED.append(True)
        for module in PLUGINS:
            importlib.import_module(module).register_reward()


def register(prefix: str, factory: Callable[[str], Reward], description: str) -> None:
    """Make ``prefix`` or ``prefix:<argument>`` a reward name; ``factory(name)`` builds the scorer."""
    _FACTORIES[prefix] = factory
    _DESCRIPTIONS[prefix] = description


def reward_choices() -> list[str]:
    """The rewards a user can pick now: the bundled ones, then every finished reward-model run (newest first)."""
    from core.models import reward_model_runs

    _load_plugins()
    return [SENTIMENT, "rule:length"] + ["run:" + run_id for run_id in reward_model_runs()] \
        + [p for p in _FACTORIES if p not in ("run", "rule", SENTIMENT)]


def describe(name: str) -> str:
    _load_plugins()
    prefix = name.partition(":")[0]
    return _DESCRIPTIONS.get(prefix, name)


def check_reward(name: str) -> None:
    """Raise ValueError, saying why, when ``name`` is no reward that can load (checked before a run starts)."""
    _load_plugins()
    prefix, _, argument = (name or "").partition(":")
    if prefix not in _FACTORIES:
        raise ValueError(f"Unknown reward {name!r}; choose one of: {', '.join(reward_choices())}.")
    if prefix == "run":
        _reward_model_folder(argument)
    if prefix == "rule":
        _rule(argument)


def load_reward(name: str) -> Reward:
    check_reward(name)
    return _FACTORIES[name.partition(":")[0]](name)


# ---------------------------------------------------------------- a reward-model run


def _reward_model_folder(run_id: str) -> Path:
    from core import models
    from core.jobs import read_config

    if run_id not in models.reward_model_runs():
        raise ValueError(f"run:{run_id} is not a finished reward-model run; train one on the RLHF page (Reward model tab).")
    folder = models.resolve("run:" + run_id).location
    if read_config(Path(folder)).get("task") != "reward":
        raise ValueError(f"run:{run_id} is not a reward model.")
    from core.models.loading import check_safetensors

    check_safetensors(Path(folder) / "model", "run:" + run_id)
    return Path(folder) / "model"


class RewardModelReward:
    """A reward model's head logit for each (prompt, completion), in batches, on the reward model's own device."""

    def __init__(self, name: str):
        from core.rlhf.reward import RewardScorer

        self.name = name
        self.scorer = RewardScorer(_reward_model_folder(name.partition(":")[2]))

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return self.scorer.rewards(prompts, completions)


# ---------------------------------------------------------------- the bundled sentiment classifier


def sentiment_classifier() -> dict[str, Any]:
    """The classifier's weights and its accuracy on the bundled test split: trained on first use, then read back."""
    return cached_json(lab_home() / "rewards" / f"sentiment-v{SENTIMENT_VERSION}.json", train_sentiment)


def train_sentiment(seed: int = 0) -> dict[str, Any]:
    """Logistic regression on MiniLM embeddings of the bundled reviews (every split but test), checked on test."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from core.embeddings import embed, load_embedder

    rows = [json.loads(line) for line in (DATASETS_DIR / "sentiment.jsonl").read_text().splitlines() if line.strip()]
    train, test = [r for r in rows if r["split"] != "test"], [r for r in rows if r["split"] == "test"]
    embedder = load_embedder()
    x_train, x_test = embed(embedder, [r["text"] for r in train]), embed(embedder, [r["text"] for r in test])
    y_train = np.array([r["label"] == "positive" for r in train])
    y_test = np.array([r["label"] == "positive" for r in test])
    classifier = LogisticRegression(C=10.0, max_iter=1000, random_state=seed).fit(x_train, y_train)
    return {"coef": classifier.coef_[0].tolist(), "intercept": float(classifier.intercept_[0]),
            "labels": ["negative", "positive"], "train": len(train), "test": len(test),
            "test_accuracy": float((classifier.predict(x_test) == y_test).mean()), "version": SENTIMENT_VERSION}


class SentimentReward:
    """How positive a completion reads to the bundled classifier: the log-odds of "positive" (the prompt is ignored)."""

    def __init__(self, name: str = SENTIMENT):
        import numpy as np

        from core.embeddings import load_embedder

        self.name = name
        weights = sentiment_classifier()
        self.coef, self.intercept = np.array(weights["coef"], dtype=np.float32), weights["intercept"]
        self.test_accuracy = weights["test_accuracy"]
        self.embedder = load_embedder()

    def logits(self, texts: Sequence[str]) -> list[tuple[float, float]]:
        """Two logits per text, ("negative", "positive"), as the course shows a classifier's output."""
        from core.embeddings import embed

        z = embed(self.embedder, [t if t.strip() else "(empty)" for t in texts]) @ self.coef + self.intercept
        return [(-float(v) / 2, float(v) / 2) for v in z]

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [positive - negative for negative, positive in self.logits(completions)]


# ---------------------------------------------------------------- rules


def _rule(argument: str) -> Callable[[str], float]:
    kind, _, text = argument.partition(":")
    if kind == "length" and not text:
        return lambda completion: float(min(len(completion.split()), 50))
    if kind == "count" and text:
        return lambda completion: float(min(completion.lower().count(text.lower()), 10))
    raise ValueError(f"Unknown rule {argument!r}: use rule:length or rule:count:<text>.")


class RuleReward:
    def __init__(self, name: str):
        self.name, self.rule = name, _rule(name.partition(":")[2])

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [self.rule(c) for c in completions]


register("run", RewardModelReward, "a reward model trained on the RLHF page (its head's logit)")
register(SENTIMENT, SentimentReward, "how positive the answer reads: the bundled sentiment classifier's log-odds")
register("rule", RuleReward, "a rule anyone can read (rule:length rewards words; rule:count:<text> a text's occurrences)")
