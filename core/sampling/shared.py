"""Shared generation: many sessions generating from one shared model are served in turn and batched together.

A class of students on one server all stream from the same cached model. Each would otherwise run its own decode
loop at once: two cores shared by ten loops, each paying the whole cost of reading the weights for a batch of one.
Here one worker thread per model takes every request waiting when it is free (first come, first served, up to
``MAX_BATCH``), and decodes them together: one forward pass per token for all of them, prompts padded on the left
with the attention mask and position ids of ``generate_batch``, so each row gets the answer it would get alone.
Each row keeps its own sampler settings and seeded random generator (a ``Stepper`` handed the row's logits), so
its tokens are the ones ``stream_generate`` gives it alone. A lone request takes ``stream_generate`` itself (and its
compiled decoder, when one is ready). Requests that arrive while a batch decodes wait for the next one: ``Ticket.ahead``
says how many are before them.

Does not hold: the single-request loop (``core.sampling.generation``) or the compiled decoder (``core.sampling.fast``).
"""

from __future__ import annotations

import queue
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from core.sampling.generation import Step, Stepper, _is_prompt_learning, check_context, stop_ids, stream_generate
from core.sampling.stages import SamplingSettings

if TYPE_CHECKING:
    from core.models import LoadedModel

MAX_BATCH = 16
IDLE_S = 30.0  # a worker with nothing to do for this long ends (and lets its model go); the next request starts one
_END = object()


@dataclass(eq=False)
class Ticket:
    """One request: iterate it for its Steps as they are decoded. ``ahead`` counts the requests before it while it
    waits (0 once it decodes); ``close()`` (or leaving the loop early) gives its place in the batch back."""

    prompt_ids: list[int]
    settings: SamplingSettings
    max_new_tokens: int
    stop_at_eos: bool
    server: "BatchServer"
    out: "queue.Queue[Any]" = field(default_factory=queue.Queue)
    started: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    batch_size: int = 0  # how many requests its batch decoded together

    @property
    def ahead(self) -> int:
        return self.server.ahead_of(self)

    def __iter__(self) -> Iterator[Step]:
        try:
            while (item := self.out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True
        self.server.forget(self)


class BatchServer:
    """The worker for one shared model (see the module docstring)."""

    def __init__(self, loaded: "LoadedModel", max_batch: int = MAX_BATCH):
        self.loaded, self.max_batch = loaded, max_batch
        self._waiting: list[Ticket] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batches: list[int] = []  # the size of every batch decoded (for the benchmark and the tests)

    def submit(self, prompt_ids: list[int], settings: SamplingSettings, max_new_tokens: int = 64,
               stop_at_eos: bool = True) -> Ticket:
        check_context(self.loaded, len(prompt_ids), max_new_tokens)  # here, in the caller, not in the worker
        ticket = Ticket(list(prompt_ids), settings, max_new_tokens, stop_at_eos, self)
        with self._lock:
            self._waiting.append(ticket)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="lab-shared-generation", daemon=True)
                self._thread.start()
            self._lock.notify()
        return ticket

    def paused(self) -> threading.Condition:
        """``with server.paused():`` holds the worker back, so requests submitted meanwhile (from this thread) form
        one batch: for tests and benchmarks that need a batch of a known size."""
        return self._lock

    def ahead_of(self, ticket: Ticket) -> int:
        with self._lock:
            return self._waiting.index(ticket) if ticket in self._waiting else 0

    def forget(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._waiting:
                self._waiting.remove(ticket)

    def _serve(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._lock.wait(timeout=IDLE_S)
                if not self._waiting:
                    self._thread = None
                    return
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch:]
            for ticket in batch:
                ticket.batch_size = len(batch)
                ticket.started.set()
            self.batches.append(len(batch))
            try:
                if len(batch) == 1 or _is_prompt_learning(self.loaded.model):
                    for ticket in batch:
                        self._alone(ticket)
                else:
                    self._together(batch)
            except Exception as err:  # noqa: BLE001 - a failed batch fails its requests, never the worker
                for ticket in batch:
                    ticket.out.put(err)
            finally:
                for ticket in batch:
                    ticket.out.put(_END)

    def _alone(self, ticket: Ticket) -> None:
        steps = stream_generate(self.loaded, ticket.prompt_ids, ticket.settings, ticket.max_new_tokens, ticket.stop_at_eos)
        for step in steps:
            if ticket.closed:
                steps.close()
                return
            ticket.out.put(step)

    def _together(self, batch: list[Ticket]) -> None:
        import torch

        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        device = next(model.parameters()).device
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        width = max(len(t.prompt_ids) for t in batch)
        inputs = torch.tensor([[pad] * (width - len(t.prompt_ids)) + t.prompt_ids for t in batch], device=device)
        mask = torch.tensor([[0] * (width - len(t.prompt_ids)) + [1] * len(t.prompt_ids) for t in batch], device=device)
        steppers = [Stepper(self.loaded, t.prompt_ids, t.settings) for t in batch]
        stops = stop_ids(self.loaded)
        done = [False] * len(batch)
        cache = None
        with torch.inference_mode():
            for _ in range(max(t.max_new_tokens for t in batch)):
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                out = model(input_ids=inputs, attention_mask=mask, position_ids=positions[:, -inputs.shape[1]:],
                            cache=cache, use_cache=True, logits_to_keep=1)
                cache, logits = out.cache, out.logits[:, -1].float().cpu()
                chosen = []
                for row, (ticket, stepper) in enumerate(zip(batch, steppers)):
                    done[row] = done[row] or ticket.closed or len(stepper.steps) >= ticket.max_new_tokens
                    if done[row]:
                        chosen.append(pad)  # a finished row is still fed; what it computes is never read
                        continue
                    stepper._logits = logits[row]  # the Stepper samples as it would alone, from the batch's logits
                    step = stepper.advance()
                    chosen.append(step.token_id)
                    if ticket.stop_at_eos and step.token_id in stops:
                        done[row] = True
                    else:
                        ticket.out.put(step)
                if all(done):
                    return
                inputs = torch.tensor(chosen, device=device)[:, None]
                mask = torch.cat([mask, torch.ones_like(inputs)], dim=1)


_servers: "weakref.WeakKeyDictionary[Any, BatchServer]" = weakref.WeakKeyDictionary()
_servers_lock = threading.Lock()


def server_for(loaded: "LoadedModel") -> BatchServer:
    """The one worker of this (shared, read-only) model in this process."""
    with _servers_lock:
        if loaded.model not in _servers:
            _servers[loaded.model] = BatchServer(loaded)
        return _servers[loaded.model]


def shared_generate(loaded: "LoadedModel", prompt_ids: list[int], settings: SamplingSettings, max_new_tokens: int = 64,
                    stop_at_eos: bool = True) -> Ticket:
    """Queue a generation on the model's shared worker; iterate the ticket for its Steps."""
    return server_for(loaded).submit(prompt_ids, settings, max_new_tokens, stop_at_eos)
