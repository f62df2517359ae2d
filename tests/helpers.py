"""Building and signing LINE-shaped webhooks for tests (shapes from LINE's reference examples)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

SECRET = "8c570fa6dd201bb328f1c1eac23a96d8"
ACCESS_TOKEN = "test-access-token"
MADO_KEY = "test-secret-key-for-pseudonyms"
_ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_counter = itertools.count()


def new_event_id() -> str:
    """A fresh ULID-looking id (26 Crockford base32 characters)."""
    raw = int(time.time() * 1000) << 80 | (next(_counter) << 40) | int.from_bytes(os.urandom(5), "big")
    out = []
    for _ in range(26):
        out.append(_ULID_CHARS[raw & 31])
        raw >>= 5
    return "".join(reversed(out))


def new_user_id() -> str:
    return "U" + os.urandom(16).hex()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def body_of(*events, destination="U8e742f61d673b39c7fff3cecb7536ef0") -> bytes:
    return json.dumps({"destination": destination, "events": list(events)}, ensure_ascii=False).encode()


def _base(etype: str, user_id: str, *, reply_token: str | None = "auto", **extra) -> dict:
    ev = {
        "type": etype,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": new_event_id(),
        "deliveryContext": {"isRedelivery": False},
    }
    if reply_token == "auto":
        reply_token = os.urandom(16).hex()
    if reply_token:
        ev["replyToken"] = reply_token
    ev.update(extra)
    return ev


def text_event(user_id: str, text: str, **kw) -> dict:
    return _base("message", user_id, message={
        "id": str(int.from_bytes(os.urandom(6), "big")), "type": "text", "text": text,
        "quoteToken": os.urandom(8).hex(), "markAsReadToken": os.urandom(8).hex()}, **kw)


def follow_event(user_id: str, **kw) -> dict:
    return _base("follow", user_id, follow={"isUnblocked": False}, **kw)


def unfollow_event(user_id: str, **kw) -> dict:
    return _base("unfollow", user_id, reply_token=None, **kw)


def sticker_event(user_id: str, **kw) -> dict:
    return _base("message", user_id, message={
        "id": "1501597916", "type": "sticker", "packageId": "446", "stickerId": "1988",
        "stickerResourceType": "STATIC", "quoteToken": os.urandom(8).hex()}, **kw)


def postback_event(user_id: str, data: str, **kw) -> dict:
    return _base("postback", user_id, postback={"data": data}, **kw)


def texts_of(delivery: dict) -> list[str]:
    """What a phone shows as text: a text message's text, a card's altText."""
    return [m["text"] if m["type"] == "text" else m["altText"] for m in delivery["messages"]]


def quick_labels(delivery: dict) -> list[str]:
    last = delivery["messages"][-1]
    return [it["action"]["label"] for it in (last.get("quickReply") or {}).get("items", [])]


def settled(r, shards: int = 4, timeout: float = 30.0) -> bool:
    """Every event stream empty: each entry was handled, its replies sent, acknowledged and
    deleted, so nothing more can arrive. Tests wait for this rather than sleeping a fixed time
    before checking that nothing came twice."""
    end = time.monotonic() + timeout
    while True:
        if all(r.xlen(f"mado:{{ev:{s}}}") == 0 for s in range(shards)):
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.02)


def stop_process(proc: subprocess.Popen, log) -> None:
    """SIGTERM, a generous wait for a clean stop, SIGKILL only then; its log file closed."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()


def procfile_web(port: int, *extra: str) -> list[str]:
    """The Procfile's web line as the command to run (one process, on 127.0.0.1:`port`, gunicorn
    from this Python), with `extra` gunicorn options. Threads: WEB_THREADS in the environment."""
    root = Path(__file__).resolve().parent.parent
    line = next(x.split(":", 1)[1] for x in (root / "Procfile").read_text().splitlines() if x.startswith("web:"))
    line = line.replace("0.0.0.0:$PORT", f"127.0.0.1:{port}").replace("${WEB_CONCURRENCY:-1}", "1")
    line = re.sub(r"\$\{WEB_ACCESS_LOG:\+[^}]*\}", "", line)
    argv = shlex.split(line)
    assert argv[0] == "gunicorn" and "$" not in line, line
    return [sys.executable, "-m", "gunicorn", *extra, *argv[1:]]


def self_signed_certificate(folder) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1 (openssl, one day): (cert, key) paths.
    The web or the LINE stand-in serves it; a client that should trust it is given the cert."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key
