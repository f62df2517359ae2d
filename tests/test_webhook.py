"""POST /callback: LINE's signature, the shapes LINE sends, and everything else refused."""
import json
import time
from pathlib import Path

import pytest

from bot import keys
from bot.webhook import signature_ok

from . import helpers

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


def stream_total(r, shards=4):
    return sum(r.xlen(keys.stream(s)) for s in range(shards) if r.exists(keys.stream(s)))


def test_official_signature_vector():
    # shared/line_platform.md §1.1: LINE's own test vector, and the SDK's.
    body = b'{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[]}'
    assert signature_ok("8c570fa6dd201bb328f1c1eac23a96d8", body, "GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs=")
    assert signature_ok("channel_secret", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k=")
    assert not signature_ok("8c570fa6dd201bb328f1c1eac23a96d8", body + b" ", "GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs=")


def test_connection_check_with_official_vector_is_200(client, r):
    body = b'{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[]}'
    resp = client.post("/callback", data=body, headers={"X-Line-Signature": "GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs="})
    assert resp.status_code == 200
    assert stream_total(r) == 0


BAD_REQUESTS = [
    ({}, helpers.body_of(), 400, "missing signature"),
    ({"X-Line-Signature": "AAAA"}, helpers.body_of(), 400, "invalid signature"),
    ({"X-Line-Signature": helpers.sign(helpers.body_of(), "another-secret")}, helpers.body_of(), 400, "invalid signature"),
    ({"X-Line-Signature": "é"}, helpers.body_of(), 400, "invalid signature"),
    ({"X-Line-Signature": helpers.sign(b"not json")}, b"not json", 400, "body is not JSON"),
    ({"X-Line-Signature": helpers.sign(b"\xff\xfe")}, b"\xff\xfe", 400, "body is not UTF-8"),
    ({"X-Line-Signature": helpers.sign(b"[1,2]")}, b"[1,2]", 400, "not a webhook: no events list"),
    ({"X-Line-Signature": helpers.sign(b'{"events":{}}')}, b'{"events":{}}', 400, "not a webhook: no events list"),
    ({"X-Line-Signature": helpers.sign(b'{"events":[1]}')}, b'{"events":[1]}', 400, "not a webhook: event without a type"),
    ({"X-Line-Signature": helpers.sign(b"[" * 100000)}, b"[" * 100000, 400, "body is not JSON"),
]


@pytest.mark.parametrize("headers,body,status,reason", BAD_REQUESTS)
def test_bad_requests_are_refused_and_nothing_is_enqueued(client, r, headers, body, status, reason):
    resp = client.post("/callback", data=body, headers=headers)
    assert resp.status_code == status
    assert resp.get_json() == {"error": reason}
    assert stream_total(r) == 0


def test_oversized_body_is_413(client, r, config):
    body = b'{"events":[],"pad":"' + b"x" * config.max_body_bytes + b'"}'
    resp = client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    assert resp.status_code == 413
    assert stream_total(r) == 0


def test_forged_event_is_not_enqueued(client, r):
    uid = helpers.new_user_id()
    body = helpers.body_of(helpers.text_event(uid, "こんにちは"))
    forged = body.replace("こんにちは".encode(), "さようなら".encode())
    resp = client.post("/callback", data=forged, headers={"X-Line-Signature": helpers.sign(body)})
    assert resp.status_code == 400
    assert stream_total(r) == 0


def test_duplicate_delivery_is_enqueued_once(post, r):
    uid = helpers.new_user_id()
    ev = helpers.text_event(uid, "こんにちは")
    assert post(ev).status_code == 200
    redelivered = dict(ev, deliveryContext={"isRedelivery": True})
    assert post(redelivered).status_code == 200
    assert post(ev, ev).status_code == 200
    assert stream_total(r) == 1
    ttl = r.ttl(keys.seen(keys.shard_of(keys.pseudonym(helpers.MADO_KEY, uid), 4), ev["webhookEventId"]))
    assert ttl >= 86400


def test_standby_events_are_dropped(post, r):
    uid = helpers.new_user_id()
    ev = helpers.text_event(uid, "こんにちは", mode="standby", reply_token=None)
    assert post(ev).status_code == 200
    assert stream_total(r) == 0


def test_redis_down_is_503_not_500(config):
    from bot import create_app

    app = create_app(config.with_overrides(redis_url="redis://127.0.0.1:1/0"))
    body = helpers.body_of(helpers.text_event(helpers.new_user_id(), "x"))
    resp = app.test_client().post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    assert resp.status_code == 503
    assert app.test_client().get("/healthz").status_code == 503


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json()["ok"] is True


def test_stream_holds_pseudonym_not_line_id_as_key(post, r):
    uid = helpers.new_user_id()
    post(helpers.text_event(uid, "こんにちは"))
    for k in list(r.scan_iter(match="*")):
        assert uid not in k


def load_examples():
    """LINE's reference examples, each given fresh event ids (several share one in the docs) and
    the time of sending (the docs' are from 2016: older than the de-duplication window, dropped)."""
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        payload = json.loads(path.read_text())
        for ev in payload["events"]:
            ev["webhookEventId"] = helpers.new_event_id()
            if "timestamp" in ev:
                ev["timestamp"] = int(time.time() * 1000)
        out.append((path.name, payload))
    return out


def test_every_official_example_is_accepted_and_processed(client, r, worker, standin):
    examples = load_examples()
    assert len(examples) >= 25
    expected = 0
    for name, payload in examples:
        for ev in payload["events"]:
            if ev.get("replyToken"):
                standin.issue_reply_token((ev.get("source") or {}).get("userId", ""), ev["replyToken"])
        body = json.dumps(payload).encode()
        resp = client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
        assert resp.status_code == 200, name
        expected += sum(1 for ev in payload["events"] if ev.get("mode") != "standby")
    assert stream_total(r) == expected
    w = worker()
    done = standin.wait_for(lambda s: w.stats["done"] >= expected, timeout=30)
    assert done, f"processed {w.stats['done']} of {expected}"
    assert w.stats["dead_letter"] == 0 and w.stats["errors"] == 0
    assert not r.exists(keys.DEAD_LETTERS)
    # every event left the stream once done (acknowledged in batches, a few ms later); nothing pending
    assert helpers.settled(r) and stream_total(r) == 0


def test_the_webhook_answers_only_post_and_leaves_other_paths_to_the_app(client):
    res = client.get("/callback")
    assert res.status_code == 405 and res.headers["Allow"] == "POST"
    assert res.get_json() == {"error": "method not allowed"}
    assert client.get("/healthz").status_code == 200          # the Flask app behind it still answers
    assert client.post("/callback/", data=b"{}").status_code == 404   # only the exact path is LINE's
