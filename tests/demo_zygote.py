"""Starts `mado demo` processes for the browser tests without paying for the imports each time.

Run as `python -m tests.demo_zygote`: imports what `mado demo` imports (line-bot-sdk alone takes
~2 s), then for each JSON line on standard input ({"env": {...}, "log": path}) forks a child that
runs exactly `mado demo` (bot.cli.main(["demo"])) with that environment and its output in that
log, and answers the child's pid on a line. Each test still gets a fresh process of its own with
its own state; only the interpreter's start and the module imports are shared. The zygote runs no
thread (checked), so forking it is safe; children are reaped by the kernel (SIGCHLD ignored).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading


def _preload() -> None:
    import bot.cli  # noqa: F401
    import bot.demo  # noqa: F401
    import bot.line_standin  # noqa: F401
    import bot.worker  # noqa: F401
    import handoff.accounts  # noqa: F401
    import handoff.console  # noqa: F401
    import a2wsgi  # noqa: F401
    import bot.asgi  # noqa: F401
    import handoff.events  # noqa: F401
    import uvicorn  # noqa: F401


def _child(env: dict, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(env)
    code = 1
    try:
        from bot.cli import main

        code = main(["demo"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)


def serve() -> None:
    _preload()
    assert threading.active_count() == 1, "a thread at import: forking would not be safe"
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # children reaped by the kernel
    print("ready", flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req["env"], req["log"])
        print(pid, flush=True)


if __name__ == "__main__":
    serve()
