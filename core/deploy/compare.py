"""The comparison: each base model and every finished variant of it in one table, with the Pareto front marked.

A row is on the front when no other row of the same base is at least as good on all three of memory, tokens/s and
perplexity and better on one: those are the variants worth keeping; any other is beaten outright by one of them.
Fronts are per base model, because perplexities over different vocabularies (SmolLM2's 49k tokens, Gemma's 262k)
do not compare. A base's own row takes its numbers from its newest variant's run (they were measured beside it).

Holds: ``OBJECTIVES``, ``comparison`` and ``pareto_front``.
"""

from __future__ import annotations

from typing import Any, Sequence

OBJECTIVES = (("size_bytes", "min"), ("tokens_per_s", "max"), ("perplexity", "min"))
COLUMNS = ("model", "variant", "base_model", "size_bytes", "disk_bytes", "size_ratio", "tokens_per_s", "speedup",
           "perplexity", "perplexity_ratio", "accuracy", "pareto")


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    better_or_equal = all((a[k] <= b[k]) if sense == "min" else (a[k] >= b[k]) for k, sense in OBJECTIVES)
    strictly = any((a[k] < b[k]) if sense == "min" else (a[k] > b[k]) for k, sense in OBJECTIVES)
    return better_or_equal and strictly


def pareto_front(rows: Sequence[dict[str, Any]]) -> list[bool]:
    """For each row, whether no other row dominates it (rows missing a number are never on the front)."""
    usable = [all(isinstance(r.get(k), (int, float)) for k, _ in OBJECTIVES) for r in rows]
    return [ok and not any(u and _dominates(other, row) for other, u in zip(rows, usable) if other is not row)
            for row, ok in zip(rows, usable)]


def _label(run: Any) -> str:
    config, result = run.config, run.status.get("result") or {}
    kind = config.get("variant")
    if kind == "quantize":
        return f"quantised {config.get('scheme')}"
    if kind == "prune":
        parts = [f"-{len(result.get('dropped_layers') or [])} layers" if config.get("drop_layers") else "",
                 f"MLP -{config.get('mlp_fraction'):.0%}" if config.get("mlp_fraction") else "",
                 f"{config.get('sparsity'):.0%} zeros" if config.get("sparsity") else ""]
        return "pruned " + ", ".join(p for p in parts if p)
    if kind == "distil":
        return f"distilled ({config.get('mode', 'distil')} labels)" if config.get("mode") == "hard" else "distilled"
    return str(kind)


def comparison(runs: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Rows for the table and the chart: per base model its own row, then its variants, newest first."""
    from core.deploy.variants import variant_runs

    runs = list(variant_runs()) if runs is None else list(runs)
    rows, bases = [], {}
    for run in runs:
        result = run.status.get("result") or {}
        if "size_bytes" not in result:  # stopped before it was measured
            continue
        base = result.get("base_model", run.config.get("base_model"))
        bases.setdefault(base, {"model": base, "variant": "base (float32)", "base_model": base,
                                "size_bytes": result["size_bytes_base"], "disk_bytes": None, "size_ratio": 1.0,
                                "tokens_per_s": result["tokens_per_s_base"], "speedup": 1.0,
                                "perplexity": result["perplexity_base"], "perplexity_ratio": 1.0,
                                "accuracy": result["accuracy_base"]})
        rows.append({"model": f"run:{run.id}", "variant": _label(run), "base_model": base,
                     **{k: result.get(k) for k in COLUMNS if k in result and k not in ("model", "variant", "base_model")}})
    table = []
    for base, base_row in bases.items():
        group = [base_row] + [r for r in rows if r["base_model"] == base]
        for row, on_front in zip(group, pareto_front(group)):
            table.append({**{k: row.get(k) for k in COLUMNS}, "pareto": on_front})
    return table
