"""`mado demo` and `mado chat` pointed at a real Redis (issue 23): they create no account outside
their own embedded store, and they refuse a Redis that another deployment of mado uses (its data,
its live workers), saying why and where to point them instead. Real processes, real redis-server.
"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from bot import keys
from handoff.accounts import Accounts

from .conftest import COUNSELOR_PASSWORD, ROOT, free_port

PASSWORD = "demo-password-for-this-test"


def local_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LINE_", "MADO_", "SENTRY_")) and k != "REDIS_URL"}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **extra)
    return env


def mado_keys(r) -> list[str]:
    return sorted(r.scan_iter(match="mado:*", count=1000))


def start_demo(env: dict, log_path):
    """A real `mado demo`; returns (process, its URL) once it has printed its address."""
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120        # readiness (the printed address), generous on a busy machine
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"(http://127\.0\.0\.1:\d+)/demo/", log_path.read_text())
        if found:
            return proc, log, found.group(1)
        time.sleep(0.05)                     # polling for readiness, not waiting a fixed time
    proc.kill()
    proc.wait(10)
    log.close()
    pytest.fail("mado demo did not start:\n" + log_path.read_text())


def stop_demo(proc, log) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    finally:
        log.close()


def login(url: str, name: str, password: str) -> int:
    return requests.post(url + "/console/api/login", json={"name": name, "password": password}, timeout=30).status_code


def test_demo_on_a_real_redis_creates_no_account(redis_server, r, tmp_path):
    """It printed an admin `demo` login and created it in that Redis (or reset its password), and
    the login still worked after the demo had stopped."""
    env = local_env(REDIS_URL=redis_server.url, PORT=str(free_port()), MADO_DEMO_PASSWORD=PASSWORD)
    proc, log, url = start_demo(env, tmp_path / "demo.log")
    try:
        assert Accounts(r).names() == []
        assert login(url, "demo", PASSWORD) == 401
        out = (tmp_path / "demo.log").read_text()
        assert PASSWORD not in out
        assert "mado counselor add" in out                   # it says how to make one instead
    finally:
        assert stop_demo(proc, log) == 0
    assert Accounts(r).names() == []


def test_demo_on_the_embedded_default_has_its_own_login(tmp_path):
    env = local_env(PORT=str(free_port()), MADO_DEMO_PASSWORD=PASSWORD)
    proc, log, url = start_demo(env, tmp_path / "demo.log")
    try:
        assert PASSWORD in (tmp_path / "demo.log").read_text()
        assert login(url, "demo", PASSWORD) == 200
    finally:
        assert stop_demo(proc, log) == 0


@pytest.fixture
def live_worker(worker, r):
    """A deployment's worker at work on this Redis: registered, holding every shard."""
    w = worker()
    end = time.monotonic() + 60
    while not (r.zscore(keys.WORKERS, w.id) and all(r.get(keys.lease(s)) == w.id for s in range(4))):
        assert time.monotonic() < end, "the worker never took its shards"
        time.sleep(0.02)                     # polling for readiness
    return w


@pytest.mark.parametrize("command", ["demo", "chat"])
def test_a_redis_holding_another_deployments_data_is_refused(command, redis_server, r, accounts):
    before = mado_keys(r)
    res = subprocess.run([sys.executable, "-m", "bot.cli", command], input="2\n/おわり\n", capture_output=True,
                         text=True, timeout=60, cwd=ROOT, env=local_env(REDIS_URL=redis_server.url, PORT="0"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "another mado deployment" in res.stderr and "counselor accounts" in res.stderr   # why
    assert "unset REDIS_URL" in res.stderr and "database number" in res.stderr            # what to do
    assert "Traceback" not in res.stderr
    assert mado_keys(r) == before                            # nothing written, no account touched
    assert Accounts(r).verify("chief", COUNSELOR_PASSWORD, "test")


@pytest.mark.parametrize("command", ["demo", "chat"])
def test_a_redis_with_live_workers_is_refused(command, redis_server, r, live_worker):
    res = subprocess.run([sys.executable, "-m", "bot.cli", command], input="2\n/おわり\n", capture_output=True,
                         text=True, timeout=60, cwd=ROOT, env=local_env(REDIS_URL=redis_server.url, PORT="0"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "1 worker" in res.stderr and "another mado deployment" in res.stderr
    assert r.zrange(keys.WORKERS, 0, -1) == [live_worker.id]              # nobody joined it
    assert all(r.get(keys.lease(s)) == live_worker.id for s in range(4))  # and it gave up no shard
