"""Privacy and operations: the keyspace after a full conversation and handoff (TTLs, no LINE id),
forget-me, Sentry scrubbing through the real SDK, logs without content, metrics, rate limits."""
import gzip
import json
import logging
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sentry_sdk

from bot import create_app, keys
from bot.sentry import capture

from . import helpers
from .conftest import Poster, worker_env
from .test_handoff import PASSWORD, Console, Person, ask_for_human, wait_until

ROOT = Path(__file__).resolve().parent.parent
SECRET_TEXT = "息子が夜中に泣いていて心配です"
RISK_TEXT = "もう死にたい"
HANDOVER_NOTE = "夜勤の方へ：お父さまとの関係がつらい様子"


def dump_keyspace(r):
    """Every key with its TTL and everything stored in it, as text."""
    out = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == "string":
            value = r.get(key)
        elif kind == "hash":
            value = r.hgetall(key)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(r.smembers(key))
        elif kind == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = r.xrange(key)
        else:
            value = kind
        out[key] = (r.ttl(key), json.dumps(value, ensure_ascii=False, default=str))
    return out


def full_handoff(app, standin, r):
    p = Person(Poster(app.test_client(), standin), standin)
    ask_for_human(p)
    p.send(SECRET_TEXT)
    aoi = Console(app, "aoi")
    hid = wait_until(aoi.waiting)[0]["id"]
    wait_until(lambda: aoi.detail(hid)["messages"])
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.wait_count(6)          # (5: the first message while waiting is acknowledged)
    aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "お話を聞かせてください"})
    p.wait_count(7)
    return p, aoi, hid


def test_every_personal_key_has_a_ttl_no_line_id_is_stored_but_once_and_forget_leaves_nothing(
        app, accounts, standin, worker, r):
    worker()
    p, aoi, hid = full_handoff(app, standin, r)
    card = f"mado:{{handoff}}:h:{hid}"
    p.send(RISK_TEXT)                         # a danger tier on the card
    assert wait_until(lambda: r.hget(card, "crisis"))
    ben = Console(app, "ben")                 # a handover, with a note about the person
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "ben", "note": HANDOVER_NOTE}).status_code == 200
    assert ben.post(f"/console/api/handoffs/{hid}/close").status_code == 200
    p.heard("ここでいったん終わり")
    assert helpers.settled(r)                 # the close and its answer are done
    assert r.hget(card, "handover_note") == HANDOVER_NOTE and r.hget(card, "priority") == "urgent"
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    space = dump_keyspace(r)
    person_keys = [k for k in space if k.startswith(f"mado:{{u:{pid}}}")]
    assert f"mado:{{u:{pid}}}:state" in person_keys and f"mado:{{u:{pid}}}:ho:{hid}:log" in person_keys
    for key in person_keys:
        assert space[key][0] > 0, f"{key} has no TTL"
    assert space[f"mado:{{handoff}}:h:{hid}"][0] > 0
    assert space[f"mado:{{u:{pid}}}:ho:{hid}:log"][0] > 29 * 86400        # transcripts: 90 days after close
    holding_id = [k for k, (_, v) in space.items() if p.uid in v or p.uid in k]
    assert holding_id == [keys.line_id(pid)]                                # stored once, only to push
    holding_text = [k for k, (_, v) in space.items() if SECRET_TEXT in v or RISK_TEXT in v]
    assert holding_text == [f"mado:{{u:{pid}}}:ho:{hid}:log"]              # the transcript, nowhere else

    # forget me: everything under the person's tag goes; the counselor sees they left
    p.say_and_wait("記録を消して")
    p.say_and_wait(postback="forget_yes")
    wait_until(lambda: not any(k.startswith(f"mado:{{u:{pid}}}") for k in dump_keyspace(r)))
    space = dump_keyspace(r)
    assert not any(p.uid in k or p.uid in v for k, (_, v) in space.items())
    assert not any(pid in k or pid in v for k, (_, v) in space.items())
    assert not any(SECRET_TEXT in v for _, (_, v) in space.items())
    for key, (ttl, _) in space.items():
        if key.startswith("mado:{handoff}:h:"):
            assert ttl > 0
    # (issue 23, 8) the card the staff keep says nothing more about the person: no handover note,
    # no danger tier (nor its urgent class), no prefecture, in Redis and in the closed search
    assert not any(HANDOVER_NOTE in v for _, (_, v) in space.items())
    kept = r.hgetall(card)
    assert not {"handover_note", "crisis", "urgent_at", "pid"} & set(kept) and kept["priority"] == "normal"
    assert set(json.loads(kept["intake"])) <= {"lane", "topic", "topics", "mode"}
    chief = Console(app, "chief")
    found = chief.get(f"/console/api/handoffs?status=closed&q={keys.alias(pid)}").get_json()["handoffs"]
    assert [h["id"] for h in found] == [hid]
    assert found[0]["crisis"] == "" and found[0]["urgent_reason"] is None and not found[0]["handover"]["note"]
    detail = chief.detail(hid)
    assert "crisis" not in detail["intake"] and not detail["messages"] and not detail["notes"]



def nothing_of(pid, uid, space, *texts):
    """The keys of `space` (dump_keyspace) that still hold anything of the person."""
    return [k for k, (_, v) in space.items() if any(x in k or x in v for x in (pid, uid, *texts))]


DEAD_LETTER_FIELDS = {"event", "pid", "alias", "kind", "reason", "error", "tries", "shard", "entry", "at", "kept"}


@pytest.mark.parametrize("how", ["words", "unfollow"])
def test_dead_letters_keep_ids_only_and_forget_me_removes_them(app, standin, worker, r, how):
    # (issue 23, 7) dead letters kept the raw event (LINE id, text) 14 days and more, and
    # forget-me left them. "words": LINE refuses one answer for good; "unfollow": LINE is down
    # when a risk message comes (its crisis reply is kept to be pushed later), then they block us.
    w = worker()
    post = Poster(app.test_client(), standin)
    p, other = Person(post, standin, r), Person(post, standin, r)
    for someone in (p, other):
        someone.send(follow=True)
        someone.wait_count(1)
    words = SECRET_TEXT if how == "words" else "もう死にたい"
    if how == "words":
        standin.add_fault(400, count=1, path="/v2/bot/message/reply")   # refused: not about the token
    else:
        standin.add_fault(500, count=10**9)                              # LINE down
    ev = p.send(words)
    assert wait_until(lambda: w.stats["dead_letter"] == 1)
    standin.clear_faults()
    standin.add_fault(400, count=1, path="/v2/bot/message/reply")
    other.send("自分")                                                    # someone else's dead letter
    assert wait_until(lambda: w.stats["dead_letter"] == 2)
    pid, other_pid = (keys.pseudonym(helpers.MADO_KEY, x.uid) for x in (p, other))

    letters = [fields for _id, fields in r.xrange(keys.DEAD_LETTERS)]
    mine = next(f for f in letters if f.get("pid") == pid)
    assert set(mine) <= DEAD_LETTER_FIELDS
    assert {"event": ev["webhookEventId"], "alias": keys.alias(pid), "kind": "message",
            "error": "SendFailed", "tries": "1"}.items() <= mine.items()
    assert mine["reason"] == ("line_reply_400" if how == "words" else "line_reply_500")
    stored = json.dumps(r.xrange(keys.DEAD_LETTERS), ensure_ascii=False)
    for secret in (p.uid, other.uid, words, "自分", ev["replyToken"], ev["message"]["id"]):
        assert secret not in stored, secret
    assert 0 < r.ttl(keys.DEAD_LETTERS) <= 14 * 86400
    if how == "unfollow":
        assert mine["kept"] == "crisis_reply" and r.exists(keys.undelivered(pid))
        assert words not in json.dumps(r.hgetall(keys.undelivered(pid)), ensure_ascii=False)   # our words only
        standin.add_fault(500, count=10**9)                              # still down: nothing goes out

    if how == "words":
        p.say_and_wait("記録を消して")
        p.say_and_wait(postback="forget_yes")
    else:
        assert post(helpers.unfollow_event(p.uid)).status_code == 200
    assert wait_until(lambda: not nothing_of(pid, p.uid, dump_keyspace(r), words))
    assert helpers.settled(r)
    assert nothing_of(pid, p.uid, dump_keyspace(r), words) == []         # dead letters included
    assert [f["pid"] for _id, f in r.xrange(keys.DEAD_LETTERS)] == [other_pid]   # only theirs went
    if how == "unfollow":
        standin.clear_faults()
        assert not r.zrange(keys.REDELIVER, 0, -1)
        assert p.quiet_for(2.0) and len(p.inbox()) == 1                  # the kept reply went with them

def test_staff_forget_by_alias_is_admin_only_and_audited(app, accounts, standin, worker, r, config):
    w = worker()
    p, aoi, hid = full_handoff(app, standin, r)
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    standin.add_fault(400, count=1)                 # LINE refuses a counselor's message for good
    aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "届かなかった一言"})
    assert wait_until(lambda: w.stats["dead_letter"] == 1)
    (_id, letter), = r.xrange(keys.DEAD_LETTERS)
    assert letter["kind"] == "console:message" and letter["pid"] == pid
    assert "届かなかった一言" not in json.dumps(letter, ensure_ascii=False)
    env = worker_env(config)
    run = lambda *a, stdin: subprocess.run([sys.executable, "-m", "bot.cli", "forget", *a], input=stdin,  # noqa: E731
                                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    refused = run("--alias", keys.alias(pid), "--by", "aoi", stdin=PASSWORD + "\n")
    assert refused.returncode == 2 and "admin" in refused.stderr
    assert r.exists(keys.state(pid))
    done = run("--alias", keys.alias(pid).lower(), "--by", "chief", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert wait_until(lambda: not list(r.scan_iter(match=keys.user_pattern(pid))))
    assert wait_until(lambda: aoi.detail(hid)["left"])
    assert helpers.settled(r)
    assert nothing_of(pid, p.uid, dump_keyspace(r), SECRET_TEXT) == []     # its dead letter too
    audit = [f for _, f in r.xrange("mado:{handoff}:audit")]
    assert any({"who": "chief", "action": "forget_requested", "handoff": hid}.items() <= a.items() for a in audit)
    assert Console(app, "aoi").post(f"/console/api/handoffs/{hid}/forget").status_code == 403


# -- Sentry: real SDK, real transport, a local sink -------------------------------------------
class SentrySink(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        enc = self.headers.get("Content-Encoding", "")
        if enc == "gzip":
            raw = gzip.decompress(raw)
        elif enc == "deflate":
            raw = zlib.decompress(raw)
        elif enc == "br":
            import brotli  # pragma: no cover - only if the SDK chose brotli
            raw = brotli.decompress(raw)
        type(self).bodies.append(raw.decode("utf-8", "replace"))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def test_sentry_events_carry_no_text_ids_tokens_cookies_or_bodies(config, r):
    SentrySink.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SentrySink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"http://publickey@127.0.0.1:{server.server_port}/1"
    uid = helpers.new_user_id()
    token = "replytoken0123456789abcdef"
    try:
        app = create_app(config.with_overrides(sentry_dsn=dsn, environment="test"))

        def boom():
            from flask import request

            text = request.get_json()["events"][0]["message"]["text"]   # noqa: F841 (a local with text)
            logging.getLogger("somewhere").warning("processing %s for %s", SECRET_TEXT, uid)
            raise RuntimeError(f"failed for {uid}: {SECRET_TEXT} token={token}")

        app.add_url_rule("/_boom", "boom", boom, methods=["POST"])
        body = helpers.body_of(helpers.text_event(uid, SECRET_TEXT, reply_token=token))
        client = app.test_client()
        client.set_cookie("mado_session", "sessioncookievalue123")
        res = client.post("/_boom", data=body, headers={"X-Line-Signature": helpers.sign(body),
                                                         "Content-Type": "application/json"})
        assert res.status_code == 500
        assert not sentry_sdk.get_client().options.get("send_default_pii")
        capture("dead_letter", shard="3", alias="ABCD")
        sentry_sdk.flush(5)
        assert wait_until(lambda: len(SentrySink.bodies) >= 2, timeout=10)
        sent = "\n".join(SentrySink.bodies)
        assert "RuntimeError" in sent and "dead_letter" in sent            # the events did arrive
        assert '"release":"mado@' in sent.replace(" ", "") and '"environment":"test"' in sent.replace(" ", "")
        for secret in (uid, SECRET_TEXT, token, "sessioncookievalue123", helpers.sign(body)):
            assert secret not in sent, secret
    finally:
        sentry_sdk.init(dsn=None)
        server.shutdown()
        server.server_close()



def test_a_console_error_sends_sentry_neither_the_session_id_nor_the_csrf_token(config, accounts, r):
    # (issue 23, 9) a Redis breadcrumb named the session's key and the request's headers carried
    # X-CSRF-Token: together a working console session for 12 hours
    from handoff.store import meta_key

    SentrySink.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SentrySink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = create_app(config.with_overrides(sentry_dsn=f"http://publickey@127.0.0.1:{server.server_port}/1"))
        aoi = Console(app, "aoi")
        sid = aoi.client.get_cookie("mado_session", domain="localhost", path="/console").value
        assert r.exists(f"mado:{{staff}}:session:{sid}")
        r.set(meta_key("broken"), "not a hash")            # a real fault: the claim meets the wrong type
        assert aoi.post("/console/api/handoffs/broken/claim").status_code == 500
        sentry_sdk.flush(5)
        assert wait_until(lambda: SentrySink.bodies, timeout=10)
        sent = "\n".join(SentrySink.bodies)
        assert "ResponseError" in sent and "/console/api/handoffs/broken/claim" in sent   # the event arrived
        assert '"category":"redis"' in sent.replace(" ", "")         # with its Redis breadcrumbs
        for secret in (sid, aoi.csrf, PASSWORD):
            assert secret not in sent, secret
        assert "mado:{staff}" not in sent
    finally:
        sentry_sdk.init(dsn=None)
        server.shutdown()
        server.server_close()

# -- logs -------------------------------------------------------------------------------------
class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_logs_are_json_lines_with_aliases_and_timings_never_content(app, accounts, standin, worker, r):
    handler = Collect()
    logger = logging.getLogger("mado")
    level = logger.level
    logger.setLevel(logging.INFO)        # as the processes set it (bot.logs.setup), whatever ran before
    logger.addHandler(handler)
    try:
        worker()
        p, aoi, hid = full_handoff(app, standin, r)
        aoi.post(f"/console/api/handoffs/{hid}/close")
        p.wait_count(8)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    records = [json.loads(line) for line in handler.lines]
    # the person's events are logged under their alias with the states they moved between (any of
    # them: a step redone after a fault logs only that it finished sending)
    assert any(rec.get("alias") == keys.alias(pid) and rec.get("state_to") for rec in records)
    assert any(rec["event"] == "webhook" and rec.get("rid") for rec in records)
    done = [rec for rec in records if rec["event"] == "event" and rec.get("result") == "done"]
    assert done and all("ms" in rec and "rid" in rec for rec in done)
    text = "\n".join(handler.lines)
    for secret in (p.uid, pid, SECRET_TEXT, "お話を聞かせてください", "人と話したい"):
        assert secret not in text


# -- health and metrics -----------------------------------------------------------------------
def test_healthz_reports_backlog_and_metrics_need_their_token(config, r, post, worker, standin):
    app = create_app(config)
    res = app.test_client().get("/healthz")
    assert res.status_code == 200 and {"backlog", "lag_s", "dead_letters"} <= set(res.get_json())
    assert app.test_client().get("/metrics").status_code == 404          # off unless configured
    app = create_app(config.with_overrides(metrics_token="s3cret-token"))
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    uid = helpers.new_user_id()
    Poster(client, standin)(helpers.follow_event(uid))
    w = worker()
    assert standin.wait_for(lambda s: s.deliveries(uid))
    assert wait_until(lambda: w.line.counts["reply"] == 1)

    def metrics():
        return client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).get_data(as_text=True)

    # the worker adds its LINE calls to the shared counters on its own beat (a call from this
    # thread as well could race it and count them twice): wait until they are there
    body = wait_until(lambda: 'mado_line_api_calls_total{kind="reply"}' in (b := metrics()) and b, timeout=60)
    assert 'mado_webhook_requests_total{result="accepted"} 1.0' in body
    assert 'mado_line_api_calls_total{kind="reply"} 1.0' in body
    assert 'mado_counts_total{name="conversations"} 1.0' in body
    for name in ("mado_stream_backlog", "mado_stream_lag_seconds", "mado_dead_letters", "mado_handoffs_waiting"):
        assert name in body
    assert uid not in body


def test_a_flood_from_one_person_is_slowed_for_them_only(config, standin, worker, r):
    app = create_app(config)
    worker(person_rate_per_min=5)
    post = Poster(app.test_client(), standin)
    flood, calm = helpers.new_user_id(), helpers.new_user_id()
    for i in range(12):
        post(helpers.text_event(flood, f"あ{i}"))
    post(helpers.follow_event(calm))
    assert standin.wait_for(lambda s: s.deliveries(calm))
    assert helpers.settled(r)                 # all twelve handled: nothing more can come
    got = [t for d in standin.deliveries(flood) for t in helpers.texts_of(d)]
    assert len(standin.deliveries(flood)) == 6                         # five answers, one gentle notice
    assert "お返事を止めています" in got[-1]
    post(helpers.text_event(flood, "死にたい"))                          # a crisis is always answered
    assert standin.wait_for(lambda s: len(s.deliveries(flood)) == 7)
    assert "話してくれて" in helpers.texts_of(standin.deliveries(flood)[-1])[0]
