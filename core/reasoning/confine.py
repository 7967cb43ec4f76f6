"""The sandbox's launcher: confine this process, then replace it with the interpreter. Run as a script, never imported.

``python -I -S confine.py SETTINGS_JSON INTERPRETER ARGS...`` applies, in order, each layer it can and reports on
stderr (one ``lab-confine`` JSON line) which ones held and why any did not:

1. resource limits: address space, CPU seconds, processes, file size, open files, no core dumps;
2. when started as root, drop to the unprivileged user ``nobody`` (root ignores the process limit);
3. a new user and network namespace: no network interface but a loopback that is down;
4. Landlock (Linux 5.13+): no file may be written, nor read outside the interpreter and the system libraries it
   loads; from ABI 4 no TCP bind or connect; from ABI 6 no signal to a process outside the sandbox;
5. ``no_new_privs``, then ``execve`` of the interpreter with an empty environment.

Only the standard library is used, and nothing from ``core``: this file runs with ``-I -S`` (no site packages, no
environment variables read). Layers 2-4 depend on the kernel and are skipped with the reason when refused.
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
PR_SET_NO_NEW_PRIVS = 38
SYS_LANDLOCK = {"create": 444, "add_rule": 445, "restrict": 446}  # the same numbers on x86_64 and arm64
FS_EXECUTE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_CONNECT_TCP = 0b11
SCOPE_ABSTRACT_UNIX_AND_SIGNAL = 0b11
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache")

libc = ctypes.CDLL(None, use_errno=True)


def _error() -> str:
    return os.strerror(ctypes.get_errno())


def set_limits(settings: dict) -> str:
    limits = {
        resource.RLIMIT_AS: settings["memory_bytes"],
        resource.RLIMIT_CPU: settings["cpu_seconds"],
        resource.RLIMIT_NPROC: settings["processes"],
        resource.RLIMIT_FSIZE: settings["file_bytes"],
        resource.RLIMIT_NOFILE: settings["open_files"],
        resource.RLIMIT_CORE: 0,
    }
    refused = []
    for which, value in limits.items():
        try:
            resource.setrlimit(which, (value, value))
        except (OSError, ValueError) as err:  # macOS, for one, refuses some: the others still hold
            refused.append(f"{which}: {err}")
    return "set" if not refused else "set, except " + "; ".join(refused)


def drop_root() -> str:
    if os.geteuid() != 0:
        return "not root"
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    return "now nobody (65534)"


def new_namespaces() -> str:
    if not sys.platform.startswith("linux"):
        return "skipped: not Linux"
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return f"skipped: unshare refused ({_error()})"
    return "new user and network namespace"


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock(interpreter: str) -> str:
    if not sys.platform.startswith("linux"):
        return "skipped: not Linux"
    abi = libc.syscall(SYS_LANDLOCK["create"], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return f"skipped: Landlock not offered by this kernel ({_error()})"
    fs_rights = FS_RIGHTS_BY_ABI[max(k for k in FS_RIGHTS_BY_ABI if k <= abi)]
    attr = _RulesetAttr(fs_rights, NET_BIND_CONNECT_TCP if abi >= 4 else 0, SCOPE_ABSTRACT_UNIX_AND_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(SYS_LANDLOCK["create"], ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"skipped: Landlock ruleset refused ({_error()})"
    for path in (interpreter, *LIBRARY_DIRS):  # read and run the interpreter and the libraries it links, nothing else
        if not os.path.exists(path):
            continue
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rights = FS_EXECUTE | FS_READ_FILE | (FS_READ_DIR if os.path.isdir(path) else 0)
        rule = _PathBeneath(rights, fd)
        if libc.syscall(SYS_LANDLOCK["add_rule"], ruleset, 1, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            return f"skipped: Landlock rule for {path} refused ({_error()})"
        os.close(fd)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"skipped: no_new_privs refused ({_error()})"
    if libc.syscall(SYS_LANDLOCK["restrict"], ruleset, ctypes.c_uint32(0)) != 0:
        return f"skipped: Landlock restrict refused ({_error()})"
    os.close(ruleset)
    parts = ["files: read-only interpreter and system libraries"] + (["no TCP"] if abi >= 4 else []) + \
            (["no signals outside"] if abi >= 6 else [])
    return f"Landlock ABI {abi} ({', '.join(parts)})"


def main() -> None:
    settings, argv = json.loads(sys.argv[1]), sys.argv[2:]
    report = {"limits": set_limits(settings)}
    for layer, apply in (("user", drop_root), ("network", new_namespaces), ("filesystem", lambda: landlock(argv[0]))):
        try:
            report[layer] = apply()
        except (OSError, AttributeError) as err:
            report[layer] = f"skipped: {err}"
    if sys.platform.startswith("linux"):
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    sys.stderr.write("lab-confine " + json.dumps(report) + "\n")
    sys.stderr.flush()
    os.execve(argv[0], argv, {})


if __name__ == "__main__":
    main()
