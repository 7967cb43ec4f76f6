"""A real 2-process CPU run (torch.distributed over gloo) of DDP and FSDP: what each rank holds after one AdamW step
matches the calculator's per-device weights + gradients + optimizer states."""

from __future__ import annotations

import pytest

from core.compute import shape_from_config, shard, training_memory
from core.compute.measure import measure_sharding, sharding_config

HELD = ("weights_bytes", "gradients_bytes", "optimizer_bytes")


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_per_rank_memory_matches_the_calculator(strategy):
    config = sharding_config()
    estimate = shard(training_memory(shape_from_config(config), "fp32", "adamw"), 2, strategy)
    ranks = measure_sharding(strategy, world=2, config=config)
    for rank in ranks:
        for part in HELD:
            assert rank[part] == pytest.approx(estimate.parts[part], rel=0.15), (strategy, rank["rank"], part)
        assert sum(rank[p] for p in HELD) == pytest.approx(estimate.total_bytes, rel=0.15)


def test_unknown_strategy_to_measure_is_named():
    with pytest.raises(ValueError, match="Unknown strategy 'zero2' to measure"):
        measure_sharding("zero2")
