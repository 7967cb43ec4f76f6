"""Benchmark retrieval: ingestion speed, query latency and recall of the exact and approximate indexes, hit@k on the
bundled question set, and time to first token of a RAG answer.

    .venv/bin/python benchmarks/retrieval.py [--sizes 2000,100000] [--queries 500] [--model NAME]

- ingestion: the bundled Lumenfold corpus (37 files) extracted in child processes, chunked, embedded and saved; chunks/s.
- query latency p50/p95 (one query at a time, as a chat does) for IndexFlatIP (exact) and HNSW at each size, with
  HNSW's recall@10 against the exact top 10. Goal: p50 <= 2 ms at recall@10 >= 0.95 for 100k chunks. The vectors are
  synthetic but shaped like real ones: each is a real MiniLM chunk embedding of the corpus plus Gaussian noise, and the
  queries are the bundled questions' embeddings plus noise (embedding 100k real chunks would take ~10 min here).
- hit@1/3/5 and MRR of the bundled questions against the Lumenfold collection: dense, BM25 and hybrid (RRF) search,
  for sections chunking with context headers (the default) and for plain token windows (``--quality-only``: just this).
- time to first token of a RAG answer (embed the question, search, build the prompt, first generated token).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LAB_HOME", tempfile.mkdtemp(prefix="lab-bench-"))  # a fresh collection, deleted by nobody: a temp dir


def bench_ingestion(embedder):
    from core.retrieval import rag
    from core.retrieval.index import Settings
    from core.retrieval.ingest import ingest_files

    folder = rag.KNOWLEDGE_DIR / rag.BUNDLED_COLLECTION
    files = [(p, p.name) for p in sorted(folder.iterdir())]
    start = time.perf_counter()
    report = ingest_files("bench", files, embedder, Settings())  # the bundled name is read-only to ingest_files
    seconds = time.perf_counter() - start
    n = len(report.collection.chunks)
    print(f"ingestion: {len(files)} files -> {n} chunks in {seconds:.1f} s = {n / seconds:.1f} chunks/s "
          f"(extraction in a child process per file, MiniLM embedding, atomic save)")
    return report.collection


def synthetic(base, n, noise, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    vectors = base[rng.integers(0, len(base), n)] + rng.normal(0, noise, (n, base.shape[1])).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def bench_latency(collection, question_vectors, sizes, n_queries):
    import numpy as np

    from core.retrieval.index import HNSW_EF_SEARCH, build_index, search_vectors

    queries = synthetic(question_vectors, n_queries, 0.02, seed=1)
    print(f"\nquery latency, one query at a time ({n_queries} queries), top 10:")
    print("| chunks | index | build | p50 | p95 | recall@10 |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        vectors = synthetic(collection.vectors, size, 0.03, seed=size)
        truth = None
        for kind in ("exact", "hnsw"):
            start = time.perf_counter()
            index = build_index(vectors, kind)
            build = time.perf_counter() - start
            search_vectors(index, queries[:5], 10)  # warm-up
            times, found = [], []
            for q in queries:
                t = time.perf_counter()
                _, ids = search_vectors(index, q[None, :], 10)
                times.append((time.perf_counter() - t) * 1000)
                found.append(ids[0])
            if truth is None:
                truth = found
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
            label = kind if kind == "exact" else f"hnsw (M 32, ef {HNSW_EF_SEARCH})"
            print(f"| {size:,} | {label} | {build:.1f} s | {np.percentile(times, 50):.2f} ms | {np.percentile(times, 95):.2f} ms | {recall:.3f} |")


def bench_quality(collection, embedder, weights):
    """Dense, BM25 and hybrid on the bundled questions, for the default sections chunking (with context headers) and
    for the earlier plain token windows (same size and overlap, no headers)."""
    from dataclasses import replace

    from core.retrieval import rag
    from core.retrieval.extract import extract_pages
    from core.retrieval.ingest import add_documents

    questions = rag.load_questions()
    folder = rag.KNOWLEDGE_DIR / rag.BUNDLED_COLLECTION
    documents = [(p.name, extract_pages(p.read_bytes(), p.name)) for p in sorted(folder.iterdir())]
    windows = add_documents("windows", documents, embedder, replace(collection.settings, chunking="windows"))
    print(f"\nretrieval quality on the {len(questions)} bundled questions (a hit: a chunk of a gold source document; "
          "MRR over the top 10):")
    print("| chunking | chunks | retriever | hit@1 | hit@3 | hit@5 | MRR |")
    print("|---|---|---|---|---|---|---|")
    for label, built in (("sections + headers", collection), ("token windows", windows)):
        rows = []
        for weight in weights:
            table = rag.compare_retrievers(built, embedder, questions, weight)
            rows += table if not rows else table[2:]
        for row in rows:
            print(f"| {label} | {len(built.chunks)} | {row['retriever']} | {row['hit@1']:.3f} | {row['hit@3']:.3f} | "
                  f"{row['hit@5']:.3f} | {row['MRR']:.3f} |")


def bench_first_token(collection, embedder, model_name):
    from core.embeddings import embed
    from core.models import load_model
    from core.retrieval import rag
    from core.retrieval.hybrid import retrieve

    loaded = load_model(model_name)
    times = []
    for question in rag.load_questions()[:10]:
        start = time.perf_counter()
        hits = retrieve(collection, question.question, embed(embedder, [question.question])[0], 4)
        prompt = rag.build_rag_prompt(loaded, question.question, hits)
        next(iter(rag.answer_stream(loaded, prompt, 1)), None)
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"\ntime to first token of a RAG answer ({model_name}, k=4 hybrid, 10 questions): median {times[len(times) // 2]:.2f} s, "
          f"max {times[-1]:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,100000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--weights", default="0.5,0.3,0.7", help="dense weights of the hybrid rows (the first is the default)")
    parser.add_argument("--quality-only", action="store_true", help="only ingestion and the dense/BM25/hybrid table")
    args = parser.parse_args()

    import faiss
    import torch

    from core.embeddings import embed, load_embedder
    from core.retrieval import rag

    print(f"torch {torch.__version__}, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    embedder = load_embedder()
    collection = bench_ingestion(embedder)
    bench_quality(collection, embedder, [float(w) for w in args.weights.split(",")])
    if args.quality_only:
        return
    question_vectors = embed(embedder, [q.question for q in rag.load_questions()])
    bench_latency(collection, question_vectors, [int(s) for s in args.sizes.split(",")], args.queries)
    bench_first_token(collection, embedder, args.model)


if __name__ == "__main__":
    main()
