"""Keeps every page inside app.py's frame (navigation, sidebar model picker).

Streamlit still has a legacy mode for apps with a ``pages/`` folder: until the entry script has called st.navigation
once in this server process, a deep link such as ``/generate`` runs the page file alone, without app.py. The same
mode makes AppTest rerun only the page after the first run. Each page calls ``run_inside_frame()`` first: in that
mode it switches the legacy flag off and reruns, so app.py runs and draws the frame around the requested page.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def run_inside_frame() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
