"""The app's Streamlit settings agree with what core accepts."""

from __future__ import annotations

import tomllib

from core.retrieval.extract import MAX_FILE_MB
from tests.conftest import ROOT


def test_upload_limit_matches_what_the_extractor_takes_and_xsrf_stays_on():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] == MAX_FILE_MB
    assert server["enableXsrfProtection"] is True
