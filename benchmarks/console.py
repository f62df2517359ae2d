"""Benchmark of many counselors' consoles at once, pushed (issue 25) beside polled: prints figures,
asserts nothing.

The stack of benchmarks/spine.py (the Procfile's web line, the worker, a real redis-server, the LINE
stand-in), all on 127.0.0.1. N counselors (logged in; sessions opened as a login would, without
hashing N passwords) each have a console open on a conversation of their own, modelled on
handoff/static/console.js (this load generator speaks HTTP/1.1 itself, one connection per console):

- `poll`: today's polling before issue 25: every second the conversation on screen (the whole
  transcript), the queue, the active list and /alerts, the canned replies every fifth second;
- `push`: the push channel (GET /console/api/events) and, only when told something changed: for
  an event naming handoffs, only those (a list delta, GET /console/api/handoffs?ids=, with
  /alerts unless all were messages; at most once a second, at once for a risk); for one naming
  none (a colleague's conversation), the lists whole, at most every 5 s (at once for a risk or
  presence); the lists whole every 30 s anyway; the conversation on screen from its cursor
  (?after=); a worsening person rings from the event itself; /me every 10 s, /alerts every 5 s.

Per mode and N: an idle phase (nobody writes), then a busy one (M people in conversations write,
one message each every 2 s, with a few long ones: transcripts grow), during which people waiting
in the queue write something risky (signed webhooks, as LINE posts them). Printed: CPU of the
server side (web + worker + redis) per counselor-minute and as a share of one core, bytes received
per counselor-minute, the webhook's answer time, and the time from each worsening webhook's post
to its alert at every console (p50, p99 over all consoles and alerts).

    python benchmarks/console.py [--counselors 10,50,200] [--people 20] [--idle 5] [--busy 6]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from spine import MADO_KEY, SECRET, TRAFFIC, Stack, backlog, cpu_seconds, machine_line, pct  # noqa: E402

RISK = TRAFFIC["worsening"]


class Http:
    """One kept-alive HTTP/1.1 connection of a console (reopened when the server closed it)."""

    def __init__(self, port: int, cookie: str, tally: list):
        self.port, self.cookie, self.tally = port, cookie, tally
        self.reader = self.writer = None

    async def get(self, path: str) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\nCookie: {self.cookie}\r\n\r\n".encode())
                head = await self.reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await self.reader.readexactly(length)
                self.tally[0] += len(head) + len(body)
                return int(head.split(b" ", 2)[1]), body
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Console:
    def __init__(self, port: int, name: str, sid: str, selected: str, mode: str, alerts: dict):
        self.name, self.selected, self.mode, self.alerts = name, selected, mode, alerts
        self.tally = [0]
        self.port, self.cookie = port, f"mado_session={sid}"
        self.http = Http(port, self.cookie, self.tally)
        self.lists = Http(port, self.cookie, self.tally)
        self.deltas = Http(port, self.cookie, self.tally)     # (a browser: another connection)
        self.cursor = None
        self.seen_urgent: dict[str, int] = {}
        self.changed: set[str] = set()
        self.changed_alerts = False
        # as console.js's coalesced(): one request at a time each, what is heard meanwhile once after
        self.refresh_lists = Coalesced(self.poll_lists, 1.0)
        self.refresh_others = Coalesced(self._others, lambda: 5.0 * (0.6 + 0.8 * random.random()))
        self.refresh_changed = Coalesced(self.poll_changed, 1.0)
        self.refresh_detail = Coalesced(self.poll_detail, 0.0)
        self.coalesced = (self.refresh_lists, self.refresh_others, self.refresh_changed, self.refresh_detail)

    def busy(self) -> bool:
        return any(c.busy or c.timer for c in self.coalesced)

    async def _others(self) -> None:
        self.refresh_lists(False)

    def ring(self, hid: str, urgent_at: int) -> None:
        if urgent_at > self.seen_urgent.get(hid, 0):
            self.seen_urgent[hid] = urgent_at
            if hid in self.alerts:
                self.alerts[hid].append(time.monotonic())

    async def poll_lists(self) -> None:
        _s, body = await self.lists.get("/console/api/handoffs?status=waiting")
        for h in json.loads(body)["handoffs"]:
            if h.get("urgent_at") and h.get("worsened"):
                self.ring(h["id"], h["urgent_at"])
        await self.lists.get("/console/api/handoffs?status=active")
        await self.lists.get("/console/api/alerts")

    async def poll_changed(self) -> None:
        ids, alerts = sorted(self.changed)[:100], self.changed_alerts
        self.changed.difference_update(ids)
        self.changed_alerts = False
        if ids:
            _s, body = await self.deltas.get("/console/api/handoffs?ids=" + ",".join(ids))
            for h in json.loads(body)["handoffs"]:
                if h["status"] == "waiting" and h.get("urgent_at") and h.get("worsened"):
                    self.ring(h["id"], h["urgent_at"])
        if alerts:
            await self.deltas.get("/console/api/alerts")
        if self.changed or self.changed_alerts:
            self.refresh_changed(False)

    async def poll_detail(self) -> None:
        after = f"&after={self.cursor}" if self.mode == "push" and self.cursor else ("&limit=100" if self.mode == "push" else "")
        _s, body = await self.http.get(f"/console/api/handoffs/{self.selected}?peek=1{after}")
        self.cursor = json.loads(body).get("cursor")

    async def run_poll(self, stop: asyncio.Event) -> None:
        rounds = 0
        while not stop.is_set():
            started = time.monotonic()
            await self.poll_detail()
            await self.poll_lists()
            if rounds % 5 == 4:
                await self.http.get("/console/api/canned")
            rounds += 1
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (time.monotonic() - started)))
            except asyncio.TimeoutError:
                pass

    def heard(self, d: dict) -> None:
        kind = d.get("type")
        if kind == "typing":
            return
        if kind == "urgent" and d.get("id") and d.get("worse") and d.get("status") == "waiting":
            self.ring(d["id"], d["urgent_at"])
        if kind == "reset":
            self.refresh_lists(True)
        elif d.get("id"):
            self.changed.add(d["id"])
            self.changed_alerts = self.changed_alerts or kind != "message"
            self.refresh_changed(kind == "urgent")
        elif kind in ("urgent", "presence"):
            self.refresh_lists(True)
        elif kind == "queue":
            self.refresh_others(False)
        else:
            self.refresh_lists(False)
        if d.get("id") == self.selected or kind == "reset":
            self.refresh_detail(True)

    async def run_push(self, stop: asyncio.Event, ready: asyncio.Event) -> None:
        await self.poll_detail()
        await self.poll_lists()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET /console/api/events HTTP/1.1\r\nHost: b\r\nCookie: {self.cookie}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        self.tally[0] += len(head)
        ready.set()
        me = asyncio.ensure_future(self._get_every(stop, 10.0, "/console/api/me"))
        alerts_net = asyncio.ensure_future(self._get_every(stop, 5.0, "/console/api/alerts"))
        safety = asyncio.ensure_future(self._every(stop, 30.0, lambda: self.refresh_lists(False)))
        data, text = b"", b""
        reading = asyncio.ensure_future(reader.read(65536))
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                reading.cancel()
                break
            more = reading.result()
            if not more:
                break
            self.tally[0] += len(more)
            data += more
            while b"\r\n" in data:
                size_line, rest = data.split(b"\r\n", 1)
                size = int(size_line, 16)
                if len(rest) < size + 2:
                    break
                text, data = text + rest[:size], rest[size + 2:]
            while b"\n\n" in text:
                frame, text = text.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        self.heard(json.loads(line[6:]))
            reading = asyncio.ensure_future(reader.read(65536))
        me.cancel()
        alerts_net.cancel()
        safety.cancel()
        writer.close()

    async def _get_every(self, stop: asyncio.Event, seconds: float, path: str) -> None:
        """console.js's beats on push: /me every 10 s, the risk alerts (its safety net) every 5 s."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), seconds)
            except asyncio.TimeoutError:
                await self.http.get(path)

    async def _every(self, stop: asyncio.Event, seconds: float, run) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), seconds)
            except asyncio.TimeoutError:
                run()


class Coalesced:
    """console.js's ``coalesced(run, gapMs)``: one run at a time, at most one every ``gap`` s
    (at once when asked ``now``); what is asked for meanwhile runs once after."""

    tasks: set = set()
    closed = False          # the run is over: nothing more is asked for

    def __init__(self, run, gap):
        self.run, self.gap = run, gap
        self.busy = self.again = self.timer = False
        self.last = 0.0

    def __call__(self, now: bool) -> None:
        if Coalesced.closed:
            return
        if self.busy:
            self.again = True
            return
        wait = 0 if now else self.last + (self.gap() if callable(self.gap) else self.gap) - time.monotonic()
        if wait > 0:
            if not self.timer:
                def due():
                    self.timer = False
                    self(True)
                self.timer = True
                asyncio.get_running_loop().call_later(wait, due)
            return
        self.busy, self.last = True, time.monotonic()

        async def go():
            try:
                await self.run()
            except Exception:
                pass
            finally:
                self.busy = False
                if self.again:
                    self.again = False
                    self(False)
        task = asyncio.ensure_future(go())
        Coalesced.tasks.add(task)
        task.add_done_callback(Coalesced.tasks.discard)


def signed(uid: str, text: str, n: int) -> tuple[bytes, dict]:
    import base64
    import hashlib
    import hmac

    ev = {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
          "source": {"type": "user", "userId": uid}, "replyToken": f"t{n:030d}", "webhookEventId": f"C{n:025d}",
          "deliveryContext": {"isRedelivery": False},
          "message": {"id": str(n), "type": "text", "text": text, "quoteToken": "q", "markAsReadToken": f"r{n}"}}
    body = json.dumps({"destination": "U" + "0" * 32, "events": [ev]}, ensure_ascii=False).encode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"X-Line-Signature": sig, "Content-Type": "application/json"}


async def post(port: int, body: bytes, headers: dict) -> float:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST /callback HTTP/1.1\r\nHost: b\r\n{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await reader.read()
    writer.close()
    return time.monotonic() - started


class Setup:
    def __init__(self, stack: Stack, counselors: int, people: int):
        import redis

        from bot import keys
        from handoff.accounts import TAG, Accounts, account_key
        from handoff.store import HandoffStore, meta_key
        from spine import seed

        self.stack = stack
        self.r = r = redis.Redis(port=stack.redis_port, decode_responses=True)
        self.store = HandoffStore(r, shards=16)
        acc = Accounts(r)
        acc.add("c0", "bench password long enough")
        card = r.hgetall(account_key("c0"))
        for i in range(1, counselors):
            r.hset(account_key(f"c{i}"), mapping={**card, "name": f"c{i}"})
        r.sadd(f"{TAG}:names", *[f"c{i}" for i in range(counselors)])
        self.sids = [acc.open_session(acc.get(f"c{i}"))[0] for i in range(counselors)]
        self.cohorts = seed(stack.redis_port, max(people, counselors))
        self.talking = []
        for i, uid in enumerate(self.cohorts["talking"]):
            pid = keys.pseudonym(MADO_KEY, uid)
            hid = next(iter(r.smembers(keys.user(pid, "handoffs"))))
            r.hset(meta_key(hid), "claimed_by", f"c{i % counselors}")
            self.talking.append((uid, hid))
        self.n = 0

    def next_n(self) -> int:
        self.n += 1
        return self.n


async def run_mode(setup: Setup, mode: str, counselors: int, people: int, idle_s: float, busy_s: float) -> dict:
    port = setup.stack.web_port
    waiting = setup.cohorts["waiting"]
    alerts: dict[str, list] = {}
    consoles = [Console(port, f"c{i}", setup.sids[i], setup.talking[i][1], mode, alerts) for i in range(counselors)]
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in consoles]
    tasks = [asyncio.ensure_future(c.run_poll(stop) if mode == "poll" else c.run_push(stop, ready))
             for c, ready in zip(consoles, readies)]
    if mode == "push":
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
    deadline = time.monotonic() + 30            # the worker done with the last run's messages
    while backlog(setup.r) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + 30            # settled: first loads (and the connections' own
    quiet_since = time.monotonic()              # presence events) answered, nothing in flight for 2 s
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 2.0:
        if any(c.busy() for c in consoles):
            quiet_since = time.monotonic()
        await asyncio.sleep(0.05)

    def measure():
        return (cpu_seconds([setup.stack.web.pid, setup.stack.worker.pid, setup.stack.redis.pid]),
                sum(c.tally[0] for c in consoles), time.monotonic())

    out = {}
    c0, b0, t0 = measure()
    await asyncio.sleep(idle_s)
    c1, b1, t1 = measure()

    out["idle"] = (c1 - c0, b1 - b0, t1 - t0)
    # busy: people write; a few waiting people write something risky
    acks, posted = [], {}
    writers = setup.talking[:people]

    async def person(uid, k):
        i = 0
        while not stop_busy.is_set():
            text = (TRAFFIC["long_message"] * 400) if (i + k) % 5 == 0 else TRAFFIC["person_message"].format(j=i)
            acks.append(await post(port, *signed(uid, text, setup.next_n())))
            i += 1
            try:
                await asyncio.wait_for(stop_busy.wait(), 2.0)
            except asyncio.TimeoutError:
                pass

    async def worsen():
        for j in range(3):
            await asyncio.sleep(busy_s / 4)
            uid = waiting[(setup.n + j) % len(waiting)]
            from bot import keys
            pid = keys.pseudonym(MADO_KEY, uid)
            hid = next(iter(setup.r.smembers(keys.user(pid, "handoffs"))))
            alerts[hid] = []
            posted[hid] = time.monotonic()
            acks.append(await post(port, *signed(uid, RISK, setup.next_n())))

    stop_busy = asyncio.Event()
    busy = [asyncio.ensure_future(person(uid, k)) for k, (uid, _hid) in enumerate(writers)]
    bad = asyncio.ensure_future(worsen())
    await asyncio.sleep(busy_s)
    c2, b2, t2 = measure()
    stop_busy.set()
    await asyncio.gather(*busy, bad)
    out["busy"] = (c2 - c1, b2 - b1, t2 - t1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(v) < counselors for v in alerts.values()):
        await asyncio.sleep(0.05)
    lat = [(at - posted[hid]) * 1000 for hid, ats in alerts.items() for at in ats]
    missing = sum(counselors - len(v) for v in alerts.values())
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    Coalesced.closed = True
    for task in list(Coalesced.tasks):
        task.cancel()
    await asyncio.gather(*Coalesced.tasks, return_exceptions=True)
    Coalesced.closed = False
    for c in consoles:
        c.http.close()
        c.lists.close()
        c.deltas.close()
    out["alert"] = (pct(lat, 50), pct(lat, 99), missing)
    out["ack"] = (pct([a * 1000 for a in acks], 50), pct([a * 1000 for a in acks], 99))
    await asyncio.sleep(1.0)
    return out


def line(mode: str, n: int, res: dict) -> str:
    def per(phase):
        cpu, nbytes, secs = res[phase]
        minutes = secs / 60 * n
        return f"{cpu * 1000 / minutes:7.1f} ms {cpu / secs * 100:5.1f}% {nbytes / minutes / 1024:8.1f} KiB"
    p50, p99, missing = res["alert"]
    a50, a99 = res["ack"]
    return (f"{mode:5} {n:4} | {per('idle')} | {per('busy')} | {p50:6.0f} {p99:6.0f} ms"
            f"{f' ({missing} missed)' if missing else ''} | {a50:5.1f} {a99:6.1f} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counselors", default="10,50,200")
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--busy", type=float, default=6.0)
    args = ap.parse_args(argv)
    ns = [int(x) for x in args.counselors.split(",")]
    stack = Stack(latency_ms=20, worker_processes=1, web_threads=8)
    try:
        print(machine_line(stack.redis_port))
        print(f"web: {stack.web_cmd} (WEB_THREADS=8), one worker process; {args.people} people writing "
              f"(one message each 2 s, one in five 2,400 characters), 3 waiting people worsening per run")
        setup = Setup(stack, max(ns), args.people)
        print("mode  N    | idle: CPU/counselor-min  %core  bytes/counselor-min | busy: same"
              "                      | alert at every console p50 p99 | webhook ack p50 p99")
        for n in ns:
            for mode in ("poll", "push"):
                res = asyncio.run(run_mode(setup, mode, n, args.people, args.idle, args.busy))
                print(line(mode, n, res), flush=True)
        print("CPU: web + worker + redis-server (utime + stime), not this load generator (which shares the cores)")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
