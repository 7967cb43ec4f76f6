"""Quantised variants: the job, its folder, what it measures, and the clear errors."""

import math

import pytest
import torch

from core.deploy import quantize, variants
from core.models import ModelError, load_model


def test_measurement_limits_are_checked():
    from core.deploy.measure import check_limits

    assert check_limits({})["text_limit"] == 20
    with pytest.raises(ValueError, match="mc_limit"):
        check_limits({"mc_limit": float("nan")})
    with pytest.raises(ValueError, match="Unknown measurement"):
        check_limits({"speed": 3})


def test_methods_the_cpu_cannot_run_say_why():
    for method in quantize.NOT_ON_CPU:
        with pytest.raises(ValueError, match="cannot run on this CPU"):
            quantize.QuantizeConfig(scheme=method)
    with pytest.raises(ValueError, match="Unknown method"):
        quantize.QuantizeConfig(scheme="int3")


def test_a_model_that_is_not_there_fails_before_the_run(tmp_path):
    with pytest.raises(ModelError):
        variants.check_variant("quantize", {"base_model": str(tmp_path / "nothing"), "scheme": "int8"})
    with pytest.raises(ValueError, match="Unknown variant"):
        variants.check_variant("shrink", {})


def test_logit_drift_is_zero_for_the_same_model_and_small_for_int8(tiny_loaded):
    from core.models.lowbit import to_lowbit

    same = quantize.logit_drift(tiny_loaded.model, tiny_loaded.model, tiny_loaded.tokenizer)
    assert same == {"logit_error": 0.0, "top1_agreement": 1.0}
    copy = load_model(tiny_loaded.info.name, precision="float32").model
    drift = quantize.logit_drift(tiny_loaded.model, to_lowbit(copy, "int8"), tiny_loaded.tokenizer)
    assert drift["logit_error"] < 0.05 and drift["top1_agreement"] > 0.9


QUICK = {"text_limit": 3, "mc_limit": 4, "new_tokens": 8}


def check_quantized_run(run, scheme: str = "int8") -> None:
    """What a finished quantisation run must hold: a variant that loads by run name, measured beside its base.
    Called by the page test (tests/pages/test_deploy.py), which starts the run through the Quantise form: one child
    run covers the page and the job."""
    assert run.state == "done", (run.state, run.status.get("error"), (run.dir / "log.txt").read_text()[-2000:])
    result = run.status["result"]
    assert result["path"].endswith("model") and result["method"] == scheme
    # the int8 tensors and scales: well under half of float32 in memory, and on disk
    assert result["size_ratio"] < 0.5 and result["disk_bytes"] < 0.5 * result["size_bytes_base"]
    assert math.isfinite(result["perplexity"]) and 0.5 < result["perplexity_ratio"] < 2
    assert result["tokens_per_s"] > 0 and result["tokens_per_s_base"] > 0
    variant = load_model(f"run:{run.id}")
    assert variant.info.dtype == scheme
    ids = torch.tensor([variant.tokenizer("Say something.")["input_ids"]])
    with torch.inference_mode():
        assert variant.model.generate(ids, max_new_tokens=4, do_sample=False).shape[1] == ids.shape[1] + 4
    assert variants.variant_runs()[0].id == run.id
    from core.models.runs import run_kind

    assert run_kind(f"run:{run.id}") == "Optimised"
