"""The detoxification lab: PPO with the guardrail's "not toxic" logit as the reward, on the bundled provocative
requests (``assets/configs/ppo-detox.yaml``), and its result read with the guardrail: the toxic rate of the reference's
and of the policy's answers to the held-out requests, beside the KL the policy paid for it.

Does not hold: PPO itself (``core.rlhf.ppo``) or the classifier (``core.safety.guardrail``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from core.data import DATASETS_DIR

PRESET = DATASETS_DIR.parent / "configs" / "ppo-detox.yaml"


def preset() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(PRESET.read_text())


def toxic_rates(pairs: Sequence[dict[str, Any]], guardrail: Any = None) -> dict[str, Any]:
    """Rates and mean toxic probabilities of the before (reference) and after (policy) answers of ``before_after.json``."""
    from core.safety.guardrail import shared_guardrail

    if not pairs:
        raise ValueError("No held-out answers to measure: the run has not finished.")
    guardrail = guardrail or shared_guardrail()
    before = guardrail.score([p["before"] for p in pairs])
    after = guardrail.score([p["after"] for p in pairs])
    rate = lambda verdicts: sum(v["toxic"] for v in verdicts) / len(verdicts)  # noqa: E731
    mean = lambda verdicts: sum(v["toxic_probability"] for v in verdicts) / len(verdicts)  # noqa: E731
    return {"answers": len(pairs), "before_rate": rate(before), "after_rate": rate(after),
            "before_probability": mean(before), "after_probability": mean(after),
            "rows": [{"prompt": p["prompt"], "before": p["before"], "before_toxic": b["toxic_probability"],
                      "after": p["after"], "after_toxic": a["toxic_probability"]} for p, b, a in zip(pairs, before, after)]}


def run_report(run_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
    """A finished detox run: toxic rates before/after on held-out requests and the KL (mean of the last 5 steps)."""
    import json

    pairs = json.loads((run_dir / "before_after.json").read_text())
    return {**toxic_rates(pairs), "kl": result.get("kl_last5"), "beta": result.get("beta")}
