"""Retrieval-augmented generation over the user's documents.

``extract``: text out of txt, md, html and pdf files, in a child process with time and memory limits.
``chunking``: token windows with overlap, each chunk with its source, page and position.
``index``: collections of chunks with MiniLM vectors and a FAISS index (exact or HNSW), saved atomically.
``rag``: the prompt with numbered, delimited sources; answers with citations; hit@k, MRR, answer accuracy with and
without retrieval, and the prompt-injection rate. faiss is imported only inside functions.
"""
