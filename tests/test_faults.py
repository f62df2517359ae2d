"""Faults, for real: workers killed with SIGKILL in a burst, Redis killed and restarted (AOF),
LINE answering 500/429/timeouts, two web and three worker processes at once. Afterwards every
person saw every answer exactly once, in order. Each test prints its counts (pytest -s)."""
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis

import messages_ja
from flows import Event, handle

from . import helpers
from .conftest import ROOT, RedisServer, free_port, worker_env

# one person's conversation: each step has an answer of its own, so a lost, doubled or reordered
# event shows as a wrong list of answers
STEPS = [("follow", None), ("text", "家族"), ("text", "ひきこもりって？"), ("postback", "t=more"),
         ("postback", "t=find_local"), ("text", "東京"), ("text", "メニュー")]


def expected_answers() -> list[list[str]]:
    state, out = None, []
    for kind, arg in STEPS:
        ev = Event("follow") if kind == "follow" else Event(kind, text=arg or "", data=arg or "") \
            if kind == "postback" else Event("text", text=arg)
        res = handle(state, ev, 0.0)
        state = res.state
        out.append([m["text"] for r in res.replies for m in messages_ja.render(r)])
    return out


def event_of(uid, kind, arg):
    if kind == "follow":
        return helpers.follow_event(uid)
    if kind == "postback":
        return helpers.postback_event(uid, arg)
    return helpers.text_event(uid, arg)


class Line:
    """LINE's side of the webhook: signed posts, redelivered (same webhookEventId) on 5xx or a
    refused connection, as LINE's redelivery does."""

    def __init__(self, urls, standin):
        self.urls = urls
        self.standin = standin
        self.posts = self.redeliveries = 0
        self.lock = threading.Lock()

    def send(self, ev, *, web=0, deadline=60.0):
        if ev.get("replyToken"):
            self.standin.issue_reply_token(ev["source"]["userId"], ev["replyToken"])
        body = helpers.body_of(ev)
        end = time.time() + deadline
        while True:
            url = self.urls[web % len(self.urls)]
            req = urllib.request.Request(url + "/callback", data=body, method="POST", headers={
                "X-Line-Signature": helpers.sign(body), "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as res:
                    with self.lock:
                        self.posts += 1
                    return res.status
            except (urllib.error.HTTPError, urllib.error.URLError, ConnectionError) as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()
                    if exc.code < 500:
                        raise
                with self.lock:
                    self.redeliveries += 1
                if time.time() > end:
                    raise
                time.sleep(0.2)
                web += 1


def burst(line, people, *, duplicate_every=0, pace=0.01):
    """Every person's steps, interleaved across people, from several threads (as LINE does);
    `pace` seconds between one person's steps, so that faults land in the middle of it."""
    def one(i, uid):
        for step, (kind, arg) in enumerate(STEPS):
            ev = event_of(uid, kind, arg)
            line.send(ev, web=i + step)
            if duplicate_every and (i + step) % duplicate_every == 0:
                line.send(json.loads(json.dumps(ev)), web=i + step + 1)     # the same event again
            time.sleep(pace)
    threads = [threading.Thread(target=one, args=(i, uid)) for i, uid in enumerate(people)]
    for t in threads:
        t.start()
    return threads


def check(standin, people, r, timeout=90):
    want = expected_answers()
    done = standin.wait_for(lambda s: all(len(s.deliveries(u)) >= len(STEPS) for u in people), timeout=timeout)
    assert helpers.settled(r, timeout=timeout)           # every event handled: nothing more can come
    got = {u: [helpers.texts_of(d) for d in standin.deliveries(u)] for u in people}
    wrong = {u[:9]: [g[0][:12] for g in v] for u, v in got.items() if v != want}
    assert done and not wrong, wrong
    return sum(len(v) for v in got.values())


class Web:
    """The Procfile's web line (gunicorn), as a real process."""

    def __init__(self, env, tmp_path, name):
        self.port = free_port()
        self.log = open(tmp_path / f"{name}.log", "w")
        self.proc = subprocess.Popen(
            helpers.procfile_web(self.port), cwd=ROOT, env={**env, "WEB_THREADS": "4"}, stdout=self.log,
            stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120       # readiness (/healthz answers), generous on a busy machine
        try:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, (tmp_path / f"{name}.log").read_text()
                try:
                    with urllib.request.urlopen(self.url + "/healthz", timeout=10):
                        return
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.05)
            raise RuntimeError("web did not start")
        except BaseException:
            self.stop()
            raise

    def stop(self):
        helpers.stop_process(self.proc, self.log)
        self.proc.wait(15)
        self.log.close()


@pytest.fixture
def webs(config, tmp_path):
    started = []

    def start(n=1, cfg=None):
        env = worker_env(cfg or config)
        for i in range(n):
            started.append(Web(env, tmp_path, f"web-{len(started)}"))
        return started[-n:]

    yield start
    for w in started:
        w.stop()


def test_sigkill_workers_again_and_again_during_a_burst(standin, webs, worker_process, capsys, r):
    standin.set_latency(150)       # LINE calls are in flight when the kills come
    web, = webs(1)
    line = Line([web.url], standin)
    people = [helpers.new_user_id() for _ in range(30)]
    procs = [worker_process(), worker_process()]
    threads = burst(line, people, pace=0.5)
    kills = 0
    for k in range(2):
        # kill when work is flowing: after another 40 answers have gone out
        standin.wait_for(lambda s: len(s.deliveries()) >= 40 * (k + 1), timeout=30)
        victim = procs.pop(0)
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        kills += 1
        procs.append(worker_process())
    for t in threads:
        t.join(60)
    total = check(standin, people, r)
    with capsys.disabled():
        print(f"\n[faults] SIGKILL x{kills} mid-burst: {len(people)} people, {total} answers, each once and "
              f"in order; redone reply calls refused by LINE as already used: "
              f"{sum(1 for c in standin.calls('/v2/bot/message/reply') if c['status'] == 400)}, "
              f"pushes: {len(standin.calls('/v2/bot/message/push'))}")


def test_line_answers_500_429_and_timeouts_for_a_while(standin, webs, worker_process, capsys, config, r):
    web, = webs(1)
    line = Line([web.url], standin)
    people = [helpers.new_user_id() for _ in range(20)]
    standin.add_fault(500, count=25)
    standin.add_fault(429, count=15)
    standin.add_fault(500, count=10, deliver=True)      # delivered, but the answer is lost
    standin.add_fault(0, count=4, hang_s=3.0)            # no answer within the client's timeout
    worker_process(MADO_LINE_TIMEOUT_S="1.5", MADO_LINE_RETRIES="6")
    threads = burst(line, people)
    for t in threads:
        t.join(60)
    total = check(standin, people, r, timeout=120)
    # (a hung call is recorded when the stand-in finally answers, after the client gave up)
    assert standin.wait_for(lambda s: sum(1 for c in s.calls() if c["status"] == 504) == 4, timeout=10)
    statuses = [c["status"] for c in standin.calls()]
    with capsys.disabled():
        print(f"\n[faults] LINE faults: {statuses.count(500)}x500 {statuses.count(429)}x429 "
              f"{statuses.count(504)} timeouts; {total} answers, each once and in order")


def test_redis_killed_and_restarted_with_aof_during_a_burst(standin, tmp_path, capsys, config):
    server = RedisServer(("--appendonly", "yes", "--appendfsync", "always"))
    server.start()
    cfg = config.with_overrides(redis_url=server.url)
    env = worker_env(cfg)
    web = Web(env, tmp_path, "web")
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "bot.worker"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        line = Line([web.url], standin)
        people = [helpers.new_user_id() for _ in range(20)]
        threads = burst(line, people, pace=0.4)
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGKILL)        # Redis dies mid-burst: no clean shutdown
        server.proc.wait(5)
        time.sleep(1.5)                                 # webhooks answer 503 meanwhile; LINE redelivers
        server.proc = subprocess.Popen(server.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60        # readiness: PING answered once the AOF is loaded
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=server.port).ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        for t in threads:
            t.join(90)
        total = check(standin, people, redis.Redis(port=server.port, decode_responses=True), timeout=120)
        assert worker.poll() is None, "the worker rode out the outage"
        with capsys.disabled():
            print(f"\n[faults] Redis SIGKILL + restart (AOF, fsync always): {total} answers once and in order; "
                  f"webhook redeliveries by LINE: {line.redeliveries}")
    finally:
        worker.kill()
        worker.wait(10)
        log.close()
        web.stop()
        server.stop()


def test_two_web_and_three_worker_processes_with_duplicates(standin, webs, worker_process, r, capsys):
    pair = webs(2)
    line = Line([w.url for w in pair], standin)
    people = [helpers.new_user_id() for _ in range(30)]
    for _ in range(3):
        worker_process()
    threads = burst(line, people, duplicate_every=3)     # some events arrive twice, at either web
    for t in threads:
        t.join(60)
    total = check(standin, people, r)
    with capsys.disabled():
        print(f"\n[faults] 2 web + 3 workers: {line.posts} webhook posts ({line.posts - total} duplicates), "
              f"{total} answers, each once and in order")


def test_a_crisis_reply_lost_while_line_is_down_is_pushed_once_line_answers(post, worker, standin, r, config):
    # (issue 23, 7) a crisis reply whose sending failed for good was only dead-lettered: never sent
    from bot import keys

    uid = helpers.new_user_id()
    pid = keys.pseudonym(config.secret_key, uid)
    standin.add_fault(500, count=10**9)                  # LINE down: every call answers 500
    w = worker()
    ev = helpers.text_event(uid, "もう死にたい")
    post(ev)
    assert standin.wait_for(lambda s: w.stats["dead_letter"] == 1, timeout=30)
    (_id, letter), = r.xrange(keys.DEAD_LETTERS)
    assert letter["reason"] == "line_reply_500" and letter["kept"] == "crisis_reply"
    assert "死にたい" not in json.dumps(letter, ensure_ascii=False) and uid not in json.dumps(letter)
    # the worker tries again while LINE is down, and nothing reaches the person
    assert standin.wait_for(lambda s: any(c["status"] == 500 for c in s.calls("/v2/bot/message/push")), timeout=30)
    assert standin.deliveries(uid) == []
    standin.clear_faults()                               # LINE answers again
    got = standin.wait_for(lambda s: s.deliveries(uid), timeout=90)
    assert got and "話してくれて" in helpers.texts_of(got[0])[0], got     # the bot's crisis answer
    assert got[0]["kind"] == "push"
    end = time.monotonic() + 30                          # done: nothing of it kept, nothing due
    while (r.exists(keys.undelivered(pid)) or r.zcard(keys.REDELIVER)) and time.monotonic() < end:
        time.sleep(0.05)
    assert not r.exists(keys.undelivered(pid)) and not r.zcard(keys.REDELIVER)
    assert helpers.settled(r) and len(standin.deliveries(uid)) == 1             # once
    assert [c["status"] for c in standin.calls("/v2/bot/message/push")].count(200) == 1
