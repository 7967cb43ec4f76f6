"""Variants as runs: start a quantisation, pruning or distillation, measure what it made, list the finished ones.

Every variant is one background run of ``JOB``: the method's own job writes ``<run>/model`` (a folder that loads on
its own), then the variant and its base are measured in the same process (``core.deploy.measure``) and the numbers
become the run's result. The run's config says ``task: deploy`` and ``variant``; the model picker lists it as
"Optimised" and the Evaluation dashboard can evaluate it like any run.

Holds: ``KINDS``, ``check_variant``, ``start_variant``, ``variant_job`` (JOB), ``variant_runs`` and ``base_of``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core import jobs

if TYPE_CHECKING:
    from core.classroom.accounts import Actor
    from core.jobs import Run, RunContext

JOB = "core.deploy.variants:variant_job"
KINDS = ("quantize", "prune", "distil")
VARIANT_KEYS = ("task", "variant", "method", "measure")  # what this module adds to a method's settings
TITLES = {"quantize": "Quantised", "prune": "Pruned", "distil": "Distilled"}


def _checker(kind: str) -> Any:
    from core.deploy.distill import check_distill_config
    from core.deploy.prune import check_prune_config
    from core.deploy.quantize import check_quantize_config

    return {"quantize": check_quantize_config, "prune": check_prune_config, "distil": check_distill_config}[kind]


def _job(kind: str) -> Any:
    from core.deploy.distill import distill_job
    from core.deploy.prune import prune_job
    from core.deploy.quantize import quantize_job

    return {"quantize": quantize_job, "prune": prune_job, "distil": distill_job}[kind]


def base_of(kind: str, settings: dict[str, Any]) -> str:
    """The model a variant is measured against: the teacher of a distillation, else the model it was made from."""
    return str(settings.get("teacher") if kind == "distil" else settings.get("base_model"))


def check_variant(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings made whole and checked, or ValueError: what the page and the CLI call before starting a run."""
    if kind not in KINDS:
        raise ValueError(f"Unknown variant {kind!r}; choose one of {', '.join(KINDS)}.")
    return _checker(kind)(settings)


def start_variant(kind: str, settings: dict[str, Any], measure: dict[str, int] | None = None,
                  actor: "Actor | None" = None) -> "Run":
    """Check the settings and start the run. ``measure`` can shorten the measurements (text_limit, mc_limit,
    new_tokens; see core.deploy.measure) - for quick checks; the page and the CLI use the defaults."""
    from core.deploy.measure import check_limits

    checked = check_variant(kind, settings)
    config = {**checked, "task": "deploy", "variant": kind, "method": "quantized" if kind == "quantize" else "full",
              "base_model": base_of(kind, checked), "measure": check_limits(measure or {})}
    suffix = checked.get("scheme") if kind == "quantize" else kind
    return jobs.start_run(JOB, config, name=f"{suffix}-{config['base_model'].replace('run:', '')}"[:40], actor=actor)


def variant_job(ctx: "RunContext") -> dict[str, Any]:
    """Make the variant with its method's job, then measure it and its base here, one after the other."""
    from core.deploy.measure import base_measurement, measure, ratios
    from core.models import RUN_PREFIX, load_model

    kind, config = ctx.config["variant"], ctx.config
    ctx.config = {k: v for k, v in config.items() if k not in VARIANT_KEYS and not (kind == "distil" and k == "base_model")}
    try:  # the method's job sees its own settings only
        made = _job(kind)(ctx) or {}
    finally:
        ctx.config = config
    if ctx.should_stop() or not (ctx.dir / "model" / "config.json").is_file():
        return made
    ctx.progress(stage="measure", message="Measuring the variant: perplexity, accuracy, tokens/s")
    variant = load_model(RUN_PREFIX + ctx.dir.name, precision="float32")
    limits = ctx.config.get("measure") or {}
    mine = measure(variant, ctx.dir / "model", **limits)
    del variant
    ctx.progress(stage="measure", message=f"Measuring the base, {ctx.config['base_model']}")
    base = base_measurement(ctx.config["base_model"], **limits)
    return {**made, **ratios(mine, base), "variant": kind, "base_model": ctx.config["base_model"],
            "path": str(ctx.dir / "model")}


def variant_runs(states: tuple[str, ...] = ("done",)) -> list["Run"]:
    """The variant runs in those states, newest first."""
    return [run for run in jobs.list_runs(JOB) if run.state in states]
