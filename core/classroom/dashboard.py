"""What the teacher's class dashboard shows: accounts, labels and agreement per annotator, the queue, the running
runs and the machine's memory. Plain data (lists of dicts) for a page to draw.

Does not hold: the page (``pages/classroom.py``) or changing anything (``accounts``, ``queue``, ``core.jobs``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from core.classroom import accounts, queue


def annotators() -> list[dict[str, Any]]:
    """One row per account and per annotator who ranked: role, rankings, items shared with others, agreement."""
    from core import store
    from core.rlhf.agreement import annotator_agreement

    rows = {row["annotator"]: row for row in annotator_agreement(store.list_rankings())}
    table = [{"name": a["name"], "role": a["role"], "rankings": 0, "shared": 0, "agreement": None,
              "signed_in_once": not a["must_change"], "locked": a["locked"], **rows.pop(a["name"], {})}
             for a in accounts.list_accounts()]
    table += [{"name": name, "role": "", "signed_in_once": None, "locked": None, **row} for name, row in rows.items()]
    for row in table:
        row.pop("annotator", None)
    return table


def queue_rows() -> list[dict[str, Any]]:
    """The waiting runs, in order, then the running ones: id, owner, job, state, place, minutes since queued/started."""
    now = time.time()
    waiting = [{"run": r.id, "owner": r.owner or "", "job": r.config.get("target", ""), "state": "waiting",
                "place": i, "minutes": (now - float(r.status.get("queued") or r.status.get("created") or now)) / 60}
               for i, r in enumerate(queue.waiting_runs(), start=1)]
    running = [{"run": r.id, "owner": r.owner or "", "job": r.config.get("target", ""), "state": "running",
                "place": None, "minutes": (now - float(r.status.get("started") or now)) / 60} for r in queue.running_runs()]
    return waiting + running


def memory() -> dict[str, float | None]:
    """GiB: the machine's total and available memory, and this server process's resident size (Linux /proc)."""
    def meminfo(field: str) -> float | None:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**20
        except OSError:
            pass
        return None

    try:
        rss = int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (OSError, ValueError):
        rss = None
    return {"total_gib": meminfo("MemTotal"), "available_gib": meminfo("MemAvailable"), "server_gib": rss}

