"""Mixed traffic through the whole system, at 1k → 100k known people. Prints figures.

gunicorn (Procfile web line) + `python -m bot.worker` + a real redis-server + the LINE stand-in
(100 ms per call). Most people browse (lanes, information pages, the prefecture finder); a
cohort is in handoff with a counselor who answers through the console's JSON API. All traffic on
127.0.0.1, bounded in count and time.

Two workloads (`--workloads`): `buttons` (known people browsing by postbacks) and `text` (free
text from people in every state: new people who never wrote, known people browsing, and the
handoff cohort, waiting or talking with the counselor).

Prints the machine, then per workload and population size: webhook ack p50/p99, end-to-end
p50/p99 (event posted → the bot's reply at LINE), events/s, **CPU ms per event of each process**
(web, worker, redis, the LINE stand-in, this load generator; /proc utime + stime), pushes per 100
bot answers, and the share of counselor messages that went out with a reply token.

    python benchmarks/full.py [--populations 1000,10000,100000] [--rate 150] [--seconds 10]
                              [--workloads buttons,text]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bot.worker import default_processes  # noqa: E402  (the worker's own default, printed)

import redis  # noqa: E402

from bot import keys  # noqa: E402
from flows import Event, handle  # noqa: E402

from spine import ROLES, SECRET, Stack, machine_line, pct, replies_to  # noqa: E402

MADO_KEY = "bench-secret-key"
TRAFFIC = tomllib.loads((Path(__file__).parent / "traffic.toml").read_text("utf-8"))
BROWSE = [tuple(x) for x in TRAFFIC["browse"]]
CHAT = TRAFFIC["chat"]
MARKER = TRAFFIC["counselor_marker"]


def seed(r, n: int) -> None:
    """n known, idle people, in the shape the worker stores them (state + LINE id, with TTL)."""
    state = handle(handle(None, Event("follow"), 0).state, Event("text", text=TRAFFIC["lane"]), 0).state
    state["last_seen"] = time.time()
    raw = json.dumps(state, ensure_ascii=False)
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        uid = f"U{i:032x}"
        pid = keys.pseudonym(MADO_KEY, uid)
        pipe.set(keys.state(pid), raw, ex=30 * 86400)
        pipe.set(keys.line_id(pid), uid, ex=30 * 86400)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


class Poster:
    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()
        self.n = int(time.time() * 1000) % 10 ** 9 * 1000

    def post(self, uid: str, kind: str, arg: str) -> tuple[str, float, float]:
        self.n += 1
        token = f"{self.n:032x}"
        ev = {"type": kind, "mode": "active", "timestamp": int(time.time() * 1000),
              "source": {"type": "user", "userId": uid}, "replyToken": token,
              "webhookEventId": f"F{self.n:025d}", "deliveryContext": {"isRedelivery": False}}
        if kind == "message":
            ev["message"] = {"id": str(self.n), "type": "text", "text": arg, "quoteToken": "q",
                             "markAsReadToken": f"r{self.n}"}
        else:
            ev["postback"] = {"data": arg}
        body = json.dumps({"destination": "U" + "0" * 32, "events": [ev]}, ensure_ascii=False).encode()
        sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        conn = getattr(self.local, "conn", None) or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.local.conn = conn
        t0 = time.time()
        conn.request("POST", "/callback", body=body, headers={"Content-Type": "application/json",
                                                              "X-Line-Signature": sig})
        resp = conn.getresponse()
        resp.read()
        return token, t0, (time.time() - t0) * 1000


class Counselor(threading.Thread):
    """A counselor in the console: claims what waits, answers each new message in 1–3 s."""

    def __init__(self, base: str, name: str, password: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.base, self.stop = base, stop
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        res = self.call("POST", "/console/api/login", {"name": name, "password": password})
        self.csrf = res["csrf_token"]
        self.sent = 0
        self.seen: dict[str, int] = {}

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"X-CSRF-Token": self.csrf} if hasattr(self, "csrf") else {})})
        with self.opener.open(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def run(self):
        try:
            self._run()
        except Exception as exc:          # the run is over (or the store was flushed): report, stop
            if not self.stop.is_set():
                print(f"counselor stopped: {exc!r}", file=sys.stderr)

    def _run(self):
        while not self.stop.is_set():
            for h in self.call("GET", "/console/api/handoffs?status=waiting")["handoffs"]:
                try:
                    self.call("POST", f"/console/api/handoffs/{h['id']}/claim", {})
                except urllib.error.HTTPError:
                    pass
            for h in self.call("GET", "/console/api/handoffs?status=active")["handoffs"]:
                detail = self.call("GET", f"/console/api/handoffs/{h['id']}")
                users = sum(1 for m in detail["messages"] if m["from"] == "user")
                if users > self.seen.get(h["id"], 0):
                    self.seen[h["id"]] = users
                    time.sleep(random.uniform(1.0, 3.0))
                    self.call("POST", f"/console/api/handoffs/{h['id']}/messages", {"text": TRAFFIC["counselor_reply"]})
                    self.sent += 1
            time.sleep(0.3)


TEXTS = CHAT + [a for k, a in BROWSE if k == "message"]


def run_population(stack: Stack, r, n: int, rate: int, seconds: float, cohort: int,
                   workload: str = "buttons") -> dict:
    r.flushall()
    subprocess.run([sys.executable, "-m", "bot.cli", "counselor", "add", "bench"], input="bench-password-1\n",
                   text=True, cwd=ROOT, check=True, capture_output=True,
                   env=dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{stack.redis_port}/0", PYTHONPATH=str(ROOT)))
    seed(r, n)
    poster = Poster(stack.web_port)
    base = f"http://127.0.0.1:{stack.web_port}"
    # the handoff cohort asks for a person first
    chatters = [f"UC{i:031x}" for i in range(cohort)]
    for uid in chatters:
        for text in TRAFFIC["ask_human"]:
            poster.post(uid, "message", text)
            time.sleep(0.05)
    stop = threading.Event()
    counselor = Counselor(base, "bench", "bench-password-1", stop)
    counselor.start()
    time.sleep(2.0)
    cpu0 = stack.cpu()
    acks, posted, lock = [], {}, threading.Lock()
    total = int(rate * seconds)
    jobs = []
    for i in range(total):
        if i % 25 == 0 and chatters:
            jobs.append((random.choice(chatters), "message", random.choice(CHAT), False))
        elif workload == "text" and i % 3 == 0:          # a new person, typing
            jobs.append((f"UN{random.getrandbits(100):031x}"[:33], "message", random.choice(TEXTS), True))
        elif workload == "text":
            jobs.append((f"U{random.randrange(n):032x}", "message", random.choice(TEXTS), True))
        else:
            uid = f"U{random.randrange(n):032x}"
            kind, arg = random.choice(BROWSE)
            jobs.append((uid, kind, arg, True))
    start = time.time()
    sem = threading.Semaphore(64)

    def send(job):
        uid, kind, arg, browsing = job
        try:
            token, t0, ms = poster.post(uid, kind, arg)
            with lock:
                acks.append(ms)
                if browsing:
                    posted[token] = t0
        finally:
            sem.release()

    threads = []
    for i, job in enumerate(jobs):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        sem.acquire()
        t = threading.Thread(target=send, args=(job,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(30)
    send_end = time.time()
    got = replies_to(stack, posted, start)
    time.sleep(4.0)          # the counselor's last answers
    stop.set()
    cpu1 = stack.cpu()
    cpu_ms = {k: (cpu1[k] - cpu0[k]) * 1000 / max(1, len(acks)) for k in ROLES}
    everything = stack.deliveries(start - 30)
    e2e = [(d["received_at"] - posted[d["reply_token"]]) * 1000 for d in got]
    last = max((d["received_at"] for d in got), default=send_end)
    browse_users = {f"U{i:032x}" for i in range(n)}
    bot_pushes = sum(1 for d in everything if d["kind"] == "push" and d["to"] in browse_users
                     and not any(MARKER in m.get("text", "") for m in d["messages"]))
    # (the stand-in, issuing tokens on the fly here, cannot tell whose a reply token was: the
    # counselor's words identify those deliveries)
    to_chatters = [d for d in everything if any(MARKER in m.get("text", "") for m in d["messages"])]
    replies = sum(1 for d in to_chatters if d["kind"] == "reply")
    return {"n": n, "events": len(acks), "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99),
            "e2e_p50": pct(e2e, 50), "e2e_p99": pct(e2e, 99),
            "rate": len(got) / max(1e-9, last - start), "cpu_ms": cpu_ms,
            "pushes_per_100": bot_pushes / max(1, len(posted)) * 100,
            "counselor_msgs": len(to_chatters), "sent": counselor.sent, "reply_share": replies / max(1, len(to_chatters)),
            "mem_mb": int(r.info("memory")["used_memory"]) / 1e6}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--populations", default="1000,10000,100000")
    ap.add_argument("--rate", type=int, default=150)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--cohort", type=int, default=12)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--workloads", default="buttons,text")
    ap.add_argument("--worker-processes", type=int, default=0, help="0: as the Procfile runs it")
    args = ap.parse_args(argv)
    os.environ["MADO_SECRET_KEY"] = MADO_KEY
    os.environ["MADO_PERSON_RATE_PER_MIN"] = "1000"
    os.environ["MADO_COOKIE_SECURE"] = "0"       # the console over plain http on 127.0.0.1
    stack = Stack(args.latency_ms, worker_processes=args.worker_processes)
    r = redis.Redis(port=stack.redis_port, decode_responses=True)
    try:
        print(machine_line(stack.redis_port))
        print(f"web: {stack.web_cmd}; worker: {args.worker_processes or default_processes()} process(es); LINE stand-in "
              f"{args.latency_ms:.0f} ms; {args.rate} events/s offered for {args.seconds:.0f} s; {args.cohort} people "
              f"in handoff with one counselor; CPU ms per event of each process", flush=True)
        print(f"{'workload':>8} {'people':>7} {'events':>6} {'ack p50':>8} {'ack p99':>8} {'e2e p50':>8} {'e2e p99':>8} "
              f"{'ev/s':>6} | {'web':>5} {'worker':>6} {'redis':>5} {'mado':>5} {'LINE':>5} {'loadgen':>7} | "
              f"{'push/100':>8} {'counselor msgs':>14} {'via reply':>9} {'redis MB':>8}")
        for workload in args.workloads.split(","):
            for n in [int(x) for x in args.populations.split(",")]:
                res = run_population(stack, r, n, args.rate, args.seconds, args.cohort, workload)
                c = res["cpu_ms"]
                print(f"{workload:>8} {res['n']:>7} {res['events']:>6} {res['ack_p50']:>6.1f}ms {res['ack_p99']:>6.1f}ms "
                      f"{res['e2e_p50']:>6.0f}ms {res['e2e_p99']:>6.0f}ms {res['rate']:>6.1f} | {c['web']:>5.2f} "
                      f"{c['worker']:>6.2f} {c['redis']:>5.2f} {c['web'] + c['worker'] + c['redis']:>5.2f} "
                      f"{c['line']:>5.2f} {c['loadgen']:>7.2f} | {res['pushes_per_100']:>8.2f} "
                      f"{res['counselor_msgs']:>14} {res['reply_share']:>9.0%} {res['mem_mb']:>8.1f}", flush=True)
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
