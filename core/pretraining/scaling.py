"""A Chinchilla experiment on a laptop: IsoFLOP profiles, their minima, and the fitted scaling exponents.

Hoffmann et al. (2022), approach 2: fix a compute budget C, train several model sizes N on D = C / (6N) tokens each
(so every run costs the same), and the final loss against log N is a valley; a parabola fitted to it gives the
compute-optimal size N_opt at that budget. Repeat at several budgets and fit N_opt ∝ C^a and D_opt ∝ C^b in
log-log: Chinchilla found a ≈ b ≈ 0.5, about 20 tokens per parameter. Here the models are the from-scratch Llamas
of ``scratch`` with a 1,024-token vocabulary, and N counts every parameter: with the embedding tied to the output
layer, 6·N·D is then the training compute of the matrices, the output layer included (attention's own cost,
which grows with the context, is left out as in the paper).

The sweep is a background job that writes one row per finished model to ``results.jsonl`` and skips finished rows
when resumed, so a cancelled sweep keeps (and plots) what it finished. Does not hold: the training loop itself.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.files import read_jsonl_rows
from core.pretraining.scratch import LoopSettings, count_params

if TYPE_CHECKING:
    from core.classroom.accounts import Actor
    from core.jobs import RunContext

JOB = "core.pretraining.scaling:sweep_job"
RESULTS = "results.jsonl"
VOCAB = 1024
# (layers, width) from small to large (9 k to 0.9 M parameters); heads of width 16 (one head below that).
SHAPES = ((1, 8), (1, 16), (2, 24), (2, 32), (2, 48), (3, 64), (4, 96), (4, 128))
MIN_STEPS = 30  # below this a run is mostly warm-up: its loss says little about the size
TARGET_STEPS = 400  # each run's batch is chosen to give about this many optimizer steps (within the batch limits)


@dataclass(frozen=True)
class Preset:
    """A sweep's budgets and training settings. The batch is chosen per run, from ``min_batch`` to ``max_batch``
    windows, to give about ``TARGET_STEPS`` steps: a small model on many tokens takes big batches (fast on a CPU),
    a large one on few tokens small batches (or it would get only a few dozen updates). The learning rate shrinks
    as the width grows, ``learning_rate`` x 64 / width, as width-scaled (muP-style) recipes do."""

    budgets: tuple[float, ...]  # FLOPs
    sizes_per_budget: int
    context: int = 64
    min_batch: int = 4
    max_batch: int = 64
    learning_rate: float = 3e-3  # at width 64


PRESETS = {
    "quick": Preset(budgets=(1e11, 3e11, 1e12), sizes_per_budget=4),
    "full": Preset(budgets=(1e11, 3e11, 1e12, 3e12), sizes_per_budget=6),
}


def shape_params(shape: tuple[int, int]) -> int:
    return count_params(shape[0], shape[1], VOCAB)


def heads_for(width: int) -> int:
    return max(1, width // 16)


def plan(preset: Preset) -> list[dict[str, Any]]:
    """The runs of a sweep: at each budget, the ``sizes_per_budget`` shapes closest (in log N) to Chinchilla's
    N_opt = sqrt(C / 120), each with D = C / (6N) tokens. Raises ValueError when a budget is too small for the
    smallest model to get ``MIN_STEPS`` steps, or too large for the biggest shape."""
    runs = []
    for budget in preset.budgets:
        if not (math.isfinite(budget) and budget > 0):
            raise ValueError(f"A compute budget must be a positive number of FLOPs, got {budget}.")
        target = math.sqrt(budget / 120)
        ranked = sorted(SHAPES, key=lambda s: abs(math.log(shape_params(s) / target)))[:preset.sizes_per_budget]
        for shape in sorted(ranked, key=shape_params):
            params = shape_params(shape)
            tokens = int(budget / (6 * params))
            batch = min(max(round(tokens / (TARGET_STEPS * preset.context)), preset.min_batch), preset.max_batch)
            if tokens < MIN_STEPS * batch * preset.context:
                raise ValueError(f"A budget of {budget:.1e} FLOPs gives the {params:,}-parameter model only "
                                 f"{tokens:,} tokens, under {MIN_STEPS} steps of {batch} x {preset.context}: raise "
                                 "the budget.")
            runs.append({"budget": budget, "layers": shape[0], "hidden": shape[1], "params": params,
                         "tokens": tokens, "batch_size": batch, "steps": tokens // (batch * preset.context),
                         "learning_rate": preset.learning_rate * 64 / shape[1]})
    return runs


def run_key(row: dict[str, Any]) -> tuple[float, int, int]:
    return float(row["budget"]), int(row["layers"]), int(row["hidden"])


def read_points(run_dir: Path) -> list[dict[str, Any]]:
    """The finished rows of a sweep (a torn last line from a kill is skipped)."""
    return read_jsonl_rows(Path(run_dir) / RESULTS)


def sweep_job(ctx: "RunContext") -> dict[str, Any]:
    """Train every planned model, one row per finished model; returns the fit of what finished."""
    from core.pretraining import corpus

    preset = Preset(**{k: tuple(v) if k == "budgets" else v for k, v in ctx.config["preset"].items()})
    runs = plan(preset)
    corpus.build_corpus(on_progress=lambda stage, share: ctx.progress(event="corpus", stage=stage, share=share))
    train, val = corpus.load_tokens("train"), corpus.load_tokens("val")
    done = {run_key(r) for r in read_points(ctx.dir)}
    for i, run in enumerate(runs):
        if run_key(run) in done:
            continue
        if ctx.should_stop():
            break
        row = train_point(ctx, run, i, len(runs), preset, train, val)
        if row is None:
            break  # cancelled in the middle of a model: that point is dropped, the finished ones stay
        with open(ctx.dir / RESULTS, "a") as out:
            out.write(json.dumps(row) + "\n")
        ctx.progress(event="point", **row)
    return asdict(fit(read_points(ctx.dir)))


def train_point(ctx: "RunContext", run: dict[str, Any], i: int, count: int, preset: Preset, train: Any,
                val: Any) -> dict[str, Any] | None:
    """One model of the sweep trained on its D tokens; its row, or None if the sweep was cancelled during it."""
    from core.pretraining.scratch import build_llama, train_steps

    seed = int(ctx.config.get("seed", 0))
    model = build_llama(run["layers"], run["hidden"], heads_for(run["hidden"]), preset.context, VOCAB, seed)
    s = LoopSettings(run["steps"], run["batch_size"], preset.context, run["learning_rate"],
                     max(1, run["steps"] // 20), eval_every=0, eval_windows=256,
                     seed=seed)
    started, final = time.time(), {}

    def on_step(step: int, loss: float, lr: float) -> None:
        final["train_loss"] = loss
        if step % 10 == 0 or step == run["steps"]:
            ctx.progress(**run, point=i + 1, points=count, step=step, loss=loss)

    steps, _ = train_steps(model, train, val, s, on_step=on_step, on_eval=lambda step, v: final.update(val_loss=v),
                           should_stop=ctx.should_stop)
    if steps < run["steps"]:
        return None
    return {**run, "loss": final["val_loss"], "train_loss": final["train_loss"],
            "seconds": round(time.time() - started, 1)}


def start_sweep(preset: str = "quick", seed: int = 0, actor: "Actor | None" = None) -> Any:
    from core import jobs

    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    runs = plan(PRESETS[preset])
    config = {"task": "scaling", "preset_name": preset, "preset": asdict(PRESETS[preset]), "seed": seed,
              "max_steps": len(runs)}
    return jobs.start_run(JOB, config, name=f"chinchilla-{preset}", actor=actor)


# ---------------------------------------------------------------- the fit


@dataclass
class Profile:
    budget: float
    params: list[int]
    losses: list[float]
    n_opt: float | None  # the parabola's minimum; None when the profile has no valley (too few points, or concave)
    loss_opt: float | None
    coefficients: list[float] | None  # loss = c0·x² + c1·x + c2 with x = log10 N
    inside: bool  # the minimum lies within the sizes trained (outside it is an extrapolation)

    @property
    def d_opt(self) -> float | None:
        return None if self.n_opt is None else self.budget / (6 * self.n_opt)


@dataclass
class ScalingFit:
    profiles: list[Profile]
    a: float | None  # N_opt ∝ C^a
    b: float | None  # D_opt ∝ C^b
    tokens_per_param: list[float]
    chinchilla_a: float = 0.50
    chinchilla_b: float = 0.50


def fit_profile(budget: float, points: list[tuple[int, float]]) -> Profile:
    import numpy as np

    points = sorted(points)
    params, losses = [p for p, _ in points], [loss for _, loss in points]
    if len(points) < 3:
        return Profile(budget, params, losses, None, None, None, False)
    x = np.log10(params)
    c = np.polyfit(x, losses, 2)
    if c[0] <= 0:
        return Profile(budget, params, losses, None, None, c.tolist(), False)
    x_min = -c[1] / (2 * c[0])
    inside = bool(x.min() <= x_min <= x.max())
    return Profile(budget, params, losses, float(10 ** x_min), float(np.polyval(c, x_min)), c.tolist(), inside)


def fit(points: list[dict[str, Any]]) -> ScalingFit:
    """IsoFLOP parabolas per budget, then power laws through their minima (needs two budgets with a valley)."""
    import numpy as np

    by_budget: dict[float, list[tuple[int, float]]] = {}
    for p in points:
        by_budget.setdefault(float(p["budget"]), []).append((int(p["params"]), float(p["loss"])))
    profiles = [fit_profile(b, pts) for b, pts in sorted(by_budget.items())]
    found = [p for p in profiles if p.n_opt is not None]
    a = b = None
    if len(found) >= 2:
        log_c = np.log10([p.budget for p in found])
        a = float(np.polyfit(log_c, np.log10([p.n_opt for p in found]), 1)[0])
        b = float(np.polyfit(log_c, np.log10([p.d_opt for p in found]), 1)[0])
    return ScalingFit(profiles, a, b, [p.d_opt / p.n_opt for p in found])


def synthetic_losses(budgets: list[float], params: list[int], alpha: float = 0.34, beta: float = 0.28,
                     e: float = 1.69, a: float = 406.4, b: float = 410.7) -> list[dict[str, Any]]:
    """Rows as a sweep writes them, with losses from L(N, D) = E + A/N^α + B/D^β (Chinchilla's parametric fit):
    its compute-optimal N grows as C^(β/(α+β)), which the fit must recover."""
    rows = []
    for c in budgets:
        for n in params:
            d = c / (6 * n)
            rows.append({"budget": c, "params": n, "tokens": d, "loss": e + a / n ** alpha + b / d ** beta})
    return rows
