"""Retrieval-augmented generation over the user's documents.

``extract``: text out of txt, md, html and pdf files, in a child process with time and memory limits.
``chunking``: sections that keep a table or list with its heading (or plain token windows), each chunk with its source,
page, position and context header (file, title, section).
``index``: collections of chunks with MiniLM vectors and a FAISS index (exact or HNSW), and search.
``storage``: collections on disk, saved atomically in versions, locked to change.
``ingest``: extract, chunk and embed outside the lock, then one short locked swap; limits; the background run.
``keyword``: the BM25 index (bm25s) beside the vectors. ``hybrid``: dense, BM25 or both fused by reciprocal rank fusion.
``chat``: a follow-up question rewritten into a standalone one before retrieval.
``rag``: the prompt with numbered, delimited sources; answers with citations; hit@k, MRR, answer accuracy with and
without retrieval, and the prompt-injection rate. faiss is imported only inside functions.
"""
