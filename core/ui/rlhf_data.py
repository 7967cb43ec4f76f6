"""Widgets of the RLHF page's Data tab: counts, agreement (pairwise, Fleiss' and Cohen's kappa, Krippendorff's alpha),
search and filters over the rankings, the most disputed comparisons, export and import."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import store
from core.rlhf import preferences
from core.rlhf.label_filters import RankingFilter, filter_rankings
from core.ui.classroom import current_actor
from core.ui.rlhf import LETTERS

EVERYONE, ANY_FLAG = "everyone", "any"


def data_tab() -> None:
    counts = store.label_counts()
    rankings = store.list_rankings()
    pairs = preferences.pairs_from_rankings(rankings)
    c = st.columns(5)
    for column, (label, value) in zip(c, [("Prompts", counts["prompts"]), ("Comparisons", counts["comparisons"]),
                                          ("Rankings", counts["rankings"]), ("Annotators", counts["annotators"]), ("Pairs", len(pairs))]):
        column.metric(label, value)
    readable = preferences.readable_rankings(rankings, current_actor())
    if len(readable) < len(rankings):
        st.caption(f"You see and export your own {len(readable)} rankings; the counts and the agreement are the whole "
                   "class's. The teacher sees and exports everyone's.")
    if rankings:
        agreement_panel(rankings)
        search_panel(readable)
        table = pd.DataFrame([{"annotator": r["annotator"], "comparison": r["comparison_id"], "prompt": r["prompt"]} for r in rankings])
        left, right = st.columns(2)
        left.caption("Rankings per annotator")
        left.dataframe(table.groupby("annotator").size().rename("rankings").reset_index(), hide_index=True)
        right.caption("Annotators per prompt")
        right.dataframe(table.groupby("prompt").size().rename("annotators").reset_index().sort_values("annotators", ascending=False), hide_index=True)
        if len(readable) == len(rankings):  # it shows each person's ranking of a comparison
            disputed_panel(rankings)
        shown = pairs if len(readable) == len(rankings) else preferences.pairs_from_rankings(readable)
        with st.expander(f"The {len(shown)} pairs"):
            st.dataframe(pd.DataFrame(shown), hide_index=True)
    c1, c2 = st.columns(2)
    c1.download_button("Rankings (JSONL, for import)", preferences.export_rankings(readable), "rankings.jsonl", "application/jsonl",
                       disabled=not readable, icon=":material/download:", key="rlhf.export_rankings")
    c2.download_button("Pairs for TRL (JSONL)", preferences.export_pairs(readable), "preference-pairs.jsonl", "application/jsonl",
                       disabled=not readable, icon=":material/download:", key="rlhf.export_pairs")
    upload = st.file_uploader("Import rankings or TRL pairs (JSONL)", type=["jsonl", "json"], key="rlhf.import")
    if upload is not None and st.button("Import", key="rlhf.import_button"):
        bar = st.progress(0.0, text="Checking every line...")
        try:
            count = preferences.import_jsonl(upload.getvalue().decode("utf-8", errors="replace"),
                                             lambda done, total: bar.progress(done / total, text=f"Imported {done:,} of {total:,}"),
                                             actor=current_actor())
        except ValueError as err:  # a bad line (nothing imported), a busy database or a full disk (said how far it got)
            st.error(str(err))
        else:
            st.success(f"Imported {count} rankings.")
        bar.empty()


def agreement_panel(rankings: list[dict[str, Any]]) -> None:
    result = preferences.agreement(rankings)
    st.markdown("**Agreement between annotators**")
    if not result.items:
        st.caption("No comparison has been ranked by two people yet: agreement needs overlap (set k in the queue on the "
                   "Label tab).")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Pairwise agreement", f"{result.pairwise:.0%}", help=f"On {result.items} completion pairs judged by two or more people.")
    c2.metric("Fleiss' κ", f"{result.fleiss_kappa:.2f}", help="Agreement beyond chance: 1 perfect, 0 chance level, < 0 worse than chance.")
    c3.metric("Cohen's κ", "—" if result.cohen_kappa is None else f"{result.cohen_kappa:.2f}", help="Two annotators only.")
    alpha = result.krippendorff_alpha
    c4.metric("Krippendorff's α", "—" if alpha is None else f"{alpha:.2f}",
              help="Nominal level, any number of annotators; a comparison someone did not rank is a missing value. "
              "1 perfect, 0 chance level; Argilla reports it. — when every choice was the same.")


def _ranking_text(r: dict[str, Any]) -> str:
    names = {cid: LETTERS[i] for i, cid in enumerate(r["completion_ids"])}
    return " > ".join(" = ".join(names[i] for i in group) for group in r["order"])


def search_panel(rankings: list[dict[str, Any]]) -> None:
    """Filters by annotator, prompt text, flag and disagreement, and the rankings that pass them."""
    st.markdown("**Find rankings**")
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1], vertical_alignment="bottom")
    annotator = c1.selectbox("Annotator", [EVERYONE, *sorted({r["annotator"] for r in rankings})], key="rlhf.filter_annotator")
    text = c2.text_input("Prompt contains", key="rlhf.filter_text", placeholder="any case, e.g. tomato")
    flag = c3.selectbox("Flag", [ANY_FLAG, *store.FLAGS], key="rlhf.filter_flag")
    disputed = c4.toggle("Disagreement only", key="rlhf.filter_disputed",
                         help="Only comparisons where two annotators chose differently on some pair of completions.")
    filters = RankingFilter(None if annotator == EVERYONE else annotator, text, None if flag == ANY_FLAG else flag, disputed)
    found = filter_rankings(rankings, filters)
    st.caption(f"{len(found)} of {len(rankings)} rankings (letters are the completions in stored order).")
    st.dataframe(pd.DataFrame([{"annotator": r["annotator"], "comparison": r["comparison_id"], "prompt": r["prompt"],
                                "ranking": _ranking_text(r), "flags": ", ".join(r["flags"]), "comment": r["comment"] or ""}
                               for r in found], columns=["annotator", "comparison", "prompt", "ranking", "flags", "comment"]),
                 hide_index=True)


def disputed_panel(rankings: list[dict[str, Any]]) -> None:
    disputed = preferences.disagreements(rankings)
    if not disputed:
        return
    st.caption("Where people disagree most")
    choice = st.selectbox("Look at", [d["comparison_id"] for d in disputed], key="rlhf.disputed",
                          format_func=lambda cid: next(f"{d['disagreement']:.0%} · {d['prompt'][:80]}"
                                                       for d in disputed if d["comparison_id"] == cid))
    comparison = store.get_comparison(choice)
    names = {c["id"]: LETTERS[i] for i, c in enumerate(comparison["completions"])}
    for c in comparison["completions"]:
        st.text(f"{names[c['id']]}: {c['text']}")
    st.dataframe([{"annotator": r["annotator"], "ranking": " > ".join(" = ".join(names[i] for i in g) for g in r["order"]),
                   "flags": ", ".join(r["flags"]), "comment": r["comment"] or ""}
                  for r in rankings if r["comparison_id"] == choice], hide_index=True)
