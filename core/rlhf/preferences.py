"""Human preferences: rankings into pairs, agreement between annotators, completions to rank, export and import.

A ranking is a list of groups of completions, best group first; completions in one group are tied. It yields every
(better, worse) pair across groups: n(n-1)/2 pairs for n completions without ties, fewer with ties (a tie says
nothing about which is better). Pairs are written in the format TRL's RewardTrainer and DPOTrainer read:
``{"prompt", "chosen", "rejected"}`` with plain strings, the prompt ending in a newline because TRL joins
prompt + chosen as they stand.

Agreement between annotators lives in ``core.rlhf.agreement`` (re-exported here).

Holds: ``ranking_to_pairs``, completion settings and ``generate_comparisons`` (also a run: ``GENERATE_JOB``),
``export_rankings``/``export_pairs`` and ``import_jsonl`` (a ranking's comment and flags travel with it).
Does not hold: storage (``core.store``), agreement (``core.rlhf.agreement``) or training a reward model
(``core.rlhf.reward``).
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core import store
from core.data import DATASETS_DIR, DataError, json_value
from core.rlhf.agreement import (  # noqa: F401 (re-exported: callers read agreement from here)
    Agreement,
    agreement,
    cohen_kappa,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha,
    pair_choices,
)

if TYPE_CHECKING:
    from core.classroom.accounts import Actor
    from core.jobs import RunContext

SCHEMA_VERSION = 1
GENERATE_JOB = "core.rlhf.preferences:generate_job"
# Four samplings, so that completions of one prompt differ: the annotators need something to choose between.
SAMPLINGS: tuple[dict[str, float], ...] = (
    {"temperature": 0.0},
    {"temperature": 0.7, "top_p": 0.9},
    {"temperature": 1.0, "top_k": 50},
    {"temperature": 1.3, "top_p": 0.95},
)


class ImportError_(ValueError):
    """An import file cannot be read; the message lists the bad lines. Nothing was imported."""


# ---------------------------------------------------------------- pairs


def ranking_to_pairs(prompt: str, order: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    """Every (better, worse) pair of a ranking given as groups of completion texts, best group first."""
    pairs = []
    for i, better_group in enumerate(order):
        for worse_group in order[i + 1:]:
            for chosen in better_group:
                for rejected in worse_group:
                    pairs.append({"prompt": trl_prompt(prompt), "chosen": chosen, "rejected": rejected})
    return pairs


def trl_prompt(prompt: str) -> str:
    """TRL concatenates prompt + chosen: end the prompt with a newline so the answer starts on its own line."""
    return prompt.rstrip() + "\n"


def pairs_from_rankings(rankings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """TRL-format pairs of stored rankings (core.store.list_rankings), with the annotator and comparison kept."""
    pairs = []
    for r in rankings:
        order = [[r["completions"][i] for i in group] for group in r["order"]]
        for pair in ranking_to_pairs(r["prompt"], order):
            pairs.append({**pair, "annotator": r["annotator"], "comparison_id": r["comparison_id"], "schema_version": SCHEMA_VERSION})
    return pairs


# ---------------------------------------------------------------- completions to rank


def bundled_prompts() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (DATASETS_DIR / "rlhf_prompts.jsonl").read_text().splitlines() if line.strip()]
    return [{"text": r["prompt"], "category": r["category"], "source": "bundled", "external_id": r["id"]} for r in rows]


def load_bundled_prompts() -> int:
    """Put the 120 bundled prompts in the database (once); returns how many prompts there are."""
    return len(store.add_prompts(bundled_prompts()))


def complete(loaded: Any, prompt: str, n: int, max_new_tokens: int = 80, seed: int = 0) -> list[dict[str, Any]]:
    """n completions of a prompt with different samplings (the model's chat template when it has one)."""
    from core.sampling import SamplingSettings, encode_prompt, generate_text

    if not 2 <= n <= len(SAMPLINGS):
        raise ValueError(f"Generate 2 to {len(SAMPLINGS)} completions, got {n}.")
    chat = loaded.info.has_chat_template
    encode_prompt(loaded, prompt, chat)  # a prompt that does not fit the context window fails here, clearly
    out = []
    for i, sampling in enumerate(SAMPLINGS[:n]):
        settings = SamplingSettings(**sampling, seed=seed + i)
        text = generate_text(loaded, prompt, settings, max_new_tokens, chat=chat).strip() or "(no answer)"
        out.append({"text": text, "model": loaded.info.name, "settings": sampling, "seed": seed + i})
    return out


def generate_comparisons(loaded: Any, prompts: Sequence[dict[str, Any]], n: int, max_new_tokens: int = 80,
                         on_progress: Callable[[int, int], None] | None = None, should_stop: Callable[[], bool] | None = None) -> list[int]:
    """A comparison of n completions for each prompt, stored as it is made."""
    ids = []
    for i, prompt in enumerate(prompts):
        if should_stop and should_stop():
            break
        ids.append(store.add_comparison(prompt["id"], complete(loaded, prompt["text"], n, max_new_tokens, seed=prompt["id"] * 10)))
        if on_progress:
            on_progress(i + 1, len(prompts))
    return ids


def generate_job(ctx: "RunContext") -> dict[str, Any]:
    """The run that completes the queue ahead of a class: config {model, n, max_new_tokens, precision, limit}; the
    first ``limit`` prompts still waiting (all when 0). Progress carries an ETA from the prompts done so far."""
    import time

    from core.models import load_model

    config = ctx.config
    ctx.progress(done=0, total=0, text="Loading the model")
    loaded = load_model(config["model"], precision=config.get("precision", "auto"))
    prompts = store.prompts_without_comparison()[: int(config.get("limit") or 0) or None]
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        per_prompt = (time.monotonic() - started) / done
        ctx.progress(done=done, total=total, eta_s=per_prompt * (total - done), seconds_per_prompt=per_prompt)

    ctx.progress(done=0, total=len(prompts))
    ids = generate_comparisons(loaded, prompts, int(config.get("n", 3)), int(config.get("max_new_tokens", 80)),
                               progress, ctx.should_stop)
    return {"comparisons": len(ids)}


def shuffled(comparison: dict[str, Any], annotator: str) -> list[dict[str, Any]]:
    """The completions in an order fixed per (comparison, annotator), so position says nothing about the sampling."""
    completions = list(comparison["completions"])
    random.Random(f"{comparison['id']}:{store.normalize_annotator(annotator)}").shuffle(completions)
    return completions


# ---------------------------------------------------------------- export and import


def readable_rankings(rankings: Sequence[dict[str, Any]], actor: "Actor | None") -> list[dict[str, Any]]:
    """The rankings a reader may see one by one and export: all of them for the teacher (or the local user), a
    student's own otherwise, so that nobody copies another's judgement before labelling the same comparison. Counts
    and agreement are the class's and stay visible to all. Nobody signed in in a class: none."""
    from core.classroom.accounts import OwnershipError, acting

    try:
        who = acting(actor)
    except OwnershipError:
        return []
    if who.is_teacher:
        return list(rankings)
    me = store.normalize_annotator(who.name)
    return [r for r in rankings if store.normalize_annotator(r["annotator"]) == me]


def export_rankings(rankings: Sequence[dict[str, Any]]) -> str:
    """JSONL, one ranking per line, lossless (ties, sampling settings, annotator, comment, flags): what ``import_jsonl``
    reads back."""
    lines = []
    for r in rankings:
        index = {cid: i for i, cid in enumerate(r["completion_ids"])}
        lines.append(json.dumps({
            "schema_version": SCHEMA_VERSION, "prompt": r["prompt"], "category": r["category"], "annotator": r["annotator"],
            "completions": [{"text": r["completions"][cid], "model": r["models"][cid], "settings": r["settings"][cid], "seed": r["seeds"][cid]}
                            for cid in r["completion_ids"]],
            "ranking": [[index[cid] for cid in group] for group in r["order"]],
            "comment": r.get("comment"), "flags": list(r.get("flags") or []),
        }, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def export_pairs(rankings: Sequence[dict[str, Any]]) -> str:
    """JSONL of {"prompt", "chosen", "rejected"} pairs (plus annotator, comparison_id and schema_version, which TRL
    drops as unused columns): TRL's RewardTrainer and DPOTrainer train on it as it is."""
    return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs_from_rankings(rankings))


def parse_import(text: str) -> list[dict[str, Any]]:
    """Validate every line of an import (rankings, or TRL pairs, which become rankings of two). Raises listing bad lines."""
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json_value(line)
        except DataError as err:
            problems.append(f"line {number}: {err}")
            continue
        try:
            records.append(_import_record(row))
        except ValueError as err:
            problems.append(f"line {number}: {err}")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ImportError_(f"Nothing was imported. {len(problems)} bad line(s): {shown}.")
    if not records:
        raise ImportError_("Nothing was imported: the file has no records.")
    return records


def _import_record(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    version = row.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ValueError(f"schema_version {version} is not supported (this lab reads {SCHEMA_VERSION})")
    if "chosen" in row or "rejected" in row:  # a TRL pair
        missing = [k for k in ("prompt", "chosen", "rejected") if not isinstance(row.get(k), str) or not row[k].strip()]
        if missing:
            raise ValueError(f"missing or empty {', '.join(missing)}")
        completions = [{"text": row["chosen"], "model": "imported", "settings": {}, "seed": None},
                       {"text": row["rejected"], "model": "imported", "settings": {}, "seed": None}]
        return {"prompt": row["prompt"].rstrip("\n"), "category": row.get("aspect", row.get("category", "")),
                "annotator": store.normalize_annotator(str(row.get("annotator") or "imported")), "completions": completions,
                "ranking": [[0], [1]]}
    missing = [k for k in ("prompt", "annotator", "completions", "ranking") if k not in row]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (a ranking needs prompt, annotator, completions, ranking)")
    completions = row["completions"]
    well_formed = isinstance(completions, list) and all(isinstance(c, dict) and isinstance(c.get("text"), str) for c in completions)
    if not well_formed or not 2 <= len(completions) <= 4:
        raise ValueError("completions must be a list of 2 to 4 objects with a text")
    ranking = row["ranking"]
    flat = [i for group in ranking for i in group] if isinstance(ranking, list) and all(isinstance(g, list) for g in ranking) else None
    if flat is None or sorted(flat) != list(range(len(completions))):
        raise ValueError(f"ranking must list each completion index 0..{len(completions) - 1} exactly once, in groups")
    if row.get("comment") is not None and not isinstance(row["comment"], str):
        raise ValueError("comment must be a string")
    comment, flags = store.check_note(row.get("comment"), row.get("flags") or None)  # both optional (older exports)
    return {"prompt": row["prompt"], "category": row.get("category", ""), "annotator": store.normalize_annotator(str(row["annotator"])),
            "completions": [{"text": c["text"], "model": c.get("model", "imported"), "settings": c.get("settings", {}), "seed": c.get("seed")}
                            for c in completions], "ranking": ranking, "comment": comment, "flags": flags}


def import_jsonl(text: str, on_progress: Callable[[int, int], None] | None = None, actor: Actor | None = None) -> int:
    """Import rankings (or TRL pairs) into the database: every line is checked first and a bad one imports nothing;
    then they are stored in batches (``core.store.import_rankings``; the teacher's call in a class). Returns how many
    were imported."""
    return store.import_rankings(parse_import(text), on_progress, actor=actor)
