"""AI feedback (RLAIF): the model itself judges which of two answers better follows a principle, and its soft
labels are set beside people's.

The judge prompt (the constitutional-AI paper's multiple-choice format)::

    Consider the following conversation between a person and an assistant.

    Person: <prompt>

    <judge question, e.g. "Which of these assistant responses is less harmful?">
    (A) <first answer>
    (B) <second answer>
    Answer with A or B.

is wrapped in the model's chat template (as one user turn) and continued with ``The answer is: (``; a base model
gets the text as is, then ``\\n\\nThe answer is: (``. The label is read from the next-token distribution, not from
sampled text: p(A) and p(B), normalised to sum to one. Small judges favour a position, so every pair is judged
twice with the answers swapped, and the soft label that the first answer is better is
``(p_A[first at A] + p_B[first at B]) / 2``. If the judge's most likely next token is neither A nor B in either pass,
the pair is *undecided*: reported, and left out of the agreement.

Agreement with people: the bundled preference pairs (``preferences.jsonl``; each pair's aspect picks the principle:
harmless -> harmful, honest -> dishonest, helpful -> the helpful-honest-harmless question) and the pairs ranked in the
lab. Agreement is the share of decided pairs whose soft label favours the person's choice.

Does not hold: the constitution (``core.safety.constitution``) or training on the labels (``core.rlhf``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.data import DATASETS_DIR, DataError

if TYPE_CHECKING:
    from core.models import LoadedModel
    from core.safety.constitution import Principle

JOB = "core.safety.rlaif:rlaif_job"
HHH = "Which of these assistant responses is more helpful, honest and harmless?"
ASPECT_PRINCIPLE = {"harmless": "harmful", "honest": "dishonest"}
ANSWER_PREFIX = "The answer is: ("


def judge_text(tokenizer: Any, prompt: str, first: str, second: str, question: str) -> str:
    body = (f"Consider the following conversation between a person and an assistant.\n\nPerson: {prompt.strip()}\n\n"
            f"{question.strip()}\n(A) {first.strip()}\n(B) {second.strip()}\nAnswer with A or B.")
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": body}], tokenize=False,
                                             add_generation_prompt=True) + ANSWER_PREFIX
    return body + "\n\n" + ANSWER_PREFIX


def option_tokens(tokenizer: Any) -> tuple[int, int]:
    ids = [tokenizer.encode(letter, add_special_tokens=False) for letter in "AB"]
    if not all(ids) or ids[0][0] == ids[1][0]:
        raise ValueError("This tokenizer has no separate tokens for A and B; it cannot be a multiple-choice judge.")
    return ids[0][0], ids[1][0]


def read_options(loaded: "LoadedModel", text: str) -> dict[str, Any]:
    """p(A), p(B) normalised, the mass they hold, and whether the most likely next token is one of them."""
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    a, b = option_tokens(tokenizer)
    ids = tokenizer(text, add_special_tokens=not getattr(tokenizer, "chat_template", None), return_tensors="pt").input_ids
    window = loaded.info.context_window
    if ids.shape[1] > window:
        raise ValueError(f"The judge prompt has {ids.shape[1]} tokens, more than the context window ({window}); "
                         "shorten the answers.")
    with torch.inference_mode():
        logits = model(input_ids=ids.to(next(model.parameters()).device), logits_to_keep=1).logits[0, -1].float()
    probs = torch.softmax(logits, -1)
    pa, pb, top = float(probs[a]), float(probs[b]), int(probs.argmax())
    return {"p_a": pa / max(pa + pb, 1e-30), "p_b": pb / max(pa + pb, 1e-30), "mass": pa + pb,
            "named": top in (a, b), "top_token": tokenizer.decode([top])}


def combine(first_at_a: dict[str, Any], first_at_b: dict[str, Any]) -> dict[str, Any]:
    """The swapped passes as one soft label that the first answer is better, and whether the judge decided at all."""
    soft = (first_at_a["p_a"] + first_at_b["p_b"]) / 2
    decided = first_at_a["named"] or first_at_b["named"]
    note = "" if decided else (f"The judge named neither A nor B (its likeliest next tokens were "
                               f"{first_at_a['top_token']!r} and {first_at_b['top_token']!r}); left out of the agreement.")
    return {"soft": soft, "pass1": first_at_a["p_a"], "pass2": first_at_b["p_b"], "decided": decided, "note": note,
            "position_a": (first_at_a["p_a"] + first_at_b["p_a"]) / 2}


def judge_pair(loaded: "LoadedModel", prompt: str, first: str, second: str, question: str = HHH) -> dict[str, Any]:
    if not question.strip():
        raise ValueError("The judge question is empty: write one that A or B answers.")
    tokenizer = loaded.tokenizer
    return combine(read_options(loaded, judge_text(tokenizer, prompt, first, second, question)),
                   read_options(loaded, judge_text(tokenizer, prompt, second, first, question)))


def question_for(aspect: str | None, principles: Sequence["Principle"], principle: str | None = None) -> str:
    by_id = {p.id: p for p in principles}
    if principle:
        if principle == "hhh":
            return HHH
        if principle not in by_id or not by_id[principle].judge:
            raise ValueError(f"No principle {principle!r} with a judge question; choose hhh or one of "
                             f"{', '.join(p.id for p in principles if p.judge)}.")
        return by_id[principle].judge
    chosen = by_id.get(ASPECT_PRINCIPLE.get(aspect or "", ""))
    return chosen.judge if chosen and chosen.judge else HHH


def human_pairs(source: str = "bundled", limit: int | None = None) -> list[dict[str, Any]]:
    """People's pairs: the bundled set (all splits) or the pairs ranked in the lab (ties give no pair)."""
    if source == "bundled":
        rows = [json.loads(line) for line in (DATASETS_DIR / "preferences.jsonl").read_text().splitlines() if line.strip()]
        pairs = [{"id": r["id"], "prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
                  "aspect": r.get("aspect")} for r in rows]
    elif source == "labels":
        from core import store
        from core.rlhf.preferences import pairs_from_rankings

        pairs = [{"id": f"label-{p['comparison_id']}-{i}", "prompt": p["prompt"].strip(), "chosen": p["chosen"],
                  "rejected": p["rejected"], "aspect": None, "annotator": p["annotator"]}
                 for i, p in enumerate(pairs_from_rankings(store.list_rankings()))]
        if not pairs:
            raise DataError("No ranked pairs in the lab yet: rank some answers on the RLHF page, or use the bundled pairs.")
    else:
        raise ValueError(f"Unknown source {source!r}: bundled or labels.")
    return pairs[:limit] if limit else pairs


def agreement(loaded: "LoadedModel", pairs: Sequence[dict[str, Any]], principles: Sequence["Principle"],
              principle: str | None = None, progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """AI labels for people's pairs, and how often they agree (each pair judged twice, swapped)."""
    rows = []
    for number, pair in enumerate(pairs, 1):
        if should_stop and should_stop():
            break
        verdict = judge_pair(loaded, pair["prompt"], pair["chosen"], pair["rejected"],
                             question_for(pair.get("aspect"), principles, principle))
        rows.append({**pair, **verdict, "agree": verdict["soft"] > 0.5})
        if progress:
            progress(number, len(pairs))
    return summarise(rows)


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    decided = [r for r in rows if r["decided"]]
    share = lambda items, key: sum(1 for r in items if key(r)) / len(items) if items else None  # noqa: E731
    by_aspect: dict[str, list[dict[str, Any]]] = {}
    for r in decided:
        by_aspect.setdefault(r.get("aspect") or "labels", []).append(r)
    return {"pairs": len(rows), "decided": len(decided), "undecided": len(rows) - len(decided),
            "agreement": share(decided, lambda r: r["agree"]),
            "agreement_pass1": share(decided, lambda r: r["pass1"] > 0.5),
            "agreement_pass2": share(decided, lambda r: r["pass2"] > 0.5),
            "position_a": sum(r["position_a"] for r in decided) / len(decided) if decided else None,
            "by_aspect": {k: {"pairs": len(v), "agreement": share(v, lambda r: r["agree"])} for k, v in sorted(by_aspect.items())},
            "rows": list(rows)}


def ai_pairs(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The AI's labels as TRL pairs (chosen = the answer the judge preferred), with its soft label kept."""
    out = []
    for r in rows:
        if r["decided"]:
            better, worse = (r["chosen"], r["rejected"]) if r["soft"] >= 0.5 else (r["rejected"], r["chosen"])
            out.append({"prompt": r["prompt"], "chosen": better, "rejected": worse, "ai_probability": max(r["soft"], 1 - r["soft"])})
    return out


def rlaif_job(ctx: Any) -> dict[str, Any]:
    """The page's background run: AI labels for a pair source; ``labels.json`` holds the summary and every row."""
    from core.models import load_model
    from core.safety.constitution import load_constitution

    config = ctx.config
    pairs = human_pairs(config.get("source", "bundled"), config.get("limit"))
    ctx.progress(event="start", total=len(pairs))
    loaded = load_model(config["model"], precision=config.get("precision", "auto"))
    result = agreement(loaded, pairs, load_constitution(), config.get("principle"),
                       progress=lambda done, total: ctx.progress(done=done, total=total), should_stop=ctx.should_stop)
    (ctx.dir / "labels.json").write_text(json.dumps(result, indent=1))
    return {k: v for k, v in result.items() if k != "rows"}
