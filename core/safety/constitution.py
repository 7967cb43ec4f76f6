"""Constitutional AI, the supervised phase: the model critiques its own answer against a written principle and
revises it, and the revisions become training data.

A constitution is a list of principles, each a critique request, a revision request and a judge question (for AI
feedback, ``core.safety.rlaif``). The bundled one (``assets/constitution.json``) was written for the project, modelled
on the published examples. One round on a prompt, with one principle (chosen, or drawn at random):

1. initial answer: the conversation ``[user: prompt]``;
2. critique: ``[user: prompt] [assistant: initial] [user: "Critique request: <critique>"]``;
3. revision: the same plus ``[assistant: critique] [user: "Revision request: <revision> Reply with the rewritten
   response only."]`` (the last sentence is ours: 135M-parameter models otherwise describe the rewrite).

Each step's exact prompt is the model's chat template applied to those turns; a model with no template (a base model)
gets the paper's plain text, ``Human: ...\\n\\nAssistant: ...`` with ``CritiqueRequest:`` / ``Critique:`` /
``RevisionRequest:`` / ``Revision:`` turns. A second round critiques the last revision. Over a prompt set
(``JOB``, a background run) the rounds give a supervised set ``{"prompt", "completion": revision}`` and preference
pairs ``{"prompt", "chosen": revision, "rejected": initial}``, the formats the fine-tune runner and DPO read.

Does not hold: AI preference labels (``core.safety.rlaif``) or the training itself (``core.finetune``, ``core.rlhf``).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.data import DATASETS_DIR, DataError

if TYPE_CHECKING:
    from core.jobs import RunContext
    from core.models import LoadedModel

BUNDLED = DATASETS_DIR.parent / "constitution.json"
JOB = "core.safety.constitution:constitution_job"
FIELDS = ("critique", "revision", "judge")
MAX_FIELD = 1000
REWRITE_ONLY = "Reply with the rewritten response only."  # small models otherwise describe the rewrite


@dataclass(frozen=True)
class Principle:
    id: str
    title: str
    critique: str
    revision: str
    judge: str


def parse_constitution(data: Any) -> list[Principle]:
    """Principles from JSON ({"principles": [...]} or a bare list); DataError naming the first bad one."""
    items = data.get("principles") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise DataError("A constitution needs at least one principle: {\"principles\": [{\"critique\": ..., \"revision\": ...}]}.")
    principles, seen = [], set()
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise DataError(f"Principle {number} is not an object with a critique and a revision request.")
        pid = str(item.get("id") or f"principle-{number}").strip()
        for name in FIELDS:
            value = item.get(name, "")
            if name == "judge" and not value:
                continue  # optional: only AI feedback needs it
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"Principle {number} ({pid}) has an empty {name} request: write one, or delete the principle.")
            if len(value) > MAX_FIELD:
                raise DataError(f"Principle {number} ({pid}): the {name} request is over {MAX_FIELD} characters.")
        if pid in seen:
            raise DataError(f"Two principles are called {pid!r}: give each its own id.")
        seen.add(pid)
        principles.append(Principle(id=pid, title=str(item.get("title") or pid), critique=item["critique"].strip(),
                                    revision=item["revision"].strip(), judge=str(item.get("judge") or "").strip()))
    return principles


def load_constitution(path: Path | None = None) -> list[Principle]:
    path = path or BUNDLED
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"Cannot read the constitution {path.name}: {err}") from err
    return parse_constitution(data)


def choose(principles: Sequence[Principle], which: int | str | None, rng: random.Random) -> Principle:
    """A principle by position (1-based) or id, or at random when ``which`` is None."""
    if which is None:
        return rng.choice(list(principles))
    for number, principle in enumerate(principles, 1):
        if which in (number, principle.id, str(number)):
            return principle
    raise ValueError(f"No principle {which!r}: choose 1 to {len(principles)} or one of {', '.join(p.id for p in principles)}.")


# ---------------------------------------------------------------- the prompts


def critique_turns(prompt: str, answer: str, principle: Principle) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer},
            {"role": "user", "content": f"Critique request: {principle.critique}"}]


def revision_turns(prompt: str, answer: str, principle: Principle, critique: str) -> list[dict[str, str]]:
    return critique_turns(prompt, answer, principle) + [
        {"role": "assistant", "content": critique},
        {"role": "user", "content": f"Revision request: {principle.revision} {REWRITE_ONLY}"}]


PLAIN_NAMES = {"Critique request: ": ("CritiqueRequest", "Critique"), "Revision request: ": ("RevisionRequest", "Revision")}


def render(tokenizer: Any, turns: list[dict[str, str]]) -> str:
    """The exact text the model continues: its chat template, or the paper's plain Human/Assistant format."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    out, answer_name = [], "Assistant"
    for i, turn in enumerate(turns):
        content = turn["content"]
        if i == 0:
            out.append(f"Human: {content}")
        elif turn["role"] == "assistant":
            out.append(f"{answer_name}: {content}")
        else:
            prefix = next((p for p in PLAIN_NAMES if content.startswith(p)), None)
            request, answer_name = PLAIN_NAMES[prefix] if prefix else ("Human", "Assistant")
            out.append(f"{request}: {content.removeprefix(prefix or '')}")
    out.append(f"{answer_name}:")
    return "\n\n".join(out)


def continue_text(loaded: "LoadedModel", text: str, settings: Any, max_new_tokens: int) -> str:
    from core.sampling import stream_generate

    ids = loaded.tokenizer(text, add_special_tokens=not getattr(loaded.tokenizer, "chat_template", None))["input_ids"]
    answer = "".join(step.piece for step in stream_generate(loaded, ids, settings, max_new_tokens)).strip()
    if not getattr(loaded.tokenizer, "chat_template", None):  # a base model runs on into the next turn: cut it there
        answer = answer.split("\n\n")[0].strip()
    return answer or "(no answer)"


def default_settings(seed: int = 0) -> Any:
    from core.sampling import SamplingSettings

    return SamplingSettings(temperature=0.7, top_p=0.9, do_sample=True, seed=seed)


def revise(loaded: "LoadedModel", prompt: str, principles: Sequence[Principle], rounds: int = 1,
           which: int | str | None = None, seed: int = 0, max_new_tokens: int = 96, initial: str | None = None) -> dict[str, Any]:
    """Initial answer, then per round a critique and a revision under one principle, every prompt kept."""
    if not prompt.strip():
        raise ValueError("The prompt is empty: type a request for the model to answer.")
    if not 1 <= rounds <= 5:
        raise ValueError(f"Rounds must be 1 to 5, got {rounds}.")
    rng, tokenizer = random.Random(seed), loaded.tokenizer
    settings = lambda step: default_settings(seed * 1000 + step)  # noqa: E731  (each generation its own seed)
    first_prompt = render(tokenizer, [{"role": "user", "content": prompt}])
    answer = initial if initial is not None else continue_text(loaded, first_prompt, settings(0), max_new_tokens)
    trace: dict[str, Any] = {"prompt": prompt, "initial_prompt": first_prompt, "initial": answer, "rounds": []}
    for number in range(rounds):
        principle = choose(principles, which, rng)
        critique_prompt = render(tokenizer, critique_turns(prompt, answer, principle))
        critique = continue_text(loaded, critique_prompt, settings(2 * number + 1), max_new_tokens)
        revision_prompt = render(tokenizer, revision_turns(prompt, answer, principle, critique))
        answer = continue_text(loaded, revision_prompt, settings(2 * number + 2), max_new_tokens)
        trace["rounds"].append({"principle": asdict(principle), "critique_prompt": critique_prompt, "critique": critique,
                                "revision_prompt": revision_prompt, "revision": answer})
    trace["final"] = answer
    return trace


def training_rows(trace: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """One supervised example and one preference pair from a revised answer."""
    return ({"prompt": trace["prompt"], "completion": trace["final"]},
            {"prompt": trace["prompt"], "chosen": trace["final"], "rejected": trace["initial"]})


# ---------------------------------------------------------------- over a prompt set, in the background


def constitution_job(ctx: "RunContext") -> dict[str, Any]:
    """Revise the model's answers to a prompt set: ``sft.jsonl``, ``preferences.jsonl`` and ``traces.jsonl``."""
    from core.models import load_model
    from core.rlhf.prompts import load_prompts

    config = ctx.config
    principles = parse_constitution(config["constitution"]) if config.get("constitution") else load_constitution()
    train, _ = load_prompts(config.get("prompts", "provocative"))
    prompts = train[: int(config.get("limit", 8))]
    ctx.progress(event="start", total=len(prompts), principles=len(principles))
    loaded = load_model(config["model"], precision=config.get("precision", "auto"))
    files = {name: (ctx.dir / f"{name}.jsonl").open("a", encoding="utf-8") for name in ("sft", "preferences", "traces")}
    done = sum(1 for _ in (ctx.dir / "traces.jsonl").open()) if ctx.resume else 0
    try:
        for number, prompt in enumerate(prompts[done:], done + 1):
            if ctx.should_stop():
                return {"stopped_at": number - 1}
            trace = revise(loaded, prompt, principles, rounds=int(config.get("rounds", 1)), which=config.get("principle"),
                           seed=int(config.get("seed", 0)) + number, max_new_tokens=int(config.get("max_new_tokens", 96)))
            sft, pair = training_rows(trace)
            rows = [("sft", sft), ("traces", trace)] + ([("preferences", pair)] if pair["chosen"] != pair["rejected"] else [])
            for name, row in rows:  # a revision that changed nothing is no preference: no pair for it
                files[name].write(json.dumps(row) + "\n")
                files[name].flush()
            ctx.progress(done=number, total=len(prompts), prompt=prompt, initial=trace["initial"], final=trace["final"])
    finally:
        for handle in files.values():
            handle.close()
    return {"examples": len(prompts), "sft": str(ctx.dir / "sft.jsonl"), "preferences": str(ctx.dir / "preferences.jsonl")}
