"""core.reasoning.sandbox: escape attempts (``escapes.py``) are refused, benign PAL programs get their answers, bad
input gets a clear error, and the isolation report says which layers held.

Every escape runs through ``run_program`` only: nothing in the corpus is ever run outside the sandbox. The world each
test builds is one an escaped program could reach if the sandbox failed: the canary is world-readable, the outside
folder is world-writable and the folders above them are made traversable (``test_the_world_is_reachable_without_the
_sandbox`` proves it, with a plain shell run as the same user the sandbox uses), so the refusals measured here come
from the sandbox, not from pytest's private temporary folders.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.reasoning import sandbox
from core.reasoning.sandbox import MAX_OUTPUT, MAX_PROGRAM, Limits, run_program
from tests.reasoning.escapes import ESCAPES, Escape

# A missing interpreter is a failure, never a skip: this raises SandboxUnavailable at collection.
MONTY = sandbox.interpreter()

ESCAPE_TIMEOUT = 2.0
RESOURCE_TIMEOUT = 1.0  # the pure resource attacks (loops, sleeps, bombs) are bound by the clock: keep them short
SLACK = 2.0  # a run must end within its timeout plus this

# Escapes that may end with ok=True, and why that is harmless. Every other payload must fail (ok False). Each entry
# names a check on what it printed, so "it ran" never hides "it printed something from outside".
MAY_RUN = {
    # It catches every error and prints only what it could reach. Monty 1.4 exposes the name ``open`` (every call to
    # it raises NotImplementedError, as the open_* payloads show) and nothing else from the list; anything new that
    # turns up reachable is a change to look at, so the allowed set is exactly what is known to be harmless.
    "probe_everything_quietly": lambda out: out.strip() == "reachable: ['open']",
    # A 10**6-deep list is built and printed: Monty's repr stops at its recursion limit. Only brackets come out.
    "deep_nested_data_repr": lambda out: set(out) <= set("[]. \n"),
    # Monty's stubs answer with fixed values, not the host's: the working folder is "/" (not /tmp/lab-sandbox-...),
    # the platform "monty" (not linux), the argv ['<string>'] (not monty's command line). A change is to look at.
    "recon_cwd_platform_argv": lambda out: out.splitlines() == ["/", "/", "monty", "['<string>']"],
}

# Strings from outside the sandbox. None may appear in what a program printed or in its answer; the ones that never
# occur in a payload's own source may not appear in the error either (a traceback quotes the failing source line,
# so "ESCAPED" can legitimately show up in an error, quoted from the payload).
OUTSIDE_SIGNS = ("ESCAPED", "root:x:0:0", "PATH=", "HF_HUB_OFFLINE", "LAB_HOME", "pytest")
OUTSIDE_SIGNS_IN_ERRORS = ("root:x:0:0", "PATH=", "HF_HUB_OFFLINE", "LAB_HOME=")


# --- the world an escape would reach ----------------------------------------------------------------------------------


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection it accepts, from a background thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._accept_one()

    def _accept_one(self) -> bool:
        try:
            conn, peer = self.sock.accept()
        except (TimeoutError, BlockingIOError, OSError):
            return False
        self.accepted.append(peer)
        conn.close()
        return True

    def connections(self) -> list[tuple[str, int]]:
        """Every connection so far, including any still waiting in the backlog (a connect() that returned in the
        program has completed its handshake, so it is there to take now)."""
        while select.select([self.sock], [], [], 0)[0]:
            self._accept_one()
        return list(self.accepted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@dataclass
class World:
    secret: str
    canary: Path
    outside: Path
    parent: int
    listener: Listener
    marker: str = field(default_factory=lambda: "lab-escape-" + secrets.token_hex(8))

    def fill(self, code: str) -> str:
        """The payload with its placeholders replaced (str.replace, so braces in the payload stay literal)."""
        for key, value in (("@@CANARY@@", str(self.canary)), ("@@OUTSIDE@@", str(self.outside)),
                           ("@@PORT@@", str(self.listener.port)), ("@@PARENT@@", str(self.parent)),
                           ("@@MARKER@@", self.marker)):
            code = code.replace(key, value)
        assert "@@" not in code, "a placeholder was left unfilled"
        return code


def _open_the_way(path: Path) -> list[tuple[Path, int]]:
    """Let every user traverse (not list) the folders above ``path`` up to the temporary root; return the old modes."""
    changed, top = [], Path(tempfile.gettempdir()).resolve()
    for folder in path.resolve().parents:
        if folder == top or top not in folder.parents:
            break
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o001)
            changed.append((folder, mode))
    return changed


@pytest.fixture
def world(tmp_path, monkeypatch):
    secret = "lab-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("LAB_CANARY_SECRET", secret)  # in the parent's environment (the child gets an empty one)
    (tmp_path / "secret").mkdir(mode=0o755)
    canary = tmp_path / "secret" / "canary.txt"
    canary.write_text(secret + "\n")
    canary.chmod(0o644)
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o777)  # anyone, nobody included, could write here: the sandbox must be what stops it
    tmp_path.chmod(0o755)
    restore = _open_the_way(tmp_path)
    listener = Listener()
    try:
        yield World(secret, canary, outside, os.getpid(), listener)
    finally:
        listener.close()
        for folder, mode in reversed(restore):
            folder.chmod(mode)


def _processes_with(marker: str) -> list[str]:
    """Live processes whose command line holds ``marker`` (zombies have an empty one and do not count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]!r}")
    return found


# --- the escape corpus ------------------------------------------------------------------------------------------------


def test_the_corpus_covers_every_goal():
    kinds = {e.kind for e in ESCAPES}
    assert len(ESCAPES) >= 45
    assert kinds >= {"exec", "read_secret", "environ", "network", "write_outside", "kill_parent", "resource"}
    assert set(MAY_RUN) <= {e.name for e in ESCAPES}
    clock_bound = [e.name for e in ESCAPES if e.kind != "resource" and re.search(r"while True|sleep\(", e.code)]
    assert not clock_bound, f"keep clock-bound payloads in the resource kind (1 s timeout): {clock_bound}"


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.name for e in ESCAPES])
def test_escape_is_refused(escape: Escape, world: World):
    timeout = RESOURCE_TIMEOUT if escape.kind == "resource" else ESCAPE_TIMEOUT
    code = world.fill(escape.code) + f"\n# {world.marker}\n"  # the marker finds any process the payload left behind
    start = time.perf_counter()
    result = run_program(code, timeout=timeout)
    elapsed = time.perf_counter() - start

    # The app is alive: this test still runs, in the same process, and it can still be signalled.
    assert os.getpid() == world.parent
    os.kill(world.parent, 0)
    # The run ended on time and took everything it started with it.
    assert elapsed < timeout + SLACK, f"{escape.name} ran {elapsed:.2f} s (timeout {timeout} s)"
    assert not _processes_with(world.marker), _processes_with(world.marker)
    # The secret stayed in: not printed, not in the answer, not in the error.
    for text in (result.stdout, result.answer or "", result.error or ""):
        assert world.secret not in text, f"{escape.name} leaked the secret: {result}"
    for sign in OUTSIDE_SIGNS:
        assert sign not in result.stdout and sign not in (result.answer or ""), f"{escape.name} printed {sign!r}: {result}"
    for sign in OUTSIDE_SIGNS_IN_ERRORS:
        assert sign not in (result.error or ""), f"{escape.name}'s error holds {sign!r}: {result.error}"
    # No connection reached the listener, nothing was written outside and the canary is untouched.
    assert world.listener.connections() == [], f"{escape.name} connected to 127.0.0.1:{world.listener.port}"
    assert sorted(p.name for p in world.outside.iterdir()) == [], f"{escape.name} wrote outside"
    assert world.canary.read_text() == world.secret + "\n"
    for folder in (Path(tempfile.gettempdir()), Path("/")):
        assert not (folder / world.marker).exists(), f"{escape.name} wrote {folder / world.marker}"
    # Output stays capped and the launcher always reported its layers.
    assert len(result.stdout) <= MAX_OUTPUT
    assert result.isolation.get("limits") == "set", result.isolation
    # The program failed, or (for the few listed in MAY_RUN) what it printed is known to be harmless.
    if escape.name in MAY_RUN:
        assert result.ok is False or MAY_RUN[escape.name](result.stdout), f"{escape.name} printed {result.stdout[:500]!r}"
    else:
        assert result.ok is False, f"{escape.name} ran to the end: {result}"
        assert result.error, result


# --- the layers under Monty, without Monty ----------------------------------------------------------------------------
# The corpus above mostly stops at Monty (no open, no socket, no os.system). These run a real shell through the same
# launcher, as if the interpreter had been broken into, to show that the layers beneath hold on their own. A layer the
# kernel refused is reported and its check skipped with the reason (never silently).

BASH = shutil.which("bash")
SETTINGS = {"memory_bytes": 256 << 20, "cpu_seconds": 3, "processes": 8, "file_bytes": 1 << 20, "open_files": 16}


def _confined_shell(command: str, cwd: Path) -> tuple[subprocess.CompletedProcess, dict]:
    argv = [sys.executable, "-I", "-S", str(sandbox.CONFINE), json.dumps(SETTINGS), os.path.realpath(BASH), "-c", command]
    done = subprocess.run(argv, cwd=cwd, env={}, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
                          start_new_session=True)
    report = {}
    for line in done.stderr.splitlines():
        if line.startswith("lab-confine "):
            report = json.loads(line[len("lab-confine "):])
    return done, report


def _layer_needed(case: str, report: dict) -> str | None:
    """Why ``case`` cannot be expected to hold on this kernel, or None when the layer it relies on is there."""
    files = report.get("filesystem", "")
    if case in ("read_canary", "read_parent_environ", "write_outside", "run_another_program"):
        return None if files.startswith("Landlock") else f"no Landlock here ({files})"
    if case == "connect":
        held = report.get("network", "").startswith("new") or "no TCP" in files
        return None if held else f"neither a network namespace nor Landlock TCP rules ({report})"
    if case == "kill_parent":
        held = report.get("user", "").startswith("now nobody") or "no signals outside" in files
        return None if held else f"the program runs as the test's own user, with no Landlock signal scope ({report})"
    raise AssertionError(case)


SHELL_CASES = {
    "read_canary": "read -r x < @@CANARY@@ && echo \"ESCAPED $x\"",
    "read_parent_environ": "read -r -d '' x < /proc/@@PARENT@@/environ; [ -n \"$x\" ] && echo \"ESCAPED $x\"",
    "write_outside": "echo ESCAPED > @@OUTSIDE@@/escaped.txt && echo ESCAPED",
    "connect": "exec 3<>/dev/tcp/127.0.0.1/@@PORT@@ && echo ESCAPED",
    "run_another_program": "/usr/bin/env && echo ESCAPED",
    "kill_parent": "kill -9 @@PARENT@@ && echo ESCAPED",
}


@pytest.mark.skipif(BASH is None, reason="bash is not installed: the layer checks without Monty need a shell")
@pytest.mark.parametrize("case", list(SHELL_CASES))
def test_the_launcher_holds_without_monty(case: str, world: World, tmp_path):
    probe, report = _confined_shell("echo probe", tmp_path)
    assert probe.returncode == 0 and report.get("limits") == "set", (probe.stdout, probe.stderr)
    reason = _layer_needed(case, report)
    if reason:
        pytest.skip(f"{case}: {reason}")
    work = tmp_path / "work"
    work.mkdir(mode=0o777)
    done, _ = _confined_shell(world.fill(SHELL_CASES[case]), work)
    assert os.getpid() == world.parent
    assert "ESCAPED" not in done.stdout, (done.stdout, done.stderr)
    assert world.secret not in done.stdout + done.stderr
    assert world.listener.connections() == []
    assert list(world.outside.iterdir()) == []


@pytest.mark.skipif(BASH is None, reason="bash is not installed: the control needs a shell")
def test_the_world_is_reachable_without_the_sandbox(world: World):
    """The control: a plain shell, as the user the sandbox runs programs as, reads the canary, writes outside and
    connects. So the refusals above are the sandbox's doing, not the test folders' permissions."""
    as_nobody = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}
    command = world.fill("read -r x < @@CANARY@@ && echo \"read $x\"; echo control > @@OUTSIDE@@/control.txt && "
                         "echo wrote; exec 3<>/dev/tcp/127.0.0.1/@@PORT@@ && echo connected")
    done = subprocess.run([BASH, "-c", command], cwd="/", env={}, capture_output=True, text=True, timeout=20, **as_nobody)
    assert f"read {world.secret}" in done.stdout, done.stderr
    assert "wrote" in done.stdout and (world.outside / "control.txt").exists(), done.stderr
    assert "connected" in done.stdout and world.listener.connections(), done.stderr


# --- benign programs --------------------------------------------------------------------------------------------------

BENIGN = [
    ("shopping_discount", """
price = 12.50
quantity = 4
discount = 0.10
total = price * quantity * (1 - discount)
print(round(total, 2))
""", "45.0"),
    ("unit_conversion", """
miles = 26.2
km_per_mile = 1.609344
print(round(miles * km_per_mile, 1))
""", "42.2"),
    ("function_definition", """
def area_of_circle(radius):
    return 3.14159 * radius ** 2

print(round(area_of_circle(3), 2))
""", "28.27"),
    ("loop_sum_of_evens", """
total = 0
for n in range(1, 101):
    if n % 2 == 0:
        total += n
print(total)
""", "2550"),
    ("fstring", """
name = "Ada"
apples = 3 + 4
print(f"{name} bought {apples} apples")
""", "Ada bought 7 apples"),
    ("math_module_and_comprehension", """
import math
squares = [i * i for i in range(5)]
print(math.sqrt(sum(squares) + 6))
""", "6.0"),
    ("dict_and_sorting", """
stock = {"apples": 5, "pears": 2, "plums": 9}
most = sorted(stock, key=lambda k: stock[k])[-1]
print(most)
""", "plums"),
]


@pytest.mark.parametrize("code,expected", [(c, e) for _, c, e in BENIGN], ids=[n for n, _, _ in BENIGN])
def test_benign_programs_get_the_right_answer(code, expected):
    result = run_program(code, timeout=5.0)
    assert result.ok, result
    assert result.answer == expected and result.error is None and not result.timed_out
    assert result.stdout.strip().splitlines()[-1] == expected


def test_answer_set_without_printing():
    result = run_program("apples = 6\nanswer = apples * 7\n")
    assert result.ok and result.answer == "42" and result.stdout == "", result


def test_several_lines_printed_the_answer_is_the_last():
    result = run_program("print('step 1: 3 boxes')\nprint('step 2: 4 each')\nprint(3 * 4)\n")
    assert result.ok and result.answer == "12", result
    assert result.stdout.splitlines() == ["step 1: 3 boxes", "step 2: 4 each", "12"]


def test_answer_set_to_a_string():
    result = run_program("city = 'Lyon'\nanswer = 'The capital of ' + 'France is Paris'\n")
    assert result.ok and result.answer == "The capital of France is Paris", result


def test_a_line_that_looks_like_the_answer_marker_is_just_output():
    """The marker is a fresh token per run: a printed line shaped like one (24 hex digits, a space, a value) is kept in
    stdout like any other line, never taken for the marker and dropped."""
    fake = "0123456789abcdef01234567 99"
    result = run_program(f"print('{fake}')\n")
    assert result.ok and result.stdout == fake and result.answer == fake, result


# --- bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["", "   \n\t\n"], ids=["empty", "blank"])
def test_empty_program(code):
    result = run_program(code)
    assert not result.ok and "empty" in result.error and not result.timed_out and result.seconds == 0.0


def test_syntax_error():
    result = run_program("print(1 +\n")
    assert not result.ok and not result.timed_out and "SyntaxError" in result.error, result


def test_runtime_error():
    result = run_program("x = 1 / 0\nprint(x)\n")
    assert not result.ok and not result.timed_out and "ZeroDivisionError" in result.error, result


def test_timeout():
    result = run_program("while True:\n    pass\n", timeout=0.5)
    assert not result.ok and result.timed_out and "time limit" in result.error, result
    assert result.seconds < 0.5 + SLACK


def test_printing_nothing():
    result = run_program("x = 41 + 1\n")
    assert not result.ok and "printed nothing" in result.error and result.answer is None, result


def test_over_long_program_is_not_run():
    code = "x = 1\n" * (MAX_PROGRAM // 6 + 1)
    assert len(code) > MAX_PROGRAM
    result = run_program(code)
    assert not result.ok and f"{MAX_PROGRAM:,}" in result.error and result.seconds == 0.0 and not result.isolation


@pytest.mark.parametrize("timeout", [0, 0.05, -1, 61, 1e9, float("nan"), float("inf"), True, "5"])
def test_timeout_out_of_range_raises(timeout):
    with pytest.raises(ValueError):
        run_program("print(1)", timeout=timeout)


def test_the_output_flood_is_capped_and_marked():
    result = run_program("for i in range(10000):\n    print('y' * 100)\n", timeout=5.0)
    assert len(result.stdout) <= MAX_OUTPUT and result.truncated, (len(result.stdout), result.truncated)


def test_a_smaller_memory_limit_is_applied():
    result = run_program("x = 'a' * (200 * 1024 * 1024)\nprint(len(x))\n", timeout=5.0, limits=Limits(memory_mb=64))
    assert not result.ok and "memory" in result.error, result


# Bugs in core/reasoning/sandbox.py found while writing this corpus. These fail on purpose until sandbox.py is fixed;
# they are not escapes (nothing gets out), but valid programs are refused or crash the caller.


def test_a_program_starting_with_a_minus_sign_runs():
    """BUG: the program is passed as the argument after ``monty -c``; one starting with "-" is parsed as monty's own
    option ("unexpected argument '-2' found" / "a value is required for '-c'"), so valid Python is refused and the
    error quotes the trailer, answer token included. Not an injection: clap then has no value for -c and exits."""
    result = run_program("-2 ** 2\nprint(-2 ** 2)\n")
    assert result.ok and result.answer == "-4", f"a valid program starting with '-' was refused: {result.error!r}"


@pytest.mark.parametrize("code", ["print('a\x00b')\n", "print('\ud800')\n"], ids=["nul_byte", "lone_surrogate"])
def test_unpassable_program_text_gives_a_result_not_an_exception(code):
    """BUG: a program holding a NUL byte or a lone surrogate makes Popen raise (ValueError: embedded null byte /
    UnicodeEncodeError) out of run_program, where every other bad program gets a SandboxResult with ok False."""
    try:
        result = run_program(code)
    except (ValueError, UnicodeError) as err:
        pytest.fail(f"run_program raised {type(err).__name__}: {err} instead of returning ok=False")
    assert not result.ok and result.error


def test_a_multiline_string_answer_is_kept_whole():
    """BUG: the ``answer`` variable comes out as one marker line, so a program that prints nothing and sets
    ``answer = 'a\\nb'`` gets answer 'b' and stdout 'b': the marker line carries only 'a', the rest is taken for
    printed output, which wins. (Lines are split with str.splitlines, so \\r, \\x0b, \\u2028 and the like split it too.)"""
    result = run_program("answer = 'first line\\nsecond line'\n")
    assert result.answer == "first line\nsecond line" and result.stdout == "", result


# --- the isolation report ---------------------------------------------------------------------------------------------


def test_the_isolation_report(capsys):
    result = run_program("print(1 + 1)\n")
    assert result.ok and result.answer == "2", result
    assert set(result.isolation) >= {"limits", "user", "network", "filesystem"}, result.isolation
    assert result.isolation["limits"] == "set"
    with capsys.disabled():  # into the CI log, whatever the capture mode: which layers held on this machine
        print("\nsandbox isolation: " + json.dumps(result.isolation))
    if os.geteuid() == 0:
        assert result.isolation["user"].startswith("now nobody"), result.isolation
