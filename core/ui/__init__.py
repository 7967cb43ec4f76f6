"""Streamlit helpers shared by app.py and the pages: cached resources, session-state defaults, shared widgets.

The only place in ``core`` that imports streamlit.
"""
