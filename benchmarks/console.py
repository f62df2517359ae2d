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
  /alerts unless all were messages; at most once a second, the first time within a second at
  each console's own moment, at once for a risk, without /alerts for someone waiting who
  worsened, who rings from the event); for one naming
  none (a colleague's conversation), what changed since the lists' position (GET
  /console/api/handoffs?since=, with /alerts if the server says they may have changed), at most
  every ~5 s and the first time within 5 s, each console at its own moment (the lists whole at
  once for a risk or presence); for `alerts` (a
  risk alert's time ran out, said by the server), /alerts; the lists whole every 5 minutes anyway
  and /alerts every 60 s (the safety nets, each console at its own phase, as consoles opened at
  different moments); the conversation on screen from its cursor (?after=); a worsening person
  rings from the event itself.

Per mode and N: an idle phase (nobody writes), then a busy one (M people in conversations write,
one message each every 2 s, each at their own moment within the 2 s, with a few long ones:
transcripts grow), during which people waiting in the queue write something risky (signed
webhooks, as LINE posts them). LINE's side (the webhooks and their answer times) runs in a process
of its own, as LINE's servers are not the counselors' browsers: the consoles' own work never
delays the moment a webhook is posted or its answer read. Printed: CPU of the server side (web +
worker + redis) per counselor-minute and as a share of one core, bytes received per
counselor-minute, the webhook's answer time, and the time from each worsening webhook's post to
its alert at every console (p50, p99 over all consoles and alerts). Before the first N, the same
stack idle with no console open (`base`): what the consoles themselves cost is the idle figure less
that one.

    python benchmarks/console.py [--counselors 10,50,200] [--people 20] [--idle 5] [--busy 6]
                                 [--modes poll,push] [--before]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bot.asgi import Limits  # noqa: E402
from spine import MADO_KEY, SECRET, TRAFFIC, Stack, backlog, cpu_seconds, machine_line, pct  # noqa: E402

RISK = TRAFFIC["worsening"]
BEFORE = False      # --before: the console as it was before the server told the alerts' moment
                    # (its safety nets every 30 s, 5 s and 10 s)


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
        self.lists_at = None
        self.seen_urgent: dict[str, int] = {}
        self.changed: set[str] = set()
        self.changed_alerts = False
        # as console.js's coalesced(): one request at a time each, what is heard meanwhile once after
        self.refresh_lists = Coalesced(self.poll_lists, 1.0)
        self.refresh_others = Coalesced(self._others, lambda: 5.0 * (0.6 + 0.8 * random.random()),
                                        spread=0.0 if BEFORE else 5.0)
        self.refresh_alerts = Coalesced(self._alerts, 1.0)
        self.refresh_changed = Coalesced(self.poll_changed, 1.0, spread=0.0 if BEFORE else 1.0)
        self.refresh_detail = Coalesced(self.poll_detail, 0.0)
        self.coalesced = (self.refresh_lists, self.refresh_others, self.refresh_changed, self.refresh_detail,
                          self.refresh_alerts)

    def busy(self) -> bool:
        return any(c.busy or c.timer for c in self.coalesced)

    async def _others(self) -> None:
        if BEFORE:                      # (the console before: the lists whole)
            self.refresh_lists(False)
        else:
            await self.poll_since()

    async def _alerts(self) -> None:
        await self.deltas.get("/console/api/alerts")

    def _get(self, path: str) -> None:
        async def go():
            try:
                await self.http.get(path)
            except Exception:
                pass
        task = asyncio.ensure_future(go())
        Coalesced.tasks.add(task)
        task.add_done_callback(Coalesced.tasks.discard)

    def ring(self, hid: str, urgent_at: int) -> None:
        if urgent_at > self.seen_urgent.get(hid, 0):
            self.seen_urgent[hid] = urgent_at
            if hid in self.alerts:
                self.alerts[hid].append(time.monotonic())

    async def poll_lists(self) -> None:
        _s, body = await self.lists.get("/console/api/handoffs?status=waiting")
        waiting = json.loads(body)
        for h in waiting["handoffs"]:
            if h.get("urgent_at") and h.get("worsened"):
                self.ring(h["id"], h["urgent_at"])
        _s, active = await self.lists.get("/console/api/handoffs?status=active")
        await self.lists.get("/console/api/alerts")
        found = re.search(rb'"position": ?"([0-9]+-[0-9]+)"', active[-80:])
        positions = [p for p in (waiting.get("position"), found and found.group(1).decode()) if p]
        self.lists_at = min(positions, key=lambda p: tuple(map(int, p.split("-")))) if len(positions) == 2 else None

    async def poll_since(self) -> None:
        """console.js's pollSince: what changed since the lists' position (a colleague's conversation)."""
        if BEFORE or not self.lists_at:
            return await self.poll_lists()
        _s, body = await self.lists.get("/console/api/handoffs?since=" + self.lists_at)
        d = json.loads(body)
        if d.get("whole"):
            return await self.poll_lists()
        if d.get("alerts"):
            await self.lists.get("/console/api/alerts")
        self.lists_at = d["position"]

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
        if kind == "alerts":            # (the server before this round never said it)
            self.refresh_alerts(True)
            return
        if kind == "urgent" and d.get("id") and d.get("worse") and d.get("status") == "waiting":
            self.ring(d["id"], d["urgent_at"])
        if kind == "reset":
            self.refresh_lists(True)
        elif d.get("id"):
            self.changed.add(d["id"])
            worsened = (not BEFORE and kind == "urgent" and d.get("worse") and not d.get("gone")
                        and d.get("status") == "waiting")     # (rung from the event: the line within 1 s)
            self.changed_alerts = self.changed_alerts or (kind != "message" and not worsened)
            self.refresh_changed(kind == "urgent" and not worsened)
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
        nets = [asyncio.ensure_future(self._every(stop, 30.0 if BEFORE else 300.0, lambda: self.refresh_lists(False)))]
        if BEFORE:          # the console before this round: lists 30 s, /alerts every 5 s, /me every 10 s
            nets += [asyncio.ensure_future(self._every(stop, 5.0, lambda: self.refresh_alerts(True))),
                     asyncio.ensure_future(self._every(stop, 10.0, lambda: self._get("/console/api/me")))]
        else:
            nets.append(asyncio.ensure_future(self._every(stop, 60.0, lambda: self.refresh_alerts(True))))
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
        for net in nets:
            net.cancel()
        writer.close()

    async def _every(self, stop: asyncio.Event, seconds: float, run) -> None:
        """console.js's safety nets on push (the lists whole every 5 minutes, /alerts every 60 s), each
        console at its own phase (as consoles opened at different moments: N consoles opened in
        the same second would all ask at once, and a short idle phase would see all or none)."""
        wait = random.uniform(0, seconds)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except asyncio.TimeoutError:
                run()
            wait = seconds


class Coalesced:
    """console.js's ``coalesced(run, gapMs, spreadMs)``: one run at a time, at most one every
    ``gap`` s (at once when asked ``now``; with ``spread``, the first after a quiet while within a
    random moment of it too); what is asked for meanwhile runs once after."""

    tasks: set = set()
    closed = False          # the run is over: nothing more is asked for

    def __init__(self, run, gap, spread: float = 0.0):
        self.run, self.gap, self.spread = run, gap, spread
        self.busy = self.again = self.timer = False
        self.last = 0.0

    def __call__(self, now: bool) -> None:
        if Coalesced.closed:
            return
        if self.busy:
            self.again = True
            return
        wait = 0 if now else max(self.last + (self.gap() if callable(self.gap) else self.gap) - time.monotonic(),
                                 random.uniform(0, self.spread))
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


class LineSide:
    """LINE's side of a busy phase, in a process of its own (``line_side``): the people writing
    and the worsening ones, posted as LINE posts them, each webhook's answer time measured there."""

    def __init__(self, port: int, writers: list[str], worsening: list[tuple[str, str]], n0: int):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=line_side, args=(child, port, writers, worsening, n0), daemon=True)
        self.proc.start()
        self.acks: list[float] = []
        self.posted: dict[str, float] = {}
        self.measure = None

    async def _recv(self):
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    async def ready(self) -> None:
        assert await self._recv() == "ready"

    async def busy(self, seconds: float):
        """The busy phase: LINE posts for ``seconds``; the measure at its end (then the last posts'
        answers are waited for)."""
        self.conn.send(seconds)
        await asyncio.sleep(seconds)
        measured = self.measure()
        self.acks, self.posted = await self._recv()
        self.proc.join(10)
        return measured


def line_side(conn, port: int, writers: list[str], worsening: list[tuple[str, str]], n0: int) -> None:
    """(In its own process.) Each writer posts one message every 2 s, each at their own moment
    within the 2 s, one in five 2,400 characters; the worsening people write something risky at
    a quarter, a half and three quarters of the phase. Sends back (answer times, {hid: posted at})."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)     # (not the simulated consoles' niceness, if any)
    except OSError:
        pass
    conn.send("ready")
    busy_s = conn.recv()
    acks, posted, counter = [], {}, [n0]

    def next_n() -> int:
        counter[0] += 1
        return counter[0]

    async def run():
        stop = asyncio.Event()

        async def person(uid, k):
            await asyncio.sleep(2.0 * k / max(1, len(writers)))
            i = 0
            while not stop.is_set():
                text = (TRAFFIC["long_message"] * 400) if (i + k) % 5 == 0 else TRAFFIC["person_message"].format(j=i)
                acks.append(await post(port, *signed(uid, text, next_n())))
                i += 1
                try:
                    await asyncio.wait_for(stop.wait(), 2.0)
                except asyncio.TimeoutError:
                    pass

        async def worsen():
            for uid, hid in worsening:
                await asyncio.sleep(busy_s / 4)
                posted[hid] = time.monotonic()
                acks.append(await post(port, *signed(uid, RISK, next_n())))

        tasks = [asyncio.ensure_future(person(uid, k)) for k, uid in enumerate(writers)]
        bad = asyncio.ensure_future(worsen())
        await asyncio.sleep(busy_s)
        stop.set()
        await asyncio.gather(*tasks, bad)

    asyncio.run(run())
    conn.send((acks, posted))


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
    Coalesced.closed = False        # (closed at the end of the last run: its timers ask nothing more)
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

    # LINE's side, in a process of its own (started now: ready before the idle phase begins)
    from bot import keys
    from handoff.store import meta_key
    worsening, start = [], setup.next_n()
    for j in range(len(waiting)):                   # three who have not worsened yet
        uid = waiting[(start + j) % len(waiting)]
        hid = next(iter(setup.r.smembers(keys.user(keys.pseudonym(MADO_KEY, uid), "handoffs"))))
        if setup.r.hget(meta_key(hid), "priority") != "urgent" and len(worsening) < 3:
            worsening.append((uid, hid))
            alerts[hid] = []
    line_side_proc = LineSide(port, [uid for uid, _hid in setup.talking[:people]], worsening, setup.n)
    setup.n += 100_000
    await line_side_proc.ready()

    def measure():
        return (cpu_seconds([setup.stack.web.pid, setup.stack.worker.pid, setup.stack.redis.pid]),
                sum(c.tally[0] for c in consoles), time.monotonic())

    out = {}
    line_side_proc.measure = measure
    c0, b0, t0 = measure()
    await asyncio.sleep(idle_s)
    c1, b1, t1 = measure()

    out["idle"] = (c1 - c0, b1 - b0, t1 - t0)
    # busy: people write; a few waiting people write something risky
    c2, b2, t2 = await line_side_proc.busy(busy_s)
    out["busy"] = (c2 - c1, b2 - b1, t2 - t1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(v) < counselors for v in alerts.values()):
        await asyncio.sleep(0.05)
    posted = line_side_proc.posted
    lat = [(at - posted[hid]) * 1000 for hid, ats in alerts.items() for at in ats]
    missing = sum(counselors - len(v) for v in alerts.values())
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    Coalesced.closed = True
    for task in list(Coalesced.tasks):
        task.cancel()
    await asyncio.gather(*Coalesced.tasks, return_exceptions=True)
    for c in consoles:
        c.http.close()
        c.lists.close()
        c.deltas.close()
    out["alert"] = (pct(lat, 50), pct(lat, 99), missing)
    acks = line_side_proc.acks
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
    ap.add_argument("--before", action="store_true",
                    help="model the console before: on push the lists whole every 30 s, /alerts every 5 s "
                         "and /me every 10 s, colleagues' changes at once after a quiet while")
    ap.add_argument("--modes", default="poll,push")
    ap.add_argument("--web-threads", type=int, default=Limits.threads,
                    help=f"WEB_THREADS of the web process (default: the web's own, {Limits.threads})")
    ap.add_argument("--clients-nice", type=int, default=0,
                    help="run the simulated consoles (this process's main thread) at this niceness: "
                         "real browsers are on other machines, so 19 keeps the measured stack and LINE's "
                         "side first on the shared cores (LINE's side always at 0)")
    args = ap.parse_args(argv)
    global BEFORE
    BEFORE = args.before
    ns = [int(x) for x in args.counselors.split(",")]
    stack = Stack(latency_ms=20, worker_processes=1, web_threads=args.web_threads)
    try:
        print(machine_line(stack.redis_port))
        print(f"web: {stack.web_cmd} (WEB_THREADS={args.web_threads}), one worker process; {args.people} people writing "
              f"(one message each 2 s, each at their own moment, one in five 2,400 characters), 3 waiting "
              f"people worsening per run, posted from a process of their own (LINE's side)")
        setup = Setup(stack, max(ns), args.people)
        if args.clients_nice:
            import threading

            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), args.clients_nice)
            print(f"the simulated consoles at niceness {args.clients_nice} (LINE's side and the stack at 0)")
        time.sleep(2.0)
        before, started = cpu_seconds([stack.web.pid, stack.worker.pid, stack.redis.pid]), time.monotonic()
        time.sleep(args.idle)
        base = (cpu_seconds([stack.web.pid, stack.worker.pid, stack.redis.pid]) - before) / (time.monotonic() - started)
        print(f"base: the same stack with no console open, idle: {base * 100:.1f}% of a core "
              f"(the idle figures below include it)")
        print("mode  N    | idle: CPU/counselor-min  %core  bytes/counselor-min | busy: same"
              "                      | alert at every console p50 p99 | webhook ack p50 p99")
        for n in ns:
            for mode in args.modes.split(","):
                res = asyncio.run(run_mode(setup, mode, n, args.people, args.idle, args.busy))
                print(line(mode, n, res), flush=True)
        print("CPU: web + worker + redis-server (utime + stime), not this load generator (which shares the cores)")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
