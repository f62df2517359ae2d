"""POST /callback: verify, de-duplicate, enqueue, answer. No conversation work, no LINE calls.

Nothing of the body is logged: it carries what people write about the most private things.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid

import redis
from flask import Blueprint, current_app, jsonify, request

from . import keys, logs

bp = Blueprint("webhook", __name__)

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
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
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


def _refuse(status: int, reason: str):
    logs.emit("webhook", result="refused", status=status, reason=reason)
    current_app.extensions["mado.metrics"]["refused"] += 1
    return jsonify({"error": reason}), status


@bp.post("/callback")
def callback():
    cfg = current_app.config["MADO"]
    started = time.perf_counter()
    length = request.content_length
    if length is not None and length > cfg.max_body_bytes:
        return _refuse(413, "body too large")
    body = request.stream.read(cfg.max_body_bytes + 1)
    if len(body) > cfg.max_body_bytes:
        return _refuse(413, "body too large")
    header = request.headers.get("X-Line-Signature")
    if not header:
        return _refuse(400, "missing signature")
    if not signature_ok(cfg.channel_secret, body, header):
        return _refuse(400, "invalid signature")
    try:
        events = parse_body(body)
    except BadWebhook as exc:
        return _refuse(400, str(exc))

    rid = uuid.uuid4().hex[:16]
    now_ms = str(int(time.time() * 1000))
    r: redis.Redis = current_app.extensions["mado.redis"]
    enqueue = current_app.extensions["mado.enqueue"]
    queued = dropped = dup = 0
    # One round trip for the whole body on a plain Redis: the script by its SHA (loaded when the
    # app starts; loaded again only if Redis answers NOSCRIPT, e.g. after a restart), with no
    # SCRIPT EXISTS first as redis-py's pipelined scripts would send. A cluster client cannot
    # pipeline scripts, so there each event is its own call (its keys share one slot either way).
    cluster = current_app.extensions["mado.cluster"]
    try:
        pipe = r.pipeline(transaction=False) if not cluster else None
        results = []
        calls = []
        for ev in events:
            if ev.get("mode") == "standby":
                dropped += 1      # another channel is active: we must not answer these
                continue
            pid = keys.pseudonym(cfg.secret_key, conversation_id(ev))
            shard = keys.shard_of(pid, cfg.shards)
            ekey = event_key(ev)
            call = ([keys.seen(shard, ekey), keys.stream(shard)],
                    [cfg.dedup_ttl_s, pid, json.dumps(ev, ensure_ascii=False), now_ms, rid])
            if pipe is None:
                results.append(enqueue(keys=call[0], args=call[1], client=r))
            else:
                pipe.evalsha(enqueue.sha, 2, *call[0], *call[1])
            calls.append(call)
        if pipe is not None and calls:
            results = pipe.execute(raise_on_error=False)
            for i, res in enumerate(results):
                if isinstance(res, redis.exceptions.NoScriptError):   # not loaded: load, call again
                    results[i] = enqueue(keys=calls[i][0], args=calls[i][1], client=r)
                elif isinstance(res, Exception):
                    raise res
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        logs.emit("webhook", result="unavailable", status=503, rid=rid, error=type(exc).__name__)
        return jsonify({"error": "temporarily unavailable"}), 503
    for res in results:
        if res:
            queued += 1
        else:
            dup += 1
    m = current_app.extensions["mado.metrics"]
    m["accepted"] += 1
    m["events"] += queued
    m["duplicates"] += dup
    logs.emit(
        "webhook", result="accepted", status=200, rid=rid, count=queued,
        reason=f"dup={dup} standby={dropped}", ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return jsonify({}), 200
