"""Thirty students in headless Chromium on one lab: each signs in through the form and labels with the keyboard, a
few generate, for several minutes. Prints page response p50/p95, every label saved exactly once, and exceptions.

    .venv/bin/python benchmarks/class_browsers.py [--students 30] [--minutes 10] [--generators 3] [--db URL]

Starts the app (``streamlit run app.py``) on a fresh LAB_HOME that holds a class of ``--students`` accounts and a
few thousand comparisons, then opens one browser context per student in one headless Chromium (Debian's, as in
tests/e2e). Each student signs in, opens the RLHF page and ranks comparisons with the keys 1, 2, 3 and Ctrl+Enter
until time is up; ``--generators`` of them use the Generate page instead, pressing Generate again and again.

A *page response* is the time from a key press or click to the end of the script run it caused, as the browser
sees it (the app's ``data-test-script-state`` going back to ``notRunning``): what a student waits for. Generation
requests are timed apart (they last as long as their tokens take). Every "Saved your ranking of comparison N" a
student was shown is then looked up in the database: each must be there exactly once. ``--db`` takes a PostgreSQL
URL (``postgresql+psycopg://...``) instead of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from classroom import _environment, _fresh, _rss_mib, _seed  # noqa: E402 (the labelling benchmark's set-up)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
# Counts the script runs that end, as the browser sees them (the app's root element says when a run is going on),
# and wakes whoever waits for one: no polling over the DevTools protocol, which for thirty tabs would cost the two
# cores more than the app does.
OBSERVER = """
window.__runs = 0; window.__waiters = [];
new MutationObserver(changes => {
  for (const c of changes) {
    if (c.target.getAttribute('data-test-script-state') === 'notRunning' && c.oldValue !== 'notRunning') {
      window.__runs++;
      for (const wake of window.__waiters.splice(0)) wake();
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
"""
WAIT = "(before) => new Promise(done => { const f = () => window.__runs > before ? done() : window.__waiters.push(f); f(); })"
IDLE = "() => document.querySelector('[data-testid=\"stApp\"]').getAttribute('data-test-script-state') === 'notRunning'"
NEW_TOKENS = re.compile(r"(\d+) new tokens in")
SAVED = re.compile(r"Saved your ranking of comparison (\d+)")
PASSWORD = "class-benchmark-{}"


def _class(students: int) -> list[str]:
    from core.classroom import accounts
    from core.classroom.accounts import Actor

    teacher = Actor("teacher", "teacher")
    accounts.init_class("teacher", "teacher-password")
    names = [f"student{i:02d}" for i in range(students)]
    accounts.add_students("\n".join(names), actor=teacher)
    for name in names:  # past the first sign-in's new password, so every student signs in with one form
        accounts.change_password(Actor(name, "student"), PASSWORD.format(name))
    return names


class Student:
    """One browser context: its timings, what it was told was saved, and what went wrong."""

    def __init__(self, name: str, password: str | None = None):
        self.password, self.lost, self.tokens = password or PASSWORD.format(name), 0, 0
        self.name, self.opening, self.responses, self.generations, self.saved, self.problems = name, [], [], [], [], []

    async def act(self, page, action, timeout_s: float = 180) -> float:
        """Do ``action`` (a click, a key) and wait until the script run it caused has ended; seconds it took."""
        before = await page.evaluate("window.__runs")
        started = time.perf_counter()
        await action()
        await asyncio.wait_for(page.evaluate(WAIT, before), timeout_s)
        elapsed = time.perf_counter() - started
        while not await page.evaluate(IDLE):  # a callback's st.rerun() runs the script once more
            await asyncio.wait_for(page.evaluate(WAIT, await page.evaluate("window.__runs")), timeout_s)
        errors = page.locator('[data-testid="stException"]')
        if await errors.count():
            self.problems.append("exception: " + (await errors.first.inner_text())[:300])
        return elapsed

    async def run(self, browser, url: str, deadline: float, generate: bool) -> None:
        context = await browser.new_context(viewport={"width": 1300, "height": 1000})
        page = await context.new_page()
        await page.add_init_script(OBSERVER)
        try:
            await page.goto(url, timeout=180_000)
            name = page.get_by_role("textbox", name="Name", exact=True)
            await name.wait_for(timeout=180_000)
            await name.fill(self.name)
            await page.locator('input[type="password"]').fill(self.password)
            self.opening.append(await self.act(page, page.get_by_role("button", name="Sign in").click))
            title = "Generate" if generate else "RLHF: human feedback"
            link = page.locator('[data-testid="stSidebarNav"] a', has_text=title)
            self.opening.append(await self.act(page, link.click))  # the first page loads the shared model
            while time.monotonic() < deadline:
                await (self._generate(page) if generate else self._rank(page))
        except Exception as err:  # noqa: BLE001 - a timeout or a lost page is a finding, reported with the rest
            where = "labelling" if self.responses else "generating" if self.generations else "signing in or opening"
            self.problems.append(f"{where}: {type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}")
        finally:
            await context.close()

    async def _rank(self, page) -> None:
        """Put the completions in order with their number keys, then Ctrl+Enter. The keys follow what the page shows
        (the first completion still to place), so a key press the page lost is pressed again, and counted."""
        await page.locator("h1").first.click()  # the keys go to the page's shortcuts, not to a text box
        picks = page.get_by_role("button", name=re.compile(r"^[A-D] next"))
        for _ in range(12):
            enabled = [i for i in range(await picks.count()) if await picks.nth(i).is_enabled()]
            key = str(enabled[0] + 1) if enabled else "Control+Enter"
            try:
                self.responses.append(await self.act(page, lambda key=key: page.keyboard.press(key), timeout_s=30))
            except TimeoutError:
                self.lost += 1
                await page.locator("h1").first.click()
                continue
            if key == "Control+Enter":
                break
        text = " ".join(await page.locator('[data-testid="stAlert"]').all_inner_texts())
        found = SAVED.search(text)
        if found is None:
            self.problems.append(f"no 'Saved your ranking' after Ctrl+Enter: {text[:200]!r}")
            return
        self.saved.append(int(found.group(1)))

    async def _generate(self, page) -> None:
        self.generations.append(await self.act(page, page.get_by_role("button", name="Generate").click, timeout_s=300))
        text = " ".join(await page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
        found = NEW_TOKENS.search(text)
        if found is None:
            alerts = " ".join(await page.locator('[data-testid="stAlert"]').all_inner_texts())
            self.problems.append(f"no tokens after Generate: {alerts[:200]!r}")
        else:
            self.tokens += int(found.group(1))


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(home: str, db: str | None, port: int) -> subprocess.Popen:
    env = {**os.environ, "LAB_HOME": home, "HF_HUB_OFFLINE": "1", **({"LAB_DB_URL": db} if db else {})}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=open(Path(home) / "streamlit.log", "w"), stderr=subprocess.STDOUT)
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return server
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("streamlit did not start: " + (Path(home) / "streamlit.log").read_text()[-2000:])


async def _class_in_browsers(url: str, names: list[str], seconds: float, generators: int) -> list[Student]:
    from playwright.async_api import async_playwright

    # The browsers run at the lowest priority: in a class each student's laptop draws its own page, so the server
    # gets the cores first and the tabs what is left (they still slow it: the figures are an upper bound).
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    wrapper = Path(tempfile.mkdtemp(prefix="lab-class-chromium-")) / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n 19 {chromium} "$@"\n')
    wrapper.chmod(0o755)
    students = [Student(name) for name in names]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(wrapper), headless=True, args=CHROMIUM_ARGS)
        teacher = Student("teacher", "teacher-password")  # opens the app before class: the shared model loads once
        started = time.perf_counter()
        await teacher.run(browser, url, 0, generate=True)
        print(f"the teacher's warm-up (sign in, open Generate, the model loads): {time.perf_counter() - started:.0f} s"
              + (f"; problems: {teacher.problems}" if teacher.problems else ""), flush=True)
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(s.run(browser, url, deadline, i < generators) for i, s in enumerate(students)))
        await browser.close()
    return students


def _percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"{len(values)} timed" + (f", {values[0]:.2f} s" if values else "")
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
    return f"{len(values)} timed, p50 {statistics.median(values):.2f} s, p95 {p95:.2f} s, max {max(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--generators", type=int, default=3)
    parser.add_argument("--db", help="a PostgreSQL URL; SQLite under a fresh LAB_HOME without it")
    args = parser.parse_args()
    home, db = _fresh(args.db)
    _environment(home, db)
    names = _class(args.students)
    _seed(args.students * 150)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = _serve(home, db, port)
    try:
        rss_start, cpu_start = _rss_mib(server.pid), _cpu_s(server.pid)
        started = time.perf_counter()
        students = asyncio.run(_class_in_browsers(f"http://127.0.0.1:{port}", names, args.minutes * 60, args.generators))
        wall, rss_end, cpu = time.perf_counter() - started, _rss_mib(server.pid), _cpu_s(server.pid) - cpu_start
    finally:
        server.terminate()
        server.wait(timeout=30)
    from core import store

    rows = Counter((r["comparison_id"], r["annotator"]) for r in store.list_rankings())
    told = [(cid, s.name) for s in students for cid in s.saved]
    missing = [key for key in told if rows[key] != 1]
    problems = [f"{s.name}: {p}" for s in students for p in s.problems]
    where = "PostgreSQL" if db and db.startswith("postgresql") else "SQLite"
    print(f"{where}: {args.students} students in headless Chromium for {wall / 60:.1f} min "
          f"({args.generators} generating, the rest labelling)")
    print(f"signing in and opening the first page: {_percentiles([x for s in students for x in s.opening])}")
    print(f"page responses while labelling: {_percentiles([x for s in students for x in s.responses])}")
    generated = sum(s.tokens for s in students)
    print(f"generation requests: {_percentiles([x for s in students for x in s.generations])}; {generated} tokens, "
          f"{generated / wall:.1f} tokens/s over the whole run")
    print(f"rankings shown as saved: {len(told)}; in the database: {sum(rows.values())}; "
          f"not there exactly once: {len(missing)}")
    print(f"key presses the page lost (no script run within 30 s; pressed again): {sum(s.lost for s in students)}")
    print(f"server RSS: {rss_start:.0f} -> {rss_end:.0f} MiB; server CPU {cpu:.0f} s in {wall:.0f} s "
          f"({cpu / wall / (os.cpu_count() or 1):.0%} of the machine's cores; the browsers had the rest); problems: {len(problems)}")
    for line in problems[:20]:
        print("  " + line)


if __name__ == "__main__":
    main()
