"""The worker against real Redis and the LINE stand-in: order, exactly-once, crashes, LINE errors."""
import json
import os
import signal
import time
import uuid

from bot import keys
from bot.line_client import retry_key
from messages_ja import catalog

from . import helpers

# What a person sends → the first message id of the answer they must get back.
SCRIPT = [
    ("text", "自分", "lane.self.intro"),
    ("sticker", None, "fallback.sticker"),
    ("text", "家族", "lane.family.intro"),
    ("text", "ぴよぴよ", "fallback.text"),
    ("text", "その他", "lane.other.intro"),
    ("postback", "t=choose_self", "lane.self.intro"),
]


def make(uid, kind, arg):
    if kind == "text":
        return helpers.text_event(uid, arg)
    if kind == "sticker":
        return helpers.sticker_event(uid)
    return helpers.postback_event(uid, arg)


def first_ids(standin, uid):
    by_text = {v["text"]: k for k, v in catalog().messages.items()}
    return [by_text.get(d["messages"][0]["text"], "?") for d in standin.deliveries(uid)]


def test_reply_with_fresh_token_is_free_and_single(post, worker, standin):
    uid = helpers.new_user_id()
    post(helpers.follow_event(uid))
    worker()
    got = standin.wait_for(lambda s: s.deliveries(uid))
    assert [d["kind"] for d in got] == ["reply"]
    texts = helpers.texts_of(got[0])
    assert len(texts) == 3
    assert "119" in texts[1] and "0120-279-338" in texts[1]
    assert standin.calls("/v2/bot/message/push") == []


def test_rejected_reply_token_falls_back_to_push_with_retry_key(client, worker, standin):
    uid = helpers.new_user_id()
    ev = helpers.text_event(uid, "自分")            # its token was never issued: LINE says "Invalid reply token"
    body = helpers.body_of(ev)
    client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    worker()
    got = standin.wait_for(lambda s: s.deliveries(uid))
    assert [d["kind"] for d in got] == ["push"]
    assert got[0]["retry_key"] == retry_key(ev["webhookEventId"], 0)
    assert len(standin.calls("/v2/bot/message/reply")) == 1


def test_stale_token_is_not_even_tried(post, worker, standin):
    uid = helpers.new_user_id()
    post(helpers.text_event(uid, "家族"))
    time.sleep(1.2)
    worker(reply_fresh_s=1.0)   # the event waited longer than a reply token can be trusted
    got = standin.wait_for(lambda s: s.deliveries(uid))
    assert [d["kind"] for d in got] == ["push"]
    assert standin.calls("/v2/bot/message/reply") == []


def test_line_5xx_is_retried_and_delivered_once(post, worker, standin):
    uid = helpers.new_user_id()
    standin.add_fault(500, count=2, path="/v2/bot/message/reply")
    post(helpers.text_event(uid, "自分"))
    worker()
    # (the stand-in logs a call once it has answered it, after recording the delivery: wait for both)
    got = standin.wait_for(lambda s: len(s.calls("/v2/bot/message/reply")) >= 3 and s.deliveries(uid))
    assert [d["kind"] for d in got] == ["reply"]
    assert [c["status"] for c in standin.calls("/v2/bot/message/reply")] == [500, 500, 200]


def test_lost_answer_to_a_push_is_not_delivered_twice(client, worker, standin, r):
    uid = helpers.new_user_id()
    standin.add_fault(500, count=1, path="/v2/bot/message/push", deliver=True)  # delivered, answer lost
    ev = helpers.text_event(uid, "自分")
    body = helpers.body_of(ev)
    client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    worker()
    standin.wait_for(lambda s: len(s.calls("/v2/bot/message/push")) >= 2)
    assert helpers.settled(r)
    assert len(standin.deliveries(uid)) == 1
    assert [c["status"] for c in standin.calls("/v2/bot/message/push")] == [500, 409]


def test_lost_answer_to_a_reply_is_not_delivered_twice(post, worker, standin, r):
    uid = helpers.new_user_id()
    standin.add_fault(500, count=1, path="/v2/bot/message/reply", deliver=True)
    post(helpers.text_event(uid, "自分"))
    worker()
    standin.wait_for(lambda s: len(s.calls("/v2/bot/message/reply")) >= 2)
    assert helpers.settled(r)
    assert len(standin.deliveries(uid)) == 1
    assert standin.calls("/v2/bot/message/push") == []


def test_line_down_for_good_goes_to_dead_letters_without_blocking_others(post, worker, standin, r):
    unlucky, other = helpers.new_user_id(), helpers.new_user_id()
    standin.add_fault(400, count=1, path="/v2/bot/message/reply")   # a 4xx that is not about the token
    post(helpers.text_event(unlucky, "自分"))
    w = worker()
    standin.wait_for(lambda s: w.stats["dead_letter"] == 1)
    post(helpers.text_event(other, "自分"))
    assert standin.wait_for(lambda s: s.deliveries(other))
    dead = r.xrange(keys.DEAD_LETTERS)
    assert len(dead) == 1 and dead[0][1]["reason"] == "line_reply_400"


def test_order_per_person_with_two_worker_processes(client, standin, worker_process, r):
    standin.set_latency(20)
    people = [helpers.new_user_id() for _ in range(12)]
    workers = [worker_process(), worker_process()]
    for round_ in range(len(SCRIPT)):
        kind, arg, _ = SCRIPT[round_]
        events = [make(uid, kind, arg) for uid in people]
        for ev in events:
            standin.issue_reply_token(ev["source"]["userId"], ev["replyToken"])
        body = helpers.body_of(*events)     # one webhook carrying several people's events
        assert client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)}).status_code == 200
    expected = [want for _, _, want in SCRIPT]
    ok = standin.wait_for(lambda s: all(len(s.deliveries(u)) >= len(SCRIPT) for u in people), timeout=40)
    assert ok, [len(standin.deliveries(u)) for u in people]
    assert helpers.settled(r)
    for uid in people:
        assert first_ids(standin, uid) == expected
    assert all(p.poll() is None for p in workers)
    shared = standin.wait_for(lambda s: len({r.get(keys.lease(n)) for n in range(4)} - {None}) == 2, timeout=10)
    assert shared, "the two workers share the shards"


def test_workers_that_disagree_on_the_shard_count_leave_no_shard_unread(config, standin, worker_process, r,
                                                                       tmp_path):
    """Issue 23: a worker started with fewer shards (a `mado demo` pointed at production, a change
    of MADO_EVENT_SHARDS half rolled out) made the one with more give up its share down to
    shards/2, and the shards only it knew were read by nobody: people got no answer."""
    from bot import create_app

    from .conftest import Poster

    big = worker_process(MADO_EVENT_SHARDS=8)
    assert wait_until(lambda: all(r.get(keys.lease(s)) for s in range(8)), timeout=60)   # readiness
    small = worker_process(MADO_EVENT_SHARDS=2)
    ids = lambda: r.zrange(keys.WORKERS, 0, -1)                                        # noqa: E731
    assert wait_until(lambda: any(f"-{small.pid}-" in w for w in ids()), timeout=60)   # registered
    big_id = next(w for w in ids() if f"-{big.pid}-" in w)
    for _ in range(3):                 # three heartbeats of the big one that saw the small one
        beat = r.zscore(keys.WORKERS, big_id)
        assert wait_until(lambda: r.zscore(keys.WORKERS, big_id) > beat)
    # someone in each of the 8 shards writes, through a web process that knows 8 shards
    post = Poster(create_app(config.with_overrides(shards=8)).test_client(), standin)
    people = {}
    while len(people) < 8:
        uid = helpers.new_user_id()
        people.setdefault(keys.shard_of(keys.pseudonym(helpers.MADO_KEY, uid), 8), uid)
    for uid in people.values():
        assert post(helpers.follow_event(uid)).status_code == 200
    ok = standin.wait_for(lambda s: all(s.deliveries(u) for u in people.values()), timeout=30)
    assert ok, "unanswered in shards " + str(sorted(n for n, u in people.items() if not standin.deliveries(u)))
    assert helpers.settled(r, shards=8)
    assert all(r.get(keys.lease(s)) for s in range(8)), "every shard held"
    assert big.poll() is None and small.poll() is None
    # the operator is told: the worker with more shards says so in its log (no text, no ids)
    assert wait_until(lambda: "shard_counts_differ" in (tmp_path / "worker-0.log").read_text())


def test_worker_killed_mid_event_loses_nothing_and_sends_nothing_twice(post, standin, worker_process, r):
    # LINE takes the first reply and delivers it, but its answer hangs: the worker dies while
    # that call is in flight (known, not guessed from a sleep), with later events still queued
    standin.set_latency(50)
    standin.add_fault(0, count=1, path="/v2/bot/message/reply", deliver=True, hang_s=20)
    people = [helpers.new_user_id() for _ in range(4)]
    first = worker_process()
    for kind, arg, _ in SCRIPT[:3]:
        post(*[make(uid, kind, arg) for uid in people])
    assert standin.wait_for(lambda s: any(s.deliveries(u) for u in people), timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    standin.set_latency(10)
    second = worker_process()
    ok = standin.wait_for(lambda s: all(len(s.deliveries(u)) >= 3 for u in people), timeout=60)
    assert ok, [len(standin.deliveries(u)) for u in people]
    assert helpers.settled(r)
    for uid in people:
        assert first_ids(standin, uid) == [w for _, _, w in SCRIPT[:3]]
    assert second.poll() is None
    # the redo really happened: the second worker tried the used tokens again and LINE refused them
    assert any(c["status"] == 400 for c in standin.calls("/v2/bot/message/reply"))


def in_hand(r, shards=4) -> int:
    """Entries a worker has read and not yet acknowledged (its events in hand)."""
    total = 0
    for s in range(shards):
        try:
            total += r.xpending(keys.stream(s), keys.GROUP)["pending"]
        except Exception:        # no stream or group yet
            pass
    return total


def wait_until(fn, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.02)          # polling for a state, not waiting a fixed time
    return bool(fn())


def test_sigterm_finishes_the_event_in_hand_and_exits(post, standin, worker_process, r):
    standin.set_latency(800)
    uid = helpers.new_user_id()
    proc = worker_process()
    post(helpers.text_event(uid, "自分"))
    assert wait_until(lambda: in_hand(r) >= 1), "the worker never took the event"   # however slow start-up is
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert len(standin.deliveries(uid)) == 1
    assert sum(r.xlen(keys.stream(s)) for s in range(4)) == 0
    assert all(r.get(keys.lease(s)) is None for s in range(4)), "leases handed back"


def _children(pid: int) -> list[int]:
    from pathlib import Path

    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def test_sigterm_while_supervised_workers_start_up_stops_them_all_cleanly(worker_process, r):
    """A SIGTERM that comes while the worker processes are still starting (importing, warming up)
    is kept until their handlers are in place: every process exits 0, no lease is left behind."""
    proc = worker_process(MADO_WORKER_PROCESSES=2)
    assert wait_until(lambda: len(_children(proc.pid)) == 2, timeout=30)     # both children spawned
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, "a worker process died of the signal instead of stopping"
    assert all(r.get(keys.lease(s)) is None for s in range(4)), "leases handed back"


def test_a_stop_sent_again_and_again_still_stops_every_worker_cleanly(worker_process, r):
    """A platform stops every process of the dyno, the supervisor passes its SIGTERM on, an operator
    presses Ctrl-C twice: however many stop signals come, each process exits 0 and hands its shards
    back. (A handler that set an event itself could run inside its own earlier call's lock and hang
    for ever; CI saw a supervised child do that.)"""
    proc = worker_process(MADO_WORKER_PROCESSES=2)
    assert wait_until(lambda: len(_children(proc.pid)) == 2, timeout=30)
    assert wait_until(lambda: r.zcard(keys.WORKERS) == 2, timeout=60)       # both children working
    pids = [proc.pid, *_children(proc.pid)]
    for _ in range(100):
        for pid in pids:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
    assert proc.wait(60) == 0, "a worker process died of the signal instead of stopping"
    assert all(r.get(keys.lease(s)) is None for s in range(4)), "leases handed back"


def test_poison_event_goes_to_dead_letters_after_max_tries(config, r, worker, standin):
    uid = helpers.new_user_id()
    pid = keys.pseudonym(config.secret_key, uid)
    shard = keys.shard_of(pid, config.shards)
    r.xgroup_create(keys.stream(shard), keys.GROUP, id="0", mkstream=True)
    r.xadd(keys.stream(shard), {"pid": pid, "ev": "{not json", "rt": "0", "rid": "x"})
    w = worker()
    assert standin.wait_for(lambda s: w.stats["dead_letter"] == 1, timeout=20)
    assert helpers.settled(r)        # and deleted: by the ack thread, in its own time (a batch)
    assert r.xrange(keys.DEAD_LETTERS)[0][1]["reason"] == "too_many_tries"


def test_many_people_waiting_at_once_each_get_their_answers_in_order_despite_a_poison_entry(
        post, config, r, worker, standin):
    # Everything is in the streams before the worker starts, so its first reads bring many
    # people's entries at once (decided and written together on a plain Redis): a broken entry
    # among them costs only itself, and each person's two messages are answered in order.
    people = [helpers.new_user_id() for _ in range(20)]
    for uid in people:
        post(helpers.text_event(uid, "自分"))
    poisoned = keys.pseudonym(config.secret_key, helpers.new_user_id())
    shard = keys.shard_of(poisoned, config.shards)
    r.xgroup_create(keys.stream(shard), keys.GROUP, id="0", mkstream=True)
    r.xadd(keys.stream(shard), {"pid": poisoned, "ev": "{not json", "rt": "0", "rid": "x"})
    for uid in people:
        post(helpers.text_event(uid, "ぴよぴよ"))
    w = worker(max_tries=2)       # (the poison entry dead-lettered after two tries, not five)
    assert standin.wait_for(lambda s: all(len(s.deliveries(u)) == 2 for u in people)
                            and w.stats["dead_letter"] == 1, timeout=30)
    for uid in people:
        assert first_ids(standin, uid) == ["lane.self.intro", "fallback.text"]
    assert helpers.settled(r)
    assert [f["reason"] for _id, f in r.xrange(keys.DEAD_LETTERS)] == ["too_many_tries"]


def test_a_counselor_message_that_arrives_too_late_is_dropped_once_and_the_person_goes_on(
        post, config, r, worker, standin):
    # A counselor's message for a handoff the person has already left is "stale": nothing to
    # deliver. It is done once (not tried again and again) and the person's next words are answered.
    from handoff.store import HandoffStore

    uid = helpers.new_user_id()
    pid = keys.pseudonym(config.secret_key, uid)
    w = worker()
    post(helpers.text_event(uid, "自分"))
    assert standin.wait_for(lambda s: len(s.deliveries(uid)) == 1)
    HandoffStore(r, shards=config.shards).enqueue_console_event(pid, "message", "gone-handoff", text="遅れた返事")
    post(helpers.text_event(uid, "ぴよぴよ"))
    assert standin.wait_for(lambda s: len(s.deliveries(uid)) == 2)
    assert first_ids(standin, uid) == ["lane.self.intro", "fallback.text"]
    assert helpers.settled(r)
    assert w.stats["done"] == 3 and w.stats["errors"] == 0


def test_state_has_ttl_and_line_id_is_stored_once(post, worker, standin, r, config):
    uid = helpers.new_user_id()
    post(helpers.follow_event(uid))
    worker()
    standin.wait_for(lambda s: s.deliveries(uid))
    pid = keys.pseudonym(config.secret_key, uid)
    assert helpers.settled(r)         # the event's writes are done (acknowledged after its effects)
    # state, the LINE id (only to push), the per-minute rate counter (gone after a minute) and what
    # the bot said this session (an hour, for a handoff's context if the person agrees); on a cluster
    # the event's own record is deleted on its shard after the stream entry on another, so that
    # deletion is waited for too (a busy host showed the record still there)
    expected = sorted([keys.state(pid), keys.line_id(pid), keys.user(pid, "rate"), keys.user(pid, "recent")])
    assert wait_until(lambda: sorted(r.scan_iter(match=keys.user_pattern(pid))) == expected), \
        sorted(r.scan_iter(match=keys.user_pattern(pid)))
    person_keys = expected
    for k in person_keys:
        assert 0 < r.ttl(k) <= config.state_ttl_s
    assert r.ttl(keys.user(pid, "recent")) <= 3600
    assert json.loads(r.get(keys.state(pid)))["state"] == "choosing"
    assert uid not in r.get(keys.state(pid))


def test_unfollow_forgets_the_person(post, worker, standin, r, config):
    uid = helpers.new_user_id()
    post(helpers.follow_event(uid))
    worker()
    standin.wait_for(lambda s: s.deliveries(uid))
    post(helpers.unfollow_event(uid))
    pid = keys.pseudonym(config.secret_key, uid)
    assert standin.wait_for(lambda s: not list(r.scan_iter(match=keys.user_pattern(pid))), timeout=10)


def test_retry_key_is_a_uuid_and_stable():
    k = retry_key("01FZ74A0TDDPYRVKNK77XKC3ZR", 1)
    assert uuid.UUID(k) and k == retry_key("01FZ74A0TDDPYRVKNK77XKC3ZR", 1) != retry_key("01FZ74A0TDDPYRVKNK77XKC3ZR", 0)


def _nice(pid: int) -> int:
    from pathlib import Path

    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_worker_yields_the_cpu_to_the_webhook_unless_told_not_to(worker_process, r):
    """On a shared machine LINE's webhook answer goes first: the worker runs 5 steps below normal
    priority (its supervised children too); MADO_WORKER_NICE=0 keeps it at normal priority."""
    lowered = worker_process(MADO_WORKER_PROCESSES="2")
    kept = worker_process(MADO_WORKER_NICE="0")
    try:
        assert wait_until(lambda: len(_children(lowered.pid)) == 2)
        assert wait_until(lambda: r.zcard(keys.WORKERS) >= 3)      # all three are working
        assert _nice(lowered.pid) == 5 and all(_nice(c) == 5 for c in _children(lowered.pid))
        assert _nice(kept.pid) == 0
    finally:
        lowered.send_signal(signal.SIGTERM)       # the supervisor stops its children (a kill would not)
        lowered.wait(60)
