"""Optimise & deploy: smaller and faster variants of a model, each a background run, each measured the same way.

``quantize``: int8 and int4 weights (core.models.lowbit) saved as a folder of their own. ``prune``: magnitude masks,
whole decoder layers dropped by saliency, MLP channels. ``distill``: a smaller student trained on the teacher's
distributions (or on hard labels, the baseline). ``measure``: size in memory and on disk, tokens/s, perplexity on
general text and knowledge_mc accuracy, for a variant and its base in one run. ``variants``: the jobs the page and
the CLI start, and the finished variants. ``compare``: one table of the base models and every variant, with the
Pareto front.
"""
