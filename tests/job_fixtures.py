"""Small jobs for testing core.jobs: they run in the child process, so they live in an importable module."""

from __future__ import annotations

import json
import time

from core.jobs import RunContext


def count(ctx: RunContext) -> dict:
    """Adds 1..steps with a pause per step, checkpointing each step; resumes from the last checkpoint."""
    state_path = ctx.checkpoints / "state.json"
    state = json.loads(state_path.read_text()) if ctx.resume and state_path.exists() else {"step": 0, "total": 0}
    for step in range(state["step"] + 1, ctx.config["steps"] + 1):
        if ctx.should_stop():
            break
        time.sleep(ctx.config.get("sleep", 0.0))
        if step == ctx.config.get("fail_at"):
            raise ValueError(f"step {step} went wrong on purpose")
        state = {"step": step, "total": state["total"] + step}
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(state_path)
        ctx.progress(step=step, total=state["total"])
    return state


def stubborn(ctx: RunContext) -> None:
    """Never looks at should_stop: only a kill ends it."""
    while True:
        time.sleep(0.1)


def fills_the_disk(ctx: RunContext) -> None:
    """Writes a checkpoint bigger than the space left (a file-size limit stands in for a full disk)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then a write past the limit raises OSError instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    (ctx.checkpoints / "checkpoint.bin").write_bytes(b"\0" * 1_000_000)


def slow_save(ctx: RunContext) -> dict:
    """A save that takes longer than cancel's grace period and ignores SIGTERM while it runs."""
    import signal

    from core.checkpoints import saving

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ctx.progress(step=1)
    with saving(ctx.dir):
        time.sleep(ctx.config.get("save_seconds", 3.0))
        (ctx.dir / "saved.ok").write_text("whole")
    return {"saved": True}
