"""Evaluation: any model on any task, scored with the metric the task calls for, stored in the database.

``metrics``: ROUGE, BLEU, exact match, perplexity and lm-eval's multiple-choice rule, from the reference packages.
``tasks``: the bundled tasks and uploads in the same schema. ``scorers``: one model on one task.
``runner``: a grid of models × tasks (also as a background run, ``JOB``), leaderboards and side-by-side examples.
"""

from core.evaluation.runner import JOB, EvalConfig, compare_examples, eval_job, leaderboard, run_evaluations
from core.evaluation.scorers import EvalResult, evaluate, summarize
from core.evaluation.tasks import (
    BUNDLED_TASKS,
    HEADLINE,
    KINDS,
    LOWER_IS_BETTER,
    SCHEMAS,
    EvalError,
    EvalTask,
    Item,
    load_task,
    parse_task,
    task_kind,
)

__all__ = [
    "BUNDLED_TASKS", "HEADLINE", "JOB", "KINDS", "LOWER_IS_BETTER", "SCHEMAS", "EvalConfig", "EvalError", "EvalResult",
    "EvalTask", "Item", "compare_examples", "eval_job", "evaluate", "leaderboard", "load_task", "parse_task",
    "run_evaluations", "summarize", "task_kind",
]
