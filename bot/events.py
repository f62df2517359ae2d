"""LINE webhook events → flows.Event. The only place that knows LINE's event shapes downstream.

Raw JSON is read defensively (LINE adds fields and types without notice): anything unexpected
becomes kind "other", which the conversation answers with silence rather than a crash.
"""
from __future__ import annotations

from flows import Event

MEDIA = {"image", "video", "audio", "file"}


def to_flow_event(ev: dict) -> Event:
    etype = ev.get("type")
    src = ev.get("source") if isinstance(ev.get("source"), dict) else {}
    in_group = src.get("type") in ("group", "room")
    if etype == "message":
        msg = ev.get("message") if isinstance(ev.get("message"), dict) else {}
        mtype = msg.get("type")
        if mtype == "text":
            text = msg.get("text")
            return Event("text", text=text if isinstance(text, str) else "", in_group=in_group)
        if mtype == "sticker":
            return Event("sticker", in_group=in_group)
        if mtype in MEDIA:
            return Event("media", in_group=in_group)
        if mtype == "location":
            return Event("location", in_group=in_group)
        return Event("other", in_group=in_group)
    if etype == "postback":
        pb = ev.get("postback") if isinstance(ev.get("postback"), dict) else {}
        data = pb.get("data")
        return Event("postback", data=data if isinstance(data, str) else "", in_group=in_group)
    if etype in ("follow", "unfollow", "join"):
        return Event(etype, in_group=in_group)
    return Event("other", in_group=in_group)


def push_target(ev: dict) -> str | None:
    """Where a push for this event goes: the user in 1:1, else the group or room."""
    src = ev.get("source") if isinstance(ev.get("source"), dict) else {}
    kind = src.get("type")
    if kind in ("group", "room"):
        return src.get(f"{kind}Id") or None
    uid = src.get("userId")
    return uid if isinstance(uid, str) and uid else None


def reply_token(ev: dict) -> str | None:
    token = ev.get("replyToken")
    return token if isinstance(token, str) and token else None
