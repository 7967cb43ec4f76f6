"""FLOPs, Chinchilla and training time against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from core.compute.flops import (
    chinchilla_for_params,
    chinchilla_loss,
    chinchilla_optimal,
    inference_flops,
    training_flops,
    training_time,
)


def test_training_and_inference_flops():
    assert training_flops(1e9, 2e10) == 6 * 1e9 * 2e10 == 1.2e20
    assert inference_flops(135e6) == 2.7e8
    assert inference_flops(135e6, tokens=100) == 2.7e10


def test_chinchilla_optimal_recovers_chinchilla_itself():
    # Chinchilla: 70 B parameters on 1.4 T tokens (20 per parameter); C = 6 x 70e9 x 1.4e12 = 5.88e23
    point = chinchilla_optimal(5.88e23)
    # N = sqrt(C / (6 x 20)) = sqrt(4.9e21) = 7e10, D = 20 N = 1.4e12
    assert math.isclose(point.params, 7e10) and math.isclose(point.tokens, 1.4e12)


def test_chinchilla_for_params_is_the_reverse():
    point = chinchilla_for_params(1e9)  # D = 2e10, C = 6 x 1e9 x 2e10 = 1.2e20
    assert (point.tokens, point.flops) == (2e10, 1.2e20)
    assert math.isclose(chinchilla_optimal(point.flops).params, 1e9)


def test_chinchilla_loss_uses_the_published_fit():
    # 1.69 + 406.4 / (7e10)^0.34 + 410.7 / (1.4e12)^0.28 = 1.69 + 0.0835 + 0.1631 = 1.937
    assert chinchilla_loss(7e10, 1.4e12) == pytest.approx(1.69 + 406.4 / 7e10**0.34 + 410.7 / 1.4e12**0.28)
    assert chinchilla_loss(7e10, 1.4e12) == pytest.approx(1.937, abs=1e-3)


def test_training_time():
    # 1e21 FLOPs on 8 GPUs of 1e15 FLOP/s at 50 %: 1e21 / 4e15 = 250,000 s
    assert training_time(1e21, 8, 1e15, 0.5) == 250_000


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="params must be a positive finite number"):
        training_flops(bad, 1e9)
    with pytest.raises(ValueError, match="tokens must be a positive finite number"):
        inference_flops(1e9, bad)
    with pytest.raises(ValueError, match="compute must be a positive finite number"):
        chinchilla_optimal(bad)
    with pytest.raises(ValueError, match="params must be a positive finite number"):
        chinchilla_for_params(bad)


def test_bad_training_time_inputs_are_refused():
    with pytest.raises(ValueError, match="gpus must be a whole number"):
        training_time(1e21, 0, 1e15, 0.5)
    with pytest.raises(ValueError, match="utilisation is a share of the peak"):
        training_time(1e21, 8, 1e15, 1.5)
    with pytest.raises(ValueError, match="peak_flops_per_gpu must be a positive"):
        training_time(1e21, 8, float("nan"), 0.5)
