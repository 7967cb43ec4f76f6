"""LLM Lifecycle Lab's engine: plain Python that the Streamlit pages, the CLI (`python -m core`) and the tests share.

Importing ``core`` is cheap on purpose: torch, transformers and friends are imported inside the functions that use them.
"""
