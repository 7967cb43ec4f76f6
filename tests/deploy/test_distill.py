"""Distillation (core.deploy.distill): the KD loss lowers a layer-dropped student's KL to its teacher, hard labels run at
the same budget, and bad settings or vocabularies fail with one clear message. Tiny 4-layer Llamas built from a config."""

from __future__ import annotations

import copy
import json
import math

import pytest

from core.data import DataError
from core.deploy.distill import (
    DistillConfig,
    build_student,
    build_trainer,
    check_distill_config,
    check_same_vocabulary,
    distill_job,
    held_out_texts,
    kl_to_teacher,
    training_texts,
)
from core.jobs import RunContext
from tests.conftest import TINY_CORPUS, build_tiny_tokenizer

TRAIN = ["The capital of France is Paris.", "I took my money to the bank.", "The teacher taught the student."] * 4
HELD_OUT = ["Once upon a time there was a small language model.", "The bank of the river was green."]


def build_teacher(vocab_size: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, bos_token_id=0,
                         eos_token_id=2, pad_token_id=0, tie_word_embeddings=True, initializer_range=0.2)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module")
def teacher(tokenizer):
    return build_teacher(len(tokenizer))


@pytest.fixture
def student(teacher):
    from core.deploy.prune import drop_layers

    return drop_layers(copy.deepcopy(teacher), [1, 2])


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TRAIN))
    return path


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, teacher, tokenizer):
    folder = tmp_path_factory.mktemp("tiny-teacher")
    teacher.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def settings(train_file, **overrides) -> DistillConfig:
    values = {"teacher": "tiny", "drop_layers": 2, "data": "general_text", "max_steps": 5, "learning_rate": 1e-2,
              "batch_size": 4, "max_length": 32, "temperature": 2.0, "alpha": 1.0}
    return DistillConfig(**{**values, **overrides})


def test_distillation_lowers_held_out_kl_to_the_teacher(teacher, student, tokenizer, train_file, tmp_path):
    held_out = held_out_texts()[:8]  # gen-001..008; training reads gen-031..060
    before = kl_to_teacher(student, teacher, tokenizer, held_out, max_length=32)
    trainer = build_trainer(settings(train_file), student, teacher, tokenizer, tmp_path / "out")
    trainer.train()
    after = kl_to_teacher(student, teacher, tokenizer, held_out, max_length=32)
    assert before > 0 and math.isfinite(after)
    assert after < 0.7 * before, (before, after)


def test_kl_of_the_teacher_to_itself_is_zero(teacher, tokenizer):
    assert kl_to_teacher(teacher, teacher, tokenizer, HELD_OUT) == pytest.approx(0.0, abs=1e-6)


def test_hard_labels_train_at_the_same_budget_without_the_teacher(teacher, student, tokenizer, train_file, tmp_path):
    calls = []
    handle = teacher.register_forward_hook(lambda *args: calls.append(1))
    try:
        trainer = build_trainer(settings(train_file, mode="hard", max_steps=3, data=str(train_file)), student, teacher, tokenizer, tmp_path / "o")
        result = trainer.train()
    finally:
        handle.remove()
    assert trainer.state.global_step == 3 and math.isfinite(result.training_loss)
    assert calls == []  # the baseline never consults the teacher


def test_training_texts_come_from_the_general_text_split_or_a_file(train_file, tmp_path):
    from core.finetune.mixing import general_texts

    assert training_texts() == general_texts()[30:] and held_out_texts() == general_texts()[:30]
    assert training_texts(str(train_file)) == TRAIN
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"prompt": "no text"}\n')
    with pytest.raises(DataError, match="line 2 needs a non-empty string field 'text'"):
        training_texts(str(bad))


def test_different_vocabularies_are_refused(tokenizer):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    other = Tokenizer(models.BPE())
    other.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    other.train_from_iterator(TINY_CORPUS, trainers.BpeTrainer(vocab_size=280, special_tokens=["<pad>"],
                                                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    with pytest.raises(ValueError, match="different vocabularies.*tokenizer"):
        check_same_vocabulary(tokenizer, PreTrainedTokenizerFast(tokenizer_object=other))
    check_same_vocabulary(tokenizer, copy.deepcopy(tokenizer))  # the same vocabulary passes


def test_a_student_of_another_vocabulary_fails_before_training(teacher, tokenizer, tmp_path, train_file):
    from tests.conftest import build_tiny_model

    other_tok = build_tiny_tokenizer()
    other_tok.add_tokens(["<extra>"])
    folder = tmp_path / "other"
    build_tiny_model(len(other_tok)).save_pretrained(folder)
    other_tok.save_pretrained(folder)
    with pytest.raises(ValueError, match="different vocabularies"):
        build_student(settings(train_file, student=str(folder), drop_layers=0), teacher, tokenizer)


def test_dropping_every_layer_of_the_student_is_refused(teacher, tokenizer, train_file):
    with pytest.raises(ValueError, match="at least one must stay"):
        build_student(settings(train_file, drop_layers=4), teacher, tokenizer)


@pytest.mark.parametrize(("change", "message"), [
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"max_steps": -1}, "max_steps must be in"),
    ({"mode": "soft"}, "mode must be one of distil, hard"),
    ({"alpha": 1.5}, "alpha must be in"),
    ({"alpha": 0.0}, "that is mode hard"),
    ({"temperature": 0}, "temperature must be in"),
    ({"drop_layers": 0}, "drop at least 1"),
    ({"data": "/no/such/file.jsonl"}, "data must be general_text or an existing JSONL"),
    ({"variant": "prune"}, "variant: distil"),
])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig(**change)


def test_config_round_trips_and_names_its_base():
    config = DistillConfig.from_dict({"mode": "hard", "max_steps": 5})
    data = config.to_dict()
    assert data["base_model"] == data["teacher"] == "smollm2-135m-instruct"
    assert (data["task"], data["method"], data["variant"]) == ("deploy", "full", "distil")
    assert DistillConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="Unknown distillation settings: colour"):
        DistillConfig.from_dict({"colour": "red"})


def test_distill_job_saves_a_student_that_reloads_and_generates(teacher_dir, train_file, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ctx = RunContext(run_dir, {**settings(train_file, teacher=str(teacher_dir), max_steps=3).to_dict(), "target": "x"})
    result = distill_job(ctx)
    assert result["steps"] == 3 and result["layers"] == 2 and result["mode"] == "distil"
    assert result["kl_after"] < result["kl_before"]
    progress = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    assert [p["kl_to_teacher"] for p in progress if "kl_to_teacher" in p] == [result["kl_before"], result["kl_after"]]
    assert any("loss" in p for p in progress)
    model = AutoModelForCausalLM.from_pretrained(run_dir / "model")
    tok = AutoTokenizer.from_pretrained(run_dir / "model")
    assert model.config.num_hidden_layers == 2
    ids = tok("The capital", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape[1] == ids.shape[1] + 4


def test_distill_job_stops_when_asked(teacher_dir, train_file, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "cancel").touch()
    result = distill_job(RunContext(run_dir, settings(train_file, teacher=str(teacher_dir)).to_dict()))
    assert result["stopped_at"] == 0 and not (run_dir / "model").exists()


def test_check_distill_config_refuses_dropping_every_layer_before_a_run(teacher_dir):
    with pytest.raises(ValueError, match="Cannot drop 4 of the 4 layers"):
        check_distill_config({"teacher": str(teacher_dir), "drop_layers": 4})
    assert check_distill_config({"teacher": str(teacher_dir), "drop_layers": 3, "alpha": None})["alpha"] == 0.9
