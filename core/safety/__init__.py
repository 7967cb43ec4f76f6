"""Responsible AI: a guardrail that ships with the lab, constitutional AI and AI feedback.

``guardrail``: the toxicity classifier (MiniLM + logistic regression trained on the bundled ``toxicity.jsonl``, cached
under ``$LAB_HOME/safety/``), ``score(texts)``, and the ``guardrail`` reward (its "not toxic" logit) for PPO.
``constitution``: principles, critique and revision rounds, and the background run that turns them into a supervised
set and preference pairs (``CONSTITUTION_JOB``). ``rlaif``: the model as judge, A/B swapped, and its agreement with
people (``RLAIF_JOB``). ``overlap``: the longest verbatim overlap of an output with a run's training data.
Heavy imports (sentence-transformers, scikit-learn, torch) stay inside the functions.
"""

from core.safety.constitution import JOB as CONSTITUTION_JOB
from core.safety.constitution import Principle, load_constitution, parse_constitution, revise
from core.safety.guardrail import Guardrail, guardrail_weights, score
from core.safety.rlaif import JOB as RLAIF_JOB
from core.safety.rlaif import agreement, human_pairs, judge_pair

__all__ = ["CONSTITUTION_JOB", "RLAIF_JOB", "Guardrail", "Principle", "agreement", "guardrail_weights", "human_pairs",
           "judge_pair", "load_constitution", "parse_constitution", "revise", "score"]
