"""The web process as the Procfile runs it (gunicorn with bot.asgi's worker), over real HTTP.

/callback is answered on the event loop (bot/asgi.py), everything else by the Flask app on its
threads: the webhook's promises are checked here through that path, not only through Flask's
test client."""
from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bot import keys

from . import helpers
from .conftest import COUNSELOR_PASSWORD, free_port
from .test_webhook import BAD_REQUESTS, stream_total

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY = 200_000     # (over the 100 kB bad-JSON body of BAD_REQUESTS)


class Web:
    def __init__(self, redis_url: str, tmp: Path, *, ready_status=200, **env):
        self.port = free_port()
        self.log = open(tmp / f"web-{self.port}.log", "w")
        full_env = {k: v for k, v in __import__("os").environ.items()
                    if not k.startswith(("LINE_", "MADO_", "SENTRY_", "WEB_"))}
        full_env.update(LINE_CHANNEL_SECRET=helpers.SECRET, REDIS_URL=redis_url, MADO_SECRET_KEY=helpers.MADO_KEY,
                        MADO_EVENT_SHARDS="4", MADO_MAX_BODY_BYTES=str(MAX_BODY), MADO_COOKIE_SECURE="0",
                        WEB_THREADS="4", PYTHONPATH=str(ROOT), **env)
        self.proc = subprocess.Popen(helpers.procfile_web(self.port), cwd=ROOT, env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120          # readiness, generous on a busy machine
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (tmp / f"web-{self.port}.log").read_text()
            try:
                if requests.get(self.url + "/healthz", timeout=10).status_code == ready_status:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("web did not start")

    def post(self, body: bytes, headers: dict, **kw) -> requests.Response:
        return requests.post(self.url + "/callback", data=body, headers=headers, timeout=30, **kw)

    def stop(self):
        helpers.stop_process(self.proc, self.log)


@pytest.fixture(scope="module")
def web(redis_server, tmp_path_factory):
    w = Web(redis_server.url, tmp_path_factory.mktemp("web"))
    yield w
    w.stop()


def signed(*events) -> tuple[bytes, dict]:
    body = helpers.body_of(*events)
    return body, {"X-Line-Signature": helpers.sign(body), "Content-Type": "application/json"}


def test_a_signed_webhook_is_enqueued_once_even_when_delivered_again(web, r):
    ev = helpers.text_event(helpers.new_user_id(), "こんにちは")
    body, headers = signed(ev)
    first = web.post(body, headers)
    assert first.status_code == 200 and first.json() == {}
    assert web.post(body, headers).status_code == 200          # LINE's redelivery
    assert stream_total(r) == 1
    assert "server" not in {k.lower() for k in first.headers}   # no server name or version told


@pytest.mark.parametrize("headers,body,status,reason", BAD_REQUESTS, ids=[r[3] for r in BAD_REQUESTS])
def test_bad_requests_are_refused_with_the_reason(web, r, headers, body, status, reason):
    res = web.post(body, headers)
    assert res.status_code == status and res.json() == {"error": reason}
    assert stream_total(r) == 0


def test_a_body_over_the_limit_is_413_declared_or_not(web, r):
    body = b'{"events":[],"pad":"' + b"x" * MAX_BODY + b'"}'
    headers = {"X-Line-Signature": helpers.sign(body)}
    assert web.post(body, headers).status_code == 413                       # Content-Length too big
    chunked = web.post(iter([body[:100_000], body[100_000:]]), headers)           # no length: read up to it
    assert chunked.status_code == 413 and chunked.json() == {"error": "body too large"}
    small = helpers.body_of(helpers.text_event(helpers.new_user_id(), "x"))
    ok = web.post(iter([small[:10], small[10:]]), {"X-Line-Signature": helpers.sign(small)})
    assert ok.status_code == 200                                             # a chunked body in bounds
    assert stream_total(r) == 1


def test_only_post_and_only_the_exact_path_is_the_webhook(web):
    res = requests.get(web.url + "/callback", timeout=30)
    assert res.status_code == 405 and res.headers["Allow"] == "POST"
    assert requests.post(web.url + "/callback/", data=b"{}", timeout=30).status_code == 404
    assert requests.get(web.url + "/healthz", timeout=30).json()["ok"] is True


def test_kept_alive_connections_carry_webhooks_and_console_pages_in_turn(web, r):
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        for i in range(5):
            body, headers = signed(helpers.text_event(helpers.new_user_id(), f"{i}"))
            conn.request("POST", "/callback", body=body, headers=headers)
            res = conn.getresponse()
            assert res.status == 200 and res.read() == b"{}"
            conn.request("GET", "/console/login")
            page = conn.getresponse()
            assert page.status == 200 and "text/html" in page.getheader("Content-Type")
            page.read()
    finally:
        conn.close()
    assert stream_total(r) == 5


def test_a_forwarded_address_is_not_believed_by_the_web_process(web, accounts):
    """Only MADO_TRUSTED_PROXIES decides whether X-Forwarded-For is believed (the server in front
    must not rewrite the client's address from it): five failures sent with five made-up addresses
    still count against the one real address."""
    login = web.url + "/console/api/login"
    for i in range(5):
        res = requests.post(login, json={"name": "aoi", "password": f"wrong {i}"},
                            headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=120)
        assert res.status_code == 401
    held = requests.post(login, json={"name": "aoi", "password": COUNSELOR_PASSWORD},
                         headers={"X-Forwarded-For": "198.51.100.4"}, timeout=120)
    assert held.status_code == 429


def test_a_redis_that_does_not_answer_still_gets_line_an_answer_in_time(tmp_path):
    """A Redis that accepts connections and never answers (a network partition): every webhook
    is answered 503, so LINE delivers it again later; none waits out LINE's 2 s timeout in a
    queue behind the others."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    held, stop = [], threading.Event()

    def accept():
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    web = Web(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", tmp_path, ready_status=503)
    try:
        bodies = [signed(helpers.text_event(helpers.new_user_id(), f"{i}")) for i in range(10)]
        started = time.monotonic()
        with ThreadPoolExecutor(10) as ex:
            answers = list(ex.map(lambda b: web.post(*b), bodies))
        took = time.monotonic() - started
        assert [a.status_code for a in answers] == [503] * 10
        assert {a.json()["error"] for a in answers} == {"temporarily unavailable"}
        assert took < 8.0, took          # one at a time, each waiting out the timeout: 15 s
    finally:
        web.stop()
        stop.set()
        for c in held:
            c.close()
        silent.close()
