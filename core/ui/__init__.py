"""Streamlit helpers shared by app.py and the pages: the only place in ``core`` that imports streamlit.

Shared: ``resources`` (models, embedder and logits cached across sessions: read-only), ``state`` (session-state
defaults and the sidebar's choice), ``widgets`` (the model picker, help text from configs, safe uploads), ``charts``
(plotly figures), ``frame`` (the page frame). One helper module per page: ``sampling``, ``shots``, ``finetune``,
``rlhf``, ``evaluate``, ``rag``.
"""
