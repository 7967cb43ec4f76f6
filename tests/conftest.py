"""Shared fixtures: an offline environment, a private LAB_HOME, and tiny models built from a config (no downloads)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Before anything imports huggingface_hub: never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
# Converted bundled models are a pure cache: share it with the app so the GGUF conversion runs once per checkout.
os.environ.setdefault("LAB_MODEL_CACHE", str(ROOT / ".lab" / "models"))
# torch.compile of the decode step takes a minute per model on 2 cores: only the tests about it switch it on.
os.environ["LAB_COMPILE"] = "0"
os.environ["LAB_BCRYPT_ROUNDS"] = "4"  # bcrypt's lowest cost: a hash in ms, not 0.25 s (the app uses 12)
os.environ.pop("LAB_AUTH", None)  # sign-in off unless a test turns it on


@pytest.fixture(autouse=True)
def lab_home(tmp_path, monkeypatch) -> Path:
    """Each test writes runs, databases and indexes into its own LAB_HOME."""
    home = tmp_path / "lab"
    monkeypatch.setenv("LAB_HOME", str(home))
    return home


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

TINY_CORPUS = [
    "The capital of France is Paris.",
    "I took my money to the bank.",
    "The teacher taught the student with the book.",
    "Once upon a time there was a small language model that liked to predict the next token.",
] * 20


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer trained in milliseconds on a few sentences, with chat special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TINY_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", bos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(vocab_size: int, seed: int = 0, context: int = 128):
    """A 2-layer Llama with random weights: real architecture, microscopic size."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny chat model saved with save_pretrained: loadable as a 'local folder' model."""
    folder = tmp_path_factory.mktemp("tiny-chat-model")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_wide_dir(tmp_path_factory) -> Path:
    """The same tiny model with a 2,048-token context window: room for few-shot prompts of real datasets."""
    folder = tmp_path_factory.mktemp("tiny-wide-model")
    tokenizer = build_tiny_tokenizer()
    build_tiny_model(len(tokenizer), context=2048).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    """The tiny model loaded in float32 through core.models (session-wide: do not modify it)."""
    from core.models import load_model

    return load_model(str(tiny_model_dir), precision="float32")


TINY_PROMPTS = ["Say something.", "Tell me a fact.", "Write one sentence.", "Go on."]


@pytest.fixture(scope="session")
def tiny_chat_policy_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama trained for a few seconds to answer any of four prompts with one of four sentences (about a
    quarter each). A random tiny model cannot be steered by a reward: its outputs are noise in every context. This
    one picks between modes, like a real model, so PPO can shift probability between them. Also holds prompts.txt."""
    import torch

    folder = tmp_path_factory.mktemp("tiny-chat-policy")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer), context=256)
    sentences = sorted(set(TINY_CORPUS))
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": s}], tokenize=False)
             for p in TINY_PROMPTS for s in sentences]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    model.train()
    for _ in range(300):
        batch = tokenizer(rng.sample(texts, 8), return_tensors="pt", padding=True)
        loss = model(**batch, labels=batch.input_ids.masked_fill(batch.attention_mask == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "prompts.txt").write_text("\n".join(TINY_PROMPTS * 3) + "\n")
    return folder


def make_reward_run(lab_home: Path, run_id: str = "20260101-000000-reward") -> Path:
    """A finished reward-model run folder, as TRL's RewardTrainer would leave it: a tiny Llama with a one-logit head."""
    import torch
    from transformers import LlamaForSequenceClassification

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = build_tiny_model(len(tokenizer)).config
    config.num_labels, config.pad_token_id = 1, tokenizer.pad_token_id
    run = lab_home / "runs" / run_id
    (run / "model").mkdir(parents=True)
    LlamaForSequenceClassification(config).save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    (run / "config.yaml").write_text("target: core.rlhf.reward:train_reward_job\ntask: reward\nmax_steps: 60\n")
    (run / "status.json").write_text('{"state": "done", "result": {"accuracy": 0.7, "margin": 0.2, "held_out_pairs": 3}}')
    return run


@pytest.fixture
def file_size_limit():
    """A file-size limit stands in for a full disk (writes past it fail with EFBIG, as on a full disk with ENOSPC)."""
    import resource
    import signal

    previous_limit, previous_handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def set_limit(nbytes: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, previous_limit[1]))

    yield set_limit
    resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
    signal.signal(signal.SIGXFSZ, previous_handler)


@pytest.fixture
def small_disk(tmp_path):
    """A real, nearly full file system: a 4 MiB tmpfs mounted for the test (root only; CI runs as root, so there it
    must work). Fill it with ``fill(path, leave_bytes)``."""
    import os
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("cannot mount a tmpfs under CI (needs root)")
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave_bytes: int) -> None:
    """Fill the file system of ``folder`` until about ``leave_bytes`` are free."""
    import os

    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    (folder / "ballast.bin").write_bytes(b"\0" * max(0, free - leave_bytes))


@pytest.fixture
def postgres_db(request, monkeypatch) -> str:
    """A fresh database on the PostgreSQL server of ``LAB_TEST_PG_URL`` (``.ci/run`` starts one), set as LAB_DB_URL;
    dropped afterwards. Without a server the test is skipped, except under CI, where that is a failure."""
    url = os.environ.get("LAB_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("LAB_TEST_PG_URL is not set under CI: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL server (set LAB_TEST_PG_URL; .ci/run starts one)")
    from sqlalchemy import create_engine, text

    from core import store

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"lab_test_{os.getpid()}_{request.node.name[-30:]}".lower()
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = url.rsplit("/", 1)[0] + "/" + name
    monkeypatch.setenv("LAB_DB_URL", db_url)
    yield db_url
    for engine_url in list(store._engines):
        store._engines.pop(engine_url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
