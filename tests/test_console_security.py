"""The console's doors: login, sessions, CSRF, throttling, roles, and the account command."""
import subprocess
import sys
from pathlib import Path


from handoff.accounts import Accounts

from .conftest import worker_env
from .test_handoff import PASSWORD, Console

ROOT = Path(__file__).resolve().parent.parent
HTTPS = "https://localhost"
OPEN = {"console.login_page", "console.api_login", "console.static"}


def console_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console") and rule.endpoint not in OPEN:
            path = rule.rule.replace("<hid>", "abc")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, path, rule.endpoint


def test_every_console_route_needs_a_login(app, accounts):
    client = app.test_client()
    seen = 0
    for method, path, endpoint in console_rules(app):
        res = client.open(path, method=method, base_url=HTTPS, json={})
        seen += 1
        if "/api/" in path:
            assert res.status_code == 401, (method, path)
            assert res.get_json()["error"]
        else:
            assert res.status_code == 302 and "/console/login" in res.headers["Location"], (method, path)
    assert seen >= 14


def test_every_post_needs_the_csrf_token(app, accounts):
    c = Console(app, "aoi")
    for method, path, _ in console_rules(app):
        if method != "POST":
            continue
        assert c.post(path, {}, csrf=False).status_code == 403, path
        res = c.client.post(path, json={}, headers={"X-CSRF-Token": "forged"}, base_url=HTTPS)
        assert res.status_code == 403, path


def test_wrong_password_and_throttling(app, accounts):
    client = app.test_client()
    for _ in range(5):
        res = client.post("/console/api/login", json={"name": "aoi", "password": "wrong password!"}, base_url=HTTPS)
        assert res.status_code == 401 and "違います" in res.get_json()["error"]
    res = client.post("/console/api/login", json={"name": "aoi", "password": PASSWORD}, base_url=HTTPS)
    assert res.status_code == 429                        # even the right password waits now
    assert client.post("/console/api/login", json={"name": "aoi"}, base_url=HTTPS).status_code == 400
    assert client.post("/console/api/login", data=b"\xff", base_url=HTTPS).status_code == 400
    res = client.post("/console/api/login", json={"name": "nobody", "password": PASSWORD}, base_url=HTTPS)
    assert res.status_code in (401, 429)


def test_session_cookie_flags_fixation_and_logout(app, accounts):
    client = app.test_client()
    client.set_cookie("mado_session", "attacker-chosen", domain="localhost", path="/console")
    res = client.post("/console/api/login", json={"name": "aoi", "password": PASSWORD}, base_url=HTTPS)
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    sid = cookie.split(";")[0].split("=", 1)[1]
    assert sid != "attacker-chosen" and len(sid) >= 40
    other = app.test_client()
    other.set_cookie("mado_session", "attacker-chosen", domain="localhost", path="/console")
    assert other.get("/console/api/me", base_url=HTTPS).status_code == 401
    csrf = res.get_json()["csrf_token"]
    assert client.get("/console/api/me", base_url=HTTPS).status_code == 200
    assert client.post("/console/api/logout", headers={"X-CSRF-Token": csrf}, base_url=HTTPS).status_code == 200
    stolen = app.test_client()
    stolen.set_cookie("mado_session", sid, domain="localhost", path="/console")
    assert stolen.get("/console/api/me", base_url=HTTPS).status_code == 401



def test_deeply_nested_json_is_a_bad_request_on_every_console_post(app, accounts):
    # (issue 23, 13) JSON nested past Python's parser once gave 500 on every POST, login included
    c = Console(app, "aoi")
    posts = ["/console/api/login"] + [path for method, path, _ in console_rules(app) if method == "POST"]
    for depth in (990, 5000):             # (the first parses, then cannot be checked; the second does not parse)
        for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
            for path in posts:
                res = c.client.post(path, data=body, content_type="application/json",
                                    headers={"X-CSRF-Token": c.csrf}, base_url=HTTPS)
                assert res.status_code == 400, (depth, path, res.status_code)
                assert res.get_json()["code"] == "error.bad_request"
    assert c.get("/console/api/me").status_code == 200          # the session is still good

def test_admin_only_statistics(app, accounts):
    assert Console(app, "aoi").get("/console/api/stats").status_code == 403
    assert Console(app, "aoi").get("/console/stats").status_code == 403
    chief = Console(app, "chief")
    data = chief.get("/console/api/stats").get_json()
    assert "totals" in data and "days" in data


def test_pages_are_japanese_and_safe_to_frame_nowhere(app, accounts):
    page = app.test_client().get("/console/login", base_url=HTTPS)
    html = page.get_data(as_text=True)
    assert "相談員ログイン" in html and page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    c = Console(app, "aoi")
    html = c.get("/console/").get_data(as_text=True)
    assert "待っている相談" in html and c.csrf in html


def test_counselor_add_reads_the_password_from_standard_input(config, r):
    env = worker_env(config)
    run = lambda *args, stdin: subprocess.run([sys.executable, "-m", "bot.cli", "counselor", *args],  # noqa: E731
                                              input=stdin, capture_output=True, text=True, cwd=ROOT,
                                              env=env, timeout=60)
    ok = run("add", "mika", stdin="a long enough secret\n")
    assert ok.returncode == 0, ok.stderr
    stored = r.hget("mado:{staff}:counselor:mika", "hash")
    assert stored.startswith("$argon2id$") and "a long enough secret" not in stored
    assert run("add", "mika", stdin="another long secret\n").returncode == 2          # exists
    short = run("add", "ken", stdin="short\n")
    assert short.returncode == 2 and "10文字以上" in short.stderr
    assert Accounts(r).verify("mika", "a long enough secret", "t") is not None
    admin = run("add", "boss", "--admin", stdin="a long enough secret\n")
    assert admin.returncode == 0 and r.hget("mado:{staff}:counselor:boss", "role") == "admin"
    listed = run("list", stdin="")
    assert listed.stdout.split() == ["boss", "mika"]
    missing = subprocess.run([sys.executable, "-m", "bot.cli", "counselor", "list"], capture_output=True,
                             text=True, cwd=ROOT, env={k: v for k, v in env.items() if k != "REDIS_URL"})
    assert missing.returncode == 2 and "REDIS_URL" in missing.stderr


def test_the_chat_simulator_does_not_exist_outside_demo_mode(app):
    client = app.test_client()
    assert client.get("/demo/").status_code == 404
    assert client.post("/demo/api/people").status_code == 404
    assert client.post("/demo/api/send", json={}).status_code == 404
