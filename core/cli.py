"""The command line: ``python -m core <command>``. Each page's work has a subcommand on the same code path as the page.

Commands: ``models`` (the registry, what is installed and cached), ``generate`` (stream a completion to stdout),
``next-token`` (the top next tokens with their raw and final probabilities), ``shots`` (accuracy or ROUGE-L as
few-shot examples are added), ``eval`` (models × tasks, saved to the database), ``rag`` (ingest, search, ask), ``labels`` (export, import, stats of preference rankings), ``train`` (a fine-tuning config, on the same code path as a run started by the app).
Errors a user can fix print one line to stderr and exit with status 2; nothing here imports streamlit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from core import models


def _cmd_models(args: argparse.Namespace) -> int:
    rows = models.list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':24} {'kind':9} {'installed':10} {'cached':7} package")
    for row in rows:
        mark = " (default)" if row["default"] else ""
        print(
            f"{row['name']:24} {row['kind']:9} {'yes' if row['installed'] else 'NO':10} "
            f"{'yes' if row['cached'] else 'no':7} {row['package']}{mark}"
        )
    print("\nAny local folder saved with save_pretrained, or a Hugging Face Hub id in the local cache, works too.")
    return 0


def _settings(args: argparse.Namespace):
    from core.sampling import SamplingSettings

    return SamplingSettings(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        do_sample=args.temperature > 0,
        seed=args.seed,
    )


def _cmd_next_token(args: argparse.Namespace) -> int:
    import torch

    from core.sampling import encode_prompt, next_token_logits, trace_stages
    from core.sampling.views import next_token_table

    settings = _settings(args)
    loaded = models.load_model(args.model, precision=args.precision)
    ids = encode_prompt(loaded, args.prompt, chat=args.chat)
    views = trace_stages(next_token_logits(loaded, ids), settings, torch.tensor(ids))
    table = next_token_table(views, loaded.tokenizer, torch.tensor(ids), top=args.top)
    if args.json:
        out = {"prompt_tokens": len(ids), "entropy_bits": {v.stage: v.entropy for v in views}, "tokens": table.to_dict("records")}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(ids)} prompt tokens; entropy {views[0].entropy:.2f} bits raw, {views[-1].entropy:.2f} bits final")
    print(f"{'rank':>4} {'token':20} {'id':>7} {'raw':>8} {'final':>8}  removed by")
    for row in table.itertuples():
        print(f"{row.rank:>4} {row.token[:20]:20} {row.token_id:>7} {row.raw:>8.4f} {row.final:>8.4f}  {row.removed_by}")
    return 0


def _cmd_shots(args: argparse.Namespace) -> int:
    from core.data import load_bundled
    from core.shots import ShotsConfig, metric_name, run_shots, summarize

    config = ShotsConfig(ks=tuple(args.k), n=args.n, strategy=args.strategy, scoring=args.scoring, chat=args.chat, seed=args.seed)
    task = load_bundled(args.task)
    embedder = None
    if config.strategy == "similar":
        from core.embeddings import load_embedder

        embedder = load_embedder()
    results = []
    for name in args.model or [models.DEFAULT_MODEL]:
        loaded = models.load_model(name, precision=args.precision)
        progress = None if args.json else (lambda done, total, _, n=name: print(f"\r{n}: {done}/{total}", end="", file=sys.stderr))
        results += run_shots(loaded, task, config, embedder, on_progress=progress)
        if not args.json:
            print(file=sys.stderr)
    rows = summarize(results)
    if args.json:
        print(json.dumps({"task": args.task, "metric": metric_name(task), "summary": rows,
                          "examples": [r.__dict__ for r in results]}, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.task}: {metric_name(task)} by number of shots ({config.strategy} selection, {config.scoring} scoring)")
    print(f"{'model':24} {'k':>2} {'score':>7} {'prompt tokens':>14} {'n':>4}")
    for row in rows:
        print(f"{row['model']:24} {row['k']:>2} {row['score']:>7.3f} {row['prompt_tokens']:>14.0f} {row['n']:>4}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import yaml

    from core.finetune import FinetuneConfig, train_job
    from core.jobs import RunContext

    try:
        raw = yaml.safe_load(args.config.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"Cannot read {args.config}: {err}") from err
    if args.max_steps:
        raw["max_steps"] = args.max_steps
    if raw.get("task") == "reward":  # a reward model (see assets/configs/reward-bundled.yaml)
        from core.rlhf import RewardConfig, train_reward_job

        reward_config = RewardConfig.from_dict(raw)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(args.output_dir, reward_config.to_dict())
        ctx.progress = lambda **fields: print(json.dumps(fields, default=float), flush=True)  # type: ignore[method-assign]
        print(json.dumps({"result": train_reward_job(ctx)}, default=str))
        return 0
    config = FinetuneConfig.from_dict(raw)
    main_process = os.environ.get("RANK", "0") == "0"  # under accelerate/torchrun only rank 0 checks the folder
    if main_process and args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.resume:
        raise ValueError(f"{args.output_dir} exists and is not empty; choose another --output-dir or pass --resume.")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(args.output_dir, config.to_dict(), resume=args.resume)
    ctx.progress = lambda **fields: print(json.dumps(fields, default=float), flush=True)  # type: ignore[method-assign]
    result = train_job(ctx)
    if main_process:
        print(json.dumps({"result": result}, default=str))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from core.evaluation import EvalConfig, run_evaluations
    from core.store import load_evaluation

    config = EvalConfig(models=tuple(args.model or [models.DEFAULT_MODEL]), tasks=tuple(args.task or ["sentiment"]),
                        limit=args.limit, shots=args.shots, batch_size=args.batch_size, precision=args.precision)

    def progress(event: dict) -> None:
        if not args.json and "done" in event:
            print(f"\r{event['model']} on {event['task']}: {event['done']}/{event['total']}", end="", file=sys.stderr)

    ids = run_evaluations(config, progress)
    results = [load_evaluation(i) for i in ids]
    if args.json:
        print(json.dumps([{**r, "created": str(r["created"])} for r in results], indent=2, ensure_ascii=False))
        return 0
    print(file=sys.stderr)
    for r in results:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if not k.endswith(("_precision", "_recall")))
        print(f"{r['model']:24} {r['task']:14} n={r['n']:<4} {shown}  (saved as evaluation {r['id']})")
    return 0


def _cmd_rag(args: argparse.Namespace) -> int:
    from core.embeddings import embed, load_embedder
    from core.retrieval import rag
    from core.retrieval.index import SUFFIXES_HELP, Settings, ingest_files, load_collection, search

    embedder = load_embedder()
    if args.rag_command == "ingest":
        files = []
        for path in args.paths:
            files += [(p, p.name) for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [(path, path.name)]
        if not files:
            raise ValueError(f"No files in {', '.join(map(str, args.paths))} ({SUFFIXES_HELP}).")
        progress = lambda text, fraction: print(f"\r{text:70}", end="", file=sys.stderr)  # noqa: E731
        result = ingest_files(args.collection, files, embedder, Settings(args.chunk_size, args.overlap, args.kind), progress)
        print(file=sys.stderr)
        for name, error in result.errors.items():
            print(f"skipped: {error}", file=sys.stderr)
        if result.collection is None:
            raise ValueError("No file gave any text; the collection was not changed.")
        c = result.collection
        print(f"{args.collection}: {len(result.added)} file(s) added; {len(c.documents)} documents, {len(c.chunks)} chunks, {c.kind} index")
        return 0 if not result.errors else 1
    collection = rag.ensure_bundled_collection(embedder) if args.collection == rag.BUNDLED_COLLECTION else load_collection(args.collection)
    query = args.query if args.rag_command == "search" else args.question
    hits = search(collection, embed(embedder, [query])[0], args.k, args.min_score)
    if args.rag_command == "search":
        rows = [{"rank": h.rank, "score": round(h.score, 4), "source": h.chunk.source, "page": h.chunk.page,
                 "position": h.chunk.position, "text": h.chunk.text} for h in hits]
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        for row in [] if args.json else rows:
            print(f"{row['rank']:>2}. {row['score']:.3f}  {row['source']} p.{row['page']} #{row['position']}: {row['text'][:100]!r}")
        return 0
    loaded = models.load_model(args.model, precision=args.precision)
    prompt = rag.build_rag_prompt(loaded, query, hits, retrieval=not args.no_retrieval)
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


def _cmd_labels(args: argparse.Namespace) -> int:
    from core import preferences, store

    if args.labels_command == "export":
        rankings = store.list_rankings()
        text = preferences.export_pairs(rankings) if args.pairs else preferences.export_rankings(rankings)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
            print(f"{len(rankings)} rankings written to {args.output}" + (" as TRL pairs" if args.pairs else ""), file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0
    if args.labels_command == "import":
        count = preferences.import_jsonl(args.file.read_text(encoding="utf-8"))
        print(f"{count} rankings imported from {args.file}")
        return 0
    rankings = store.list_rankings()
    stats = {**store.label_counts(), "pairs": len(preferences.pairs_from_rankings(rankings))}
    result = preferences.agreement(rankings)
    stats.update({"agreement_items": result.items, "pairwise_agreement": result.pairwise, "fleiss_kappa": result.fleiss_kappa,
                  "cohen_kappa": result.cohen_kappa})
    print(json.dumps(stats, indent=2) if args.json else "\n".join(f"{k:20} {v}" for k, v in stats.items()))
    return 0


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _cmd_generate(args: argparse.Namespace) -> int:
    from core.sampling import encode_prompt, stream_generate

    settings = _settings(args)
    progress = (lambda message: print(message, file=sys.stderr)) if not args.quiet else None
    loaded = models.load_model(args.model, precision=args.precision, on_progress=progress)
    ids = encode_prompt(loaded, args.prompt, chat=args.chat)
    for token in stream_generate(loaded, ids, settings, max_new_tokens=args.max_new_tokens):
        sys.stdout.write(token.piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="LLM Lifecycle Lab from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the bundled models and whether they are installed and cached")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("generate", help="stream a completion to stdout")
    _add_model_and_sampling(p, default_temperature=0.0)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--quiet", action="store_true", help="no loading messages on stderr")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("next-token", help="the top next tokens with raw and final probabilities")
    _add_model_and_sampling(p, default_temperature=1.0)
    p.add_argument("--top", type=int, default=15, help="how many tokens to list")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_next_token)

    p = sub.add_parser("shots", help="score a bundled task with 0, 1, 2... examples in the prompt")
    p.add_argument("--task", default="sentiment", help="bundled dataset: sentiment or dialogsum")
    p.add_argument("--k", type=_int_list, default=[0, 1, 2, 4, 8], help="comma-separated numbers of shots (0-8)")
    p.add_argument("--n", type=int, default=20, help="test examples scored at each k")
    p.add_argument("--model", action="append", help="model to test (repeatable; default: the default model)")
    p.add_argument("--strategy", default="balanced", help="random, balanced or similar")
    p.add_argument("--scoring", default="loglik", help="loglik or generate")
    p.add_argument("--chat", action="store_true", help="use the chat template")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=models.PRECISIONS, default="auto")
    p.add_argument("--json", action="store_true", help="print JSON (summary and every example)")
    p.set_defaults(func=_cmd_shots)

    p = sub.add_parser("eval", help="evaluate models on tasks; results are saved in the lab's database")
    p.add_argument("--model", action="append", help="model to evaluate (repeatable; default: the default model)")
    p.add_argument("--task", action="append", help="bundled task (knowledge_mc, sentiment, dialogsum, translation, "
                   "general_text) or KIND:PATH for your own file (repeatable)")
    p.add_argument("--limit", type=int, default=20, help="first N test examples per task (0 = all)")
    p.add_argument("--shots", type=int, default=0, help="examples from the pool put in each prompt")
    p.add_argument("--batch-size", type=int, default=8, help="prompts generated together")
    p.add_argument("--precision", choices=models.PRECISIONS, default="auto")
    p.add_argument("--json", action="store_true", help="print JSON: metrics and every example")
    p.set_defaults(func=_cmd_eval)

    rag = sub.add_parser("rag", help="retrieval-augmented generation over your documents").add_subparsers(dest="rag_command", required=True)
    p = rag.add_parser("ingest", help="add files or folders (txt, md, html, pdf) to a collection")
    p.add_argument("paths", type=Path, nargs="+")
    p.add_argument("--collection", default="mine", help="collection name (created if new)")
    p.add_argument("--chunk-size", type=int, default=160, help="tokens per chunk (new collections)")
    p.add_argument("--overlap", type=int, default=32, help="tokens shared by neighbouring chunks (new collections)")
    p.add_argument("--kind", default="auto", help="index: exact, hnsw or auto")
    p.set_defaults(func=_cmd_rag)
    for name, helptext in (("search", "the chunks most similar to a query"), ("ask", "answer a question from the collection, citing sources")):
        p = rag.add_parser(name, help=helptext)
        p.add_argument("query" if name == "search" else "question")
        p.add_argument("--collection", default="lumenfold", help="collection (default: the bundled Lumenfold knowledge base)")
        p.add_argument("-k", type=int, default=4, help="chunks to retrieve")
        p.add_argument("--min-score", type=float, default=0.0, help="drop chunks less similar than this (cosine)")
        if name == "search":
            p.add_argument("--json", action="store_true")
        else:
            p.add_argument("--model", default=models.DEFAULT_MODEL)
            p.add_argument("--precision", choices=models.PRECISIONS, default="auto")
            p.add_argument("--no-retrieval", action="store_true", help="answer without sources (to see the model make things up)")
        p.set_defaults(func=_cmd_rag)

    labels = sub.add_parser("labels", help="the preference rankings people made: export, import, stats").add_subparsers(
        dest="labels_command", required=True)
    p = labels.add_parser("export", help="rankings as JSONL (lossless), or --pairs for TRL's {prompt, chosen, rejected}")
    p.add_argument("--pairs", action="store_true", help="write TRL pairs instead of rankings")
    p.add_argument("--output", type=Path, help="file to write (default: stdout)")
    p.set_defaults(func=_cmd_labels)
    p = labels.add_parser("import", help="rankings or TRL pairs from JSONL; all or nothing")
    p.add_argument("file", type=Path)
    p.set_defaults(func=_cmd_labels)
    p = labels.add_parser("stats", help="counts, pairs and agreement between annotators")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_labels)

    p = sub.add_parser("train", help="fine-tune, or train a reward model, from a YAML config (see assets/configs/)")
    p.add_argument("config", type=Path)
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    p.add_argument("--output-dir", type=Path, default=Path(".lab/train-cli"), help="checkpoints and the final model")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    p.set_defaults(func=_cmd_train)
    return parser


def _add_model_and_sampling(p: argparse.ArgumentParser, default_temperature: float) -> None:
    p.add_argument("--model", default=models.DEFAULT_MODEL, help="bundled name, local folder or hub id")
    p.add_argument("--prompt", required=True)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--temperature", type=float, default=default_temperature, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="1 = off")
    p.add_argument("--min-p", type=float, default=0.0, help="0 = off")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="1 = off")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--precision", choices=models.PRECISIONS, default="auto")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # ModelError and settings errors: the user can fix these
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
