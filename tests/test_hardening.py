"""Issue 14: the console's and the webhook's doors under attack. Real redis-server, real
processes where timing matters (the login race, memory at login); nothing of mado's own mocked."""
from __future__ import annotations

import json
import logging

import pytest

from . import helpers


class LogLines(logging.Handler):
    """Every log record of the process (mado's JSON log and anything else, e.g. Flask's)."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage() + (" +traceback" if record.exc_info else ""))

    def readouterr(self):
        out, self.lines = self.lines, []
        return out


@pytest.fixture
def capfd():
    """Log lines of this process, whatever stream the handlers were given (named as pytest's)."""
    h = LogLines()
    loggers = [logging.getLogger(), logging.getLogger("mado")]
    for lg in loggers:
        lg.addHandler(h)
    yield h
    for lg in loggers:
        lg.removeHandler(h)


def _log_lines(capfd) -> list[str]:
    return capfd.readouterr()


def _assert_one_json_line_per_record(lines):
    for ln in lines:
        assert ln.startswith("{") and "\n" not in ln and json.loads(ln), ln   # no traceback, all JSON


# -- 4. lone surrogates --------------------------------------------------------------------------
SURROGATE = "\ud800"


@pytest.mark.parametrize("where", ["text", "userId", "postback"])
def test_a_lone_surrogate_in_a_signed_webhook_is_400_with_a_reason(client, r, capfd, where):
    uid = helpers.new_user_id()
    if where == "text":
        ev = helpers.text_event(uid, "こんにちは" + SURROGATE)
    elif where == "userId":
        ev = helpers.text_event(uid, "こんにちは")
        ev["source"]["userId"] = uid + SURROGATE
    else:
        ev = helpers.text_event(uid, "x")
        ev["type"], ev["postback"] = "postback", {"data": "t=menu" + SURROGATE}
    body = json.dumps({"destination": "U0", "events": [ev]}).encode()      # \ud800 escaped, as JSON allows
    assert b"\\ud800" in body
    capfd.readouterr()
    res = client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    assert res.status_code == 400, res.status_code
    assert "surrogate" in res.get_json()["error"]
    _assert_one_json_line_per_record(_log_lines(capfd))
    # a pair (an emoji written as two escapes) is fine
    ok = helpers.text_event(uid, "\U0001F600")
    body = json.dumps({"destination": "U0", "events": [ok]}).encode()
    assert b"\\ud83d\\ude00" in body
    assert client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)}).status_code == 200


# -- the console's JSON entry points -------------------------------------------------------------
HTTPS = "https://localhost"


def _held_handoff(app, holder="aoi") -> str:
    """A real handoff (the store's own code), claimed by ``holder``."""
    from bot import keys

    store = app.extensions["mado.handoffs"]
    pid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
    hid = "h" + pid[:12]
    assert store.create(pid, hid, {"lane": "family"})
    assert store.claim(hid, holder) == 1
    return hid


@pytest.mark.parametrize("field", ["name", "password"])
def test_a_lone_surrogate_at_login_is_400_with_a_reason(app, accounts, capfd, field):
    body = {"name": "aoi", "password": "correct horse battery"}
    body[field] += SURROGATE
    capfd.readouterr()
    res = app.test_client().post("/console/api/login", data=json.dumps(body), base_url=HTTPS,
                                 content_type="application/json")
    assert res.status_code == 400, res.status_code
    assert res.get_json()["code"] == "error.bad_text" and res.get_json()["error"]
    lines = _log_lines(capfd)
    _assert_one_json_line_per_record(lines)
    assert any(json.loads(ln).get("reason") == "lone surrogate" for ln in lines)


def test_a_lone_surrogate_in_a_counselor_message_is_400(app, accounts, capfd):
    from .test_handoff import Console

    hid = _held_handoff(app)
    aoi = Console(app, "aoi")
    capfd.readouterr()
    res = aoi.client.post(f"/console/api/handoffs/{hid}/messages", base_url=HTTPS,
                          data=json.dumps({"text": "こんにちは" + SURROGATE}), content_type="application/json",
                          headers={"X-CSRF-Token": aoi.csrf})
    assert res.status_code == 400 and res.get_json()["code"] == "error.bad_text"
    _assert_one_json_line_per_record(_log_lines(capfd))


# every JSON entry point, with generated strings that may hold lone surrogates anywhere
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SWEEP = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
any_char = st.characters(blacklist_categories=())                    # surrogates included
hostile_text = st.one_of(
    st.text(any_char, max_size=12),
    st.tuples(st.text(max_size=6), st.sampled_from(["\ud800", "\udfff", "\udc00", "\ud83d"]),
              st.text(max_size=6)).map("".join),
)
hostile_json = st.recursive(st.none() | st.booleans() | st.integers() | hostile_text,
                            lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=8)
FIELDS = ["name", "password", "text", "client_id", "seen", "to", "id", "note"]
console_bodies = st.dictionaries(st.sampled_from(FIELDS) | hostile_text, hostile_text | hostile_json, max_size=4)


def _dumps(value) -> bytes:
    """JSON with surrogates written as escapes, as a hostile client would send them."""
    return json.dumps(value, ensure_ascii=True).encode()


@SWEEP
@given(data=st.data())
def test_every_console_json_entry_point_survives_lone_surrogates(app, accounts, data):
    from .test_handoff import Console

    if not hasattr(app, "_sweep"):
        h = LogLines()
        logging.getLogger().addHandler(h)
        logging.getLogger("mado").addHandler(h)
        app._sweep = (Console(app, "chief"), _held_handoff(app, "chief"), h)
    chief, hid, log = app._sweep
    posts = sorted(rule.rule.replace("<hid>", hid) for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/console/api") and "POST" in rule.methods
                   and not rule.rule.endswith(("/logout", "/close", "/forget", "/release")))
    path = data.draw(st.sampled_from(posts))
    body = data.draw(console_bodies)
    res = chief.client.post(path, data=_dumps(body), content_type="application/json", base_url=HTTPS,
                            headers={"X-CSRF-Token": chief.csrf})
    assert res.status_code < 500, (path, body, res.status_code)
    assert res.get_json() is not None
    if has_surrogate(body):
        assert res.status_code == 400 and res.get_json()["code"] == "error.bad_text", (path, body)
    _assert_one_json_line_per_record(log.readouterr())


def has_surrogate(value) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False))


@SWEEP
@given(text=hostile_text, uid=hostile_text, data=hostile_text)
def test_every_signed_webhook_with_lone_surrogates_is_answered_without_500(client, r, text, uid, data):
    evs = [helpers.text_event("U" + uid, text),
           dict(helpers.text_event(helpers.new_user_id(), "x"), type="postback", postback={"data": data})]
    body = _dumps({"destination": "U0", "events": evs})
    res = client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    assert res.status_code == (400 if has_surrogate(evs) else 200), res.status_code


# -- 5. size limits on the console API -----------------------------------------------------------
def test_a_huge_body_to_the_console_is_413_before_it_is_read(app, accounts):
    client = app.test_client()
    huge = b'{"name": "aoi", "password": "' + b"x" * (30 << 20) + b'"}'
    res = client.post("/console/api/login", data=huge, content_type="application/json", base_url=HTTPS)
    assert res.status_code == 413 and res.get_json()["code"] == "error.too_large"
    # a long but legitimate message still fits
    from .test_handoff import Console

    hid = _held_handoff(app)
    aoi = Console(app, "aoi")
    assert aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "あ" * 5000}).status_code == 200
