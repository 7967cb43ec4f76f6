"""Preference labels in the database: prompts, their completions, comparisons and one ranking per annotator.

A resubmitted ranking replaces the annotator's last (one upsert, so a double submit makes one row). Annotator names
are normalised here, where they are stored and compared (``normalize_annotator``). Imports go in batches, each its
own transaction, so a class's saves interleave with a large import instead of waiting for it.

Overlap assignment: ``next_comparison`` first serves comparisons that fewer than k annotators ranked (k is one
setting for the whole lab, ``labelling_overlap``), so k people rank the same comparison on purpose before new ones
are served. ``annotator_progress`` and ``class_progress`` count what is left. A ranking may carry a comment and flags
from ``FLAGS``.

Does not hold: turning rankings into pairs and agreement (``core.rlhf.preferences``, ``core.rlhf.agreement``).
"""

from __future__ import annotations

import time
import unicodedata
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.classroom.accounts import Actor, check_owner, check_teacher
from core.store.database import session, write_session, writes
from core.store.tables import Comparison, Completion, Prompt, Ranking, Setting, text_hash

IMPORT_BATCH = 200
# Between two batches the import lets go of the database this long: SQLite's lock is not a queue, and a waiting
# writer polls every 100 ms at most, so without the gap one import starved every save until it ended (30 s here).
IMPORT_PAUSE_S = 0.1
# What an annotator can say about a comparison besides the order: a small fixed set, so flags can be counted and
# filtered. "all harmful" is the "both harmful" for comparisons of 2 to 4 completions.
FLAGS = ("all harmful", "can't judge", "all equally good", "off-topic")
COMMENT_MAX = 2000
OVERLAP_KEY = "rlhf.overlap"
OVERLAP_MAX = 20


# ---------------------------------------------------------------- annotator names

ANNOTATOR_MAX = 64
_INVISIBLE = {"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"}  # control, format (zero-width...), private, unassigned


def normalize_annotator(name: str) -> str:
    """The one spelling of an annotator's name that is stored and compared, so that "Alice", " alice" and "ALICE"
    are one person: NFKC-normalised, trimmed, spaces collapsed, case-folded. Refuses (ValueError) blanks, names over
    ANNOTATOR_MAX characters, invisible characters (a zero-width space makes a second "alice"), and names that mix
    scripts, such as a Cyrillic "а" among Latin letters, which look like another annotator's name."""
    text = " ".join(unicodedata.normalize("NFKC", str(name or "")).split())
    if not text:
        raise ValueError("Type your name as the annotator first.")
    if len(text) > ANNOTATOR_MAX:
        raise ValueError(f"An annotator name has at most {ANNOTATOR_MAX} characters; got {len(text)}.")
    hidden = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in _INVISIBLE})
    if hidden:
        raise ValueError(f"The annotator name {text!r} holds invisible characters ({', '.join(hidden)}); type it plainly.")
    scripts = {unicodedata.name(c, "UNKNOWN").split()[0] for c in text if c.isalpha()}
    if len(scripts) > 1:
        raise ValueError(f"The annotator name {text!r} mixes {' and '.join(sorted(s.title() for s in scripts))} letters, "
                         "so it can look like someone else's name; type it in one script.")
    return text.casefold()


@writes
def add_prompts(rows: list[dict[str, Any]]) -> list[int]:
    """Insert prompts ({text, category?, source?, external_id?}); a prompt whose external_id exists is not repeated."""
    ids = []
    with write_session() as s, s.begin():
        for row in rows:
            existing = s.scalar(select(Prompt).where(Prompt.external_id == row["external_id"])) if row.get("external_id") else None
            if existing is None:
                existing = Prompt(text=row["text"], category=row.get("category", ""), source=row.get("source", "user"),
                                  external_id=row.get("external_id"))
                s.add(existing)
                s.flush()
            ids.append(existing.id)
    return ids


@writes
def add_comparison(prompt_id: int, completions: list[dict[str, Any]]) -> int:
    """Store completions ({text, model, settings, seed}) of a prompt and the comparison that shows them together."""
    if not 2 <= len(completions) <= 4:
        raise ValueError(f"A comparison shows 2 to 4 completions, got {len(completions)}.")
    with write_session() as s, s.begin():
        rows = [Completion(prompt_id=prompt_id, text=c["text"], model=c["model"], settings=c.get("settings", {}), seed=c.get("seed"))
                for c in completions]
        s.add_all(rows)
        s.flush()
        comparison = Comparison(prompt_id=prompt_id, completion_ids=[r.id for r in rows])
        s.add(comparison)
        s.flush()
        return comparison.id


def prompts_without_comparison() -> list[dict[str, Any]]:
    with session() as s:
        done = select(Comparison.prompt_id)
        rows = s.scalars(select(Prompt).where(Prompt.id.not_in(done)).order_by(Prompt.id))
        return [{"id": p.id, "text": p.text, "category": p.category} for p in rows]


def get_comparison(comparison_id: int) -> dict[str, Any]:
    with session() as s:
        comparison = s.get(Comparison, comparison_id)
        if comparison is None:
            raise KeyError(f"No comparison {comparison_id}")
        prompt = s.get(Prompt, comparison.prompt_id)
        completions = {c.id: c for c in s.scalars(select(Completion).where(Completion.id.in_(comparison.completion_ids)))}
        return {"id": comparison.id, "prompt_id": prompt.id, "prompt": prompt.text, "category": prompt.category,
                "completions": [{"id": i, "text": completions[i].text, "model": completions[i].model,
                                 "settings": completions[i].settings, "seed": completions[i].seed} for i in comparison.completion_ids]}


def next_comparison(annotator: str, exclude: set[int] | frozenset[int] = frozenset(), k: int | None = None) -> dict[str, Any] | None:
    """The next comparison this annotator has not ranked (nor skipped). First those ranked by fewer than k people
    (k: the lab's ``labelling_overlap`` unless given), the most ranked of them first, so a started comparison reaches
    k before a new one is begun, then the oldest; after them the rest, the fewest rankings first, then the oldest.
    k = 1 is plain "fewest rankings first"."""
    annotator = normalize_annotator(annotator)
    k = labelling_overlap() if k is None else _valid_overlap(k)
    with session() as s:
        mine = select(Ranking.comparison_id).where(Ranking.annotator == annotator)
        n = func.count(Ranking.id)
        counts = (select(Comparison.id, n).outerjoin(Ranking, Ranking.comparison_id == Comparison.id)
                  .where(Comparison.id.not_in(mine)).group_by(Comparison.id)
                  .order_by(case((n < k, 0), else_=1), case((n < k, -n), else_=n), Comparison.id))
        if exclude:
            counts = counts.where(Comparison.id.not_in(list(exclude)))
        row = s.execute(counts.limit(1)).first()
    return get_comparison(row[0]) if row else None


def _valid_overlap(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= OVERLAP_MAX:
        raise ValueError(f"The overlap k (annotators per comparison) must be a whole number from 1 to {OVERLAP_MAX}; got {k!r}.")
    return k


def labelling_overlap() -> int:
    """k: how many annotators should rank each comparison before new ones are served (1 until someone sets it)."""
    with session() as s:
        value = s.scalar(select(Setting.value).where(Setting.key == OVERLAP_KEY))
    return int(value) if value is not None else 1


@writes
def set_labelling_overlap(k: int, actor: Actor | None = None) -> int:
    """Set k for the whole lab (the teacher's call): every annotator's next comparison follows it from their next one on."""
    check_teacher(actor, "set the labelling overlap")
    k = _valid_overlap(k)
    with write_session() as s, s.begin():
        insert = _upsert_statement(s)(Setting.__table__).values(key=OVERLAP_KEY, value=k)
        s.execute(insert.on_conflict_do_update(index_elements=["key"], set_={"value": insert.excluded["value"]}))
    return k


def annotator_progress(annotator: str) -> dict[str, int]:
    """{"ranked", "total", "left"}: comparisons this annotator ranked, all comparisons, and those still to rank."""
    annotator = normalize_annotator(annotator)
    with session() as s:
        total = s.scalar(select(func.count(Comparison.id)))
        ranked = s.scalar(select(func.count(Ranking.id)).where(Ranking.annotator == annotator))
    return {"ranked": ranked, "total": total, "left": total - ranked}


def class_progress(k: int | None = None) -> dict[str, int]:
    """{"k", "done", "total", "left"}: comparisons ranked by at least k annotators (all annotators together)."""
    k = labelling_overlap() if k is None else _valid_overlap(k)
    with session() as s:
        total = s.scalar(select(func.count(Comparison.id)))
        per_comparison = select(Ranking.comparison_id).group_by(Ranking.comparison_id).having(func.count(Ranking.id) >= k)
        done = s.scalar(select(func.count()).select_from(per_comparison.subquery()))
    return {"k": k, "done": done, "total": total, "left": total - done}


def check_note(comment: str | None, flags: Any) -> tuple[str | None, list[str] | None]:
    """A ranking's comment (trimmed; None when blank) and flags (a list from FLAGS, in FLAGS order; None when none)."""
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > COMMENT_MAX:
        raise ValueError(f"A comment has at most {COMMENT_MAX} characters; got {len(comment)}.")
    if flags is None:
        return comment, None
    if not isinstance(flags, (list, tuple, set, frozenset)) or not all(isinstance(f, str) for f in flags):
        raise ValueError(f"Flags must be a list of names from {list(FLAGS)}; got {flags!r}.")
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise ValueError(f"Unknown flag(s) {unknown}: a ranking's flags come from {list(FLAGS)}.")
    return comment, [f for f in FLAGS if f in set(flags)] or None


@writes
def save_ranking(comparison_id: int, annotator: str, order: list[list[int]], seconds: float | None = None,
                 comment: str | None = None, flags: list[str] | None = None, actor: Actor | None = None) -> int:
    """Store an annotator's ranking (with an optional comment and flags from FLAGS) in one transaction: insert, or
    replace theirs, comment and flags included, if they ranked this before. A student ranks only as themselves."""
    annotator = normalize_annotator(annotator)
    check_owner(actor, annotator, f"The ranking of annotator {annotator!r}")
    comment, flags = check_note(comment, flags)
    with write_session() as s, s.begin():
        comparison = s.get(Comparison, comparison_id)
        if comparison is None:
            raise ValueError(f"No comparison {comparison_id}.")
        flat = [i for group in order for i in group]
        if sorted(flat) != sorted(comparison.completion_ids) or any(not group for group in order):
            raise ValueError(f"A ranking must place each of the completions {comparison.completion_ids} exactly once; got {order}.")
        values = {"comparison_id": comparison_id, "annotator": annotator, "ranking": order, "seconds": seconds,
                  "updated": datetime.now(timezone.utc), "comment": comment, "flags": flags}
        insert = _upsert_statement(s)(Ranking.__table__).values(**values)
        update = {k: insert.excluded[k] for k in ("ranking", "seconds", "updated", "comment", "flags")}
        s.execute(insert.on_conflict_do_update(index_elements=["comparison_id", "annotator"], set_=update))
        return s.scalar(select(Ranking.id).where(Ranking.comparison_id == comparison_id, Ranking.annotator == annotator))


def _upsert_statement(s: Session) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE: one statement, so a double submit can never make two rows."""
    name = s.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ValueError(f"Rankings need SQLite or PostgreSQL (upsert); {name} is not supported.")
    return insert


def list_rankings() -> list[dict[str, Any]]:
    """Every ranking with its prompt and completions, in the order they were first saved."""
    with session() as s:
        rows = s.execute(select(Ranking, Comparison, Prompt).join(Comparison, Ranking.comparison_id == Comparison.id)
                         .join(Prompt, Comparison.prompt_id == Prompt.id).order_by(Ranking.id)).all()
        completion_ids = {i for _, c, _ in rows for i in c.completion_ids}
        completions = {c.id: c for c in s.scalars(select(Completion).where(Completion.id.in_(completion_ids)))} if completion_ids else {}
        return [{"id": r.id, "comparison_id": c.id, "annotator": r.annotator, "order": r.order, "seconds": r.seconds,
                 "comment": r.comment, "flags": list(r.flags or []),
                 "prompt": p.text, "category": p.category, "completions": {i: completions[i].text for i in c.completion_ids},
                 "models": {i: completions[i].model for i in c.completion_ids}, "settings": {i: completions[i].settings for i in c.completion_ids},
                 "seeds": {i: completions[i].seed for i in c.completion_ids}, "completion_ids": c.completion_ids}
                for r, c, p in rows]


def label_counts() -> dict[str, int]:
    with session() as s:
        return {"prompts": s.scalar(select(func.count(Prompt.id))), "comparisons": s.scalar(select(func.count(Comparison.id))),
                "rankings": s.scalar(select(func.count(Ranking.id))),
                "annotators": s.scalar(select(func.count(func.distinct(Ranking.annotator))))}


def import_rankings(records: list[dict[str, Any]], on_progress: Callable[[int, int], None] | None = None,
                    actor: Actor | None = None) -> int:
    """Store validated rankings ({prompt, category, annotator, completions, ranking by index}) in batches of
    IMPORT_BATCH, each one transaction, so other people's saves go in between. Records with the same prompt and
    completion texts share one comparison, here and with what is already stored, so importing the same file twice
    changes nothing. The records were validated before (``core.rlhf.preferences.parse_import``): a batch can fail
    only for the database itself (busy, full disk), and then the error says how many were stored."""
    check_teacher(actor, "import rankings (they carry other annotators' names)")
    report = on_progress or (lambda done, total: None)
    for start in range(0, len(records), IMPORT_BATCH):
        try:
            _import_batch(records[start:start + IMPORT_BATCH])
        except ValueError as err:  # StoreBusyError, DiskFullError
            raise type(err)(f"{err} {start:,} of {len(records):,} rankings were imported before this; importing the "
                            "same file again adds the rest without doubling any.") from err
        report(min(start + IMPORT_BATCH, len(records)), len(records))
        if start + IMPORT_BATCH < len(records):
            time.sleep(IMPORT_PAUSE_S)
    return len(records)


@writes
def _import_batch(records: list[dict[str, Any]]) -> None:
    with write_session() as s, s.begin():
        prompts: dict[str, int] = {}
        comparisons: dict[tuple[int, tuple[str, ...]], tuple[int, list[int]]] = {}
        for record in records:
            prompt_id = prompts.get(record["prompt"]) or _find_prompt(s, record["prompt"])
            if prompt_id is None:
                prompt = Prompt(text=record["prompt"], category=record.get("category", ""), source="imported")
                s.add(prompt)
                s.flush()
                prompt_id = prompt.id
            prompts[record["prompt"]] = prompt_id
            texts = tuple(c["text"] for c in record["completions"])
            found = comparisons.get((prompt_id, texts)) or _find_comparison(s, prompt_id, texts)
            if found is None:
                rows = [Completion(prompt_id=prompt_id, text=c["text"], model=c.get("model", "imported"),
                                   settings=c.get("settings", {}), seed=c.get("seed")) for c in record["completions"]]
                s.add_all(rows)
                s.flush()
                comparison = Comparison(prompt_id=prompt_id, completion_ids=[r.id for r in rows])
                s.add(comparison)
                s.flush()
                found = (comparison.id, list(comparison.completion_ids))
            comparisons[(prompt_id, texts)] = found
            comparison_id, ids = found
            order = [[ids[i] for i in group] for group in record["ranking"]]
            values = {"comparison_id": comparison_id, "annotator": record["annotator"], "ranking": order, "seconds": None,
                      "updated": datetime.now(timezone.utc), "comment": record.get("comment"), "flags": record.get("flags")}
            insert = _upsert_statement(s)(Ranking.__table__).values(**values)
            s.execute(insert.on_conflict_do_update(index_elements=["comparison_id", "annotator"], set_={
                k: insert.excluded[k] for k in ("ranking", "updated", "comment", "flags")}))


def _find_prompt(s: Session, text: str) -> int | None:
    """A stored prompt with exactly this text, found through the indexed hash (the text confirms it)."""
    return s.scalar(select(Prompt.id).where(Prompt.text_hash == text_hash(text), Prompt.text == text).limit(1))


def _find_comparison(s: Session, prompt_id: int, texts: tuple[str, ...]) -> tuple[int, list[int]] | None:
    """A stored comparison of this prompt showing completions with exactly these texts, in this order."""
    for comparison in s.scalars(select(Comparison).where(Comparison.prompt_id == prompt_id)):
        stored = dict(s.execute(select(Completion.id, Completion.text).where(Completion.id.in_(comparison.completion_ids))).all())
        if tuple(stored.get(i) for i in comparison.completion_ids) == texts:
            return comparison.id, list(comparison.completion_ids)
    return None
