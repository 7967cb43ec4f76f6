"""Measuring real memory, to check the calculators: cache tensors, resident memory, and what each process of a
2-process DDP or FSDP run holds.

Holds: ``cache_nbytes`` (the bytes of a forward pass's KV cache), ``rss_bytes`` / ``peak_rss_bytes`` /
``reset_peak_rss`` (Linux /proc), ``measure_prefill`` and ``measure_training`` (the peak a forward pass or a few
training steps add, in this process), ``sharding_config`` and ``measure_sharding`` (a real multi-process CPU run with
torch.distributed over gloo: parameters, gradients and optimizer states each rank holds after one AdamW step).

Does not hold: the estimates themselves (``core.compute.memory``). The peak functions assume a fresh process (the
benchmark starts one per measurement); the sharding run starts its own processes.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def cache_nbytes(cache: Any) -> int:
    """Bytes of the key and value tensors a transformers cache holds (a DynamicCache's ``layers[i].keys/values``)."""
    return sum(t.nbytes for layer in cache.layers for t in (layer.keys, layer.values) if t is not None)


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field} (not Linux?)")


def rss_bytes() -> int:
    """Resident memory of this process now."""
    return _proc_status("VmRSS")


def peak_rss_bytes() -> int:
    """The highest resident memory of this process since it started or since ``reset_peak_rss``."""
    return _proc_status("VmHWM")


def reset_peak_rss() -> None:
    """Start the peak over from the current resident memory (Linux: write 5 to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def measure_prefill(model: Any, batch: int, seq_len: int, logits_to_keep: int = 0) -> dict[str, int]:
    """One forward pass over batch x seq_len random tokens with the KV cache on, as a prefill does. Returns the
    resident memory before, the peak it added (cache + activations + temporaries) and the cache's own bytes."""
    import torch

    ids = torch.randint(0, model.config.get_text_config().vocab_size, (batch, seq_len))
    gc.collect()
    before = rss_bytes()
    reset_peak_rss()
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=logits_to_keep)
    peak = peak_rss_bytes()
    return {"rss_before_bytes": before, "peak_increment_bytes": peak - before,
            "kv_cache_bytes": cache_nbytes(out.past_key_values), "logits_bytes": out.logits.nbytes}


def measure_training(model: Any, batch: int, seq_len: int, steps: int = 1, lr: float = 1e-5) -> dict[str, int]:
    """``steps`` AdamW steps on random batch x seq_len tokens (labels = inputs), gradients set to None between steps as
    HF Trainer does. AdamW's states are created first (one step on zero gradients), so the measured steps run as every
    step after the first does. Returns the resident memory before (the weights in place), the peak added to it
    (optimizer states, gradients, activations, logits, temporaries) and the tensor bytes of the gradients and the
    optimizer states."""
    import torch

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, foreach=False)
    vocab = model.config.get_text_config().vocab_size
    gc.collect()
    before = rss_bytes()
    reset_peak_rss()
    for p in trainable:
        p.grad = torch.zeros_like(p)
    optimizer.step()  # allocates both moments for every trainable parameter
    optimizer.zero_grad(set_to_none=True)
    grads = 0
    for _ in range(steps):
        ids = torch.randint(0, vocab, (batch, seq_len))
        model(input_ids=ids, labels=ids).loss.backward()
        grads = sum(p.grad.nbytes for p in trainable if p.grad is not None)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = peak_rss_bytes()
    states = sum(v.nbytes for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v))
    return {"rss_before_bytes": before, "peak_increment_bytes": peak - before, "gradients_bytes": grads,
            "optimizer_bytes": states}


def sharding_config(hidden: int = 256, layers: int = 4, vocab: int = 4096) -> Any:
    """The small untied Llama (GQA, about 5 M parameters at the defaults) the sharding run trains."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=256, tie_word_embeddings=False)


def _local_nbytes(tensor: Any) -> int:
    """Bytes of the part of a tensor this rank holds: a DTensor's local shard (FSDP2), else the tensor itself."""
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def _sharding_worker(rank: int, world: int, port: int, strategy: str, config_json: str, out_dir: str,
                     batch: int, seq_len: int) -> None:
    """One rank of the run: build the model (same seed everywhere), wrap it, one AdamW step, record what it holds."""
    import torch
    import torch.distributed as dist
    from transformers import LlamaConfig, LlamaForCausalLM

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # two processes share the cores
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig.from_dict(json.loads(config_json)))
        if strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for layer in model.model.layers:  # FSDP2: shard each decoder layer, then the rest (embeddings, head)
                fully_shard(layer)
            fully_shard(model)
            wrapped = model
        else:
            from torch.nn.parallel import DistributedDataParallel

            # Gradients as views into DDP's all-reduce buckets, so the gradient bytes are counted once.
            wrapped = DistributedDataParallel(model, gradient_as_bucket_view=True)
        optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-3, foreach=False)
        torch.manual_seed(1 + rank)  # each rank its own batch, as data parallelism does
        ids = torch.randint(0, model.config.vocab_size, (batch, seq_len))
        wrapped(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        params = list(wrapped.parameters())
        result = {
            "rank": rank,
            "params": sum(_local_nbytes(p) // p.element_size() for p in params),
            "weights_bytes": sum(_local_nbytes(p) for p in params),
            "gradients_bytes": sum(_local_nbytes(p.grad) for p in params if p.grad is not None),
            # every state tensor, AdamW's scalar step counters (4 B each) included
            "optimizer_bytes": sum(_local_nbytes(v) for s in optimizer.state.values() for v in s.values()
                                   if torch.is_tensor(v)),
        }
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_sharding(strategy: str, world: int = 2, config: Any = None, batch: int = 2, seq_len: int = 32,
                     timeout: float = 300) -> list[dict[str, int]]:
    """Run ``world`` CPU processes (gloo) training ``config`` (default ``sharding_config()``) for one AdamW step with
    ``strategy`` "ddp" (torch DistributedDataParallel) or "fsdp" (FSDP2 ``fully_shard``, full sharding), and return what
    each rank holds: ``weights_bytes``, ``gradients_bytes``, ``optimizer_bytes`` (sums of local tensor bytes).

    The ranks are child processes started with an argument list (``python -m core.compute.measure``), not
    multiprocessing's spawn, which re-imports the caller's ``__main__`` and fails from a REPL, a page or stdin."""
    if strategy not in ("ddp", "fsdp"):
        raise ValueError(f"Unknown strategy {strategy!r} to measure; choose ddp or fsdp.")
    if world < 2:
        raise ValueError(f"A sharding run needs at least 2 processes, got {world}.")
    config = config if config is not None else sharding_config()
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="lab-sharding-") as out:
        Path(out, "config.json").write_text(json.dumps(config.to_dict()))
        port = _free_port()
        procs = [subprocess.Popen([sys.executable, "-m", "core.compute.measure", str(rank), str(world), str(port),
                                   strategy, out, str(batch), str(seq_len)], cwd=root, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for rank in range(world)]
        try:
            logs = [proc.communicate(timeout=timeout)[0] for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        for rank, (proc, log) in enumerate(zip(procs, logs)):
            if proc.returncode != 0:
                raise RuntimeError(f"rank {rank} of the {strategy} run failed ({proc.returncode}):\n{log[-3000:]}")
        return [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(world)]


if __name__ == "__main__":  # one rank of measure_sharding: RANK WORLD PORT STRATEGY OUT_DIR BATCH SEQ_LEN
    rank, world, port, strategy, out, batch, seq_len = sys.argv[1:8]
    _sharding_worker(int(rank), int(world), int(port), strategy, Path(out, "config.json").read_text(), out,
                     int(batch), int(seq_len))
