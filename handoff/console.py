"""The counselor console: HTML pages and the JSON API (shared/design.md "Contracts").

Every page and API call needs a logged-in counselor; every POST but login needs the session's
CSRF token in ``X-CSRF-Token``. Nothing here ever returns the person's LINE id or pid: responses
are built field by field from what a counselor may see (alias, lane, intake, transcript).
The web process never calls LINE: what a counselor does goes into the person's event stream.
"""
from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import (Blueprint, current_app, g, jsonify, make_response, redirect, render_template,
                   request, url_for)

import messages_ja
from bot import logs
from bot.webhook import has_lone_surrogate

from .accounts import MAX_PASSWORD, Accounts, Busy, Throttled
from .canned import MAX_LABEL as MAX_CANNED_LABEL, MAX_TEXT as MAX_CANNED_TEXT, CannedReplies, Full as CannedFull
from .store import HandoffStore, now_ms
from .resources import ResourceError, TeamResources
from .teams import TeamError, Teams, valid_team_name

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
COOKIE = "mado_session"
MAX_TEXT = 5000
MAX_NOTE = 1000
MAX_CLOSE_NOTE = 200        # the one line shown with the person's earlier handoffs
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A handoff id as the worker makes them (16 hex digits; tests and benchmarks use other letters):
# anything else, ":" above all, is no handoff and never reaches Redis as part of a key
HANDOFF_ID = CLIENT_ID
# The largest body any console call needs: a 5,000-character message written as JSON escapes
# (6 bytes a character) and a little more. Larger bodies are refused with 413 before they are read.
MAX_BODY = 64 * 1024
# Set in the WSGI environ by the web's edge (bot/asgi.py) when its login queue is full: the login
# is answered 503 at once, on the event loop, with nothing looked up or verified.
LOGIN_QUEUE_FULL = "mado.login_queue_full"


def t(key: str, **params) -> str:
    return messages_ja.console()["ui"][key].format(**params)


def _store() -> HandoffStore:
    return current_app.extensions["mado.handoffs"]


def _accounts() -> Accounts:
    return current_app.extensions["mado.accounts"]


def _teams() -> Teams:
    return Teams(_store().r, audit=_store().audit)


def _canned() -> CannedReplies:
    return CannedReplies(_store().r)


def _error(status: int, key: str):
    return jsonify({"error": t(key), "code": key}), status


def _refuse(status: int, key: str, reason: str):
    """A bad request: one JSON log line (never the body) and the reason in the console's words."""
    logs.emit("console", result="refused", status=status, reason=reason, path=request.path)
    return _error(status, key)


@bp.before_request
def _guard_input():
    """Every console call: bodies bounded in size, and JSON only if it is valid Unicode (a lone
    surrogate such as "\\ud800" parses as JSON but cannot be hashed, stored or sent) and not
    nested past what the parser can read (a RecursionError there: 400, not 500)."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    request.max_content_length = MAX_BODY          # also bounds a body sent without a length
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _refuse(413, "error.too_large", "body too large")
    try:
        body = request.get_json(silent=True)       # parsed once, cached for the view
        if body is not None and has_lone_surrogate(body):
            return _refuse(400, "error.bad_text", "lone surrogate")
    except RecursionError:                         # nested deeper than Python's parser goes
        return _refuse(400, "error.bad_request", "nested too deep")
    return None


@bp.errorhandler(413)
def _too_large(_exc):
    return _refuse(413, "error.too_large", "body too large")


@bp.after_app_request
def _security_headers(resp):
    """On every console answer, errors included (a 404 or 405 under /console/ that no route of
    the console answered too): transcripts are never stored by a browser or a proxy, never
    sniffed as another type, and with Secure cookies the browser keeps to HTTPS."""
    if request.path != bp.url_prefix and not request.path.startswith(bp.url_prefix + "/"):
        return resp
    if request.endpoint != "console.static":
        resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if current_app.config["MADO"].cookie_secure:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
    return resp


def _iso(ms) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, timezone.utc).isoformat(timespec="seconds")


def _current():
    sess = _accounts().session(request.cookies.get(COOKIE))
    if sess:
        g.counselor = sess
        _store().seen_online(sess["name"])
    return sess


def login_required(api: bool, *, admin: bool = False):
    """A logged-in counselor (and the CSRF token on every POST); `admin`: an admin only (403,
    the forbidden page for a page)."""
    def deco(fn):
        @wraps(fn)
        def inner(*a, **kw):
            sess = _current()
            if not sess:
                if api:
                    return _error(401, "error.login")
                return redirect(url_for("console.login_page", next=request.path))
            if request.method == "POST" and not Accounts.csrf_ok(sess, request.headers.get("X-CSRF-Token")):
                return _error(403, "error.csrf")
            if admin and not _is_admin():
                return _error(403, "error.forbidden") if api else (_page("forbidden.html"), 403)
            if any(not HANDOFF_ID.fullmatch(kw[k]) for k in ("hid", "eid") if k in kw):
                return _error(404, "error.not_found")       # no such handoff can exist
            return fn(*a, **kw)
        return inner
    return deco


def _urgent_reason(m: dict) -> str | None:
    """Why a handoff is urgent, in words (the danger tier), or None."""
    if m.get("priority") != "urgent":
        return None
    tiers = messages_ja.console()["ui"]
    return tiers.get("tier." + (m.get("crisis") or ""), tiers["priority.urgent"])


def _awaiting(m: dict) -> int | None:
    """ms of the person's oldest message no counselor has answered yet (open handoffs only)."""
    if m.get("status") == "closed" or not m.get("awaiting_since"):
        return None
    return int(m["awaiting_since"])


def _person_state(m: dict) -> str:
    """Where the person is: waiting for a counselor, talking, paused (the person wrote "that is all
    for today"), or, closed: left (the person left), cancelled (they took the request back) or ended."""
    if m.get("status") == "closed":
        # "left" only when the person left; a counselor's close or their own cancel is said so
        return {"left": "left", "cancelled": "cancelled"}.get(m.get("closed_reason") or "", "ended")
    if m.get("paused") == "1":
        return "paused"
    return "waiting" if m.get("status") == "waiting" else "talking"


def _summary(m: dict) -> dict:
    """What any counselor may see about a handoff in a list (no pid, never the LINE id)."""
    waited_from = int(m.get("queued_at") or m.get("created_at") or 0)
    return {
        "id": m["id"], "alias": m.get("alias", ""), "status": m.get("status"),
        "priority": m.get("priority", "normal"), "topic": m.get("topic", ""),
        "created_at": _iso(m.get("created_at")), "claimed_by": m.get("claimed_by") or None,
        "lane": m.get("lane", ""), "mode": m.get("mode", "live"), "paused": m.get("paused") == "1",
        "unread": int(m.get("unread") or 0), "crisis": m.get("crisis", "") or "",
        "left": m.get("closed_reason") == "left", "closed_at": _iso(m.get("closed_at")),
        "waiting_s": max(0, (now_ms() - waited_from) // 1000) if m.get("status") == "waiting" else None,
        "awaiting_reply_since": _awaiting(m),
        "awaiting_s": max(0, (now_ms() - _awaiting(m)) // 1000) if _awaiting(m) else None,
        "person_state": _person_state(m),
        "closed_reason": m.get("closed_reason") or None,      # closed (by a counselor), cancelled, left
        "closed_by": m.get("closed_by") or None,              # the counselor who closed it
        "outcome": m.get("outcome") or None,                  # chosen at close ([outcomes] in console.toml)
        # the last handover to the one holding it now: who handed it over, with what note (the
        # note, words about the person, only for those who may open the conversation itself)
        "handover": {"by": m["handover_by"], "note": m.get("handover_note", "") if _may_read(m) else None,
                     "at": _iso(m.get("handover_at"))}
        if m.get("handover_by") else None,
        # sent back to the queue by someone other than the one holding it (an admin): who
        "released_by": m.get("released_by") or None if m.get("status") == "waiting" else None,
        "urgent_reason": _urgent_reason(m),
        # the team it was routed to (handoff/teams.py), null for the shared pool; ``overflow``: another
        # team's, in this counselor's queue because nobody of that team is in the console now
        "team": m.get("team") or None,
        "overflow": bool(m.get("overflow")),
        # when the person last wrote something risky (ms): a console alerts whenever this moves
        "urgent_at": int(m["urgent_at"]) if m.get("urgent_at") else None,
        # wrote something risky after asking (urgent from the start: urgent_at = created_at)
        "worsened": int(m.get("urgent_at") or 0) > int(m.get("created_at") or 0),
    }


def _message(e: dict) -> dict:
    """One transcript entry as the console shows it (the person's words, a counselor's, the bot's
    lines); a counselor's message names the counselor who wrote it (``by``)."""
    return {"from": e.get("from"), "text": e.get("text", ""), "at": _iso(e.get("at")),
            "kind": e.get("kind", "text"), "by": e.get("by") if e.get("from") == "counselor" else None}


def _messages(m: dict) -> list[dict]:
    """The whole transcript as the console shows it."""
    return [_message(e) for e in _store().transcript(m)]


# A cursor into a transcript (``?after=``, ``?before=``): opaque to clients; here the number of
# entries before the place it marks (entries are only ever added at the end).
CURSOR = re.compile(r"[0-9]{1,9}")
MAX_PAGE = 500


def _page_args() -> tuple[dict, bool]:
    """(after / before / limit from the query string, whether they are well formed)."""
    args, out = request.args, {}
    for name in ("after", "before"):
        if name in args:
            if not CURSOR.fullmatch(args[name]):
                return {}, False
            out[name] = int(args[name])
    if "limit" in args:
        if not CURSOR.fullmatch(args["limit"]) or not 1 <= int(args["limit"]) <= MAX_PAGE:
            return {}, False
        out["limit"] = int(args["limit"])
    elif "before" in out:
        out["limit"] = 100
    if "after" in out and len(out) > 1:
        return {}, False
    return out, True


def _notes(m: dict) -> list[dict]:
    """The private case notes (kind "close": the note written when it was closed; "handover": the
    note a transfer carried, with ``to``); ``id`` (none on notes older than ids) lets the writer
    change or delete one, ``edited_at`` says it was changed."""
    return [{"id": n.get("id"), "by": n.get("by"), "text": n.get("text", ""), "at": _iso(n.get("at")),
             "kind": n.get("kind", "note"), "to": n.get("to"), "edited_at": _iso(n.get("edited_at"))}
            for n in _store().notes(m)]


def _earlier(e: dict) -> dict:
    """One of the person's earlier handoffs, as listed with the present one."""
    return {"id": e["id"], "created_at": _iso(e.get("created_at")), "closed_at": _iso(e.get("closed_at")),
            "claimed_by": e.get("claimed_by") or None, "note": e.get("note") or None,
            "message_count": e.get("message_count", 0), "outcome": e.get("outcome") or None,
            "closed_reason": e.get("closed_reason") or None}


def _found(hid: str):
    """(the handoff, None) or (None, a 404 answer)."""
    m = _store().get(hid)
    return (m, None) if m else (None, _error(404, "error.not_found"))


def _moved_from_me(m: dict) -> dict | None:
    """What a colleague did to a conversation the current counselor was holding: handed it to
    someone else ({"action": "transfer", "by", "to"}) or closed it ({"action": "close", "by"});
    None otherwise. Names only: what their console says happened (and why a reply was not sent)."""
    me = g.counselor["name"]
    if m.get("status") == "active" and m.get("handover_from") == me and m.get("claimed_by") != me:
        return {"action": "transfer", "by": m.get("handover_by") or "", "to": m.get("claimed_by") or "",
                "at": _iso(m.get("handover_at"))}
    if m.get("status") == "waiting" and m.get("released_from") == me and m.get("released_by") not in ("", None, me):
        return {"action": "release", "by": m["released_by"], "at": _iso(m.get("released_at"))}
    if m.get("status") == "closed" and m.get("closed_reason") == "closed" and m.get("claimed_by") == me \
            and m.get("closed_by") and m.get("closed_by") != me:
        return {"action": "close", "by": m["closed_by"], "at": _iso(m.get("closed_at"))}
    return None


def _moved_answer(m: dict, moved: dict, key: str, status: int):
    """An error that says which colleague did what to this conversation (``moved`` as above)."""
    text = t(f"{key}.{moved['action']}", by=moved["by"], to=moved.get("to", ""),
             person=t("person", alias=m.get("alias", "")))
    return jsonify({"error": text, "code": key, "moved": moved}), status


def _is_admin() -> bool:
    return g.counselor.get("role") == "admin"


def _holder_or_admin(m: dict) -> bool:
    return m.get("claimed_by") == g.counselor["name"] or _is_admin()


def may_read(m: dict, name: str, admin: bool) -> bool:
    """Whether counselor ``name`` may open this conversation (the detail, its transcript): waiting
    handoffs are open to every counselor (to choose), and stay so if the person cancels before
    anyone took them (the one looking is told why); others to holder and admins. The JSON API
    and the push channel (``event_for``) both ask this."""
    if m.get("status") == "closed" and not m.get("claimed_by"):
        return True
    return m.get("status") == "waiting" or m.get("claimed_by") == name or admin


def _may_read(m: dict) -> bool:
    return may_read(m, g.counselor["name"], _is_admin())


def event_for(fields: dict, m: dict | None, name: str, admin: bool) -> dict | None:
    """What the push channel (GET /console/api/events, handoff/events.py) tells counselor ``name``
    of one change (``fields``, as published; ``m``, the handoff as it is now): its ``type`` and
    the handoff ``id`` only if they may open that conversation (``may_read``, as the JSON API);
    of a conversation they may not, only that the lists changed (``queue``; ``urgent`` for a risk,
    whose alert /alerts gives to everyone), never which one; typing there, nothing. A worsening
    person's event carries what the alert says (the alias, the danger in words), so a console
    rings without asking first."""
    kind, hid = fields.get("type", "queue"), fields.get("id")
    if not hid:
        return {"type": kind, **({"name": fields["name"]} if fields.get("name") else {})}
    if m is None or not may_read(m, name, admin):
        return None if kind == "typing" else {"type": "urgent" if kind == "urgent" else "queue"}
    out = {"type": kind, "id": hid}
    if kind == "urgent":
        out.update(alias=m.get("alias", ""), tier=_urgent_reason(m), status=m.get("status"),
                   holder=m.get("claimed_by") or None, urgent_at=int(m["urgent_at"]) if m.get("urgent_at") else None,
                   worse=int(m.get("urgent_at") or 0) > int(m.get("created_at") or 0), gone=bool(fields.get("gone")))
    return out


# -- pages ----------------------------------------------------------------------------------
def _page(template: str, **ctx):
    resp = make_response(render_template(template, t=messages_ja.console()["ui"],
                                         canned=_canned().list() if g.get("counselor") else [],
                                         outcomes=messages_ja.console().get("outcomes", {}), **ctx))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; media-src 'self' data:; frame-ancestors 'none'")
    return resp


@bp.get("/login")
def login_page():
    return _page("login.html")


def _console_page(selected: str):
    """The console; with teams (handoff/teams.py) a way to the teams page for admins and for
    counselors in a team, and the shared pool's handoffs marked in the queue."""
    teams = _teams().all()
    mine = _teams().of(g.counselor["name"], teams)
    return _page("console.html", me=g.counselor, selected=selected, has_teams=bool(teams),
                 teams_link=bool(mine) or (_is_admin() and bool(teams)))


@bp.get("/")
@login_required(api=False)
def index():
    return _console_page("")


@bp.get("/handoffs/<hid>")
@login_required(api=False)
def handoff_page(hid):
    return _console_page(hid)


@bp.get("/stats")
@login_required(api=False, admin=True)
def stats_page():
    return _page("stats.html", me=g.counselor)


@bp.get("/canned")
@login_required(api=False, admin=True)
def canned_page():
    """Admins edit the canned replies counselors are offered."""
    return _page("canned.html", me=g.counselor)


@bp.get("/teams")
@login_required(api=False)
def teams_page():
    """The teams (places, hours, days off, members) and their local resources: every team for an
    admin, who edits membership here; a counselor's own teams. Resources are edited by the team's
    admins (``_team_access``). All through the JSON API below, which checks every permission."""
    return _page("teams.html", me=g.counselor, kinds=list(messages_ja.cards()["local_resources"]["kinds"].items()))


# -- API ------------------------------------------------------------------------------------
def _busy():
    logs.emit("console", result="busy", status=503, path=request.path)
    resp, status = _error(503, "login.busy")
    resp.headers["Retry-After"] = "1"
    return resp, status


@bp.post("/api/login")
def api_login():
    if request.environ.get(LOGIN_QUEUE_FULL):
        return _busy()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) \
            or not isinstance(body.get("password"), str):
        return _error(400, "login.wrong")
    if len(body["password"]) > MAX_PASSWORD or len(body["name"]) > 100:
        return _error(400, "login.wrong")         # no account has such a password: nothing to hash
    # the client's real address: ProxyFix (MADO_TRUSTED_PROXIES) has put it here when proxied
    addr = request.remote_addr or "?"
    accounts = _accounts()
    try:
        acc = accounts.verify(body["name"], body["password"], addr)
    except Throttled as exc:
        logs.emit("console", result="throttled", status=429, path=request.path)
        resp, status = _error(429, "login.throttled")
        resp.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return resp, status
    except Busy:
        return _busy()
    if not acc:
        return _error(401, "login.wrong")
    accounts.close_session(request.cookies.get(COOKIE))       # never keep a pre-login session id
    sid, csrf = accounts.open_session(acc)
    _store().audit(acc["name"], "login", "")
    resp = jsonify({"csrf_token": csrf, "name": acc["name"], "role": acc.get("role", "counselor")})
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Lax", path="/console",
                    secure=current_app.config["MADO"].cookie_secure, max_age=12 * 3600)
    return resp


@bp.post("/api/logout")
@login_required(api=True)
def api_logout():
    _accounts().close_session(request.cookies.get(COOKIE))
    resp = jsonify({"ok": True})
    resp.delete_cookie(COOKIE, path="/console")
    return resp


@bp.get("/api/events")
@login_required(api=True)
def api_events():
    """Who is asking for the push channel. The stream itself is served by the web's edge
    (bot/asgi.py → handoff/events.py), which asks this first and again every few seconds: the
    same login, the same checks as every API call (and the same presence)."""
    return jsonify({"name": g.counselor["name"], "admin": _is_admin()})


@bp.get("/api/me")
@login_required(api=True)
def api_me():
    return jsonify({"name": g.counselor["name"], "role": g.counselor["role"],
                    "csrf_token": g.counselor["csrf"]})


HANDOFF_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
IDS_MAX = 100               # handoffs asked for at once (``?ids=``)


def _listed(status: str, ids: list[str] | None = None) -> list[dict]:
    """A list as this counselor sees it (all of it, or only ``ids`` of it): the one code path of
    the lists and their deltas, so both show exactly the same."""
    found = _store().list(status, ids)
    if status == "waiting":         # their team's first, then the shared pool (handoff/teams.py)
        found = _teams().visible(found, g.counselor["name"], admin=_is_admin(), present=_store().present())
    return found


def _listed_summary(m: dict) -> dict:
    """A list's summary, with where it goes in its list: ``order`` [group, score] (the list is
    sorted by these, then by id)."""
    return {**_summary(m), "order": [m.get("group", 0), m["order"]]}


def _delta(ids: list[str]) -> dict:
    """A list delta: only these handoffs, as the lists show them now; those no longer in either
    list this counselor sees (closed, claimed, not theirs to see): ``gone``, to be taken off."""
    found = _listed("waiting", ids) + _listed("active", ids) if ids else []
    seen = {m["id"] for m in found}
    return {"handoffs": [_listed_summary(m) for m in found], "gone": [x for x in ids if x not in seen]}


@bp.get("/api/handoffs")
@login_required(api=True)
def api_list():
    from . import events

    if "ids" in request.args:
        ids = list(dict.fromkeys(x for x in request.args["ids"].split(",") if x))
        if len(ids) > IDS_MAX or not all(HANDOFF_ID.fullmatch(x) for x in ids):
            return jsonify({"error": f"ids: at most {IDS_MAX} handoff ids, comma-separated"}), 400
        return jsonify(_delta(ids))
    if "since" in request.args:
        # the lists' delta since ``position`` (what a whole list or the last delta said): the lines
        # of every handoff a change has named since, as the lists show them now (the push channel
        # never names a conversation one may not open; its line in the lists is theirs to see, as
        # in a whole list), ``gone`` for those no longer in them, ``alerts``: whether the risk
        # alerts may have changed too; ``whole``: too much, or too long ago: ask for the lists whole
        since = request.args["since"]
        if not events.EVENT_ID.fullmatch(since):
            return jsonify({"error": "since: a position the lists gave"}), 400
        position, ids, alerts = events.changed_since(_store().r, since, IDS_MAX)
        if ids is None:
            return jsonify({"whole": True, "position": position})
        return jsonify({**_delta(ids), "position": position, "alerts": alerts})
    status = request.args.get("status", "waiting")
    if status not in ("waiting", "active", "closed"):
        return jsonify({"error": "status must be waiting, active or closed"}), 400
    q, day = request.args.get("q", ""), request.args.get("date", "")
    if status == "closed" and (q or day):
        # search by alias (any part, any case, the console's "person 7F3A" label too) and the Tokyo day it was closed
        span = _tokyo_day(day) if day else None
        if day and span is None:
            return _error(400, "error.bad_date")
        return jsonify({"handoffs": [_summary(m) for m in _store().search_closed(q[:40], span)]})
    # ``position``: the changes these lists already show (the push channel's stream id, read before
    # them), for the next delta (``?since=``)
    position = events.top(_store().r)
    return jsonify({"handoffs": [_listed_summary(m) for m in _listed(status)], "position": position})


def _tokyo_day(day: str) -> tuple[int, int] | None:
    """A YYYY-MM-DD day in Asia/Tokyo (no daylight saving) as [start, end) in ms, or None."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone(timedelta(hours=9)))
    except ValueError:
        return None
    ms = int(start.timestamp() * 1000)
    return ms, ms + 86_400_000


@bp.get("/api/handoffs/<hid>")
@login_required(api=True)
def api_get(hid):
    m, err = _found(hid)
    if err:
        return err
    if not _may_read(m):
        moved = _moved_from_me(m)
        if moved:       # it was mine until a colleague handed it on: say who, and to whom
            return _moved_answer(m, moved, "moved", 403)
        return _error(403, "error.not_yours")
    page, ok = _page_args()
    if not ok:
        return _error(400, "error.bad_request")
    out = _summary(m)
    try:
        out["intake"] = json.loads(m.get("intake") or "{}")
    except ValueError:
        out["intake"] = {}
    entries, start, total = _store().transcript_page(m, **page)
    out["messages"] = [_message(e) for e in entries]
    # ``cursor``: for ``?after=`` (only what is new since); ``total``: entries in the transcript
    # (what POST …/read counts); ``older``: for ``?before=`` (the page before this one), or null
    out["cursor"] = str(total)
    out["total"] = total
    out["older"] = str(start) if start > 0 and "after" not in page else None
    if "after" not in page:
        # what the person wrote before asking (agreed to be shown), at the transcript's start:
        # the intake shows it even when only the newest page of a long transcript was asked for
        head = entries if start == 0 else _store().transcript_page(m, before=20)[0]
        out["context"] = [e.get("text", "") for e in head if e.get("from") == "user" and e.get("kind") == "context"]
    out["notes"] = _notes(m)
    out["earlier"] = [_earlier(e) for e in _store().earlier(m)]
    # Reading is never a GET: what has been on screen is said by POST …/read (with the CSRF
    # token), the only call that marks messages read and sends the person a read receipt (the
    # ?peek=1 the console adds, from when a plain GET did, changes nothing now).
    return jsonify(out)


@bp.post("/api/handoffs/<hid>/claim")
@login_required(api=True)
def api_claim(hid):
    store = _store()
    res = store.claim(hid, g.counselor["name"])
    if res == -1:
        return _error(404, "error.not_found")
    if res == 0:
        return _error(409, "claim.taken")
    m = store.get(hid) or {}
    if res == 1 and m.get("pid"):
        store.enqueue_console_event(m["pid"], "joined", hid)
    return jsonify({"ok": True, "handoff": _summary(m)})


def _held(hid):
    """The handoff, if the current counselor may act on it; else an error response."""
    m, err = _found(hid)
    if err:
        return None, err
    if m.get("status") != "active":
        return None, _error(409, "error.closed" if m.get("status") == "closed" else "error.not_yours")
    if not _holder_or_admin(m):
        return None, _error(403, "error.not_yours")
    return m, None


def _text_of(body, limit: int, empty: str, too_long: str):
    """The "text" of a JSON body: (text, None), or (None, a 400 naming what is wrong)."""
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None, _error(400, empty)
    if len(text) > limit:
        return None, _error(400, too_long)
    return text, None


@bp.post("/api/handoffs/<hid>/messages")
@login_required(api=True)
def api_message(hid):
    body = request.get_json(silent=True)
    text, err = _text_of(body, MAX_TEXT, "error.empty", "error.too_long")
    if err:
        return err
    if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
        # LINE counts UTF-16 units (an emoji is two): it would refuse this, after we said "sent"
        return _error(400, "error.too_long")
    entry = {"from": "counselor", "kind": "text", "text": text}
    return _deliver(hid, body, entry, "message", text=text)


@bp.get("/api/handoffs/<hid>/messages/<client_id>")
@login_required(api=True)
def api_message_sent(hid, client_id):
    """Whether the message with this client_id was taken for delivery (the console asks when the
    answer to its send was lost, before offering to send again): {"sent": true|false}."""
    if not CLIENT_ID.fullmatch(client_id) or not HANDOFF_ID.fullmatch(hid):
        return _error(400, "error.bad_request")
    m, err = _found(hid)
    if err:
        return err
    if not _may_read(m):
        return _error(403, "error.not_yours")
    return jsonify({"sent": _store().client_id_taken(hid, client_id)})


def _team_resources(team: str) -> TeamResources:
    return TeamResources(_store().r, team, audit=_store().audit)


def _resource_of_team(team: str, res: dict) -> dict:
    """A team's resource in the send-a-resource dialog."""
    return {"id": f"team:{team}:{res['id']}", "title": messages_ja.local_resource_title(res),
            "theirs": True, "place": False, "team": team}


@bp.get("/api/resources")
@login_required(api=True)
def api_resources():
    """What a counselor may send (the send-a-resource dialog): with ?handoff=<id>, first the local
    resources of the team serving that person's place (handoff/resources.py; the team it overflowed
    from too), then that person's prefecture; without one, the counselor's own teams' first."""
    catalogue = messages_ja.counselor_resources()
    first = None
    hid = request.args.get("handoff", "")
    m = _store().get(hid) if HANDOFF_ID.fullmatch(hid) else None
    if m and _may_read(m):
        teams = [x for x in (m.get("team"), m.get("team_home")) if x]
        try:
            first = messages_ja.pref_resource(json.loads(m.get("intake") or "{}").get("pref", ""))
        except ValueError:
            first = None
    else:
        teams = _teams().of(g.counselor["name"])
    local = [_resource_of_team(team, res) for team in dict.fromkeys(teams)
             for res in _team_resources(team).list()]
    ids = ([first] if first else []) + [rid for rid in catalogue if rid != first]
    return jsonify({"resources": local + [{"id": rid, "title": catalogue[rid]["title"], "theirs": rid == first,
                                           "place": rid.startswith(("pref:", "city:"))} for rid in ids]})


def _team_resource(rid: str) -> dict | None:
    """A team's current local resource by its console id ("team:<team>:<id>"), or None."""
    _, team, item = (rid.split(":", 2) + ["", ""])[:3]
    known = valid_team_name(team) and CLIENT_ID.fullmatch(item) and _teams().get(team)
    return _team_resources(team).get(item) if known else None


@bp.post("/api/handoffs/<hid>/resources")
@login_required(api=True)
def api_send_resource(hid):
    """Send a card of the catalogue, or a team's local resource ("team:<team>:<id>", while it is
    current), to the person, as a typed message is sent (exactly once per client_id); the
    transcript names what was sent. A team's resource travels with the event as it was when sent."""
    body = request.get_json(silent=True)
    rid = body.get("id") if isinstance(body, dict) else None
    if not isinstance(rid, str):
        return _error(400, "error.bad_request")
    if rid.startswith("team:"):
        res = _team_resource(rid)
        if res is None:
            return _error(404, "error.no_such_resource")
        local = {f: res.get(f, "") for f in ("kind", "name", "note", "phone", "url", "date", "until")}
        entry = {"from": "counselor", "kind": "resource",
                 "text": t("resource.line", title=messages_ja.local_resource_title(res))}
        return _deliver(hid, body, entry, "resource", id=rid, local=local)
    resource = messages_ja.counselor_resources().get(rid)
    if resource is None:
        return _error(404, "error.no_such_resource")
    entry = {"from": "counselor", "kind": "resource", "text": t("resource.line", title=resource["title"])}
    return _deliver(hid, body, entry, "resource", id=rid)


@bp.get("/api/resources/<rid>")
@login_required(api=True)
def api_resource_preview(rid):
    """What a resource says, for the preview the console shows before sending it (issue 27, #16):
    its title and the card's words (its altText, every number in it), as the person would get it."""
    if rid.startswith("team:"):              # a team's local resource, as it would go out now
        res = _team_resource(rid)
        if res is None:
            return _error(404, "error.no_such_resource")
        return jsonify({"id": rid, "title": messages_ja.local_resource_title(res),
                        "text": messages_ja.local_resource_message(res)["text"]})
    resource = messages_ja.counselor_resources().get(rid)
    if resource is None:
        return _error(404, "error.no_such_resource")
    return jsonify({"id": rid, "title": resource["title"],
                    "text": messages_ja.message_of(resource["message"])["text"]})


def _deliver(hid: str, body: dict, entry: dict, action: str, **event):
    """What the holder sends the person (a typed message, a resource): into the transcript and the
    person's own event stream, once per ``client_id`` (the console's id of a draft or a click)."""
    client_id = body.get("client_id")
    if client_id is not None and not (isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)):
        return _error(400, "error.bad_request")
    m, err = _held(hid)
    if err:
        return _not_sent(hid, err)
    if m.get("claimed_by") != g.counselor["name"]:
        return _not_sent(hid, _error(403, "error.not_yours"))
    store = _store()
    if not m.get("pid"):
        return _error(409, "error.closed")
    if client_id is not None:
        # the same draft sent twice (double Ctrl+Enter, a retry after a lost answer): one message
        taken = store.take_client_id(hid, client_id, g.counselor["name"])
        if taken == 0:
            return jsonify({"ok": True, "queued": True, "duplicate": True})
        if taken < 0:
            return _not_sent(hid, _error(409, "error.not_yours"))
    try:
        store.append(m["pid"], hid, {**entry, "at": now_ms(), "by": g.counselor["name"]})
        store.enqueue_console_event(m["pid"], action, hid, **event)
    except Exception:
        if client_id is not None:
            store.drop_client_id(hid, client_id)
        raise
    store.answered(hid)
    if action == "message":
        store.count("counselor_messages")
    return jsonify({"ok": True, "queued": True})


def _not_sent(hid: str, err):
    """A message refused: if a colleague handed the conversation on or closed it meanwhile, the
    answer says who did what (409, the draft stays with its writer), else ``err``."""
    m = _store().get(hid)
    moved = _moved_from_me(m) if m else None
    return _moved_answer(m, moved, "error.moved", 409) if moved else err


@bp.post("/api/handoffs/<hid>/read")
@login_required(api=True)
def api_read(hid):
    """The holder's console has shown the first ``seen`` transcript entries with the newest of
    them in view: those are read, and once nothing the person wrote is left unread, LINE shows
    them read receipts."""
    body = request.get_json(silent=True)
    seen = body.get("seen") if isinstance(body, dict) else None
    if not isinstance(seen, int) or isinstance(seen, bool) or seen < 0:
        return _error(400, "error.bad_request")
    m, err = _held(hid)
    if err:
        return err
    if m.get("claimed_by") != g.counselor["name"]:
        return _error(403, "error.not_yours")      # an admin looking on reads for nobody
    store = _store()
    if not m.get("pid"):
        return _error(409, "error.closed")
    if store.is_away(g.counselor["name"]):
        # away: a console left open on the desk reads nothing (no read mark for the person, and
        # a risk message stays unread, so everyone is alerted)
        return jsonify({"ok": True, "unread": int(m.get("unread") or 0), "away": True})
    unread, newly = store.mark_seen(m, seen)
    if newly and not unread:
        store.enqueue_console_event(m["pid"], "read", hid)
    return jsonify({"ok": True, "unread": unread})


@bp.post("/api/handoffs/<hid>/typing")
@login_required(api=True)
def api_typing(hid):
    m, err = _held(hid)
    if err:
        return err
    if m.get("claimed_by") != g.counselor["name"]:
        return _error(403, "error.not_yours")      # as for sending: an admin looking on types for nobody
    store = _store()
    if m.get("pid") and store.typing_once(hid):
        store.enqueue_console_event(m["pid"], "typing", hid)
    return jsonify({"ok": True})


@bp.post("/api/handoffs/<hid>/close")
@login_required(api=True)
def api_close(hid):
    store = _store()
    m, err = _found(hid)
    if err:
        return err
    body = request.get_json(silent=True)
    outcome = body.get("outcome", "") if isinstance(body, dict) else ""
    if not isinstance(outcome, str) or (outcome and outcome not in messages_ja.console().get("outcomes", {})):
        return _error(400, "error.bad_outcome")
    note = body.get("note", "") if isinstance(body, dict) else ""
    if not isinstance(note, str):
        return _error(400, "error.bad_request")
    note = " ".join(note.split())          # one line
    if len(note) > MAX_CLOSE_NOTE:
        return _error(400, "error.close_note_too_long")
    if m.get("status") == "closed":
        return jsonify({"ok": True, "already": True})
    if m.get("status") == "waiting":
        if not _is_admin():
            return _error(409, "error.not_yours")
    elif not _holder_or_admin(m):
        return _error(403, "error.not_yours")
    res = store.close(hid, g.counselor["name"], m.get("claimed_by") or "", outcome, note)
    if res == 0:
        return _error(409, "error.not_yours")
    if res == 1 and m.get("pid"):
        store.enqueue_console_event(m["pid"], "closed", hid)
    return jsonify({"ok": True})


@bp.post("/api/handoffs/<hid>/notes")
@login_required(api=True)
def api_add_note(hid):
    """A private case note (holder or admin): kept and deleted with the transcript, never sent."""
    text, err = _text_of(request.get_json(silent=True), MAX_NOTE, "error.note_empty", "error.note_too_long")
    if err:
        return err
    m, err = _found(hid)
    if err:
        return err
    if not _holder_or_admin(m):
        return _error(403, "error.not_yours")
    if not m.get("pid"):
        return _error(409, "error.closed")          # the person is forgotten: nothing to attach to
    _store().add_note(m, g.counselor["name"], text.strip())
    return jsonify({"ok": True, "notes": _notes(m)})


@bp.post("/api/handoffs/<hid>/notes/<nid>")
@login_required(api=True)
def api_edit_note(hid, nid):
    """Its writer changes a case note ({"text"}); the notes as they are now."""
    return _change_note(hid, nid, delete=False)


@bp.post("/api/handoffs/<hid>/notes/<nid>/delete")
@login_required(api=True)
def api_delete_note(hid, nid):
    """Its writer deletes a case note; the notes as they are now."""
    return _change_note(hid, nid, delete=True)


def _change_note(hid: str, nid: str, *, delete: bool):
    text = None
    if not delete:
        text, err = _text_of(request.get_json(silent=True), MAX_NOTE, "error.note_empty", "error.note_too_long")
        if err:
            return err
        text = text.strip()
    m, err = _found(hid)
    if err:
        return err
    if not _holder_or_admin(m):
        return _error(403, "error.not_yours")
    store = _store()
    note = next((n for n in store.notes(m) if n.get("id") == nid), None)
    if note is None:
        return _error(404, "error.not_found")
    if note.get("by") != g.counselor["name"]:
        return _error(403, "error.not_writer")
    if note.get("kind") == "close" and text is not None:
        text = " ".join(text.split())          # the closing note stays one short line
        if len(text) > MAX_CLOSE_NOTE:
            return _error(400, "error.close_note_too_long")
    res = store.change_note(m, nid, g.counselor["name"], text)
    if res == -1:
        return _error(403, "error.not_writer")
    if res == 0:
        return _error(404, "error.not_found")
    return jsonify({"ok": True, "notes": _notes(m)})


@bp.get("/api/handoffs/<hid>/earlier/<eid>")
@login_required(api=True)
def api_earlier(hid, eid):
    """One of the person's earlier handoffs, read-only, for whoever holds the present one (or an admin)."""
    m, err = _found(hid)
    if err:
        return err
    if not _holder_or_admin(m):
        return _error(403, "error.not_yours")
    e = next((e for e in _store().earlier(m) if e["id"] == eid), None)
    if e is None:
        return _error(404, "error.not_found")
    return jsonify({**_earlier(e), "alias": e.get("alias", ""), "messages": _messages(e), "notes": _notes(e)})


@bp.post("/api/handoffs/<hid>/release")
@login_required(api=True)
def api_release(hid):
    m, err = _held(hid)
    if err:
        return err
    store = _store()
    if store.release(hid, g.counselor["name"], m.get("claimed_by") or "") != 1:
        return _error(409, "error.not_yours")
    if m.get("pid"):
        store.enqueue_console_event(m["pid"], "released", hid)
    return jsonify({"ok": True})


def _refused_colleague(to):
    """Why a conversation cannot be given to ``to`` (400: no such counselor, or their account is
    disabled and nobody will ever read it there), or None."""
    acc = _accounts().get(to) if isinstance(to, str) else None
    if not acc:
        return _error(400, "error.no_such_counselor")
    if acc.get("disabled") == "1":
        return _error(400, "error.counselor_disabled")
    return None


@bp.post("/api/handoffs/<hid>/transfer")
@login_required(api=True)
def api_transfer(hid):
    body = request.get_json(silent=True)
    to = body.get("to") if isinstance(body, dict) else None
    note = body.get("note", "") if isinstance(body, dict) else ""
    refused = _refused_colleague(to)
    if refused:
        return refused
    if not isinstance(note, str):
        return _error(400, "error.bad_request")
    if len(note) > MAX_NOTE:
        return _error(400, "error.note_too_long")
    m, err = _held(hid)
    if err:
        return err
    who = g.counselor["name"]
    note = note.strip()
    line = t("transfer.line.note" if note else "transfer.line", by=who, to=to, note=note)
    if _store().transfer(hid, who, m.get("claimed_by") or "", to, note=note, line=line) != 1:
        return _error(409, "error.not_yours")
    return jsonify({"ok": True})


@bp.post("/api/handoffs/<hid>/forget")
@login_required(api=True, admin=True)
def api_forget(hid):
    """An admin deletes everything of this person (their request reached us another way)."""
    m, err = _found(hid)
    if err:
        return err
    if not _store().request_forget(m, g.counselor["name"]):
        return _error(409, "error.closed")
    return jsonify({"ok": True})


@bp.get("/api/canned")
@login_required(api=True)
def api_canned():
    """The canned replies counselors are offered: an admin's edited list, else the catalogue's."""
    canned = _canned()
    return jsonify({"canned": canned.list(), "edited": canned.edited()})


def _canned_fields():
    """(label, text) of a canned reply from the request body, or (None, an error answer)."""
    body = request.get_json(silent=True)
    label = body.get("label") if isinstance(body, dict) else None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(label, str) or not label.strip() or not isinstance(text, str) or not text.strip():
        return None, _error(400, "error.canned_empty")
    if len(label.strip()) > MAX_CANNED_LABEL or len(text.strip()) > MAX_CANNED_TEXT:
        return None, _error(400, "error.canned_too_long")
    return (label.strip(), text.strip()), None


def _canned_changed(what: str):
    """After an admin's change: audited (no text), and the list as it is now."""
    _store().audit(g.counselor["name"], f"canned_{what}", "")
    _store().publish("canned")
    return api_canned()


@bp.post("/api/canned")
@login_required(api=True, admin=True)
def api_canned_add():
    fields, err = _canned_fields()
    if err:
        return err
    try:
        _canned().add(*fields)
    except CannedFull:
        return _error(400, "error.canned_full")
    return _canned_changed("added")


@bp.post("/api/canned/reset")
@login_required(api=True, admin=True)
def api_canned_reset():
    _canned().reset()
    return _canned_changed("reset")


@bp.post("/api/canned/<cid>")
@login_required(api=True, admin=True)
def api_canned_edit(cid):
    fields, err = _canned_fields()
    if err:
        return err
    if not _canned().update(cid, *fields):
        return _error(404, "error.not_found")
    return _canned_changed("edited")


@bp.post("/api/canned/<cid>/delete")
@login_required(api=True, admin=True)
def api_canned_delete(cid):
    if not _canned().delete(cid):
        return _error(404, "error.not_found")
    return _canned_changed("deleted")


@bp.get("/api/counselors")
@login_required(api=True, admin=True)
def api_counselors():
    """The supervisor's view (admin): every counselor, online / away / offline, and what each holds
    (a disabled account is marked ``"disabled": true``: what it still holds can be given away, never to it)."""
    store, names = _store(), _accounts().names()
    aliases: dict[str, str] = {}
    status, held, off = store.statuses(names), store.holdings(aliases), _accounts().disabled(names)
    teams = _teams().all()
    return jsonify({"counselors": [{"name": n, "status": status[n], "holding": held.get(n, []),
                                    **({"teams": mine} if (mine := [t.name for t in teams if n in t.members]) else {}),
                                    **({"disabled": True} if n in off else {})} for n in names],
                    "aliases": aliases})      # (each held handoff's pseudonym: the view needs no list first)


@bp.get("/api/teams")
@login_required(api=True)
def api_teams():
    """The teams (places, hours, members, whether on duty now); ``mine``: the caller's. Admins see
    every team; a counselor sees the teams they are in."""
    now = datetime.now(timezone.utc)
    me, admin = g.counselor["name"], _is_admin()
    out = []
    for team in _teams().all():
        if admin or me in team.members:
            out.append({**team.as_dict(), "on_duty": team.on_duty(now), "mine": me in team.members})
    return jsonify({"teams": out})


@bp.post("/api/teams/<name>/members")
@login_required(api=True, admin=True)
def api_team_member_add(name):
    """The supervisor view adds a counselor to a team: {"name"} (audited)."""
    body = request.get_json(silent=True)
    who = body.get("name") if isinstance(body, dict) else None
    if not isinstance(who, str) or not _accounts().get(who):
        return _error(400, "error.no_such_counselor")
    try:
        _teams().add_member(name, who, by=g.counselor["name"])
    except TeamError:
        return _error(404, "error.not_found")
    _store().publish("teams")           # whose queue shows what (handoff/teams.py)
    return jsonify({"ok": True})


@bp.post("/api/teams/<name>/members/<who>/delete")
@login_required(api=True, admin=True)
def api_team_member_remove(name, who):
    """The supervisor view takes a counselor out of a team (audited)."""
    try:
        _teams().remove_member(name, who, by=g.counselor["name"])
    except TeamError:
        return _error(404, "error.not_found")
    _store().publish("teams")
    return jsonify({"ok": True})


# -- a team's local resources (handoff/resources.py) -------------------------------------------
def _team_access(name: str):
    """(the team, whether the caller may edit its resources, None) or (None, None, an error). Its
    counselors and every admin read them; its admins edit them: an admin in the team, or an admin
    in no team at all (the prefecture's supervisor over every team)."""
    teams = _teams().all()
    team = next((x for x in teams if x.name == name), None)
    me = g.counselor["name"]
    if team is None:
        return None, None, _error(404, "error.not_found")
    if not _is_admin() and me not in team.members:
        return None, None, _error(403, "error.forbidden")
    editor = _is_admin() and (me in team.members or not any(me in x.members for x in teams))
    return team, editor, None


def _resources_answer(team, editor: bool):
    items = _team_resources(team.name).list(past=editor)
    return jsonify({"team": team.name, "editable": editor, "resources": [
        {**{f: x.get(f, "") for f in ("id", "kind", "name", "note", "phone", "url", "date", "until")},
         "title": messages_ja.local_resource_title(x), "past": x["past"],
         "updated_at": _iso((x.get("updated_at") or 0) * 1000), "updated_by": x.get("updated_by")}
        for x in items]})


@bp.get("/api/teams/<name>/resources")
@login_required(api=True)
def api_team_resources(name):
    """A team's local resources: current ones for its counselors; past events too, marked
    ``past``, for those who may edit them (``editable``)."""
    team, editor, err = _team_access(name)
    return err or _resources_answer(team, editor)


def _edit_team_resources(name: str, change):
    """``change(resources, who)`` by one of the team's admins; the list as it is now after it."""
    team, editor, err = _team_access(name)
    if err:
        return err
    if not editor:
        return _error(403, "error.forbidden")
    try:
        if change(_team_resources(team.name), g.counselor["name"]) is False:
            return _error(404, "error.not_found")
    except ResourceError as exc:
        return _error(400, exc.code)
    return _resources_answer(team, editor)


@bp.post("/api/teams/<name>/resources")
@login_required(api=True)
def api_team_resource_add(name):
    """{"kind", "name", "note", "phone", "url", "date", "until"}: a new resource (validated; audited)."""
    body = request.get_json(silent=True)
    return _edit_team_resources(name, lambda res, who: res.add(body, by=who))


@bp.post("/api/teams/<name>/resources/<rid>")
@login_required(api=True)
def api_team_resource_edit(name, rid):
    """Every field of a resource, as when added (validated; audited: which fields changed)."""
    body = request.get_json(silent=True)
    if not CLIENT_ID.fullmatch(rid):
        return _error(404, "error.not_found")
    return _edit_team_resources(name, lambda res, who: res.update(rid, body, by=who))


@bp.post("/api/teams/<name>/resources/<rid>/delete")
@login_required(api=True)
def api_team_resource_delete(name, rid):
    if not CLIENT_ID.fullmatch(rid):
        return _error(404, "error.not_found")
    return _edit_team_resources(name, lambda res, who: res.delete(rid, by=who))


ALERTS_FRESH_S = 1.0        # one answer of /alerts serves every console of a process this long at most


@bp.get("/api/alerts")
@login_required(api=True)
def api_alerts():
    """Risk messages nobody present has read (``HandoffStore.unattended_risks``), for every
    logged-in counselor and admin, whoever holds the conversation. Each alert says only who (the
    alias), the danger in words, who holds it and whether they are away, offline or silent:
    never a word of the transcript, which stays with the holder and admins.

    The answer is the same for everyone, and every console asks for it when it hears of a change:
    one answer serves them all while nothing has changed since (the push channel's stream has no
    newer change) and for at most ALERTS_FRESH_S (a holder's console gone quiet changes it with no
    change told; an unread message's time running out is told, as ``alerts``)."""
    from . import events

    cache = current_app.extensions.setdefault("mado.alerts_answer", {})
    store = _store()
    position, now = events.top(store.r), time.monotonic()
    last = cache.get("last")
    if last and last[0] == position and now - last[1] < ALERTS_FRESH_S:
        return jsonify(last[2])
    answer = _alerts_answer(store)
    cache["last"] = (position, now, answer)
    return jsonify(answer)


def _alerts_answer(store: HandoffStore) -> dict:
    quiet_s = current_app.config["MADO"].risk_unread_s
    risks, due_ms = store.risks(quiet_s * 1000)
    # ``due_in_s``: when the next alert may begin with nothing else changing (a holder's unread
    # time running out, a console gone quiet): a console on the push channel asks again then
    return {"unread_after_s": quiet_s, "due_in_s": None if due_ms is None else round(due_ms / 1000, 1),
            "alerts": [{
        "id": m["id"], "alias": m.get("alias", ""), "urgent_reason": _urgent_reason(m),
        "crisis": m.get("crisis", "") or "", "holder": m["claimed_by"], "holder_status": m["holder_status"],
        "why": m["why"], "since": m["risk_since"], "risk_at": m["risk_at"],
        "urgent_at": int(m["urgent_at"]) if m.get("urgent_at") else None,
    } for m in risks],
        # people at risk who left (forget-me, a block, a cancel): who, the danger, who held them,
        # how they left; nothing they wrote. Until a counselor says they have seen it.
        "gone": [{"id": x["id"], "alias": x.get("alias", ""), "crisis": x.get("crisis", ""),
                  "urgent_reason": _urgent_reason({"priority": "urgent", "crisis": x.get("crisis")}),
                  "holder": x.get("holder") or None, "why": x.get("why", ""), "at": x.get("at")}
                 for x in store.gone()]}


@bp.post("/api/alerts/gone/<hid>/seen")
@login_required(api=True)
def api_gone_seen(hid):
    """A counselor has seen that someone at risk left: the alert ends on every console."""
    return jsonify({"ok": True, "already": not _store().gone_seen(hid, g.counselor["name"])})


@bp.get("/api/colleagues")
@login_required(api=True)
def api_colleagues():
    """Who could take a conversation (any counselor: the transfer dialog), and whether they are
    here; never a disabled account."""
    accounts = _accounts()
    names = accounts.names()
    off = accounts.disabled(names)
    names = [n for n in names if n not in off]
    status = _store().statuses(names)
    return jsonify({"colleagues": [{"name": n, "status": status[n], "online": status[n] == "online"} for n in names]})


@bp.post("/api/me/status")
@login_required(api=True)
def api_my_status():
    """Away (the console's away button) on or off: {"status": "away"|"online"}."""
    body = request.get_json(silent=True)
    status = body.get("status") if isinstance(body, dict) else None
    if status not in ("away", "online"):
        return _error(400, "error.bad_request")
    _store().set_away(g.counselor["name"], status == "away")
    return jsonify({"ok": True, "status": status})


@bp.post("/api/handoffs/<hid>/assign")
@login_required(api=True, admin=True)
def api_assign(hid):
    """An admin gives a conversation to a counselor: from the queue, or from someone who left."""
    body = request.get_json(silent=True)
    to = body.get("to") if isinstance(body, dict) else None
    refused = _refused_colleague(to)
    if refused:
        return refused
    m, err = _found(hid)
    if err:
        return err
    if m.get("status") == "closed":
        return _error(409, "error.closed")
    store, who = _store(), g.counselor["name"]
    line = t("assign.line", by=who, holder=m.get("claimed_by") or t("assign.queue"), to=to)
    res = store.assign(hid, who, to, line)
    if res == -1:
        return _error(404, "error.not_found")
    if res == 0:
        return _error(409, "error.closed")
    if res == 1 and m.get("pid"):
        store.enqueue_console_event(m["pid"], "joined", hid)
    return jsonify({"ok": True})


@bp.get("/api/stats")
@login_required(api=True, admin=True)
def api_stats():
    from .stats import summary

    return jsonify(summary(_store().r))
