"""The app's Streamlit settings agree with what core accepts."""

from __future__ import annotations

import tomllib

from core.retrieval.extract import MAX_FILE_MB
from tests.conftest import ROOT


def test_upload_limit_matches_what_the_extractor_takes_and_xsrf_stays_on():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] == MAX_FILE_MB
    assert server["enableXsrfProtection"] is True


import math  # noqa: E402

import pytest  # noqa: E402


@pytest.mark.parametrize("make", [
    lambda v: __import__("core.sampling", fromlist=["x"]).SamplingSettings(temperature=v),
    lambda v: __import__("core.sampling", fromlist=["x"]).SamplingSettings(top_p=v),
    lambda v: __import__("core.sampling", fromlist=["x"]).SamplingSettings(min_p=v),
    lambda v: __import__("core.sampling", fromlist=["x"]).SamplingSettings(repetition_penalty=v),
    lambda v: __import__("core.finetune", fromlist=["x"]).FinetuneConfig(learning_rate=v),
    lambda v: __import__("core.finetune", fromlist=["x"]).FinetuneConfig(lora_dropout=v),
    lambda v: __import__("core.finetune", fromlist=["x"]).FinetuneConfig(max_steps=v),
    lambda v: __import__("core.rlhf", fromlist=["x"]).RewardConfig(learning_rate=v),
    lambda v: __import__("core.evaluation", fromlist=["x"]).EvalConfig(limit=v),
    lambda v: __import__("core.prompting", fromlist=["x"]).ShotsConfig(n=v),
    lambda v: __import__("core.retrieval.index", fromlist=["x"]).Settings(chunk_size=v),
])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_numeric_setting_refuses_nan_and_infinity(make, value):
    with pytest.raises(ValueError, match=r"must be (a finite number|a whole number), got (nan|inf|-inf)"):
        make(value)


def test_check_range_names_the_setting_the_range_and_the_value():
    from core.config import check_range

    with pytest.raises(ValueError, match=r"^top_p must be in \(0, 1\], got 1.5$"):
        check_range("top_p", 1.5, 0, 1, low_open=True)
    with pytest.raises(ValueError, match=r"^max_new_tokens must be in \[1, ∞\], got -5$"):
        check_range("max_new_tokens", -5, 1, integer=True)
    with pytest.raises(ValueError, match="must be a whole number, got True"):
        check_range("top_k", True, 0, integer=True)
    check_range("temperature", 0.0, 0, 100)
