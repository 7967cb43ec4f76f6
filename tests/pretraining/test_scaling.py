"""The Chinchilla sweep: its plan spends each budget, its fit recovers known exponents, a cancel keeps points."""

from __future__ import annotations

import math

import pytest

from core import jobs
from core.pretraining import scaling

TINY = scaling.Preset(budgets=(1e9,), sizes_per_budget=2, context=16, min_batch=4, max_batch=8, learning_rate=5e-3)


@pytest.mark.parametrize("name", list(scaling.PRESETS))
def test_each_planned_run_spends_its_budget(name):
    preset = scaling.PRESETS[name]
    runs = scaling.plan(preset)
    assert len(runs) == len(preset.budgets) * preset.sizes_per_budget
    for run in runs:
        assert 6 * run["params"] * run["tokens"] == pytest.approx(run["budget"], rel=1e-4)
        assert run["params"] == scaling.shape_params((run["layers"], run["hidden"]))


def test_the_sizes_surround_chinchillas_optimum():
    runs = [r for r in scaling.plan(scaling.PRESETS["full"]) if r["budget"] == 1e12]
    optimum = math.sqrt(1e12 / 120)  # 91k parameters at 20 tokens per parameter
    assert min(r["params"] for r in runs) < optimum < max(r["params"] for r in runs)


def test_a_budget_too_small_for_the_smallest_model_is_refused():
    with pytest.raises(ValueError, match="raise the budget"):
        scaling.plan(scaling.Preset(budgets=(1e7,), sizes_per_budget=2))
    with pytest.raises(ValueError, match="positive number"):
        scaling.plan(scaling.Preset(budgets=(float("nan"),), sizes_per_budget=2))


def test_fit_recovers_the_exponent_of_a_known_loss_surface():
    alpha, beta = 0.34, 0.28
    a, b = 406.4, 410.7  # Chinchilla's A and B
    rows = []
    for budget in [1e18, 1e19, 1e20, 1e21]:
        # Sizes within a factor of 3 either way of the true optimum, as a real sweep would bracket it.
        optimum = (alpha * a / (beta * b)) ** (1 / (alpha + beta)) * (budget / 6) ** (beta / (alpha + beta))
        rows += scaling.synthetic_losses([budget], [int(optimum * 10 ** (k / 8)) for k in range(-4, 5)], alpha, beta)
    fit = scaling.fit(rows)
    assert fit.a == pytest.approx(beta / (alpha + beta), abs=0.01)  # 0.45: N_opt grows as C^(β/(α+β))
    assert fit.b == pytest.approx(alpha / (alpha + beta), abs=0.01)
    assert fit.a + fit.b == pytest.approx(1.0, abs=1e-9)  # D = C / 6N ties them
    assert all(p.inside for p in fit.profiles)


def test_the_parabola_minimum_is_where_the_valley_is():
    profile = scaling.fit_profile(1e12, [(10 ** x, (x - 5.0) ** 2 + 3.0) for x in (4, 4.5, 5.5, 6)])
    assert profile.n_opt == pytest.approx(1e5) and profile.loss_opt == pytest.approx(3.0) and profile.inside


def test_profiles_without_a_valley_say_so():
    assert scaling.fit_profile(1e12, [(1e4, 3.0), (1e5, 2.0)]).n_opt is None  # two points: no parabola
    concave = scaling.fit_profile(1e12, [(1e4, 3.0), (1e5, 4.0), (1e6, 3.0)])
    assert concave.n_opt is None
    edge = scaling.fit_profile(1e12, [(1e4, 5.0), (1e5, 4.0), (1e6, 3.5)])
    assert edge.n_opt is not None and not edge.inside  # the minimum is past the largest size: an extrapolation


def test_one_budget_gives_no_exponent():
    fit = scaling.fit(scaling.synthetic_losses([1e18], [int(10 ** (7 + k / 4)) for k in range(9)]))
    assert fit.a is None and len(fit.profiles) == 1


def test_a_cancelled_sweep_keeps_its_finished_points_and_resumes(tiny_corpus, tmp_path):
    from dataclasses import asdict

    run_dir = tmp_path / "sweep"
    run_dir.mkdir()
    config = {"preset": asdict(TINY), "seed": 0}
    ctx = jobs.RunContext(run_dir, config)
    ctx.should_stop = lambda: len(scaling.read_points(run_dir)) >= 1  # type: ignore[method-assign]
    scaling.sweep_job(ctx)
    assert len(scaling.read_points(run_dir)) == 1
    first = scaling.read_points(run_dir)[0]
    scaling.sweep_job(jobs.RunContext(run_dir, config, resume=True))
    points = scaling.read_points(run_dir)
    assert len(points) == 2 and points[0] == first
    assert all(math.isfinite(p["loss"]) and p["loss"] < math.log(scaling.VOCAB) for p in points)


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="Unknown preset"):
        scaling.start_sweep("huge")


def test_batches_give_small_models_big_batches_and_every_run_enough_steps():
    runs = scaling.plan(scaling.PRESETS["full"])
    for run in runs:
        assert scaling.MIN_STEPS <= run["steps"]
        assert run["learning_rate"] == pytest.approx(3e-3 * 64 / run["hidden"])
    by_budget = [r for r in runs if r["budget"] == 1e12]
    assert [r["batch_size"] for r in by_budget] == sorted((r["batch_size"] for r in by_budget), reverse=True)
