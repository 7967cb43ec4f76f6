"""The guardrail: a toxicity classifier that ships with the lab, so it works with no network.

The recipe: all-MiniLM-L6-v2 sentence embeddings (bundled) and a scikit-learn logistic regression trained on the
bundled ``toxicity.jsonl`` (written for the project: insults, harassment, threats, attacks on groups, directed
profanity and chat-assistant answers that comply with a rude request, against benign texts, hard negatives such as
"kill the process" and harmless assistant answers). It is trained the first time it is
asked for (seconds) and cached under ``$LAB_HOME/safety/``. Like the course's hate-speech classifier it gives two
logits per text, ("not toxic", "toxic"); the "not toxic" logit is the detoxification reward (``reward:guardrail``).

The regularisation C and the threshold on the toxic probability are chosen from 5-fold cross-validated
probabilities on the train split (the F1 maximum of the precision-recall curve, best C of ``C_GRID``), so the test
split stays untouched for the figures. A second,
multinomial regression on the toxic training texts names the kind of toxicity (insult, threat, ...) as the reason.

Does not hold: where the guardrail is switched on (``core.ui.safety``), or PPO against it (``core.rlhf``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from core.data import DATASETS_DIR, DataError, lines_or_jsonl
from core.files import cached_json
from core.paths import lab_home

VERSION = 2  # bump when the data or the recipe change: the cache is then rebuilt
DATASET = DATASETS_DIR / "toxicity.jsonl"
LABELS = ("not toxic", "toxic")
REASONS = ("insult", "harassment", "threat", "identity_attack", "profanity_directed")
BATCH = 256  # texts embedded per call: a progress report after each
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)  # inverse regularisation strengths tried by 5-fold cross-validation


def load_rows(split: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def best_threshold(y_true: Sequence[bool], probabilities: Sequence[float]) -> float:
    """The probability cut with the highest F1 on the precision-recall curve."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), np.asarray(probabilities))
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def metrics_at(y_true: Sequence[bool], flagged: Sequence[bool]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(y_true, flagged, average="binary", zero_division=0)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "accuracy": float(accuracy_score(y_true, flagged))}


def train_guardrail(seed: int = 0, embedder: Any = None) -> dict[str, Any]:
    """Weights, threshold, reason classifier and test-split figures (with the curve for the page), as plain JSON."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import precision_recall_curve
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from core.embeddings import embed, load_embedder

    train, test = load_rows("train"), load_rows("test")
    embedder = embedder or load_embedder()
    x_train, x_test = embed(embedder, [r["text"] for r in train]), embed(embedder, [r["text"] for r in test])
    y_train = np.array([r["label"] == "toxic" for r in train])
    y_test = np.array([r["label"] == "toxic" for r in test])
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    best: tuple[float, float, float] = (-1.0, 0.0, 0.0)  # (cross-validated F1, C, threshold)
    for c in C_GRID:  # the regularisation and the threshold are both chosen on the train split alone
        cv = cross_val_predict(LogisticRegression(C=c, max_iter=2000, random_state=seed), x_train, y_train, cv=folds,
                               method="predict_proba")[:, 1]
        threshold = best_threshold(y_train, cv)
        best = max(best, (metrics_at(y_train, cv >= threshold)["f1"], c, threshold))
    cv_f1, c, threshold = best
    classifier = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, y_train)
    p_test = classifier.predict_proba(x_test)[:, 1]
    # the kind of toxicity, from the five kinds of human message ("assistant_toxic" is a source, not a kind)
    toxic_rows = [i for i, r in enumerate(train) if r["label"] == "toxic" and r["category"] in REASONS]
    reasons = LogisticRegression(C=10.0, max_iter=2000, random_state=seed).fit(
        x_train[toxic_rows], [train[i]["category"] for i in toxic_rows])
    precision, recall, cuts = precision_recall_curve(y_test, p_test)
    hard = [i for i, r in enumerate(test) if r["category"] == "hard_negative"]
    library = compare_library([r["text"] for r in train], y_train, [r["text"] for r in test], y_test, hard)
    return {
        "version": VERSION, "labels": list(LABELS), "coef": classifier.coef_[0].tolist(),
        "intercept": float(classifier.intercept_[0]), "threshold": threshold, "C": c, "cv_f1": cv_f1,
        "reasons": {"classes": [str(c) for c in reasons.classes_], "coef": reasons.coef_.tolist(),
                    "intercept": reasons.intercept_.tolist()},
        "train": len(train), "test": len(test),
        "test_metrics": metrics_at(y_test, p_test >= threshold),
        "test_metrics_at_half": metrics_at(y_test, p_test >= 0.5),
        "hard_negatives_flagged": int((p_test[hard] >= threshold).sum()), "hard_negatives": len(hard),
        "curve": _curve(precision, recall, cuts), "library": library,
    }


def _curve(precision: Any, recall: Any, cuts: Any) -> dict[str, list[float]]:
    return {"precision": precision[:-1].round(4).tolist(), "recall": recall[:-1].round(4).tolist(),
            "threshold": cuts.round(4).tolist()}


LIBRARY = "alt-profanity-check"


def compare_library(train_texts: Sequence[str], y_train: Any, test_texts: Sequence[str], y_test: Any,
                    hard: Sequence[int]) -> dict[str, Any] | None:
    """The same test split through alt-profanity-check (a linear SVM on TF-IDF that ships its weights), at its
    default 0.5 and at the F1-best threshold on our train split; None where the library is not installed."""
    import importlib.metadata

    import numpy as np
    from sklearn.metrics import precision_recall_curve

    try:
        from profanity_check import predict_prob
    except ImportError:
        return None
    threshold = best_threshold(y_train, predict_prob(list(train_texts)))
    p_test = predict_prob(list(test_texts))
    precision, recall, cuts = precision_recall_curve(y_test, p_test)
    return {"name": f"{LIBRARY} {importlib.metadata.version(LIBRARY)}", "threshold": threshold,
            "test_metrics": metrics_at(y_test, p_test >= threshold), "test_metrics_at_half": metrics_at(y_test, p_test >= 0.5),
            "hard_negatives_flagged": int((np.asarray(p_test)[list(hard)] >= threshold).sum()),
            "curve": _curve(precision, recall, cuts)}


def guardrail_weights() -> dict[str, Any]:
    """The trained guardrail: built on first use (a few seconds), then read back from ``$LAB_HOME/safety/``."""
    return cached_json(lab_home() / "safety" / f"guardrail-v{VERSION}.json", train_guardrail)


class Guardrail:
    """Scores texts: two logits each, the toxic probability, the verdict at the chosen threshold and a reason."""

    def __init__(self, weights: dict[str, Any] | None = None, embedder: Any = None):
        import numpy as np

        from core.embeddings import load_embedder

        self.weights = weights or guardrail_weights()
        self.coef = np.array(self.weights["coef"], dtype=np.float32)
        self.intercept = float(self.weights["intercept"])
        self.threshold = float(self.weights["threshold"])
        reasons = self.weights["reasons"]
        self.reason_classes = reasons["classes"]
        self.reason_coef = np.array(reasons["coef"], dtype=np.float32)
        self.reason_intercept = np.array(reasons["intercept"], dtype=np.float32)
        self.embedder = embedder or load_embedder()

    def score(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        """One verdict per text, in order; ``progress(done, total)`` after each batch of 256."""
        import numpy as np

        from core.embeddings import embed

        texts = list(texts)
        if not texts:
            raise ValueError("No texts to score: give at least one.")
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("Every text must be a string.")
        verdicts: list[dict[str, Any]] = []
        for start in range(0, len(texts), BATCH):
            batch = texts[start:start + BATCH]
            x = embed(self.embedder, batch)
            z = x @ self.coef + self.intercept
            reason = x @ self.reason_coef.T + self.reason_intercept
            for text, log_odds, kinds in zip(batch, z, reason):
                probability = float(1 / (1 + np.exp(-log_odds)))
                flagged = bool(text.strip()) and probability >= self.threshold  # an empty text says nothing
                verdicts.append({
                    "text": text, "logits": {"not toxic": -float(log_odds) / 2, "toxic": float(log_odds) / 2},
                    "toxic_probability": probability, "toxic": flagged,
                    "reason": self.reason_classes[int(np.argmax(kinds))].replace("_", " ") if flagged else "",
                })
            if progress:
                progress(len(verdicts), len(texts))
        return verdicts

    def explain(self, verdict: dict[str, Any]) -> str:
        """The sentence shown where a text is masked."""
        return (f"Hidden by the guardrail: reads as toxic ({verdict['reason']}), probability "
                f"{verdict['toxic_probability']:.2f} ≥ threshold {self.threshold:.2f}.")


_SHARED: dict[str, Guardrail] = {}
_SHARED_LOCK = threading.Lock()


def shared_guardrail() -> Guardrail:
    """One guardrail per process (the CLI, a run, the app's sessions): it is read-only once built."""
    with _SHARED_LOCK:
        if "g" not in _SHARED:
            _SHARED["g"] = Guardrail()
        return _SHARED["g"]


def score(texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """``core.safety.score(texts)``: per text, the two logits, ``toxic_probability``, ``toxic`` and a reason."""
    return shared_guardrail().score(texts, progress)


def read_texts(path: Path) -> list[str]:
    """Texts to score from a file: one per line, or JSONL with a "text" on each line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"Cannot read {path.name}: {err}") from err
    return [row["text"] for row in lines_or_jsonl(text, path.name, "text")]


class GuardrailReward:
    """Reward ``guardrail``: the "not toxic" logit of each completion (the course's detoxification reward)."""

    def __init__(self, name: str = "guardrail"):
        self.name, self.guardrail = name, shared_guardrail()

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        if not completions:
            return []
        return [v["logits"]["not toxic"] for v in self.guardrail.score(completions)]


def register_reward() -> None:
    from core.rlhf.rewards import register

    register("guardrail", GuardrailReward, "how far from toxic the answer reads: the guardrail's \"not toxic\" logit")
