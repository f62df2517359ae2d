"""The web process as gunicorn runs it (the Procfile's web line): `-k bot.asgi.Worker`.

Why not gunicorn's own thread worker: measured with a do-nothing app under the same load (300
requests/s over kept-alive connections, 2 cores), gunicorn's gthread worker costs ~0.50 ms CPU
per request before any of our code runs (its HTTP parser is Python; each request crosses from
the poller to a pool thread and back), its gevent worker the same, and the uvicorn worker under
the same gunicorn master ~0.26 ms (httptools' C parser on uvloop). `python benchmarks/web.py`
prints those figures again on any machine.

So gunicorn still manages the processes (WEB_CONCURRENCY, restarts, signals), and inside each:
- `/callback`, LINE's path and the hot one, is answered on the event loop itself by the same
  `Webhook` the WSGI app uses (bot/webhook.py): the body read (bounded), the signature, one
  Redis round trip (~0.05 ms; bounded by the web's Redis timeout, which stays under LINE's 2 s),
  a short JSON answer. No thread hop.
- Every other path (health, metrics, the counselor console, the demo) goes to the Flask app on
  a pool of WEB_THREADS threads (a2wsgi), as before, but only once its body (at most the
  console's 64 KiB) has been read on the loop: a client trickling a body holds no thread.
- `GET /console/api/events`, the console's push channel (Server-Sent Events, handoff/events.py), is
  served on the loop too: an open stream holds no thread, only the checks of who may listen run
  on a thread (the Flask app's own `login_required`), at the start and every few seconds.
- `POST /console/api/login` has a pool of its own, as many threads as argon2 verifications may
  run at once (handoff/accounts.py), at a lower CPU priority, and a queue of WEB_LOGIN_QUEUE in
  front of it; a login beyond that is answered 503 at once, on the loop. A burst of logins
  delays neither the console nor LINE's webhook.

The edge bounds every client (`Limits`, all from the environment; gunicorn's own --limit-request-*
options do not apply to this worker, and uvicorn bounds neither headers nor unfinished requests
with httptools, so `_bounded_protocol` does):
- a request head (request line and headers) of at most WEB_MAX_HEADER_BYTES and WEB_MAX_HEADERS
  fields, else 431 and the connection closed;
- a head must arrive within WEB_HEADER_TIMEOUT_S of the connection opening (or of its first byte
  on a kept-alive connection), a body within WEB_BODY_TIMEOUT_S of its head; else 408 and closed;
- at most WEB_MAX_CONNECTIONS open connections in the process: a new one beyond that closes the
  connection that has waited longest without sending a complete head (an idle one), or is itself
  answered 503 and closed when every open one is busy with a request. So a flood of idle
  connections can neither exhaust file descriptors nor keep LINE's webhook out.
Kept-alive connections idle between requests are closed after gunicorn's --keep-alive (2 s).
What was refused is logged as `{"event": "edge", "result": …, "count": …}`: at most one line per
kind every 10 s, with how many since the last one.

The uvicorn settings that matter are fixed here, not left to defaults: no `Server` header (no
version told), no proxy headers trusted (MADO_TRUSTED_PROXIES decides that, in the app), no
access log unless WEB_ACCESS_LOG names one (our JSON log already has each request).
"""
from __future__ import annotations

import io
import os
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping

from uvicorn_worker import UvicornWorker

from . import logs
from .config import ConfigError, _float, _int

LOGIN_PATH = "/console/api/login"
EVENTS_PATH = "/console/api/events"
LOGIN_NICE = 15                 # login threads' CPU priority, below the loop's (see _lower_priority)


@dataclass(frozen=True)
class Limits:
    """What one web process allows its clients (environment variables; defaults as given)."""

    max_connections: int          # WEB_MAX_CONNECTIONS [1000, and 100 under the open-file limit]
    max_header_bytes: int = 16384  # WEB_MAX_HEADER_BYTES: request line and headers together
    max_headers: int = 100         # WEB_MAX_HEADERS
    header_timeout_s: float = 10.0  # WEB_HEADER_TIMEOUT_S
    body_timeout_s: float = 10.0   # WEB_BODY_TIMEOUT_S
    # WEB_THREADS: the Flask app's threads (console, health, metrics). Two: a console request holds
    # the GIL for 1-2 ms, and with more threads asking for it the loop that answers LINE's webhook
    # and feeds the push channel waited behind them (`python benchmarks/console.py --counselors 200
    # --modes push --web-threads N`, alternating runs: the webhook's ack p99 9.3, 12.1, 29.3 ms with
    # 8 threads; 5.8, 8.2, 6.4 ms with 2; the alerts at every console as fast).
    threads: int = 2
    login_queue: int = 8           # WEB_LOGIN_QUEUE: logins waiting for a verification thread

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Limits":
        env = os.environ if env is None else env
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        fd_room = 1000 if soft == resource.RLIM_INFINITY else max(1, soft - 100)
        limits = cls(
            max_connections=_int(env, "WEB_MAX_CONNECTIONS", min(1000, fd_room)),
            max_header_bytes=_int(env, "WEB_MAX_HEADER_BYTES", cls.max_header_bytes),
            max_headers=_int(env, "WEB_MAX_HEADERS", cls.max_headers),
            header_timeout_s=_float(env, "WEB_HEADER_TIMEOUT_S", cls.header_timeout_s),
            body_timeout_s=_float(env, "WEB_BODY_TIMEOUT_S", cls.body_timeout_s),
            threads=_int(env, "WEB_THREADS", cls.threads),
            login_queue=_int(env, "WEB_LOGIN_QUEUE", cls.login_queue),
        )
        for name, value in (("WEB_MAX_CONNECTIONS", limits.max_connections),
                            ("WEB_MAX_HEADER_BYTES", limits.max_header_bytes),
                            ("WEB_MAX_HEADERS", limits.max_headers),
                            ("WEB_HEADER_TIMEOUT_S", limits.header_timeout_s),
                            ("WEB_BODY_TIMEOUT_S", limits.body_timeout_s),
                            ("WEB_THREADS", limits.threads)):
            if value <= 0:
                raise ConfigError(f"{name} must be more than 0, got {value}")
        if limits.login_queue < 0:
            raise ConfigError(f"WEB_LOGIN_QUEUE must be 0 or more, got {limits.login_queue}")
        return limits


class _Tally:
    """Refusals at the edge, logged at most once per kind every `every_s`, with their count."""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def note(self, result: str, status: int) -> None:
        """One more `result` (answered `status`; 0: closed without an answer, as idle)."""
        self.counts[result] = self.counts.get(result, 0) + 1
        now = time.monotonic()
        if now - self.last.get(result, -self.every_s) >= self.every_s:
            logs.emit("edge", level=30 if status else 20, result=result, status=status,
                      count=self.counts.pop(result))
            self.last[result] = now


_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def _plain_answer(status: int) -> bytes:
    """A whole answer written by the edge itself, before or instead of the app's."""
    reason = _REASONS[status]
    return (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(reason), reason))


TALLY = _Tally()        # this process's


def _bounded_protocol(limits: Limits):
    """uvicorn's httptools protocol with the limits above (one class per process)."""
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    live: set = set()       # open connections not yet told to close
    waiting: dict = {}      # those waiting for a complete request head, oldest first

    class _HeadTooLarge(Exception):
        pass

    class BoundedHttp(HttpToolsProtocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._timer = None
            self._refusal = 0
            self._head_bytes = 0        # of the current head, as the parser gave it
            self._headers_seen = 0
            self._raw = 0               # bytes of whole chunks read while inside one head
            self._messages = 0
            self._in_head = True
            if len(live) >= limits.max_connections:
                oldest = next(iter(waiting), None)
                if oldest is None:
                    TALLY.note("connection_refused", 503)
                    self._end(503)
                    return
                TALLY.note("idle_connection_closed", 0)
                oldest._end(0)
            live.add(self)
            waiting[self] = None
            self._arm(limits.header_timeout_s)

        def connection_lost(self, exc):
            self._forget()
            super().connection_lost(exc)

        # -- the head: size, count and deadline --------------------------------------------
        def data_received(self, data):
            # uvicorn's own, but a head over the limits is answered 431 (not 400 with a warning
            # logged for each connection: the tally logs them)
            self._unset_keepalive_if_required()
            inside, before = self._in_head and self._messages, self._messages
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                if self._refusal:
                    return self._end(self._refusal)
                self.logger.warning("Invalid HTTP request received.")
                return self.send_400_response("Invalid HTTP request received.")
            except httptools.HttpParserUpgrade:     # no websockets here: answered as a plain request
                return
            if inside and self._in_head and self._messages == before and not self.transport.is_closing():
                # a chunk wholly inside one head: a header still growing inside the parser, unseen
                self._raw += len(data)
                if self._raw > limits.max_header_bytes:
                    self._too_large()
                    self._end(431)

        def on_message_begin(self):
            super().on_message_begin()
            self._messages += 1
            self._in_head = True
            self._head_bytes = self._headers_seen = self._raw = 0
            if self._timer is None:                     # (a kept-alive connection's next request)
                self._arm(limits.header_timeout_s)

        def on_url(self, url):
            self._head_bytes += len(url)
            if self._head_bytes > limits.max_header_bytes:
                raise self._too_large()
            super().on_url(url)

        def on_header(self, name, value):
            self._head_bytes += len(name) + len(value) + 4
            self._headers_seen += 1
            if self._head_bytes > limits.max_header_bytes or self._headers_seen > limits.max_headers:
                raise self._too_large()
            super().on_header(name, value)

        def on_headers_complete(self):
            self._in_head = False
            waiting.pop(self, None)
            self._arm(limits.body_timeout_s)
            super().on_headers_complete()

        def on_message_complete(self):
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self):
            super().on_response_complete()
            if self in live and not self.transport.is_closing() and not self.pipeline:
                waiting[self] = None                    # idle until its next request

        def _too_large(self):
            TALLY.note("headers_too_large", 431)
            self._refusal = 431
            return _HeadTooLarge()

        # -- deadlines --------------------------------------------------------------------------
        def _arm(self, seconds):
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self):
            self._timer = None
            if self.transport.is_closing():
                return
            if self._in_head:
                started = self._messages > 0         # (a first byte of the request came)
                TALLY.note("header_timeout" if started else "idle_connection_closed", 408 if started else 0)
                self._end(408 if started else 0)
            else:
                TALLY.note("body_timeout", 408)
                self._end(408 if self.cycle is not None and not self.cycle.response_started else 0)

        # -- closing ------------------------------------------------------------------------------
        def _forget(self):
            self._disarm()
            live.discard(self)
            waiting.pop(self, None)

        def _end(self, status):
            """Answer `status` (0: nothing) and close; the request being read, if any, ends."""
            self._forget()
            if self.transport.is_closing():
                return
            if status:
                self.transport.write(_plain_answer(status))
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True          # the app sees the client gone
                self.cycle.message_event.set()
            self.transport.close()

    return BoundedHttp


class Worker(UvicornWorker):
    """gunicorn's worker class for the web: uvicorn with httptools on uvloop, bounded (above)."""

    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",                  # no websockets: an upgrade request is an ordinary request
        "lifespan": "off",
        "server_header": False,
        "proxy_headers": False,
        "access_log": bool(os.environ.get("WEB_ACCESS_LOG")),
    }

    def __init__(self, *args, **kwargs):
        self.CONFIG_KWARGS = {**type(self).CONFIG_KWARGS, "http": _bounded_protocol(Limits.from_env())}
        super().__init__(*args, **kwargs)


async def _read_body(receive, limit: int) -> bytes | None:
    """The request body, at most `limit` bytes (the rest is not read); None if the client left."""
    chunks, size, more = [], 0, True
    while more and size < limit:
        message = await receive()
        if message["type"] != "http.request":          # the client went away (or was sent away)
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)[:limit]


def _declared_length(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.decode("latin-1")
    return ""


def _replay(body: bytes, receive):
    """A `receive` that gives the body already read, then what the connection says (its end)."""
    given = False

    async def replay():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _run(app, environ) -> tuple[int, list, bytes]:
    """Run a WSGI app here, on the loop (only for answers that never wait on anything)."""
    started = []
    chunks = app(environ, lambda status, hdrs, exc_info=None: started.append((status, hdrs)))
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    status, hdrs = started[0]
    return (int(status.split(" ", 1)[0]),
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in hdrs], body)


async def _send(send, answer: tuple[int, list, bytes]) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _lower_priority() -> None:
    """A login thread runs LOGIN_NICE steps below normal CPU priority (Linux: per thread, and
    inherited by the 4 threads argon2 starts for each verification): a verification takes all
    the CPU there is for ~0.15 s. Measured on 2 busy cores with 60 logins at once, the webhook's
    slowest answer was 0.04-0.24 s at normal priority, 0.04-0.08 s at this one. Logins alone on
    the machine run as fast as before."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOGIN_NICE)
    except (OSError, AttributeError):
        pass


class Front:
    """The ASGI app: /callback on the loop, logins on their own threads, the rest on WEB_THREADS."""

    def __init__(self, flask_app, threads: int, login_queue: int = Limits.login_queue):
        from a2wsgi import WSGIMiddleware

        from handoff.accounts import VERIFY_SLOTS
        from handoff.console import MAX_BODY

        self.flask_app = flask_app
        self.webhook = flask_app.extensions["mado.webhook"]
        self.limit = flask_app.config["MADO"].max_body_bytes
        self.console_limit = MAX_BODY
        self.rest = WSGIMiddleware(flask_app, workers=threads)
        self.login = WSGIMiddleware(flask_app, workers=VERIFY_SLOTS)
        self.login.executor = ThreadPoolExecutor(VERIFY_SLOTS, "login", initializer=_lower_priority)
        self.login_room = VERIFY_SLOTS + login_queue
        self.logins = 0                 # running or waiting for a login thread
        self.login_busy = None          # the 503 for a full queue, once rendered (it never changes)
        from handoff.events import EventStreams

        self.events = EventStreams(flask_app)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.rest(scope, receive, send)
        elif scope["path"] == "/callback":
            await self._callback(scope, receive, send)
        elif scope["path"] == EVENTS_PATH and scope["method"] == "GET":
            await self.events.serve(scope, receive, send)
        else:
            await self._to_flask(scope, receive, send)

    async def _to_flask(self, scope, receive, send):
        length = _declared_length(scope)
        if length.isdigit() and int(length) > self.console_limit:
            body = b""                  # refused by its declared length, unread (413, handoff/console.py)
        else:
            body = await _read_body(receive, self.console_limit + 1)
            if body is None:
                return
        if scope["method"] != "POST" or scope["path"] != LOGIN_PATH:
            await self.rest(scope, _replay(body, receive), send)
        elif self.logins >= self.login_room:
            TALLY.note("login_queue_full", 503)
            if self.login_busy is None:
                from a2wsgi.wsgi import build_environ

                from handoff.console import LOGIN_QUEUE_FULL

                # (from no header and no body of this request's: the same answer for every one)
                environ = build_environ({**scope, "headers": [], "query_string": b""}, io.BytesIO())
                environ[LOGIN_QUEUE_FULL] = True    # 503, nothing else done (handoff/console.py)
                self.login_busy = _run(self.flask_app, environ)
            await _send(send, self.login_busy)
        else:
            self.logins += 1
            try:
                await self.login(scope, _replay(body, receive), send)
            finally:
                self.logins -= 1

    async def _callback(self, scope, receive, send):
        length = _declared_length(scope)
        declared_too_long = length.isdigit() and int(length) > self.limit
        body = b"" if declared_too_long else await _read_body(receive, self.limit + 1)
        if body is None:
            return
        environ = {
            "REQUEST_METHOD": scope["method"],
            "PATH_INFO": "/callback",
            "CONTENT_LENGTH": length,
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,       # (a body without a length was read to its end)
        }
        for name, value in scope["headers"]:
            if name == b"x-line-signature":
                environ["HTTP_X_LINE_SIGNATURE"] = value.decode("latin-1")
        await _send(send, _run(self.webhook, environ))


def create_app(config=None):
    """gunicorn's app (`bot.asgi:create_app()`): the Flask app of `bot.create_app`, behind `Front`."""
    from . import create_app as create_wsgi_app

    limits = Limits.from_env()
    front = Front(create_wsgi_app(config), threads=limits.threads, login_queue=limits.login_queue)
    _freeze_heap()
    return front


def _freeze_heap() -> None:
    """What start-up built (the app, the console's words and templates, redis-py, the SDK) lives
    as long as the process: it is left out of the collector's full passes, as the worker's is
    (bot/worker.py). A full pass stops the whole process, the loop that answers LINE's webhook
    included: measured with 200 consoles open and 20 people writing (`python
    benchmarks/console.py --counselors 200`, CPU time inside the collector), eleven full passes in
    70 s took 30-76 ms each before, 5-31 ms after."""
    import gc

    import messages_ja

    messages_ja.console()           # (loaded on the first console request otherwise)
    gc.collect()
    gc.freeze()
