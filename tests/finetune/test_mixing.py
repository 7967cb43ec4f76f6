"""Multi-task mixing: proportions as the weights say (counted by hand), bad mixes refused, a mixed run trains."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from core.data import load_bundled
from core.finetune import FinetuneConfig
from core.finetune.mixing import general_texts, mix_counts, probe_texts, training_pairs
from tests.finetune.helpers import config_for, finished_run


def test_the_bundled_mix_takes_rows_in_proportion_to_the_weights():
    pools = {"dialogsum": len(load_bundled("dialogsum").split("pool")), "sentiment": len(load_bundled("sentiment").split("pool"))}
    assert pools == {"dialogsum": 110, "sentiment": 120}  # and general_text offers paragraphs 31-60: 30
    # Weights 2:1:1 are shares 1/2, 1/4, 1/4. general_text runs out first: 30 rows = 1/4 of 120 in all.
    config = FinetuneConfig(mix=({"dataset": "dialogsum", "weight": 2}, {"dataset": "sentiment", "weight": 1},
                                 {"dataset": "general_text", "weight": 1}))
    pairs = training_pairs(config)
    assert Counter(p["source"] for p in pairs) == {"dialogsum": 60, "sentiment": 30, "general_text": 30}
    assert len({(p["prompt"], p["completion"]) for p in pairs}) == 120  # no row twice
    assert len({p["source"] for p in pairs[:20]}) == 3  # shuffled together, not one block after another


def test_a_mix_never_trains_on_the_forgetting_probe_or_the_test_splits():
    config = FinetuneConfig(mix=({"dataset": "general_text", "weight": 1}, {"dataset": "sentiment", "weight": 1}))
    pairs = training_pairs(config)
    texts = {p["completion"] for p in pairs if p["source"] == "general_text"}
    assert texts == set(general_texts()[30:]) and not texts & set(probe_texts())
    assert len(probe_texts()) == 30
    test_reviews = {e.input for e in load_bundled("sentiment").split("test")}
    assert not any(review in p["prompt"] for p in pairs for review in test_reviews)
    assert all(p["prompt"] == "" for p in pairs if p["source"] == "general_text")  # plain text: all of it in the loss


def test_mix_counts_by_hand():
    # shares 1/4 and 3/4: b (30 rows) limits the total to 40 -> 10 and 30
    assert mix_counts({"a": 110, "b": 30}, {"a": 1, "b": 3}) == {"a": 10, "b": 30}
    # shares 1/3 each of 10: 3.33 each, the remainder goes to one of them; every row of the smallest is used
    counts = mix_counts({"a": 10, "b": 50, "c": 50}, {"a": 1, "b": 1, "c": 1})
    assert counts["a"] == 10 and sum(counts.values()) == 30 and sorted(counts.values()) == [10, 10, 10]
    assert mix_counts({"a": 7}, {"a": 0.5}) == {"a": 7}


def test_the_same_seed_draws_the_same_mix_and_another_seed_another():
    mix = ({"dataset": "dialogsum", "weight": 1}, {"dataset": "sentiment", "weight": 3})
    a, b, c = (training_pairs(FinetuneConfig(mix=mix, seed=s)) for s in (0, 0, 1))
    assert a == b and a != c


@pytest.mark.parametrize(("mix", "message"), [
    ([{"dataset": "dialogsum", "weight": 0}], r"weight must be in \(0, ∞\]"),
    ([{"dataset": "dialogsum", "weight": -1.0}], r"mix entry 1 \(dialogsum\) weight must be in"),
    ([{"dataset": "dialogsum", "weight": math.nan}], "weight must be a finite number"),
    ([{"dataset": "dialogsum", "weight": math.inf}], "weight must be a finite number"),
    ([{"dataset": "dialogsum", "weight": "2"}], "weight must be a number"),
    ([{"dataset": "wikipedia", "weight": 1}], "mix entry 1: no dataset 'wikipedia'"),
    ([{"dataset": "sentiment", "weight": 1}, {"dataset": "sentiment", "weight": 2}], "'sentiment' is listed twice"),
    ([{"dataset": "sentiment"}], "exactly the keys dataset and weight"),
    ("sentiment", "mix must be a list"),
])
def test_bad_mixes_are_refused_with_the_reason(mix, message):
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(mix=mix)


def test_a_tiny_multi_task_run_trains_end_to_end(tiny_wide_dir, tmp_path, lab_home):
    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text("\n".join(json.dumps({"prompt": f"Say {h}.", "completion": f" {h}"}) for h in range(12)))
    config = config_for(tiny_wide_dir, pairs_file, method="lora", max_length=1024,
                        mix=[{"dataset": str(pairs_file), "weight": 1}, {"dataset": "general_text", "weight": 1}])
    assert Counter(p["source"] for p in training_pairs(config)) == {str(pairs_file): 12, "general_text": 12}
    run = finished_run(lab_home, config, "20260101-000000-lora-mix")  # the job's function, on config.yaml's settings
    assert FinetuneConfig.from_dict(run.config) == config  # the mix survives config.yaml
    assert run.status["result"]["steps"] == 2
    assert (run.dir / "model" / "adapter_model.safetensors").is_file()
    losses = [p["loss"] for p in run.progress() if "loss" in p]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
