"""The compiled decode step: a static KV cache and ``torch.compile``, compiled once per model and cache length.

At batch 1 a decoding step is a few hundred small operations, and on a CPU the Python and dispatch cost of launching
them is as large as the arithmetic. ``torch.compile`` fuses them into a few kernels, but it needs fixed shapes: a
``StaticCache`` sized in advance (``max_cache_len``) instead of one that grows. So the cache length is rounded up to a
bucket (256, 512, 1024 ... tokens) and each (model, bucket) compiles once, in a background thread, the first time a
generation asks for it; until it is ready the eager loop with the growing cache serves (it is faster than the eager
static one here). Right after compiling, a few steps are timed both ways and the compiled step is used only where it
is clearly faster (Gemma 3's sliding-window cache made it 8x slower than eager in float32). Inductor's artefacts go
under ``$LAB_HOME/torch-compile`` so a restart compiles faster.

A compiled decoder owns one cache, so it serves one generation at a time: ``checkout`` hands it out or returns None
(busy, compiling, failed or switched off), and the caller falls back to the eager loop.

Off unless ``LAB_COMPILE=1``: compiling in a background thread stalls and can break the other work of the same process.
Measured here (SmolLM2, 2 cores): while the 256-token step compiled, the eager loop beside it made 24 tokens in 60 s
instead of about 700, and a completions run failed with torch.fx's "module is not installed as a submodule" (the
compiler's tracing patches ``nn.Module.__call__`` for every thread while it runs). Switch it on for a one-person
demo of speed, after the model has loaded and before anyone generates.

Holds: ``bucket_length``, ``Decoder``, ``checkout``/``release``, ``prepare`` (start compiling), ``compile_now`` (wait
for one), ``status`` and ``describe`` (one line for a page).

Does not hold: sampling (``core.sampling.stages``) or the step-by-step generator that uses this (``generation``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

BUCKETS = (256, 512, 1024, 2048, 4096, 8192)


def compile_enabled() -> bool:
    return os.environ.get("LAB_COMPILE", "0").strip().lower() in {"1", "on", "true", "yes"}


def bucket_length(needed: int, window: int) -> int:
    """The cache length for a prompt plus its answer: the first bucket that holds them, at most the context window."""
    for size in BUCKETS:
        if size >= needed:
            return min(size, window)
    return window


def supported(model: Any) -> bool:
    """Plain transformers models with full attention in every layer. PEFT models and adapter views (they switch
    adapters per call) and sliding-window models (Gemma 3: its cache made the compiled step recompile at every
    position, 20-29 s a step) take the eager loop."""
    if not hasattr(model, "config") or hasattr(model, "peft_config") or hasattr(model, "host"):
        return False
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return "sliding_attention" not in (getattr(config, "layer_types", None) or ())


@dataclass
class Decoder:
    """A model's decode step on its own StaticCache: ``feed`` new tokens at a position, get the next logits."""

    model: Any
    cache: Any
    length: int
    step: Any  # the compiled (token, position) -> logits function
    lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, ids: list[int], start: int) -> Any:
        """Logits (1-D float32, CPU) after feeding ``ids`` at positions start, start+1, ...: one token goes through
        the compiled step, several (a prompt) through an eager forward pass on the same cache."""
        import torch

        if start + len(ids) > self.length:
            raise ValueError(f"{start + len(ids)} tokens do not fit this decoder's cache of {self.length}.")
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            if len(ids) == 1:
                logits = self.step(torch.tensor([ids], device=device), torch.tensor([start], device=device))
            else:
                positions = torch.arange(start, start + len(ids), device=device)
                logits = self.model(input_ids=torch.tensor([ids], device=device), cache=self.cache,
                                    cache_position=positions, use_cache=True, logits_to_keep=1).logits[:, -1]
        return logits[0].float().cpu()


@dataclass
class _Slot:
    state: str = "compiling"  # compiling, ready, slower (not used: the eager loop is faster), failed
    decoder: Decoder | None = None
    seconds: float = 0.0
    speedup: float = 0.0  # eager / compiled seconds per step, measured after compiling
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)


_slots: dict[tuple[int, int], _Slot] = {}  # (id(model), cache length); a slot keeps its model alive
_slots_lock = threading.Lock()


def _build(model: Any, length: int) -> Decoder:
    import torch
    from transformers import StaticCache

    from core.paths import lab_home

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(lab_home() / "torch-compile"))
    cache = StaticCache(config=model.config, max_cache_len=length)

    def step(token: Any, position: Any) -> Any:
        return model(input_ids=token, cache=cache, cache_position=position, use_cache=True).logits[:, -1]

    decoder = Decoder(model, cache, length, torch.compile(step, dynamic=False))
    decoder.feed([0, 0], 0)  # an eager prefill, then a compiled step: this one compiles
    decoder.feed([0], 2)
    return decoder


def _pays(decoder: Decoder, steps: int = 4) -> tuple[float, float]:
    """Seconds per step compiled and eager, on the same cache: compiling pays only when the first is smaller. The
    compiled steps stop early once they have taken longer than all the eager ones (a step that recompiles)."""
    import torch

    def eager_step(token: Any, position: Any) -> Any:
        return decoder.model(input_ids=token, cache=decoder.cache, cache_position=position, use_cache=True).logits[:, -1]

    eager = Decoder(decoder.model, decoder.cache, decoder.length, eager_step)
    with torch.inference_mode():
        start = time.perf_counter()
        for i in range(steps):
            eager.feed([0], 3 + i)
        eager_total = time.perf_counter() - start
        start, done = time.perf_counter(), 0
        while done < steps and time.perf_counter() - start <= eager_total:
            decoder.feed([0], 3 + done)
            done += 1
    return (time.perf_counter() - start) / max(done, 1), eager_total / steps


def _compile(slot: _Slot, model: Any, length: int) -> None:
    start = time.perf_counter()
    try:
        decoder = _build(model, length)
        compiled, eager = _pays(decoder)
        slot.speedup = round(eager / compiled, 2)
        if compiled < 0.9 * eager:  # the eager static cache is itself slower than the growing one: ask for a margin
            slot.decoder, slot.state = decoder, "ready"
        else:
            slot.state, slot.error = "slower", f"compiled {compiled * 1000:.0f} ms a step, eager {eager * 1000:.0f} ms"
    except Exception as err:  # noqa: BLE001 - any compiler failure means "use the eager loop", reported in status
        slot.state, slot.error = "failed", f"{type(err).__name__}: {err}"[:500]
    slot.seconds = time.perf_counter() - start
    slot.done.set()


def _slot(model: Any, length: int, background: bool = True) -> _Slot:
    with _slots_lock:
        key = (id(model), length)
        slot = _slots.get(key)
        if slot is None:
            slot = _slots[key] = _Slot()
            thread = threading.Thread(target=_compile, args=(slot, model, length), daemon=True, name="lab-compile")
            thread.start()
    if not background:
        slot.done.wait()
    return slot


def checkout(model: Any, needed: int, window: int) -> Decoder | None:
    """A ready compiled decoder for this model and length, now held by the caller; None when there is none yet (its
    compile starts in the background), it is busy with another generation, or compiling is off or failed."""
    if not compile_enabled() or not supported(model):
        return None
    slot = _slot(model, bucket_length(needed, window))
    if slot.state == "ready" and slot.decoder is not None and slot.decoder.lock.acquire(blocking=False):
        return slot.decoder
    return None


def release(decoder: Decoder) -> None:
    decoder.lock.release()


def prepare(model: Any, window: int, needed: int = BUCKETS[0]) -> None:
    """Start compiling the shortest cache length in the background, as soon as a shared model has loaded."""
    if compile_enabled() and supported(model):
        _slot(model, bucket_length(needed, window))


def describe(model: Any) -> str:
    """One line for a page: which decode path serves this model and how long compiling took."""
    if not compile_enabled():
        return "Decode: the eager loop (the compiled step is off; LAB_COMPILE=1 switches it on)."
    if not supported(model):
        return "Decode: the eager loop (adapters or a sliding-window cache: this model is not compiled)."
    rows = status(model)
    if not rows:
        return "Decode: the eager loop; the compiled step is made the first time it is needed."
    parts = [f"{r['cache_length']} tokens: " + {"ready": f"compiled in {r['seconds']:.0f} s, {r['speedup']:.2f}x eager",
                                                 "slower": f"compiled but not used ({r['error']})",
                                                 "compiling": "compiling in the background (the eager loop serves meanwhile)",
                                                 "failed": "failed, the eager loop serves"}[r["state"]] for r in rows]
    return "Decode step (static cache) " + "; ".join(parts) + "."


def compile_now(model: Any, needed: int, window: int) -> dict[str, Any]:
    """Compile (or wait for) the decoder of this length, and say how it went: for benchmarks and tests."""
    if not supported(model):
        return {"state": "not compiled", "seconds": 0.0, "error": "adapters or a sliding-window cache", "speedup": 0.0}
    slot = _slot(model, bucket_length(needed, window), background=False)
    return {"state": slot.state, "seconds": round(slot.seconds, 1), "error": slot.error, "speedup": slot.speedup}


def status(model: Any) -> list[dict[str, Any]]:
    """What has been compiled for this model: one row per cache length (state, seconds, error)."""
    with _slots_lock:
        rows = [(length, slot) for (key, length), slot in _slots.items() if key == id(model)]
    return [{"cache_length": length, "state": slot.state, "seconds": round(slot.seconds, 1), "error": slot.error,
             "speedup": slot.speedup}
            for length, slot in sorted(rows, key=lambda row: row[0])]
