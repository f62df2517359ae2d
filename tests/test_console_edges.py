"""Issue 23, the console's low findings: ids of another shape, reading never on a GET, handover
notes only for who may read them, no handing a conversation to a disabled account, LINE's length in
UTF-16 units, a bounded transcript, handoffs started by one person in a short time. Real
redis-server and the real app; a worker only where the person's answer matters (otherwise what
would reach the person is read from their event stream)."""
from __future__ import annotations

import json
import logging

import pytest

from bot import keys

from . import helpers
from .test_handoff import Console, person  # noqa: F401  (person: a fixture)

HTTPS = "https://localhost"


def _talking(app, holder="aoi"):
    """A handoff held by ``holder`` (the store's own code) and its person's pseudonym."""
    store = app.extensions["mado.handoffs"]
    pid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
    hid = "h" + pid[:12]
    assert store.create(pid, hid, {"lane": "family"})
    assert store.claim(hid, holder) == 1
    return store, pid, hid


def _to_person(r, store, pid) -> list[dict]:
    """What the console queued for the person (their own event stream)."""
    return [json.loads(f["ev"]) for _id, f in r.xrange(keys.stream(keys.shard_of(pid, store.shards)))]


def test_a_handoff_id_of_another_shape_is_404_never_a_500(app, accounts, r):
    # (14) "<id>:cid:<x>" named another key (a string): HGETALL on it answered 500
    store, pid, hid = _talking(app)
    aoi, chief = Console(app, "aoi"), Console(app, "chief")
    assert aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "こんにちは", "client_id": "x"}).status_code == 200
    assert r.type(f"mado:{{handoff}}:h:{hid}:cid:x") == "string"
    bad = f"{hid}:cid:x"
    for res in (aoi.get(f"/console/api/handoffs/{bad}"), aoi.post(f"/console/api/handoffs/{bad}/claim"),
                aoi.post(f"/console/api/handoffs/{bad}/messages", {"text": "x"}),
                aoi.post(f"/console/api/handoffs/{bad}/read", {"seen": 1}),
                aoi.post(f"/console/api/handoffs/{bad}/close"),
                aoi.get(f"/console/api/handoffs/{hid}/earlier/{bad}"),
                chief.post(f"/console/api/handoffs/{bad}/assign", {"to": "ben"})):
        assert res.status_code == 404 and res.get_json()["code"] == "error.not_found", res.request.path
    assert aoi.get(f"/console/api/resources?handoff={bad}").status_code == 200
    assert aoi.get(f"/console/handoffs/{bad}").status_code == 404
    assert aoi.get(f"/console/api/handoffs/{hid}").status_code == 200          # a real id still works


def test_a_plain_get_reads_nothing_only_the_read_post_does(app, accounts, r):
    # (12) a GET of the detail marked everything read and sent 既読: a state change on a GET,
    # without the CSRF token (a link, a prefetch, an API client looking)
    store, pid, hid = _talking(app)
    store.append(pid, hid, {"from": "user", "kind": "text", "text": "こんにちは", "at": 1})
    store.note_user_message(hid)
    aoi = Console(app, "aoi")
    for _ in range(2):
        assert aoi.get(f"/console/api/handoffs/{hid}").get_json()["unread"] == 1
    assert aoi.get("/console/api/handoffs?status=active").get_json()["handoffs"][0]["unread"] == 1
    assert [e["action"] for e in _to_person(r, store, pid)] == []           # no 既読 on its way
    assert aoi.post(f"/console/api/handoffs/{hid}/read", {"seen": 1}, csrf=False).status_code == 403
    assert aoi.post(f"/console/api/handoffs/{hid}/read", {"seen": 1}).get_json()["unread"] == 0
    assert [e["action"] for e in _to_person(r, store, pid)] == ["read"]


def test_a_handover_note_is_shown_only_to_those_who_may_open_the_conversation(app, accounts, r):
    # (11) the list every counselor polls carried the note; the detail answered them 403
    store, pid, hid = _talking(app)
    accounts.add("cai", "correct horse battery")
    aoi, ben, chief, cai = (Console(app, n) for n in ("aoi", "ben", "chief", "cai"))
    note = "お母さまのことで、夜に不安が強くなる様子"
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "ben", "note": note}).status_code == 200

    def listed(c):
        return next(h for h in c.active() if h["id"] == hid)["handover"]

    assert listed(ben)["note"] == note and listed(chief)["note"] == note          # holder, admin
    for other in (aoi, cai):                                                      # no longer, never
        assert listed(other)["by"] == "aoi" and listed(other)["note"] is None
        assert other.get(f"/console/api/handoffs/{hid}").status_code == 403
        assert note not in "".join(other.seen)


def test_no_conversation_goes_to_a_disabled_account(app, accounts, r):
    # (15) a transfer or an assignment to a disabled account answered 200: nobody would read it
    store, pid, hid = _talking(app)
    accounts.set_disabled("ben")
    aoi, chief = Console(app, "aoi"), Console(app, "chief")
    for who, path in ((aoi, "transfer"), (chief, "assign")):
        res = who.post(f"/console/api/handoffs/{hid}/{path}", {"to": "ben"})
        assert res.status_code == 400 and res.get_json()["code"] == "error.counselor_disabled", path
        assert "無効" in res.get_json()["error"]
    assert store.get(hid)["claimed_by"] == "aoi"
    assert "ben" not in [c["name"] for c in aoi.get("/console/api/colleagues").get_json()["colleagues"]]
    staff = {c["name"]: c for c in chief.get("/console/api/counselors").get_json()["counselors"]}
    assert staff["ben"]["disabled"] is True and "disabled" not in staff["aoi"]
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "nobody"}).get_json()["code"] == "error.no_such_counselor"
    accounts.set_disabled("ben", False)
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "ben"}).status_code == 200


def test_a_message_longer_than_line_takes_in_utf16_units_is_refused_before_it_is_queued(app, accounts, r):
    # (16) 2,501 emoji are 2,501 characters but 5,002 UTF-16 units: LINE refuses them (5,000),
    # after the console had said "sent", and the message was dead-lettered without a word
    store, pid, hid = _talking(app)
    aoi = Console(app, "aoi")
    res = aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "\U0001F600" * 2501})
    assert res.status_code == 400 and res.get_json()["code"] == "error.too_long"
    assert "絵文字" in res.get_json()["error"]
    assert _to_person(r, store, pid) == [] and store.transcript(store.get(hid)) == []
    assert aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "\U0001F600" * 2500}).status_code == 200
    assert aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "あ" * 5000}).status_code == 200
    assert [e["action"] for e in _to_person(r, store, pid)] == ["message", "message"]


def test_a_transcript_is_bounded_whole_then_shortened_then_closed_with_one_line(app, accounts, r):
    # (17) no cap: 30 minutes of pasted long messages made 25 MiB that the console read every second
    from handoff.store import SHORTENED_CHARS, TRANSCRIPT_MAX_BYTES, TRANSCRIPT_WHOLE_BYTES, log_key, size_key

    store, pid, hid = _talking(app)
    long_text = "長い文章です。" * 715                                   # 5,005 characters, ~15 KB
    for i in range(1700):
        store.append(pid, hid, {"from": "user", "kind": "text", "text": f"{i}:{long_text}", "at": i})
    stored = r.lrange(log_key(pid, hid), 0, -1)
    sizes = [len(x.encode()) for x in stored]
    assert TRANSCRIPT_MAX_BYTES * 0.99 < sum(sizes) <= TRANSCRIPT_MAX_BYTES + 1024       # (+ the last line)
    entries = [json.loads(x) for x in stored]
    whole = [e for e in entries if e.get("text", "").endswith(long_text)]
    assert whole and TRANSCRIPT_WHOLE_BYTES - sizes[0] < sum(sizes[:len(whole)]) <= TRANSCRIPT_WHOLE_BYTES
    assert entries[:len(whole)] == whole                                          # the first ones whole
    shortened = entries[len(whole):-1]
    assert shortened and all(len(e["text"]) < SHORTENED_CHARS + 60 and e["text"].startswith(f"{e['at']}:長い")
                             and e["length"] == len(f"{e['at']}:{long_text}") for e in shortened)
    assert entries[-1]["kind"] == "full" and entries[-1]["from"] == "bot" and len(entries) < 1700
    store.append(pid, hid, {"from": "user", "kind": "text", "text": "まだ書きます", "at": 1})
    assert r.llen(log_key(pid, hid)) == len(entries)                              # nothing more
    assert 0 < r.ttl(size_key(pid, hid)) <= store.transcript_ttl_s
    detail = Console(app, "aoi").get(f"/console/api/handoffs/{hid}")
    assert len(detail.get_data()) < 3 * TRANSCRIPT_MAX_BYTES                      # (JSON escapes aside)
    assert "上限" in detail.get_json()["messages"][-1]["text"]


def test_one_person_starting_handoff_after_handoff_is_answered_gently_and_alerts_nobody(
        app, accounts, person, worker, r):  # noqa: F811
    # (18) one LINE account opened ~10 handoffs a minute (ask, cancel, ask…), each a staff alert
    # and a chime: three in ten minutes, then a gentle answer and nothing opened
    from handoff.store import ALERTS, CLOSED, QUEUE

    worker()
    p = person()
    p.send(follow=True)
    p.wait_count(1)
    p.say_and_wait(postback="choose_family")
    for _ in range(3):
        p.say_and_wait("人と話したい")
        assert "番目" in helpers.texts_of(p.say_and_wait("はい")[0])[0]
        p.say_and_wait("やめる")
    assert r.zcard(CLOSED) == 3 and r.zcard(QUEUE) == 0
    alerts = r.xlen(ALERTS)
    p.say_and_wait("人と話したい")
    said = helpers.texts_of(p.say_and_wait("はい")[0])[0]
    assert "少し時間をおいてから" in said and "0120-279-338" in said
    p.say_and_wait(postback="crisis_human")                    # the crisis card's button: the same
    assert "少し時間をおいてから" in helpers.texts_of(p.inbox()[-1])[0]
    assert helpers.settled(r)
    assert r.zcard(CLOSED) == 3 and r.zcard(QUEUE) == 0 and r.xlen(ALERTS) == alerts
    other = person()                                             # a limit per person, nobody else's
    other.send(follow=True)
    other.wait_count(1)
    other.say_and_wait(postback="choose_self")
    other.say_and_wait("人と話したい")
    assert "番目" in helpers.texts_of(other.say_and_wait("はい")[0])[0]


@pytest.fixture
def mado_log():
    """The JSON log lines of this process, as parsed objects."""
    from .test_hardening import LogLines

    h = LogLines()
    log = logging.getLogger("mado")
    level, disabled = log.level, log.disabled
    log.setLevel(logging.INFO)          # (another test in this process may have quieted it)
    log.disabled = False
    log.addHandler(h)
    yield lambda: [json.loads(ln) for ln in h.readouterr() if ln.startswith("{")]
    log.removeHandler(h)
    log.setLevel(level)
    log.disabled = disabled


def test_a_trusted_proxies_setting_that_looks_wrong_is_said_in_the_log_once(config, r, mado_log, monkeypatch):
    # (19) set wrong, MADO_TRUSTED_PROXIES either lets a made-up X-Forwarded-For guess without
    # limit or makes every client one address; nothing said so
    from bot import create_app
    from bot.proxies import WARNINGS

    def warned(lines):
        return [next(k for k, v in WARNINGS.items() if v == ln["reason"]) for ln in lines
                if ln["event"] == "config" and ln.get("result") == "warning"]

    def visit(app, addr, forwarded=None):
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        assert app.test_client().get("/console/login", headers=headers,
                                     environ_base={"REMOTE_ADDR": addr}).status_code == 200

    mado_log()
    direct = create_app(config)                        # 0: right for clients connecting directly
    visit(direct, "8.8.8.8")
    assert warned(mado_log()) == []
    for _ in range(3):                                 # …but a proxy is in front
        visit(direct, "10.0.0.5", "198.51.100.7")
    assert warned(mado_log()) == ["forwarded_but_untrusted"]

    proxied = create_app(config.with_overrides(trusted_proxies=1))
    visit(proxied, "10.0.0.5", "8.8.4.4")              # through the one proxy: as it should be
    assert warned(mado_log()) == []
    visit(proxied, "8.8.8.8", "198.51.100.7")          # the web process reached from outside
    visit(proxied, "10.0.0.5")                         # fewer hops than said
    visit(proxied, "8.8.8.8", "198.51.100.7")
    lines = mado_log()
    assert warned(lines) == ["public_peer", "fewer_hops"]
    assert not any(a in json.dumps(lines) for a in ("8.8.8.8", "198.51.100.7", "10.0.0.5"))   # no address

    monkeypatch.setenv("DYNO", "web.1")                # at start: Heroku's router is a proxy
    create_app(config)
    create_app(config.with_overrides(trusted_proxies=5))
    assert warned(mado_log()) == ["heroku_without_proxy", "unusually_many"]


def test_a_webhook_event_older_than_the_deduplication_window_is_dropped_and_counted(
        post, r, config, mado_log):
    # (info) a captured, signed body replayed after the 2-day window ran again: its seen-mark had expired
    import time

    uid = helpers.new_user_id()
    old = helpers.text_event(uid, "こんにちは")
    old["timestamp"] = int((time.time() - config.dedup_ttl_s - 60) * 1000)
    streams = [keys.stream(i) for i in range(config.shards)]
    mado_log()
    assert post(old).status_code == 200                               # LINE must not send it again
    assert sum(r.xlen(s) for s in streams) == 0
    line = next(ln for ln in mado_log() if ln["event"] == "webhook")
    assert line["count"] == 0 and line["reason"].endswith("stale=1")
    assert uid not in json.dumps(line) and "こんにちは" not in json.dumps(line)  # counts only
    fresh = helpers.text_event(uid, "こんにちは")
    fresh["timestamp"] = int((time.time() - config.dedup_ttl_s + 3600) * 1000)   # inside it: taken
    assert post(fresh).status_code == 200 and sum(r.xlen(s) for s in streams) == 1


def test_turns_written_in_one_step_never_pass_the_transcripts_bound_together(r):
    """The size is read where it is written (one server-side step per turn): two turns queued in one
    transaction, as the worker writes several at once, see each other; the one line that says
    nothing more is kept is written once, and nothing after it."""
    from handoff.store import HandoffStore, log_key

    store = HandoffStore(r, transcript_bytes=(200, 400))
    pid, hid = "U-bound-pid", "h-bound"
    for i in range(4):
        store.append(pid, hid, {"from": "user", "kind": "text", "text": "x" * 30, "at": i})
    assert "full" not in [json.loads(x).get("kind") for x in r.lrange(log_key(pid, hid), 0, -1)]
    pipe = r.pipeline(transaction=True)
    for i in range(3):
        store.append(pid, hid, {"from": "user", "kind": "text", "text": "y" * 120, "at": 10 + i}, pipe=pipe)
    pipe.execute()
    kinds = [json.loads(x).get("kind") for x in r.lrange(log_key(pid, hid), 0, -1)]
    assert kinds.count("full") == 1 and kinds[-1] == "full", kinds
