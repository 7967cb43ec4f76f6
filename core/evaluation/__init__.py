"""Evaluation: any model on any task, scored with the metric the task calls for, stored in the database.

``metrics``: ROUGE, BLEU, exact match, perplexity and lm-eval's multiple-choice rule, from the reference packages.
``tasks``: the bundled tasks and uploads in the same schema. ``scorers``: one model on one task.
``runner``: a grid of models × tasks × prompt templates (also as a background run, ``JOB``), leaderboards and
side-by-side examples. ``stats``: standard errors (lm-eval's mean_stderr, bootstrap for corpus metrics).
``paired``: two evaluations on the same examples, paired bootstrap and sign test. ``assertions``: promptfoo-style checks
on stored outputs.
"""

from core.evaluation.assertions import Assertion, run_assertions
from core.evaluation.paired import PairedComparison, compare_pair
from core.evaluation.runner import (
    JOB,
    EvalConfig,
    check_template,
    compare_examples,
    eval_job,
    evaluation_label,
    leaderboard,
    run_evaluations,
)
from core.evaluation.scorers import EvalResult, evaluate, summarize
from core.evaluation.stats import stderrs
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
    "BUNDLED_TASKS", "HEADLINE", "JOB", "KINDS", "LOWER_IS_BETTER", "SCHEMAS", "Assertion", "EvalConfig", "EvalError",
    "EvalResult", "EvalTask", "Item", "PairedComparison", "check_template", "compare_examples", "compare_pair", "eval_job",
    "evaluate", "evaluation_label", "leaderboard", "load_task", "parse_task", "run_assertions", "run_evaluations",
    "stderrs", "summarize", "task_kind",
]
