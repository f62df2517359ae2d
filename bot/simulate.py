"""LINE-shaped webhook events and their signed delivery, for the local stacks (`mado chat`,
`mado demo`): the same bytes LINE would send, through the real `/callback`."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.request

STICKER = {"type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"}
IMAGE = {"type": "image", "contentProvider": {"type": "line"}}


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def event(user_id: str, etype: str, **extra) -> dict:
    ev = {"type": etype, "mode": "active", "timestamp": int(time.time() * 1000),
          "source": {"type": "user", "userId": user_id},
          "webhookEventId": secrets.token_hex(13).upper(),
          "deliveryContext": {"isRedelivery": False}, "replyToken": secrets.token_hex(16)}
    ev.update(extra)
    return ev


def message(user_id: str, content: dict) -> dict:
    content = {"id": str(secrets.randbits(50)), "quoteToken": secrets.token_hex(8), **content}
    if content.get("type") in ("text", "sticker", "image"):
        content.setdefault("markAsReadToken", secrets.token_hex(12))
    return event(user_id, "message", message=content)


def follow(user_id: str) -> dict:
    return event(user_id, "follow", follow={"isUnblocked": False})


def postback(user_id: str, data: str) -> dict:
    return event(user_id, "postback", postback={"data": data})


def post_webhook(base_url: str, channel_secret: str, ev: dict, standin=None) -> int:
    """Sign and POST one event to base_url/callback. The stand-in LINE API learns its reply token
    first, as LINE's servers would know it."""
    if standin is not None and ev.get("replyToken"):
        standin.issue_reply_token(ev["source"]["userId"], ev["replyToken"])
    body = json.dumps({"destination": "U" + "0" * 32, "events": [ev]}, ensure_ascii=False).encode()
    sig = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest())
    req = urllib.request.Request(base_url.rstrip("/") + "/callback", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Line-Signature": sig.decode()})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status
