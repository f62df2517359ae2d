"""The console's push channel: ``GET /console/api/events`` (shared/design.md), Server-Sent Events.

What changed is published into one Redis stream per deployment, ``mado:{console}:events`` (its own
hash tag; capped at MAXLEN entries), by whoever changed it (handoff/store.py: the worker and the
console's API alike): ``{"type", "id"}`` and nothing else of the person (a type, a handoff id, a
counselor's name for presence; never a word anyone wrote). An event says only "something changed
about handoff X / the lists / the staff"; a console answers it by asking the JSON API (the
transcript with its cursor, ``?after=``), so what anyone may see is decided in one place.

The stream is served on the web's event loop (bot/asgi.py), holding no thread: per process one
reader (``Hub``) follows the Redis stream (a blocking XREAD on a thread of its own) and hands each
event to every open stream of the process, which words it for its counselor (handoff/console.py
``event_for``: only what the JSON API lets them see). Each event's ``id:`` is its Redis stream id,
so a console that reconnects with ``Last-Event-ID`` gets what it missed from the stream itself
(or, when that has been trimmed away, ``{"type": "reset"}``: ask for everything again).

The same reader, about once a second, takes what is due in the risk alerts' timetable
(handoff/store.py ``risks_due``: a held conversation whose holder has left a risk message unread
for MADO_RISK_UNREAD_S, or whose console went quiet) and, when an alert begins now, publishes
``{"type": "alerts"}`` (no id, no words): every console asks ``GET /console/api/alerts`` then, so
a console no longer needs to ask every few seconds to be sure it rings (its safety net is slow now).
Several web processes share the timetable: each entry is taken by one of them (ZREM).

Who may listen is asked of the Flask app itself (``GET /console/api/events`` there, behind the
same ``login_required`` as every API call), at the start and every HEARTBEAT_S after: a session
that ended closes its stream. That same call is the counselor's presence (``seen_online``): online
while a console is connected; when the last one of theirs closes, offline GRACE_S later unless
one comes back (a reconnect), and a ``presence`` event says so.
"""
from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from bot import logs

EVENTS = "mado:{console}:events"
MAXLEN = 10_000             # (approximate) events kept for consoles that reconnect
PATH = "/console/api/events"
HEARTBEAT_S = 30.0          # a comment on every open stream, the session checked again, presence
GRACE_S = 20.0              # a counselor whose last console closed is offline this much later
READ_BLOCK_MS = 1000        # below the web's Redis timeout (bot.REDIS_TIMEOUT_S)
CATCH_UP_MAX = 2000         # more missed than this: a reset instead
PENDING_MAX = 1000          # a stream that falls this far behind: a reset instead
RETRY_MS = 2000             # how soon a browser tries again after a dropped stream
FANOUT_CHUNK = 16           # streams handed a change between two polls of the loop's sockets
DUE_CHECK_S = 1.0           # the risk alerts' timetable is looked at this often (per process)
EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def publish(r, kind: str, hid: str | None = None, *, pipe=None, **extra) -> None:
    """One change, for every console: ``kind`` (queue, urgent, message, read, typing, transfer,
    assign, presence, canned, teams, alerts), the handoff id if there is one, and ``extra`` flags (never words
    of the person's)."""
    fields = {"type": kind, **({"id": hid} if hid else {}), **{k: str(v) for k, v in extra.items()}}
    (pipe if pipe is not None else r).xadd(EVENTS, fields, maxlen=MAXLEN, approximate=True)


def top(r) -> str:
    """The id of the newest change (``0-0`` before the first)."""
    last = r.xrevrange(EVENTS, count=1)
    return last[0][0] if last else "0-0"


def missed_since(r, last: str | None, most: int = CATCH_UP_MAX) -> tuple[str, list | None]:
    """(the stream's newest id, the changes after ``last``), or None for the changes when they
    cannot all be told: no ``last``, one the stream no longer holds (trimmed away) or never had,
    or more than ``most`` of them."""
    newest = top(r)
    if last is None or _key(last) > _key(newest):
        return newest, None
    first = r.xrange(EVENTS, count=1)
    if first and _key(last) < _key(first[0][0]) and last != "0-0":
        return newest, None
    missed = r.xrange(EVENTS, "(" + last, "+", count=most + 1)
    if len(missed) > most:
        return newest, None
    return (missed[-1][0] if missed and _key(missed[-1][0]) > _key(newest) else newest), missed


QUIET_KINDS = ("message", "typing", "canned")     # changes that never change the risk alerts (urgent says so)


def changed_since(r, last: str, most_ids: int) -> tuple[str, list[str] | None, bool]:
    """What changed since ``last`` (a stream id a console had its lists at): (the stream's newest id,
    the handoffs named by the changes since, in order, or None when that cannot be told or they are
    more than ``most_ids``, and whether the risk alerts may have changed with them). The console's
    list delta for changes it was not told the handoff of (handoff/console.py: never an id in an
    event about a conversation one may not open; its line in the lists, as a whole list has it)."""
    newest, missed = missed_since(r, last)
    if missed is None:
        return newest, None, True
    ids = list(dict.fromkeys(f["id"] for _eid, f in missed if f.get("id")))
    alerts = any(f.get("type") not in QUIET_KINDS for _eid, f in missed)
    return newest, (ids if len(ids) <= most_ids else None), alerts


def _key(eid: str) -> tuple[int, int]:
    ms, _, seq = eid.partition("-")
    return int(ms), int(seq or 0)


def _frame(eid: str, data: dict) -> bytes:
    return f"id: {eid}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Stream:
    """One open console: its counselor and what is waiting to be written to it."""

    def __init__(self, name: str, admin: bool):
        self.name, self.admin = name, admin
        self.pending: deque = deque()       # (stream id, data)
        self.wake = asyncio.Event()
        self.last = (0, 0)                  # the last id written (or skipped as already written)
        self.reset = False
        self.beat = None                    # the heartbeat's timer (it wakes the stream)

    def offer(self, events, metas, render) -> None:
        for eid, fields in events:
            data = render(fields, metas.get(fields.get("id")), self.name, self.admin)
            if data is None:
                continue
            if self.pending and self.pending[-1][1] == data and "id" not in data:
                self.pending[-1] = (eid, data)      # "the lists changed" twice is once
            else:
                self.pending.append((eid, data))
        if len(self.pending) > PENDING_MAX:
            self.pending.clear()
            self.reset = True
        if self.pending or self.reset:
            self.wake.set()


class EventStreams:
    """The push channel of one web process (see the module's note)."""

    def __init__(self, flask_app):
        from handoff.console import event_for

        self.flask_app = flask_app
        self.r = flask_app.extensions["mado.redis"]
        self.store = flask_app.extensions["mado.handoffs"]
        self.render = event_for
        self.streams: set[_Stream] = set()
        self.names: dict[str, int] = {}     # counselor → their open streams here
        self.reader = ThreadPoolExecutor(1, "events-read")     # the hub's blocking read
        self.pool = ThreadPoolExecutor(2, "events")             # sessions, catch-ups, presence
        self.hub = None
        self.position = None                # the last stream id the hub has read
        self.started = None
        self.quiet_ms = flask_app.config["MADO"].risk_unread_s * 1000
        self.due_check = 0.0                # (monotonic) when the risk alerts' timetable is next looked at

    # -- the hub: one reader of the Redis stream for the whole process ---------------------------
    async def _start(self) -> None:
        """The hub, started with the first stream (from the Redis stream's end at that moment)."""
        if self.started is None:
            self.started = asyncio.get_running_loop().create_future()
            starting = self.started
            try:
                self.position = await self._run(self._top)
            except Exception as exc:
                self.started = None
                starting.set_exception(exc)
                starting.exception()            # (retrieved: no "never retrieved" warning)
                raise
            self.hub = asyncio.ensure_future(self._follow())
            starting.set_result(True)
        await asyncio.shield(self.started)

    def _top(self) -> str:
        return top(self.r)

    async def _run(self, fn, *args, pool=None):
        return await asyncio.get_running_loop().run_in_executor(pool or self.pool, fn, *args)

    def _read(self):
        got = self.r.xread({EVENTS: self.position}, block=READ_BLOCK_MS, count=500)
        events = got[0][1] if got else []
        self._due()
        return events, self._metas(events) if events and self.streams else {}

    def _due(self) -> None:
        """About once a second (between the hub's reads, on its thread): a risk alert whose time
        has come is told to every console (see the module's note). A failure is logged and tried
        again next time; it never loses what the read brought."""
        if time.monotonic() < self.due_check:
            return
        self.due_check = time.monotonic() + DUE_CHECK_S
        try:
            if self.store.risks_due(self.quiet_ms):
                self.store.publish("alerts")
        except Exception as exc:
            logs.emit("events", level=30, result="due_failed", error=type(exc).__name__)

    def _metas(self, events) -> dict:
        """The handoffs these events are about, as they are now (one round trip)."""
        from handoff.store import meta_key

        ids = list(dict.fromkeys(f["id"] for _eid, f in events if f.get("id")))
        if not ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for hid in ids:
            pipe.hgetall(meta_key(hid))
        return {hid: m or None for hid, m in zip(ids, pipe.execute())}

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                events, metas = await self._run(self._read, pool=self.reader)
                failures = 0
            except Exception as exc:          # Redis away: the streams stay open, the hub retries
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    logs.emit("events", level=30, result="read_failed", error=type(exc).__name__, count=failures)
                await asyncio.sleep(min(5.0, 0.2 * failures))
                continue
            if not events:
                continue
            self.position = events[-1][0]
            for n, stream in enumerate(list(self.streams), 1):
                stream.offer(events, metas, self.render)
                if n % FANOUT_CHUNK == 0:
                    # the loop polls its sockets between chunks: LINE's webhook, answered on this
                    # loop, waits for one chunk of consoles at most, not for all of them
                    await asyncio.sleep(0)

    # -- who may listen: the Flask app's own answer -------------------------------------------------
    def _ask(self, environ: dict):
        from bot.asgi import _run as run_wsgi

        return run_wsgi(self.flask_app, dict(environ, **{"wsgi.input": io.BytesIO()}))

    # -- one console -----------------------------------------------------------------------------
    async def serve(self, scope, receive, send) -> None:
        from a2wsgi.wsgi import build_environ

        environ = build_environ(scope, io.BytesIO())
        try:
            answer = await self._run(self._ask, environ)
        except Exception:
            answer = (503, [(b"content-type", b"application/json")], b'{"error": "temporarily unavailable"}')
        if answer[0] != 200:
            await _send_whole(send, answer)
            return
        who = json.loads(answer[2])
        stream = _Stream(who["name"], bool(who["admin"]))
        try:
            await self._start()
        except Exception:
            await _send_whole(send, (503, [(b"content-type", b"application/json")],
                                     b'{"error": "temporarily unavailable"}'))
            return
        self.streams.add(stream)
        self.names[stream.name] = self.names.get(stream.name, 0) + 1
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            headers = [(k, v) for k, v in answer[1] if k not in (b"content-type", b"content-length")]
            await send({"type": "http.response.start", "status": 200, "headers": headers + [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"x-accel-buffering", b"no")]})
            await send({"type": "http.response.body", "body": b"retry: %d\n\n" % RETRY_MS, "more_body": True})
            if self.names[stream.name] == 1:
                self._later(self.store.publish, "presence", name=stream.name)
            await self._catch_up(stream, _last_event_id(scope))
            await self._pump(stream, environ, send, gone)
        finally:
            gone.cancel()
            self.streams.discard(stream)
            self.names[stream.name] -= 1
            if not self.names[stream.name]:
                del self.names[stream.name]
                self._later(self.store.left_console, stream.name, GRACE_S)
                asyncio.get_running_loop().call_later(GRACE_S + 0.5, self._maybe_gone, stream.name)

    def _later(self, fn, *args, **kw) -> None:
        """A Redis write that nothing waits for (presence): on the pool, its failure logged."""
        def run():
            try:
                fn(*args, **kw)
            except Exception as exc:
                logs.emit("events", level=30, result="write_failed", error=type(exc).__name__)
        self.pool.submit(run)

    def _maybe_gone(self, name: str) -> None:
        if name not in self.names:              # none came back here: offline now (unless elsewhere)
            self._later(self.store.publish, "presence", name=name)

    async def _catch_up(self, stream: _Stream, last: str | None) -> None:
        """What a console missed since ``last`` (Last-Event-ID), from the Redis stream; a reset when
        it cannot be told (no id, or one older than what the stream still holds)."""
        def read():
            newest, missed = missed_since(self.r, last)
            return newest, None if missed is None else (missed, self._metas(missed))

        newest, found = await self._run(read)
        if found is None:
            stream.pending = deque(x for x in stream.pending if _key(x[0]) > _key(newest))
            stream.pending.appendleft((newest, {"type": "reset"}))
        else:
            already = stream.pending
            stream.pending = deque()
            stream.offer(*found, self.render)
            stream.last = _key(last)
            stream.pending.extend(x for x in already
                                  if not stream.pending or _key(x[0]) > _key(stream.pending[-1][0]))
        stream.wake.set()

    async def _pump(self, stream: _Stream, environ: dict, send, gone) -> None:
        # One wait per wake-up, on the stream's own event: the console leaving and the heartbeat
        # set it too (a task and a wait on three futures per change and console cost the loop a
        # burst of work for every change, while LINE's webhook waits on the same loop).
        loop = asyncio.get_running_loop()
        next_check = loop.time() + HEARTBEAT_S
        gone.add_done_callback(lambda _: stream.wake.set())
        stream.beat = loop.call_at(next_check, stream.wake.set)
        try:
            await self._write(stream, environ, send, gone, next_check)
        finally:
            stream.beat.cancel()

    async def _write(self, stream: _Stream, environ: dict, send, gone, next_check: float) -> None:
        """What is pending, written each time the stream wakes, until the console goes away or
        its session ends; every HEARTBEAT_S a comment, and the session asked about again."""
        loop = asyncio.get_running_loop()
        while True:
            await stream.wake.wait()
            if gone.done():
                return                                  # the console went away
            stream.wake.clear()
            chunks = []
            if stream.reset:
                stream.reset = False
                newest = await self._run(self._top)
                stream.pending = deque([(newest, {"type": "reset"})])
            while stream.pending:
                eid, data = stream.pending.popleft()
                if _key(eid) <= stream.last and data.get("type") != "reset":
                    continue                            # (written already: the catch-up had it)
                stream.last = max(stream.last, _key(eid))
                chunks.append(_frame(eid, data))
            if loop.time() >= next_check:
                next_check = loop.time() + HEARTBEAT_S
                stream.beat.cancel()
                stream.beat = loop.call_at(next_check, stream.wake.set)
                try:
                    answer = await self._run(self._ask, environ)
                except Exception:
                    answer = (200,)                     # Redis away a moment: not a logout
                if answer[0] != 200:
                    return                              # the session ended: so does the stream
                chunks.append(b": \n\n")
            if chunks:
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})


async def _disconnected(receive) -> None:
    """Returns once the client has gone (a GET's empty body comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _last_event_id(scope) -> str | None:
    """Where a console left off: the browser's Last-Event-ID (its own reconnect), or ``?last=``
    (a console that opened a new stream after falling back to polling)."""
    value = None
    for name, raw in scope["headers"]:
        if name == b"last-event-id":
            value = raw.decode("latin-1").strip()
    if value is None:
        for part in scope.get("query_string", b"").decode("latin-1").split("&"):
            if part.startswith("last="):
                value = part[5:].replace("%2D", "-").replace("%2d", "-")
    return value if value and EVENT_ID.fullmatch(value) else None


async def _send_whole(send, answer) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
