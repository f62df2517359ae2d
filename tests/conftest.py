"""Fixtures: a real redis-server on a free port, the LINE stand-in, the app and workers.

Nothing of our own is mocked: the web app, the worker and line-bot-sdk run for real; only LINE's
servers are replaced, at the network edge, by bot.line_standin.
"""
from __future__ import annotations

import faulthandler
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis

from bot import create_app
from bot.config import Config
from bot.line_standin import StandinLine
from bot.worker import Worker

from . import helpers

ROOT = Path(__file__).resolve().parent.parent

# A test that never ends must not hold the whole run (CI waits 90 minutes, then shows nothing).
# pytest-timeout (120 s, pyproject.toml) interrupts a test's call; it cannot end a teardown that
# hangs after it (a browser driver waiting on a page the interrupted call left half-open), nor a
# wait the signal cannot reach. So each test's whole protocol (setup, call, teardown, and the
# module's and session's teardown that run with its last test) has a watchdog below the
# interpreter: past MADO_TEST_WATCHDOG seconds (default 300) every thread's stack is written out
# and the process ends. pytest-xdist reports that test as crashed and goes on with a fresh
# worker; a worker's stderr goes nowhere, so it writes the stacks to a file that the run's
# summary prints (pytest_terminal_summary).
WATCHDOG_S = float(os.environ.get("MADO_TEST_WATCHDOG") or 300)
_WATCHDOG_DIR = "MADO_TEST_WATCHDOG_DIR"
_stacks = []          # (this process's file for the stacks, opened once)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):          # the run's own process: workers inherit this
        os.environ[_WATCHDOG_DIR] = tempfile.mkdtemp(prefix="mado-watchdog-")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not _stacks:
        worker = getattr(item.config, "workerinput", None)
        _stacks.append(open(Path(os.environ[_WATCHDOG_DIR]) / f"{os.getpid()}.txt", "w")
                       if worker else sys.__stderr__)
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True, file=_stacks[0])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_unconfigure(config):
    if _stacks and _stacks[0] is not sys.__stderr__:
        _stacks.pop().close()


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput") or not os.environ.get(_WATCHDOG_DIR):
        return
    d = Path(os.environ[_WATCHDOG_DIR])
    for f in sorted(d.glob("*.txt")):
        text = f.read_text(errors="replace")
        if text.strip():
            terminalreporter.write_sep("=", f"a test passed the {WATCHDOG_S:.0f} s watchdog: its worker's stacks")
            terminalreporter.write_line(text)
    shutil.rmtree(d, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, extra_args=()):
        exe = shutil.which("redis-server")
        if not exe:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server); "
                        "the suite runs against a real Redis")
        self.dir = tempfile.mkdtemp(prefix="mado-redis-")
        self.port = free_port()
        self.args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", self.dir, *extra_args]
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60          # readiness (PING answered), generous on a busy machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}) while starting")
            try:
                redis.Redis(port=self.port).ping()
                return self
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisClusterServer:
    """A local 3-master Redis Cluster (redis-server in cluster mode, `redis-cli --cluster create`)."""

    def __init__(self, masters: int = 3):
        # (node timeout: the default 15 s, so that a node stalled a moment on a busy machine is not
        # taken for failed and the cluster marked down; no test fails a node over)
        # each node's cluster bus gets its own free port (by default it would be port + 10000,
        # which may be taken or past 65535)
        self.nodes = [RedisServer(("--cluster-enabled", "yes", "--cluster-node-timeout", "15000",
                                   "--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port())))
                      for _ in range(masters)]

    @property
    def url(self) -> str:
        return self.nodes[0].url          # a plain URL: mado finds out that it is a cluster

    def start(self):
        for n in self.nodes:
            n.start()
        cli = shutil.which("redis-cli")
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        # Ready when every node (not only the first) sees the whole cluster: each node learns the
        # others' slots over the bus in its own time, and a node that has not yet answers
        # CLUSTERDOWN to a client that was routed to it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(self._node_ready(n) for n in self.nodes):
                return self
            time.sleep(0.1)
        raise RuntimeError("the cluster did not become ready")

    def _node_ready(self, node) -> bool:
        with redis.Redis(port=node.port, decode_responses=True) as c:
            info = c.cluster("info")
            return (info.get("cluster_state") == "ok"
                    and int(info.get("cluster_slots_ok", 0)) == 16384
                    and int(info.get("cluster_known_nodes", 0)) == len(self.nodes))

    def stop(self):
        for n in self.nodes:
            n.stop()


# MADO_TEST_REDIS=cluster runs the same tests against a 3-master Redis Cluster (scripts/test.sh
# does this for the integration tests), proving the key layout: no CROSSSLOT anywhere.
CLUSTER = os.environ.get("MADO_TEST_REDIS") == "cluster"


@pytest.fixture(scope="session")
def redis_server():
    server = (RedisClusterServer() if CLUSTER else RedisServer()).start()
    yield server
    server.stop()


@pytest.fixture
def r(redis_server):
    from bot.redis_conn import connect

    client = connect(redis_server.url)
    assert CLUSTER == (type(client).__name__ == "RedisCluster")
    client.flushall()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """A developer's real tokens must never reach a test."""
    for name in list(os.environ):
        if name.startswith(("LINE_", "MADO_", "SENTRY_")) or name == "REDIS_URL":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def standin():
    s = StandinLine(helpers.ACCESS_TOKEN).start()
    yield s
    s.stop()


@pytest.fixture
def config(redis_server, standin, r):
    return Config(
        channel_secret=helpers.SECRET, access_token=helpers.ACCESS_TOKEN, api_base_url=standin.url,
        redis_url=redis_server.url, secret_key=helpers.MADO_KEY, shards=4, lease_ms=1500,
        send_threads=16, line_backoff_s=0.05, line_timeout_s=2.0,
    )


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


class Poster:
    """Posts signed webhooks the way LINE does, issuing each event's reply token at the stand-in."""

    def __init__(self, client, standin):
        self.client = client
        self.standin = standin

    def __call__(self, *events, secret=helpers.SECRET):
        for ev in events:
            if ev.get("replyToken"):
                self.standin.issue_reply_token(ev["source"].get("userId", ""), ev["replyToken"])
        body = helpers.body_of(*events)
        return self.client.post("/callback", data=body, headers={
            "X-Line-Signature": helpers.sign(body, secret), "Content-Type": "application/json"})


@pytest.fixture
def post(client, standin):
    return Poster(client, standin)


@pytest.fixture
def worker(config):
    """One worker running in this process (threads), stopped after the test."""
    started = []

    def start(**overrides):
        w = Worker(config.with_overrides(**overrides) if overrides else config)
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        started.append((w, t))
        return w

    yield start
    for w, t in started:
        w.request_stop()
        t.join(15)


def worker_env(config: Config, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "MADO_", "SENTRY_"))}
    env.update({
        "LINE_CHANNEL_SECRET": config.channel_secret,
        "LINE_CHANNEL_ACCESS_TOKEN": config.access_token,
        "LINE_API_BASE_URL": config.api_base_url,
        "REDIS_URL": config.redis_url,
        "MADO_SECRET_KEY": config.secret_key,
        "MADO_EVENT_SHARDS": str(config.shards),
        "MADO_LEASE_MS": str(config.lease_ms),
        "MADO_LINE_BACKOFF_S": str(config.line_backoff_s),
        "MADO_WORKER_PROCESSES": "1",     # the process under test is the worker itself
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def worker_process(config, tmp_path):
    """Start real `python -m bot.worker` processes (logs in tmp_path); killed after the test."""
    procs = []

    def start(**extra):
        log = open(tmp_path / f"worker-{len(procs)}.log", "w")
        p = subprocess.Popen([sys.executable, "-m", "bot.worker"], cwd=ROOT, env=worker_env(config, **extra),
                             stdout=log, stderr=subprocess.STDOUT)
        procs.append((p, log))
        return p

    yield start
    for p, log in procs:
        if p.poll() is None:
            orphans = _descendants(p.pid)         # a supervisor's children would outlive a kill
            p.kill()
            for pid in orphans:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        p.wait(10)
        log.close()


def _descendants(pid: int) -> list[int]:
    """Every process below pid (Linux /proc), children first."""
    out, todo = [], [pid]
    while todo:
        here = Path(f"/proc/{todo.pop()}/task")
        try:
            kids = [int(c) for task in here.iterdir() for c in (task / "children").read_text().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


COUNSELOR_PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(r):
    """Counselor accounts: aoi and ben (counselors), chief (admin)."""
    from handoff.accounts import Accounts

    acc = Accounts(r)
    for name, role in (("aoi", "counselor"), ("ben", "counselor"), ("chief", "admin")):
        acc.add(name, COUNSELOR_PASSWORD, role)
    return acc


class Zygote:
    """`python -m tests.demo_zygote`: forks a fresh `mado demo` process per test from an interpreter
    that has already imported it (about 2-3 s saved per test; see that module)."""

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "MADO_", "SENTRY_"))}
        env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.demo_zygote"], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", "the demo zygote did not start"

    def start(self, env: dict, log: Path) -> int:
        self.proc.stdin.write(json.dumps({"env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()            # end of input: the zygote leaves
        self.proc.wait(30)
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def demo_zygote():
    z = Zygote()
    yield z
    z.close()
