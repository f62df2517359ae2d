"""deploy/nginx/mado.conf (compose.yaml's proxy) with Debian's nginx, in front of the Procfile's web
process (gunicorn, MADO_TRUSTED_PROXIES=1), over HTTPS with a test certificate.

No container engine runs here, so what compose would start is started piece by piece: the same
nginx configuration file (only its addresses, certificate paths and the two client timeouts are
rewritten: 127.0.0.1 and free ports, files of the test, 1 s instead of 10 s so that a slow client
is seen cut off quickly), the same web command. Checked: webhooks answered throughout; plain HTTP
redirected; headers over 8 KB and bodies over 1 MB refused by the proxy (the web never sees
them); a client sending its headers or its body too slowly cut off; the address the web counts a
failed login against is the one nginx saw, never one the client wrote."""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests

from bot import healthcheck

from . import helpers
from .conftest import free_port
from .test_web_process import Web, signed, stream_total

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "nginx" / "mado.conf"
FORGED = "203.0.113.9"


def _rewrite(text: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        assert old in text, f"deploy/nginx/mado.conf no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


class Nginx:
    def __init__(self, tmp: Path, web_port: int, cert: str, key: str):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(exe):
            pytest.fail("nginx is not installed (apt-get install -y nginx); scripts/test.sh installs it")
        self.http_port, self.https_port = free_port(), free_port()
        self.acme = tmp / "acme"
        (self.acme / ".well-known" / "acme-challenge").mkdir(parents=True)
        conf = _rewrite(CONF.read_text(), [
            ("http://web:8000;", f"http://127.0.0.1:{web_port};"),
            ("    listen [::]:80;\n", ""), ("    listen [::]:443 ssl http2;\n", ""),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;"),
            ("/etc/mado/tls/fullchain.pem", cert), ("/etc/mado/tls/privkey.pem", key),
            ("root /var/www/acme;", f"root {self.acme};"),
            ("client_header_timeout 10s;", "client_header_timeout 1s;"),
            ("client_body_timeout 10s;", "client_body_timeout 1s;"),
        ])
        (tmp / "mado.conf").write_text(conf)
        (tmp / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")      # (the test's files are the worker's to read)
            + f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\ndaemon off;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
            f"  fastcgi_temp_path {tmp}/fcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n"
            f"  include {tmp}/mado.conf;\n}}\n")
        self.error_log = tmp / "error.log"
        self.proc = subprocess.Popen([exe, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(self.error_log)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx refused the configuration: " + self.proc.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.http_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        self.url = f"https://127.0.0.1:{self.https_port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return helpers.self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def web(redis_server, tmp_path_factory):
    w = Web(redis_server.url, tmp_path_factory.mktemp("web"), MADO_TRUSTED_PROXIES="1")
    yield w
    w.stop()


@pytest.fixture(scope="module")
def proxy(web, certificate, tmp_path_factory):
    n = Nginx(tmp_path_factory.mktemp("nginx"), web.port, *certificate)
    yield n
    n.stop()


def webhook(proxy, certificate) -> requests.Response:
    body, headers = signed(helpers.text_event(helpers.new_user_id(), "こんにちは"))
    return requests.post(proxy.url + "/callback", data=body, headers=headers, verify=certificate[0], timeout=10)


def tls_socket(proxy, certificate) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=certificate[0])
    raw = socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def read_head(sock: ssl.SSLSocket) -> bytes:
    """What the proxy answers up to the end of its headers, or b"" when it just closes."""
    data = b""
    try:
        while b"\r\n\r\n" not in data and (chunk := sock.recv(4096)):
            data += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    return data


def test_webhooks_go_through_https_and_plain_http_only_redirects(proxy, web, certificate, r):
    res = webhook(proxy, certificate)
    assert res.status_code == 200 and res.json() == {} and stream_total(r) == 1
    assert res.headers.get("Server") == "nginx"                             # no version told
    plain = requests.post(f"http://127.0.0.1:{proxy.http_port}/callback", data=b"{}", allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    assert stream_total(r) == 1
    (proxy.acme / ".well-known" / "acme-challenge" / "token").write_text("proof")     # Let's Encrypt's check
    assert requests.get(f"http://127.0.0.1:{proxy.http_port}/.well-known/acme-challenge/token",
                        timeout=10).text == "proof"
    assert healthcheck.main(["web"], {"PORT": str(web.port)}) == 0               # compose's health check


def test_huge_headers_and_bodies_are_refused_by_the_proxy(proxy, certificate, r):
    body, headers = signed(helpers.text_event(helpers.new_user_id(), "x"))
    big = requests.post(proxy.url + "/callback", data=body, headers={**headers, "X-Pad": "a" * 16_000},
                        verify=certificate[0], timeout=10)
    assert big.status_code == 400 and "text/html" in big.headers["Content-Type"]    # nginx's page, not the app's
    many = requests.post(proxy.url + "/callback", data=body, verify=certificate[0], timeout=10,
                         headers={**headers, **{f"X-Pad-{i}": "b" * 7_000 for i in range(6)}})
    assert many.status_code == 400
    sock = tls_socket(proxy, certificate)                  # a 2 MB body announced: refused before it is sent
    sock.sendall(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"X-Line-Signature: x\r\nContent-Length: 2000000\r\n\r\n")
    answer = read_head(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert stream_total(r) == 0
    assert webhook(proxy, certificate).status_code == 200 and stream_total(r) == 1


def test_slow_clients_are_cut_off_and_webhooks_answered_meanwhile(proxy, certificate, r):
    slow_body = tls_socket(proxy, certificate)
    slow_body.sendall(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"X-Line-Signature: x\r\nContent-Length: 1000\r\n\r\n{\"destination\":")
    slow_headers = tls_socket(proxy, certificate)
    slow_headers.sendall(b"POST /callback HTTP/1.1\r\nHost: x\r\nX-Line-Sig")
    started = time.monotonic()
    assert webhook(proxy, certificate).status_code == 200                    # others are answered meanwhile
    body_answer, headers_answer = read_head(slow_body), read_head(slow_headers)
    elapsed = time.monotonic() - started
    assert body_answer == b"" or body_answer.startswith(b"HTTP/1.1 408"), body_answer    # closed on them
    assert headers_answer == b"" or headers_answer.startswith(b"HTTP/1.1 408"), headers_answer
    slow_body.close()
    slow_headers.close()
    assert 0.5 < elapsed < 5, elapsed                                         # cut off after ~1 s, not held
    assert stream_total(r) == 1                                               # only the whole webhook


def test_the_address_a_login_is_counted_against_is_the_one_nginx_saw(proxy, certificate, r):
    res = requests.post(proxy.url + "/console/api/login", json={"name": "aoi", "password": "wrong password 1"},
                        headers={"X-Forwarded-For": FORGED}, verify=certificate[0], timeout=30)
    assert res.status_code == 401
    counted = list(r.scan_iter(match="mado:{staff}:fail:*"))
    assert counted and all(k.endswith(":aoi:127.0.0.1") for k in counted), counted
    assert not any(FORGED in k for k in r.scan_iter(match="mado:*"))
