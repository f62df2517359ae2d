"""`mado demo`'s chat simulator: a phone-like LINE chat in the browser, over the real path.

Registered only when MADO_DEMO is on (config.demo); otherwise none of these routes exist. The
page sends **signed** webhook events to /callback (HTTP, like LINE), and reads back what the bot
sent from the built-in stand-in Messaging API: replies, pushes, the loading animation and
read marks (shown as read only after markAsRead, as on LINE with chat mode on).
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, make_response, render_template, request

import messages_ja

from . import simulate
from .webhook import has_lone_surrogate

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


def _token() -> str:
    """This demo's token for its own page's calls (a page elsewhere cannot read it)."""
    return current_app.extensions.setdefault("mado.demo_token", secrets.token_urlsafe(24))


def host_allowed(host: str, demo_host: str = "") -> bool:
    """The Host a browser names: an address (nothing can rebind it), localhost, or MADO_DEMO_HOST.
    Any other name may be a page's own domain made to point here (DNS rebinding)."""
    try:
        name = urlsplit("//" + host).hostname or ""
    except ValueError:
        return False
    if " " in host or not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name == "localhost" or (bool(demo_host) and name == demo_host.lower())


@bp.before_request
def _guard():
    """Only for a browser at this demo's own address (the Host check), and each call of the page
    with its token: another site can neither read the simulator nor post through it."""
    if not host_allowed(request.host, current_app.extensions.get("mado.demo_host", "")):
        return jsonify({"error": "unknown host: open the demo at its own address (MADO_DEMO_HOST)"}), 403
    if request.method == "POST":
        sent = request.headers.get("X-Demo-Token", "")
        if not hmac.compare_digest(sent.encode(), _token().encode()):
            return jsonify({"error": "missing or wrong X-Demo-Token: reload the simulator"}), 403
    return None


@bp.get("/")
def page():
    words = messages_ja.console()["demo"]
    resp = make_response(render_template("demo.html", t=words, token=_token()))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self'; script-src 'self'; "
                                               "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
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
    try:
        body = request.get_json(silent=True) or {}
    except RecursionError:                        # nested deeper than the parser goes
        body = None
    if not isinstance(body, dict) or has_lone_surrogate(body):
        return jsonify({"error": "the body must be a JSON object of valid Unicode (no lone surrogate)"}), 400
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
