"""Page tests: each starts with an empty st.cache_resource, as a fresh server would."""

import pytest
import streamlit as st

from tests.pretraining.conftest import tiny_corpus, tiny_packages  # noqa: F401 (fixtures for the pre-training page)


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()
