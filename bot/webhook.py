"""POST /callback: verify, de-duplicate, enqueue, answer. No conversation work, no LINE calls.

Nothing of the body is logged: it carries what people write about the most private things.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time

import redis

from . import keys, logs
from .redis_conn import is_plain, send_raw

# SET NX the event id and XADD in one step: a crash between the two can neither lose the event
# (LINE redelivers it and it is not "seen" yet) nor enqueue it twice.
ENQUEUE_LUA = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'pid', ARGV[2], 'ev', ARGV[3], 'rt', ARGV[4], 'rid', ARGV[5])
end
return false
"""


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """HMAC-SHA256 over the raw body bytes, Base64, compared in constant time."""
    digest = hmac.digest(secret.encode("utf-8"), body, "sha256")
    expected = base64.b64encode(digest)
    return hmac.compare_digest(expected, header.encode("ascii", "replace"))


class BadWebhook(ValueError):
    pass


# A JSON escape of a UTF-16 surrogate (\ud800-\udfff). Only when the body has one do we check
# that every string is valid Unicode: a lone surrogate cannot be stored, hashed or sent.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def has_lone_surrogate(value) -> bool:
    """True if any string in a parsed JSON value holds a lone surrogate (not valid Unicode)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_body(body: bytes) -> list[dict]:
    """The events of a webhook body, or BadWebhook with a short reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadWebhook("body is not UTF-8") from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise BadWebhook("body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise BadWebhook("not a webhook: no events list")
    if _SURROGATE_ESCAPE.search(body) and has_lone_surrogate(payload):
        raise BadWebhook("not valid Unicode: a lone surrogate")
    events = payload["events"]
    for ev in events:
        if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
            raise BadWebhook("not a webhook: event without a type")
        src = ev.get("source")
        if src is not None and not isinstance(src, dict):
            raise BadWebhook("not a webhook: malformed source")
    return events


def is_stale(ev: dict, oldest_ms: int) -> bool:
    """An event from before the de-duplication window (its ``timestamp``, ms): its seen-mark may
    have expired, so a replay of a captured body would run it again. LINE's own redeliveries come
    long before that; such an event is answered 200 and dropped (counted, never logged itself)."""
    at = ev.get("timestamp")
    return isinstance(at, (int, float)) and not isinstance(at, bool) and at < oldest_ms


def conversation_id(ev: dict) -> str:
    """Who the event belongs to: the LINE user in 1:1, else the group/room (never shown to anyone)."""
    src = ev.get("source") or {}
    kind = src.get("type")
    if kind in ("group", "room"):
        return f"{kind}:{src.get(kind + 'Id', '')}"
    uid = src.get("userId")
    return uid if isinstance(uid, str) and uid else "anonymous"


def event_key(ev: dict) -> str:
    """webhookEventId (a ULID) when present, else a digest of the event itself."""
    eid = ev.get("webhookEventId")
    if isinstance(eid, str) and 0 < len(eid) <= 64 and eid.isascii() and eid.isalnum():
        return eid
    canon = json.dumps(ev, sort_keys=True, ensure_ascii=False).encode()
    return "h" + hashlib.sha256(canon).hexdigest()[:32]


# After Redis did not answer (timed out or refused), the next webhooks for this long are answered
# 503 at once, not each after its own timeout: the web answers LINE on one event loop
# (bot/asgi.py), and a queue of requests each waiting out the timeout would all miss LINE's 2 s.
# LINE delivers again what it got no 2xx for (with redelivery on).
AWAY_S = 1.0

_JSON = [("Content-Type", "application/json")]
_STATUS = {200: "200 OK", 400: "400 Bad Request", 405: "405 Method Not Allowed",
           413: "413 Payload Too Large", 500: "500 Internal Server Error",
           503: "503 Service Unavailable"}


class Webhook:
    """POST /callback as a plain WSGI app, in front of Flask (see `in_front_of`).

    It is the one path LINE calls, many times a second: no request context, session, routing or
    response object for it, only the raw body, the signature, one Redis round trip and a short
    JSON answer. Everything else goes on to the Flask app."""

    def __init__(self, config, r, metrics):
        self.cfg = config
        self.r = r
        self.enqueue = r.register_script(ENQUEUE_LUA)
        self.plain = is_plain(r)
        self.metrics = metrics
        self.redis_away_until = 0.0     # (monotonic) see AWAY_S

    def __call__(self, environ, start_response):
        try:
            status, payload = self.answer(environ)
        except Exception as exc:  # a bug: one JSON line and Sentry, never a traceback in the log
            import sentry_sdk

            logs.emit("error", level=40, status=500, path="/callback", error=type(exc).__name__)
            sentry_sdk.capture_exception(exc)      # (scrubbed by bot/sentry.py's before_send)
            status, payload = 500, {"error": "internal error"}
        body = json.dumps(payload).encode()
        headers = [*_JSON, ("Content-Length", str(len(body)))]
        if status == 405:
            headers.append(("Allow", "POST"))
        start_response(_STATUS[status], headers)
        return [body]

    def _refuse(self, status: int, reason: str) -> tuple[int, dict]:
        logs.emit("webhook", result="refused", status=status, reason=reason)
        self.metrics["refused"] += 1
        return status, {"error": reason}

    def _body(self, environ) -> bytes | None:
        """The raw body, or None when it is longer than allowed (read no further than that)."""
        limit = self.cfg.max_body_bytes
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if length > limit:
            return None
        if length < 0 and not environ.get("wsgi.input_terminated"):
            return b""           # no length and no end-of-body from the server: nothing to read
        stream = environ["wsgi.input"]
        body = stream.read(min(length, limit + 1) if length >= 0 else limit + 1)
        return None if len(body) > limit else body

    def answer(self, environ) -> tuple[int, dict]:
        """The status and JSON answer for one request to /callback."""
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, {"error": "method not allowed"}
        started = time.perf_counter()
        body = self._body(environ)
        if body is None:
            return self._refuse(413, "body too large")
        header = environ.get("HTTP_X_LINE_SIGNATURE")
        if not header:
            return self._refuse(400, "missing signature")
        if not signature_ok(self.cfg.channel_secret, body, header):
            return self._refuse(400, "invalid signature")
        try:
            events = parse_body(body)
        except BadWebhook as exc:
            return self._refuse(400, str(exc))
        rid = os.urandom(8).hex()
        if time.monotonic() < self.redis_away_until:
            logs.emit("webhook", result="unavailable", status=503, rid=rid, reason="redis away just now")
            return 503, {"error": "temporarily unavailable"}
        try:
            results, dropped, stale = self._enqueue(events, rid)
        except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                self.redis_away_until = time.monotonic() + AWAY_S
            logs.emit("webhook", result="unavailable", status=503, rid=rid, error=type(exc).__name__)
            return 503, {"error": "temporarily unavailable"}
        queued = sum(1 for res in results if res)
        dup = len(results) - queued
        m = self.metrics
        m["accepted"] += 1
        m["events"] += queued
        m["duplicates"] += dup
        m["stale"] += stale
        logs.emit("webhook", result="accepted", status=200, rid=rid, count=queued,
                  reason=f"dup={dup} standby={dropped} stale={stale}",
                  ms=round((time.perf_counter() - started) * 1000, 2))
        return 200, {}

    def _enqueue(self, events: list[dict], rid: str) -> tuple[list, int, int]:
        """Each event once into its person's shard. Returns the script's answers, how many
        standby events were dropped and how many stale ones (see `stale`).

        One round trip for the whole body on a plain Redis: the script by its SHA (loaded when
        the app starts; loaded again only if Redis answers NOSCRIPT, e.g. after a restart), sent
        raw on this thread's own connection (`send_raw`: no pool, no SCRIPT EXISTS first as
        redis-py's pipelined scripts would send). A cluster client cannot pipeline scripts, so
        there each event is its own call (its keys share one slot either way), as in the
        embedded stand-in of `mado demo`."""
        cfg, r, enqueue = self.cfg, self.r, self.enqueue
        now_ms = str(int(time.time() * 1000))
        calls, dropped, stale = [], 0, 0
        oldest = int(now_ms) - cfg.dedup_ttl_s * 1000
        for ev in events:
            if ev.get("mode") == "standby":
                dropped += 1      # another channel is active: we must not answer these
                continue
            if is_stale(ev, oldest):
                stale += 1
                continue
            pid = keys.pseudonym(cfg.secret_key, conversation_id(ev))
            shard = keys.shard_of(pid, cfg.shards)
            calls.append(([keys.seen(shard, event_key(ev)), keys.stream(shard)],
                          [cfg.dedup_ttl_s, pid, json.dumps(ev, ensure_ascii=False), now_ms, rid]))
        if not self.plain:
            return [enqueue(keys=k, args=a, client=r) for k, a in calls], dropped, stale
        results = (send_raw(r, [("EVALSHA", enqueue.sha, 2, *k, *a) for k, a in calls], repeatable=True)
                   if calls else [])
        for i, res in enumerate(results):
            if isinstance(res, redis.exceptions.NoScriptError):   # not loaded: load, call again
                results[i] = enqueue(keys=calls[i][0], args=calls[i][1], client=r)
            elif isinstance(res, Exception):
                raise res
        return results, dropped, stale


def in_front_of(app, webhook: Webhook):
    """The WSGI callable: /callback to the webhook, every other path to `app` (Flask's)."""
    def dispatch(environ, start_response):
        if environ.get("PATH_INFO") == "/callback":
            return webhook(environ, start_response)
        return app(environ, start_response)

    return dispatch
