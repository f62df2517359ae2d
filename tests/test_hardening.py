"""Issue 14: the console's and the webhook's doors under attack. Real redis-server, real
processes where timing matters (the login race, memory at login); nothing of mado's own mocked."""
from __future__ import annotations

import json

import pytest

from . import helpers


def _log_lines(capfd) -> list[str]:
    return [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]


def _assert_one_json_line_per_record(lines):
    for ln in lines:
        assert ln.startswith("{") and json.loads(ln), ln       # no traceback, nothing outside JSON


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
