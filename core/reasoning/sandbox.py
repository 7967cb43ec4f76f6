"""Run a program a model wrote, safely: never in the app's process, in layers that each stop what the others miss.

The interpreter is Monty (``pydantic-monty-runtime``): a Python subset written in Rust with no filesystem, network,
environment, subprocesses or ``__import__``; its ``os`` is a stub and there is no ``__class__`` or ``__subclasses__``
to walk. It runs in a child process started through ``confine.py``, which sets resource limits (memory, CPU,
processes, file size, open files), drops root, enters a new user and network namespace and applies Landlock where
the kernel offers them, then executes Monty with an empty environment in a fresh temporary folder. The parent waits
on a wall-clock timeout and kills the whole process group; output goes to files capped by the file-size limit, and
only the first ``MAX_OUTPUT`` characters are kept.

The answer is the program's ``answer`` variable when it sets one, otherwise the last line it printed. A marker line
with a fresh random token carries the variable's repr out, so a program cannot forge the marker.

Does not hold: prompts or models (``core.reasoning.pal``).
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.config import check_range

CONFINE = Path(__file__).with_name("confine.py")
log = logging.getLogger(__name__)
_logged: set[str] = set()  # each skipped layer is logged once per process
MAX_PROGRAM = 20_000  # characters
MAX_OUTPUT = 20_000  # characters of stdout kept
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 256
    processes: int = 8
    file_mb: int = 1  # also caps what the program can print: stdout is a file
    open_files: int = 16


@dataclass
class SandboxResult:
    ok: bool
    stdout: str
    answer: str | None
    error: str | None
    timed_out: bool
    seconds: float
    truncated: bool = False
    isolation: dict[str, str] = field(default_factory=dict)  # each layer and whether it held

    def to_json(self) -> dict:
        return asdict(self)


class SandboxUnavailable(RuntimeError):
    """The interpreter is not installed: the program is not run at all (never a fallback to exec)."""


def interpreter() -> str:
    """The Monty binary: in this environment's scripts folder (where pip puts it), else on PATH."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "monty", Path(sys.executable).parent / "monty"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("monty")
    if not found:
        raise SandboxUnavailable("The sandbox's interpreter (monty, from pydantic-monty-runtime) is not installed: run make setup.")
    return found


def run_program(code: str, timeout: float = DEFAULT_TIMEOUT, limits: Limits = Limits()) -> SandboxResult:
    """Run ``code`` in the sandbox and return what it printed, its answer, its error and how long it took."""
    check_range("timeout", timeout, 0.1, MAX_TIMEOUT)
    if not isinstance(code, str) or not code.strip():
        return SandboxResult(False, "", None, "The program is empty: there is nothing to run.", False, 0.0)
    if len(code) > MAX_PROGRAM:
        return SandboxResult(False, "", None, f"The program has {len(code):,} characters; the sandbox runs at most "
                             f"{MAX_PROGRAM:,}.", False, 0.0)
    if "\x00" in code:
        return SandboxResult(False, "", None, "The program contains a NUL character: it cannot be run.", False, 0.0)
    try:
        code.encode("utf-8")
    except UnicodeEncodeError:
        return SandboxResult(False, "", None, "The program contains text that is not valid Unicode: it cannot be run.",
                             False, 0.0)
    token = secrets.token_hex(12)
    settings = {"memory_bytes": limits.memory_mb << 20, "cpu_seconds": math.ceil(timeout) + 1,
                "processes": limits.processes, "file_bytes": limits.file_mb << 20, "open_files": limits.open_files}
    folder = Path(tempfile.mkdtemp(prefix="lab-sandbox-"))
    start = time.perf_counter()
    try:
        if os.geteuid() == 0:  # the launcher runs the program as nobody: let it into its own folder, and no further
            os.chown(folder, 65534, 65534)
        # Output goes to unnamed temporary files (nothing to guess or link to); the file-size limit caps them.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # "-c" and the code in one argument: a program starting with "-" is not read as an option
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(CONFINE), json.dumps(settings), interpreter(), "-c" + code + _trailer(token)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=folder, env={}, start_new_session=True,
                close_fds=True)
            timed_out = _wait(process, timeout)
            seconds = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            stdout = out.read(MAX_OUTPUT * 4).decode("utf-8", "replace")
            stderr = err.read(MAX_OUTPUT).decode("utf-8", "replace")
        return _result(process.returncode, stdout, stderr, token, timed_out, seconds, timeout, limits)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _trailer(token: str) -> str:
    name = f"_lab_answer_{token}"
    return (f"\n\ntry:\n    {name} = answer\nexcept NameError:\n    {name} = None\n"
            f"if {name} is not None:\n    print('{token}', repr({name}))\n")  # repr: one line, whatever it holds


def _wait(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds; then kill the process group (the program and anything it started)."""
    try:
        process.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        return True


TIMING = re.compile(r"^\s*[\d.]+\s*[mµμn]?s\s*❯\s*", re.MULTILINE)


def _result(returncode: int, stdout: str, stderr: str, token: str, timed_out: bool, seconds: float, timeout: float,
            limits: Limits) -> SandboxResult:
    isolation, lines = {}, []
    for line in stderr.splitlines():
        if line.startswith("lab-confine "):
            isolation = json.loads(line[len("lab-confine "):])
        else:
            lines.append(line)
    for layer, state in isolation.items():
        if "skipped" in state and layer not in _logged:
            _logged.add(layer)
            log.warning("sandbox: the %s layer is not in force here: %s (the other layers still hold)", layer, state)
    variable, kept = None, []
    for line in stdout.splitlines():
        if line.startswith(token + " "):
            variable = line[len(token) + 1:].strip()
        else:
            kept.append(line)
    truncated = len(stdout) > MAX_OUTPUT
    shown = "\n".join(kept)[:MAX_OUTPUT]
    printed = [line.strip() for line in kept if line.strip()]
    answer = _literal(variable) if variable is not None else (printed[-1] if printed else None)
    error = _error(returncode, "\n".join(lines), timed_out, timeout, limits)
    if error is None and answer is None:
        error = "The program printed nothing and set no `answer`: end it with print(answer)."
    return SandboxResult(error is None, shown, answer, error, timed_out or returncode == -signal.SIGXCPU, round(seconds, 4),
                         truncated, isolation)


def _literal(text: str) -> str:
    """The ``answer`` variable's repr read back (a string without its quotes); a repr that is no literal stays as is."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, str) else str(value)


def _error(returncode: int, stderr: str, timed_out: bool, timeout: float, limits: Limits) -> str | None:
    if timed_out:
        return f"Stopped: the program ran past the {timeout:g} s time limit."
    if returncode == -signal.SIGXCPU:
        return "Stopped: the program used up its CPU time."
    if returncode == -signal.SIGXFSZ:
        return f"Stopped: the program printed more than the {limits.file_mb} MB output limit."
    if returncode < 0:
        return f"Stopped by signal {signal.Signals(-returncode).name} (memory limit {limits.memory_mb} MB)."
    if returncode == 0:
        return None
    text = TIMING.sub("", stderr).strip()
    text = re.sub(r"^error:\s*", "", text).strip()
    if re.search(r"allocation of \d+ bytes failed|memory allocation|out of memory", text, re.IGNORECASE):
        return f"Stopped: the program ran out of its {limits.memory_mb} MB of memory."
    if "failed printing to stdout" in text:
        return f"Stopped: the program printed more than the {limits.file_mb} MB output limit."
    return text or f"The interpreter exited with status {returncode}."
