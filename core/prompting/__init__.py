"""In-context learning: zero-, one- and few-shot prompts, and the experiment of adding shots.

``prompts``: templates, ``build_prompt`` (raw or chat template, every part's token count), example selection, fitting
the context window, label scoring by log-likelihood and answer parsing. ``shots``: the k sweep (score by number of
examples), used by the Prompt shots page and ``lab shots``.
"""

from core.prompting.prompts import (
    COT_CUE,
    STRATEGIES,
    TEMPLATES,
    LabelScores,
    Prompt,
    PromptPart,
    Template,
    build_prompt,
    embed_examples,
    fit_prompt,
    generate_answer,
    label_ids,
    max_answer_tokens,
    parse_label,
    score_labels,
    score_labels_naive,
    select_examples,
    template_for,
)
from core.prompting.shots import MAX_K, ShotResult, ShotsConfig, metric_name, run_shots, summarize

__all__ = [
    "COT_CUE", "MAX_K", "STRATEGIES", "TEMPLATES", "LabelScores", "Prompt", "PromptPart", "ShotResult", "ShotsConfig",
    "Template", "build_prompt", "embed_examples", "fit_prompt", "generate_answer", "label_ids", "max_answer_tokens",
    "metric_name", "parse_label", "run_shots", "score_labels", "score_labels_naive", "select_examples", "summarize",
    "template_for",
]
