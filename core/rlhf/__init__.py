"""Reinforcement learning from human feedback: people's preferences, and a reward model that learns them.

``preferences``: rankings into TRL pairs, agreement between annotators, completions to rank (a background run,
``GENERATE_JOB``), export and import. ``reward``: reward models with TRL's RewardTrainer (``JOB``) and scoring with
them. trl is imported only inside this package.
"""

from core.rlhf.preferences import (
    GENERATE_JOB,
    Agreement,
    ImportError_,
    agreement,
    cohen_kappa,
    export_pairs,
    export_rankings,
    fleiss_kappa,
    import_jsonl,
    pairs_from_rankings,
    ranking_to_pairs,
    trl_prompt,
)
from core.rlhf.reward import JOB, METHODS, SOURCES, RewardConfig, RewardScorer, reward_runs, score_pairs, train_reward_job

__all__ = [
    "GENERATE_JOB", "JOB", "METHODS", "SOURCES", "Agreement", "ImportError_", "RewardConfig", "RewardScorer", "agreement",
    "cohen_kappa", "export_pairs", "export_rankings", "fleiss_kappa", "import_jsonl", "pairs_from_rankings",
    "ranking_to_pairs", "reward_runs", "score_pairs", "train_reward_job", "trl_prompt",
]
