"""Pre-training & scaling: the objectives shown on text (``objectives``), the corpus and its tokenizer (``corpus``),
a small model trained from scratch (``scratch``) and the Chinchilla sweep (``scaling``).

Import the modules themselves (``from core.pretraining import scaling``): nothing heavy loads with the package.
"""
