"""Pruning: saliency, dropped layers that reload and generate (Llama and Gemma 3), MLP channels, magnitude masks, the
job, its config checks and healing through the fine-tune runner. Tiny random models built from a config."""

from __future__ import annotations

import json
import math
import tempfile
import time

import pytest
import torch
import yaml

from core.deploy import prune
from tests.conftest import build_tiny_tokenizer

GEMMA_TYPES = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]


def tiny(arch: str, layers: int = 4):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    shape = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128, bos_token_id=0, eos_token_id=2, pad_token_id=0)
    if arch == "llama":
        return LlamaForCausalLM(LlamaConfig(**shape, tie_word_embeddings=True)).eval()
    config = Gemma3TextConfig(**shape, head_dim=8, sliding_window=4, layer_types=GEMMA_TYPES[:layers])
    return Gemma3ForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


TEXTS = ["The bank is open at nine.", "A river flows into the sea through a delta.", "Say something kind today."]
PROMPT = torch.tensor([[5, 17, 42, 9, 101, 33]])


def greedy_without_cache(model, ids, new_tokens):
    for _ in range(new_tokens):
        logits = model(input_ids=ids, use_cache=False).logits
        ids = torch.cat([ids, logits[:, -1:].argmax(-1)], dim=1)
    return ids


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_saliency_has_a_score_per_layer_and_an_identity_layer_scores_zero_and_goes_first(arch, tokenizer):
    model = tiny(arch)
    scores = prune.layer_saliency(model, tokenizer, TEXTS)
    assert len(scores) == 4 and all(0 <= s <= 2 for s in scores)
    layer = model.model.layers[2]
    with torch.no_grad():  # no attention output and no MLP output: the layer hands its input on unchanged
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    scores = prune.layer_saliency(model, tokenizer, TEXTS)
    assert scores[2] == pytest.approx(0, abs=1e-5) and min(scores[:2] + scores[3:]) > 1e-3
    assert prune.least_salient_layers(scores, 1) == [2]


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_dropped_layers_save_reload_alone_with_equal_logits_and_generate_with_the_cache(arch, tmp_path):
    from transformers import AutoModelForCausalLM

    model = tiny(arch)
    parameters = prune.count_parameters(model)
    prune.drop_layers(model, [0, 2])
    assert len(model.model.layers) == model.config.num_hidden_layers == 2
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1]
    assert prune.count_parameters(model) < parameters
    if arch == "gemma3":  # the kept layers keep their kind of attention
        assert model.config.layer_types == [GEMMA_TYPES[1], GEMMA_TYPES[3]]
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    assert len(reloaded.model.layers) == 2
    with torch.no_grad():
        torch.testing.assert_close(reloaded(PROMPT).logits, model(PROMPT).logits, rtol=0, atol=1e-6)
        generated = reloaded.generate(PROMPT, attention_mask=torch.ones_like(PROMPT), max_new_tokens=8, do_sample=False,
                                      min_new_tokens=8, pad_token_id=0)
        assert torch.equal(generated, greedy_without_cache(reloaded, PROMPT, 8))


def test_gemma_layer_types_follow_the_kept_layers_after_a_reload(tmp_path):
    from transformers import AutoConfig

    prune.drop_layers(tiny("gemma3"), [1]).save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.num_hidden_layers == 3 and config.layer_types == [GEMMA_TYPES[i] for i in (0, 2, 3)]


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_mlp_pruning_shrinks_every_mlp_and_reloads(arch, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    model = tiny(arch)
    parameters = prune.count_parameters(model)
    prune.prune_mlp_channels(model, 0.25, tokenizer, TEXTS)
    assert model.config.intermediate_size == 48
    assert all(layer.mlp.down_proj.in_features == 48 == layer.mlp.up_proj.out_features for layer in model.model.layers)
    assert prune.count_parameters(model) == parameters - 4 * 16 * 3 * 32
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(PROMPT).logits, model(PROMPT).logits, rtol=0, atol=1e-6)
        assert reloaded.generate(PROMPT, max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0).shape[1] == 10


def test_mlp_pruning_keeps_the_active_channels():
    model = tiny("llama", layers=1)
    mlp = model.model.layers[0].mlp
    with torch.no_grad():  # channel 7 writes nothing: the first to go, with or without texts
        mlp.down_proj.weight[:, 7] = 0
    kept_weight = mlp.down_proj.weight[:, 8].clone()
    prune.prune_mlp_channels(model, 1 / 64)
    assert model.config.intermediate_size == 63
    torch.testing.assert_close(model.model.layers[0].mlp.down_proj.weight[:, 7], kept_weight)  # channel 8 moved to 7


def test_magnitude_pruning_reaches_the_sparsity_and_leaves_the_bytes_unchanged():
    model = tiny("llama")
    state_bytes = lambda: sum(t.numel() * t.element_size() for t in model.state_dict().values())  # noqa: E731
    before = state_bytes()
    report = prune.magnitude_prune(model, 0.5)
    assert report["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert state_bytes() == before and report["dense_bytes_after"] == report["dense_bytes_before"]
    assert report["csr_bytes"] > report["pruned_weight_bytes"]  # at 50%, sparse storage is even bigger than dense
    q = model.model.layers[0].self_attn.q_proj
    assert not hasattr(q, "weight_mask") and float((q.weight == 0).float().mean()) == pytest.approx(0.5, abs=0.01)


def test_bad_pruning_requests_are_refused_with_a_reason():
    model = tiny("llama")
    with pytest.raises(ValueError, match="at least one decoder layer must stay"):
        prune.drop_layers(model, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="out of range"):
        prune.drop_layers(model, [4])
    with pytest.raises(ValueError, match="twice"):
        prune.drop_layers(model, [1, 1])
    with pytest.raises(ValueError, match="layers to drop"):
        prune.least_salient_layers([0.1, 0.2], 2)
    for fraction in (0.95, -0.1, math.nan):
        with pytest.raises(ValueError, match="mlp_fraction"):
            prune.prune_mlp_channels(model, fraction)
    with pytest.raises(ValueError, match="sparsity"):
        prune.magnitude_prune(model, 1.0)
    assert len(model.model.layers) == 4


def test_the_config_check_fails_before_a_run(tmp_path):
    prune.drop_layers(tiny("llama"), []).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="at least one pruning method"):
        prune.check_prune_config({"base_model": str(tmp_path)})
    with pytest.raises(ValueError, match="sparsity must be a finite number"):
        prune.check_prune_config({"sparsity": math.nan})
    with pytest.raises(ValueError, match="mlp_fraction must be in"):
        prune.check_prune_config({"mlp_fraction": 0.95})
    with pytest.raises(ValueError, match="Cannot drop 4 of the 4 layers"):
        prune.check_prune_config({"base_model": str(tmp_path), "drop_layers": 4})  # read from the folder's config.json
    with pytest.raises(ValueError, match="Unknown pruning settings: colour"):
        prune.check_prune_config({"sparsity": 0.5, "colour": "red"})
    checked = prune.check_prune_config({"base_model": str(tmp_path), "drop_layers": 3, "sparsity": None})
    assert checked["drop_layers"] == 3 and checked["sparsity"] == 0 and checked["variant"] == "prune"


def test_the_job_saves_a_variant_that_loads_as_a_run_and_heals_through_the_fine_tune_runner(lab_home, tokenizer,
                                                                                            tmp_path):
    from core import jobs
    from core.finetune import FinetuneConfig
    from core.models import load_model
    from tests.finetune.helpers import config_for, finished_run

    base = tmp_path / "base"
    tiny("llama").save_pretrained(base)
    tokenizer.save_pretrained(base)
    run_dir = lab_home / "runs" / "20260101-000000-prune"
    run_dir.mkdir(parents=True)
    config = {"target": prune.JOB, **prune.check_prune_config({"base_model": str(base), "drop_layers": 1,
                                                                "mlp_fraction": 0.25, "sparsity": 0.3})}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    reports = []
    ctx = jobs.RunContext(run_dir, jobs.read_config(run_dir))
    ctx.progress = lambda **fields: reports.append(fields)  # type: ignore[method-assign]
    result = prune.prune_job(ctx)
    (run_dir / "status.json").write_text(json.dumps({"state": "done", "result": result}))
    assert result["layers_before"] == 4 and result["layers_after"] == 3 and len(result["dropped_layers"]) == 1
    assert len(result["saliency"]) == 4 and result["parameters_after"] < result["parameters_before"]
    assert result["magnitude"]["sparsity"] == pytest.approx(0.3, abs=0.01)
    assert [r["stage"] for r in reports][-1] == "saved" and json.dumps(result)
    variant = load_model("run:20260101-000000-prune", precision="float32")  # the run loader, from the folder alone
    assert len(variant.model.model.layers) == 3 and variant.model.config.intermediate_size == 48

    heal = FinetuneConfig.from_dict(prune.heal_config("20260101-000000-prune"))
    assert heal.base_model == "run:20260101-000000-prune"
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"prompt": f"Say {h}.", "completion": f" Open at {h}."}) for h in range(8)))
    healed = finished_run(lab_home, config_for(heal.base_model, pairs, method="full"), "20260101-000001-heal")
    assert healed.status["result"]["steps"] == 2
    assert len(load_model("run:20260101-000001-heal", precision="float32").model.model.layers) == 3


@pytest.mark.integration
def test_smollm2_loses_six_layers_by_saliency_reloads_and_still_writes():
    from core.evaluation.metrics import perplexity
    from core.finetune.mixing import general_texts
    from core.models import LoadedModel, load_model
    from core.models.loading import load_folder

    start = time.monotonic()
    base = load_model("smollm2-135m-instruct", precision="float32")
    model = prune.private_copy(base.model)
    scores = prune.layer_saliency(model, base.tokenizer, prune.default_saliency_texts())
    dropped = prune.least_salient_layers(scores, 6)
    prune.drop_layers(model, dropped)
    with tempfile.TemporaryDirectory() as base_dir:
        model.save_pretrained(base_dir)
        base.tokenizer.save_pretrained(base_dir)
        folder, tokenizer = load_folder(base_dir, torch.float32, "cpu", "pruned")
    assert len(folder.model.layers) == 24
    ids = tokenizer("The Nile flows", return_tensors="pt")
    out = folder.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids.input_ids.shape[1] + 5
    texts = general_texts()[:5]
    before = perplexity(base, texts)
    after = perplexity(LoadedModel(folder, tokenizer, base.info), texts)
    print(f"saliency {[round(s, 3) for s in scores]} dropped {dropped} perplexity base {before:.2f} pruned {after:.2f} "
          f"({time.monotonic() - start:.1f} s)")
    assert math.isfinite(after) and after > before


def test_the_shipped_healing_config_is_what_heal_config_writes():
    from core.finetune import FinetuneConfig
    from tests.conftest import ROOT

    shipped = yaml.safe_load((ROOT / "assets" / "configs" / "heal-pruned.yaml").read_text())
    assert shipped == prune.heal_config("PRUNE_RUN_ID")
    assert FinetuneConfig.from_dict(shipped).mix[1]["dataset"] == "general_text"
