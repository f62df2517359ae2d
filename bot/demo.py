"""`mado demo`'s chat simulator: a phone-like LINE chat in the browser, over the real path.

Registered only when MADO_DEMO is on (config.demo); otherwise none of these routes exist. The
page sends **signed** webhook events to /callback (HTTP, like LINE), and reads back what the bot
sent from the built-in stand-in Messaging API: replies, pushes, the loading animation and
read marks (shown as read only after markAsRead, as on LINE with chat mode on).
"""
from __future__ import annotations

import threading
import time

from flask import Blueprint, current_app, jsonify, make_response, render_template, request

import messages_ja

from . import simulate

bp = Blueprint("demo", __name__, url_prefix="/demo", template_folder="templates",
               static_folder="static", static_url_path="/static")
_lock = threading.Lock()


def _people() -> list[str]:
    return current_app.extensions.setdefault("mado.demo_people", [])


def _standin():
    return current_app.extensions["mado.standin"]


def _post(event: dict) -> int:
    """Sign and post to this app's own /callback, at the address it is bound to (LocalStack sets
    it), never at the request's Host header: a client must not make the server post elsewhere."""
    return simulate.post_webhook(current_app.extensions["mado.self_url"],
                                 current_app.config["MADO"].channel_secret, event, _standin())


def _known(user: str | None) -> bool:
    return isinstance(user, str) and user in _people()


@bp.get("/")
def page():
    words = messages_ja.console()["demo"]
    resp = make_response(render_template("demo.html", t=words))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self'; script-src 'self'; "
                                               "connect-src 'self'; img-src 'self' data:")
    return resp


@bp.post("/api/people")
def new_person():
    """A new simulated person adds the account (a follow event)."""
    user = simulate.new_user_id()
    with _lock:
        _people().append(user)
    status = _post(simulate.follow(user))
    return jsonify({"user": user, "number": len(_people()), "status": status})


@bp.get("/api/people")
def list_people():
    return jsonify({"people": _people()})


@bp.post("/api/send")
def send():
    body = request.get_json(silent=True) or {}
    user = body.get("user")
    if not _known(user):
        return jsonify({"error": "unknown person"}), 404
    kind = body.get("kind")
    if kind == "text" and isinstance(body.get("text"), str) and body["text"].strip():
        ev = simulate.message(user, {"type": "text", "text": body["text"][:5000]})
    elif kind == "postback" and isinstance(body.get("data"), str):
        ev = simulate.postback(user, body["data"][:300])
    elif kind == "sticker":
        ev = simulate.message(user, simulate.STICKER)
    elif kind == "image":
        ev = simulate.message(user, simulate.IMAGE)
    else:
        return jsonify({"error": "kind must be text, postback, sticker or image"}), 400
    at = time.time()        # before posting: the bot's answer may arrive before the post returns
    status = _post(ev)
    read_token = (ev.get("message") or {}).get("markAsReadToken")
    return jsonify({"status": status, "read_token": read_token, "at": at})


@bp.get("/api/inbox")
def inbox():
    user = request.args.get("user")
    if not _known(user):
        return jsonify({"error": "unknown person"}), 404
    s = _standin()
    out = []
    for d in s.deliveries(user):
        for m in d["messages"]:
            items = (m.get("quickReply") or {}).get("items") or []
            out.append({"text": m.get("text") or m.get("altText", ""), "kind": d["kind"], "at": d["at"],
                        "card": m.get("contents") if m.get("type") == "flex" else None,
                        "quick": [{"label": it["action"]["label"], "data": it["action"].get("data", ""),
                                   "display": it["action"].get("displayText") or it["action"]["label"]}
                                  for it in items]})
    now = time.time()
    loading = any(x["chatId"] == user and now - x["at"] < x["seconds"] and
                  not any(d["at"] > x["at"] for d in s.deliveries(user)) for x in s.loading())
    return jsonify({"messages": out, "loading": loading, "read": s.read_tokens()})
