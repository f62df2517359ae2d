"""`mado doctor` and `mado line webhook set|show|test` against a real redis-server, the real web app
served over HTTPS (a test certificate), a real worker and the LINE stand-in, which answers the bot
info and webhook settings paths as LINE does and posts its signed test webhook to the endpoint.

A deployment set up as the README's "Going live" says (Redis with compose.yaml's configuration
file and a password) reads ✔ on every row (exit 0); broken
set-ups (no persistence, allkeys-lru, no admin, no workers, no webhook URL, Chat off, a wrong
token, the webhook off, a wrong secret, a wrong clock, bad variables) read the matching ✘ with
its fix, and exit 1."""
from __future__ import annotations

import re
import subprocess
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import redis

from bot import cli, doctor, healthcheck, keys
from bot.line_standin import StandinLine
from bot.worker import Worker
from messages_ja import operator as say

from . import helpers
from .conftest import COUNSELOR_PASSWORD, RedisServer

ROOT = Path(__file__).resolve().parent.parent
KEY = "k" * 8 + "a-long-enough-secret-key-for-pseudonyms"
SHARDS, LEASE_MS = 4, 1500
REDIS_PASSWORD = "a-redis-password-for-the-test"


class DeployedRedis(RedisServer):
    """redis-server with compose.yaml's configuration file (deploy/redis/redis.conf: AOF
    everysec, noeviction) and a password, as `docker compose` starts it."""

    def __init__(self, data_dir: str | None = None):
        super().__init__()            # (data_dir: a folder of the caller's, e.g. a restored backup)
        self.args = [self.args[0], str(ROOT / "deploy" / "redis" / "redis.conf"), "--port", str(self.port),
                     "--bind", "127.0.0.1", "--dir", data_dir or self.dir, "--maxmemory", "64mb",
                     "--requirepass", REDIS_PASSWORD]

    @property
    def url(self) -> str:
        return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=REDIS_PASSWORD, decode_responses=True)

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, "redis-server refused deploy/redis/redis.conf"
            try:
                with self.client() as c:
                    c.ping()
                return self
            except (redis.ConnectionError, redis.BusyLoadingError):
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A test certificate for localhost: the web serves it, the stand-in (as LINE) trusts it."""
    return helpers.self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def good_redis():
    server = DeployedRedis().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https_web(good_redis, certificate):
    """The web app (webhook, health, console) on https://localhost:<port>, as behind a proxy."""
    from werkzeug.serving import make_server

    from bot import create_app
    from bot.config import Config

    cfg = Config(channel_secret=helpers.SECRET, access_token=helpers.ACCESS_TOKEN, redis_url=good_redis.url,
                 secret_key=KEY, shards=SHARDS, lease_ms=LEASE_MS)
    server = make_server("127.0.0.1", 0, create_app(cfg), threaded=True, ssl_context=certificate)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_port}"
    server.shutdown()


@pytest.fixture
def line(certificate):
    """LINE as a fresh channel: it knows the secret (to sign its test webhook) and trusts the
    web's certificate, as LINE trusts a CA's."""
    s = StandinLine(helpers.ACCESS_TOKEN, channel_secret=helpers.SECRET, webhook_ca=certificate[0]).start()
    yield s
    s.stop()


def env_of(line, redis_url: str, **extra) -> dict:
    env = {"LINE_CHANNEL_SECRET": helpers.SECRET, "LINE_CHANNEL_ACCESS_TOKEN": helpers.ACCESS_TOKEN,
           "LINE_API_BASE_URL": line.url, "REDIS_URL": redis_url, "MADO_SECRET_KEY": KEY,
           "MADO_EVENT_SHARDS": str(SHARDS), "MADO_LEASE_MS": str(LEASE_MS),
           "MADO_HOURS": "mon-fri 10:00-17:00, sat 13:00-17:00", "MADO_CLOSED_DATES": "2026-12-29..2027-01-03"}
    env.update(extra)
    return env


def mado(argv, env, monkeypatch, capsys) -> tuple[int, str, str]:
    """`mado …` as the console script runs it, with exactly `env` as its environment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def rows_of(out: str) -> dict[str, tuple[bool, str]]:
    """The table's rows: label → (✔?, the rest of the line and its fix)."""
    found, last = {}, None
    for line in out.splitlines():
        m = re.match(r"^  ([\u2714\u2718])  (.+?)  +(.*)$", line)
        if m:
            last = m.group(2).strip()
            found[last] = (m.group(1) == doctor.OK, m.group(3))
        elif last and line.strip().startswith("\u2192"):
            found[last] = (found[last][0], found[last][1] + " " + line.strip())
    return found


@pytest.fixture
def running_worker(good_redis):
    from bot.config import Config

    cfg = Config(channel_secret=helpers.SECRET, access_token=helpers.ACCESS_TOKEN, redis_url=good_redis.url,
                 secret_key=KEY, shards=SHARDS, lease_ms=LEASE_MS, api_base_url="http://127.0.0.1:9")
    w = Worker(cfg)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    r = good_redis.client()
    deadline = time.monotonic() + 30
    while not all(r.get(keys.lease(s)) == w.id for s in range(SHARDS)):      # every shard taken
        assert time.monotonic() < deadline, "the worker did not take its shards"
        time.sleep(0.05)
    yield w
    w.request_stop()
    t.join(15)
    r.close()


def test_a_deployment_set_up_as_the_readme_says_reads_every_row_right(
        good_redis, https_web, line, running_worker, monkeypatch, capsys):
    env = env_of(line, good_redis.url)
    # the README's steps: the first admin, the webhook URL (then "Use webhook" on in LINE's console)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(COUNSELOR_PASSWORD + "\n"))
    code, out, _ = mado(["counselor", "add", "chief", "--admin"], env, monkeypatch, capsys)
    assert code == 0
    code, out, _ = mado(["line", "webhook", "set", f"{https_web}/callback"], env, monkeypatch, capsys)
    assert code == 0 and f"{https_web}/callback" in out
    code, out, err = mado(["line", "webhook", "show"], env, monkeypatch, capsys)
    assert code == 1 and say("webhook.off") in out           # not yet in use
    line.set_webhook(active=True)
    code, out, _ = mado(["line", "webhook", "show"], env, monkeypatch, capsys)
    assert code == 0 and say("webhook.on") in out
    code, out, _ = mado(["line", "webhook", "test"], env, monkeypatch, capsys)
    assert code == 0 and out.startswith("\u2714")
    test = line.webhook()["tests"][-1]                        # LINE's signed post reached the web
    assert test["statusCode"] == 200 and test["reason"] == "OK" and test["endpoint"] == f"{https_web}/callback"

    code, out, _ = mado(["doctor"], env, monkeypatch, capsys)
    rows = rows_of(out)
    assert code == 0, out
    assert len(rows) == 19 and all(ok for ok, _ in rows.values()), out
    assert say("doctor.all_ok") in out
    assert "AOF（appendfsync everysec）" in rows[say("redis.persist")][1]
    assert "単体の Redis" in rows[say("redis.reach")][1]
    assert rows[say("line.endpoint")][1] == f"{https_web}/callback"
    assert rows[say("workers")][1] == say("workers.ok", n=1, shards=SHARDS)
    assert len(line.webhook()["tests"]) == 2                 # doctor had LINE test it once more
    assert healthcheck.main(["worker"], env) == 0             # compose's health check of the worker

    # the same deployment, gone wrong at LINE's end and in the web's secret and the clock
    line.set_webhook(active=False)
    line.channel_secret = "0" * 32                            # the web's secret is no longer the channel's
    line.clock_offset_s = 90
    line.set_chat_mode("bot")
    code, out, _ = mado(["doctor"], env, monkeypatch, capsys)
    rows = rows_of(out)
    assert code == 1
    failed = {label for label, (ok, _) in rows.items() if not ok}
    assert failed == {say("line.active"), say("line.test"), say("clock"), say("line.chat")}, out
    assert say("line.active.fix") in rows[say("line.active")][1]
    assert "ERROR_STATUS_CODE: 400" in rows[say("line.test")][1]
    assert say("line.test.fix_signature") in rows[say("line.test")][1]
    assert "+90" in rows[say("clock")][1] or "+89" in rows[say("clock")][1] or "+91" in rows[say("clock")][1]
    assert say("line.chat.fix") in rows[say("line.chat")][1]
    code, _, err = mado(["line", "webhook", "test"], env, monkeypatch, capsys)
    assert code == 1 and say("line.test.fix_signature") in err

    # workers down
    running_worker.request_stop()
    r = good_redis.client()
    deadline = time.monotonic() + 30
    while r.zcard(keys.WORKERS):                              # it handed its shards back and left
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r.close()
    rows = rows_of(mado(["doctor"], env, monkeypatch, capsys)[1])
    assert healthcheck.main(["worker"], env) == 1
    assert rows[say("workers")] == (False, say("workers.none") + " " + say("doctor.fix", fix=say("workers.fix_none")))


def test_a_redis_that_can_lose_data_no_admin_no_workers_and_no_webhook_each_read_wrong(
        line, monkeypatch, capsys):
    server = RedisServer(("--maxmemory-policy", "allkeys-lru")).start()     # no AOF, no RDB (the test args)
    try:
        code, out, _ = mado(["doctor"], env_of(line, server.url), monkeypatch, capsys)
    finally:
        server.stop()
    rows = rows_of(out)
    assert code == 1
    failed = {label for label, (ok, _) in rows.items() if not ok}
    assert failed == {say("redis.persist"), say("redis.policy"), say("line.endpoint"), say("line.active"),
                      say("line.test"), say("admin"), say("workers")}, out
    assert say("redis.persist.fix") in rows[say("redis.persist")][1]
    assert "allkeys-lru" in rows[say("redis.policy")][1] and say("redis.policy.fix") in rows[say("redis.policy")][1]
    assert say("admin.fix") in rows[say("admin")][1]
    assert say("line.endpoint.fix") in rows[say("line.endpoint")][1]
    assert say("doctor.some_fail", n=7) in out
    code, _, err = mado(["line", "webhook", "test"], env_of(line, server.url), monkeypatch, capsys)
    assert code == 1 and say("webhook.show.none") in err


def test_a_wrong_token_and_misshapen_variables_each_say_what_to_do(line, monkeypatch, capsys):
    env = {"LINE_CHANNEL_SECRET": "not-a-secret", "LINE_CHANNEL_ACCESS_TOKEN": "wrong-token",
           "LINE_API_BASE_URL": line.url, "REDIS_URL": "http://127.0.0.1:1/0", "MADO_SECRET_KEY": "short",
           "MADO_HOURS": "weekdays 9-5", "MADO_TRUSTED_PROXIES": "x"}
    code, out, _ = mado(["doctor"], env, monkeypatch, capsys)
    rows = rows_of(out)
    assert code == 1
    assert rows["LINE_CHANNEL_SECRET"] == (False, say("env.secret.bad", n=12) + " "
                                           + say("doctor.fix", fix=say("env.secret.fix_bad")))
    assert rows["REDIS_URL"][0] is False and say("env.redis.fix_bad") in rows["REDIS_URL"][1]
    assert rows["MADO_SECRET_KEY"][0] is False and say("env.key.fix_short") in rows["MADO_SECRET_KEY"][1]
    assert rows[say("env.other")][0] is False and "MADO_TRUSTED_PROXIES" in rows[say("env.other")][1]
    assert rows[say("hours")][0] is False and say("hours.fix") in rows[say("hours")][1]
    assert rows[say("redis.reach")][0] is False and rows[say("admin")] == (False, say("redis.skipped"))
    assert rows[say("line.token")][0] is False and say("line.token.fix") in rows[say("line.token")][1]
    assert rows[say("line.endpoint")] == (False, say("line.skipped_token"))
    # a Redis elsewhere without a password is refused by its shape alone
    rows = doctor.check_variables({"REDIS_URL": "redis://redis.example.org:6379/0"}, *doctor._config({}))
    assert [r.ok for r in rows if r.label == "REDIS_URL"] == [False]


def test_hours_say_when_counselors_are_next_on_duty_and_an_old_centre_list_is_flagged():
    friday_evening = datetime(2026, 12, 11, 9, 0, tzinfo=timezone.utc)          # 18:00 in Tokyo
    row = doctor.check_hours({"MADO_HOURS": "mon-fri 10:00-17:00, sat 13:00-17:00"}, friday_evening)
    assert row.ok and row.detail.endswith("明日の13:00から対応します。")
    row = doctor.check_hours({"MADO_HOURS": "mon-fri 10:00-17:00"}, datetime(2026, 12, 10, 3, tzinfo=timezone.utc))
    assert row.ok and row.detail == say("hours.open_now", spec="mon-fri 10:00-17:00")
    assert doctor.check_hours({"MADO_HOURS": "never"}, friday_evening).detail == say("hours.never")
    checked = date.fromisoformat(__import__("messages_ja").centres_checked())
    assert doctor.check_centres(checked.replace(year=checked.year + 1) - __import__("datetime").timedelta(days=1)).ok
    old = doctor.check_centres(checked.replace(year=checked.year + 1))
    assert not old.ok and old.fix == say("centres.fix")


def test_every_operator_string_is_used():
    from messages_ja import _operator

    sources = "".join(p.read_text() for p in (ROOT / "bot").glob("*.py"))
    for key in _operator():
        assert f'"{key}"' in sources or f"'{key}'" in sources, key
