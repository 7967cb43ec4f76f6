"""``lab rag ingest|search|ask``: retrieval-augmented generation over your documents (hybrid search by default)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import models
from core.cli.common import add_precision


def add_commands(sub: argparse._SubParsersAction) -> None:
    rag = sub.add_parser("rag", help="retrieval-augmented generation over your documents")
    commands = rag.add_subparsers(dest="rag_command", required=True)
    p = commands.add_parser("ingest", help="add files or folders (txt, md, html, pdf) to a collection")
    p.add_argument("paths", type=Path, nargs="+")
    p.add_argument("--collection", default="mine", help="collection name (created if new)")
    p.add_argument("--chunk-size", type=int, default=160, help="tokens per chunk (new collections)")
    p.add_argument("--overlap", type=int, default=32, help="tokens shared by neighbouring chunks (new collections)")
    p.add_argument("--kind", default="auto", help="index: exact, hnsw or auto")
    p.add_argument("--chunking", default="sections", choices=("sections", "windows"),
                   help="sections: follow headings, keep a table or list with its heading (new collections)")
    p.add_argument("--replace", action="store_true", help="replace documents of the same name (otherwise refused)")
    p.set_defaults(func=ingest)
    for name, helptext in (("search", "the chunks most similar to a query"),
                           ("ask", "answer a question from the collection, citing sources")):
        p = commands.add_parser(name, help=helptext)
        p.add_argument("query" if name == "search" else "question")
        p.add_argument("--collection", default="lumenfold",
                       help="collection (default: the bundled Lumenfold knowledge base)")
        p.add_argument("-k", type=int, default=4, help="chunks to retrieve")
        p.add_argument("--min-score", type=float, default=0.0, help="drop dense hits less similar than this (cosine)")
        p.add_argument("--retriever", default="hybrid", choices=("hybrid", "dense", "bm25"),
                       help="hybrid: BM25 and dense rankings fused by reciprocal rank fusion (default)")
        p.add_argument("--dense-weight", type=float, default=0.5, help="hybrid: the dense ranking's weight (0-1)")
        if name == "search":
            p.add_argument("--json", action="store_true")
            p.set_defaults(func=search)
        else:
            p.add_argument("--model", default=models.DEFAULT_MODEL)
            add_precision(p)
            p.add_argument("--no-retrieval", action="store_true",
                           help="answer without sources (to see the model make things up)")
            p.set_defaults(func=ask)


def ingest(args: argparse.Namespace) -> int:
    from core.embeddings import load_embedder
    from core.retrieval.index import SUFFIXES_HELP, Settings
    from core.retrieval.ingest import ingest_files

    files = []
    for path in args.paths:
        files += [(p, p.name) for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [(path, path.name)]
    if not files:
        raise ValueError(f"No files in {', '.join(map(str, args.paths))} ({SUFFIXES_HELP}).")

    def progress(text: str, fraction: float) -> None:
        print(f"\r{text:70}", end="", file=sys.stderr)

    settings = Settings(args.chunk_size, args.overlap, args.chunking, args.kind)
    result = ingest_files(args.collection, files, load_embedder(), settings, progress, replace_existing=args.replace)
    print(file=sys.stderr)
    for error in result.errors.values():
        print(f"skipped: {error}", file=sys.stderr)
    for name in result.replaced:
        print(f"replaced: {name}", file=sys.stderr)
    if result.collection is None:
        raise ValueError("No file gave any text; the collection was not changed.")
    c = result.collection
    print(f"{args.collection}: {len(result.added)} file(s) added; {len(c.documents)} documents, {len(c.chunks)} chunks, "
          f"{c.kind} index")
    return 0 if not result.errors else 1


def _hits(args: argparse.Namespace, query: str, embedder):
    from core.embeddings import embed
    from core.retrieval import rag
    from core.retrieval.hybrid import SearchSettings, retrieve
    from core.retrieval.storage import load_collection

    if args.collection == rag.BUNDLED_COLLECTION:
        collection = rag.ensure_bundled_collection(embedder)
    else:
        collection = load_collection(args.collection)
    settings = SearchSettings(args.retriever, args.dense_weight)
    return retrieve(collection, query, embed(embedder, [query])[0], args.k, settings, args.min_score)


def search(args: argparse.Namespace) -> int:
    from core.embeddings import load_embedder

    hits = _hits(args, args.query, load_embedder())
    rows = [{"rank": h.rank, "score": round(h.score, 4), "source": h.chunk.source, "page": h.chunk.page,
             "position": h.chunk.position, "text": h.chunk.text} for h in hits]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        print(f"{row['rank']:>2}. {row['score']:.3f}  {row['source']} p.{row['page']} #{row['position']}: "
              f"{row['text'][:100]!r}")
    return 0


def ask(args: argparse.Namespace) -> int:
    from core.embeddings import load_embedder
    from core.retrieval import rag

    hits = _hits(args, args.question, load_embedder())
    loaded = models.load_model(args.model, precision=args.precision)
    prompt = rag.build_rag_prompt(loaded, args.question, hits, retrieval=not args.no_retrieval)
    text = ""
    for piece in rag.answer_stream(loaded, prompt):
        text += piece
        sys.stdout.write(piece)
        sys.stdout.flush()
    print()
    for number in rag.citations(text, len(prompt.hits)):
        hit = prompt.hits[number - 1]
        print(f"[{number}] {hit.chunk.source} p.{hit.chunk.page} (score {hit.score:.3f})")
    return 0
