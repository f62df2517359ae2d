"""Start-up: each long-running process puts its SIGTERM handler in place first thing, before the slow
imports (Flask, redis-py, the conversation machine, MeCab), so a stop sent while it starts is a clean
exit, never death by the signal (issue 14, item 11: a worker started directly died of a SIGTERM in
its first ~0.3 s)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import keys

from .conftest import ROOT, worker_env

HEAVY = ("flask", "werkzeug", "redis", "flows", "handoff", "linebot", "fugashi", "argon2",
         "transitions", "sentry_sdk", "fakeredis", "requests")

# Runs an entry point with the standard library's signal.signal watched: at the first SIGTERM
# handler it prints which of the slow packages are already imported, and leaves.
PROBE = r"""
import json, os, signal, sys
HEAVY = set(json.loads(sys.argv[1]))
real = signal.signal
def watched(sig, handler):
    if sig == signal.SIGTERM:
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & HEAVY)), flush=True)
        os._exit(0)
    return real(sig, handler)
signal.signal = watched
exec(sys.argv[2])
print("null", flush=True)
"""

ENTRY_POINTS = {
    "python -m bot.worker": "import runpy; runpy.run_module('bot.worker', run_name='__main__', alter_sys=True)",
    "mado worker": "from bot.cli import main; main(['worker'])",
    "mado demo": "from bot.cli import main; main(['demo'])",
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_the_sigterm_handler_comes_before_the_slow_imports(entry, config):
    env = worker_env(config, PORT=0)
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), ENTRY_POINTS[entry]],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    loaded = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None
    assert loaded == [], f"{entry}: SIGTERM handler set only after importing {loaded}\n{out.stderr[-2000:]}"


def _catches_sigterm(pid: int) -> bool:
    """The kernel's own view: SIGTERM is in the process's caught-signal mask (/proc/PID/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except FileNotFoundError:
        pass
    return False


@pytest.mark.parametrize("argv", [["-m", "bot.worker"], ["-m", "bot.cli", "worker"]], ids=" ".join)
def test_a_sigterm_as_soon_as_it_is_caught_is_a_clean_exit(argv, config, r, tmp_path):
    """SIGTERM at the first moment the handler exists (the worker is still importing): exit 0,
    no shard taken."""
    with open(tmp_path / "worker.log", "w") as log:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=worker_env(config),
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 120           # readiness: the handler, however slow start-up is
            while not _catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < end:
                time.sleep(0.001)
            assert proc.poll() is None, "the worker ended before catching SIGTERM"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert code == 0, (tmp_path / "worker.log").read_text()[-2000:]
    assert all(r.get(keys.lease(s)) is None for s in range(4)), "a shard was taken after the stop"
