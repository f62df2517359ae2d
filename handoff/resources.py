"""Local resources a team keeps itself (issue 26): places to be (ibasho), family groups, courses
and seminars, work support contacts, with a day (or days) for events. Edited in the console by
the team's admins, listed first in the send-a-resource dialog for a person of that team, sent as
a card (messages_ja.local_resource_message).

One JSON list per team, changed by compare-and-set (handoff/swap.py), with the team under
``{staff}``: ``mado:{staff}:team:<name>:resources``. Each item: id, kind, name, note, phone, url,
date, until (ISO days, Asia/Tokyo), updated_at, updated_by. An event whose last day is past is
hidden from counselors and from the person automatically (its editors still see it, marked
``past``, to change or delete it). Every change is in the staff audit stream: who, when, which
team, which item and which fields; never what was written (a family group's contact may be a person's).
"""
from __future__ import annotations

import re
import time
import unicodedata
import uuid
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import redis

from .hours import TOKYO
from .swap import SwappedList
from .teams import resources_key

KINDS = ("ibasho", "family", "course", "work")     # their words: cards.toml [local_resources]
FIELDS = ("kind", "name", "note", "phone", "url", "date", "until")
MAX_NAME = 60
MAX_NOTE = 200
MAX_URL = 300
MAX_ITEMS = 100
MAX_AHEAD_DAYS = 2 * 366            # an event more than two years away is a typing mistake
# a Japanese number as written: 088-821-1234, 0120-279-338, 0888211234 (10 or 11 digits, from 0)
PHONE = re.compile(r"0\d{1,4}-\d{1,4}-\d{3,4}|0\d{9,10}")
HOST = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class ResourceError(ValueError):
    """A resource was refused: ``code`` is the console's words for why (console.toml [ui])."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Full(ResourceError):
    def __init__(self):
        super().__init__("error.resource_full")


def today() -> date:
    return datetime.now(TOKYO).date()


def _text(value, limit: int, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ResourceError("error.bad_request")
    value = " ".join(value.split())             # one line: it is a card's row
    if required and not value:
        raise ResourceError("error.resource_empty")
    if len(value) > limit or any(not c.isprintable() for c in value):
        raise ResourceError("error.resource_too_long")
    return value


def clean_phone(value) -> str:
    """A phone number as a person may dial it ("" for none), full-width digits and hyphens taken
    as written; ResourceError("error.resource_bad_phone") when it is no Japanese number."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ResourceError("error.resource_bad_phone")
    phone = unicodedata.normalize("NFKC", value).strip().replace(" ", "-")
    phone = re.sub(r"[\u2010-\u2015\u2212\u30fc]", "-", phone)          # the dashes people type
    digits = phone.replace("-", "")
    if not PHONE.fullmatch(phone) or len(digits) not in (10, 11):
        raise ResourceError("error.resource_bad_phone")
    return phone


def clean_url(value) -> str:
    """An http(s) address with a real host name ("" for none); nothing else may become a button."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > MAX_URL:
        raise ResourceError("error.resource_bad_url")
    url = value.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port                                  # noqa: B018 (a bad port raises ValueError)
    except ValueError:
        raise ResourceError("error.resource_bad_url") from None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or not HOST.fullmatch(host) \
            or any(c.isspace() or not c.isprintable() or ord(c) > 0x7e for c in url):
        raise ResourceError("error.resource_bad_url")
    return url


def clean_dates(start, until, *, now: date) -> tuple[str, str]:
    """("", "") for no day; an event's first and last day (ISO) otherwise, neither in the past
    nor over two years away, the last not before the first."""
    if start in (None, "") and until in (None, ""):
        return "", ""
    try:
        if not isinstance(start, str) or (until not in (None, "") and not isinstance(until, str)):
            raise ValueError
        first = date.fromisoformat(start.strip())
        last = date.fromisoformat(until.strip()) if until else first
    except ValueError:
        raise ResourceError("error.resource_bad_date") from None
    if last < first or (last - first).days > 366 or first > now + timedelta(days=MAX_AHEAD_DAYS):
        raise ResourceError("error.resource_bad_date")
    if last < now:
        raise ResourceError("error.resource_past")
    return first.isoformat(), (last.isoformat() if last != first else "")


def validate(body, *, now: date | None = None) -> dict:
    """The fields of a resource from a request body, cleaned; ResourceError naming what is wrong."""
    if not isinstance(body, dict):
        raise ResourceError("error.bad_request")
    kind = body.get("kind")
    if kind not in KINDS:
        raise ResourceError("error.resource_bad_kind")
    out = {"kind": kind, "name": _text(body.get("name"), MAX_NAME, required=True),
           "note": _text(body.get("note"), MAX_NOTE, required=False),
           "phone": clean_phone(body.get("phone")), "url": clean_url(body.get("url"))}
    if not out["phone"] and not out["url"]:
        raise ResourceError("error.resource_no_contact")       # a card a person can do nothing with
    out["date"], out["until"] = clean_dates(body.get("date"), body.get("until"), now=now or today())
    return out


def is_past(res: dict, now: date) -> bool:
    last = res.get("until") or res.get("date")
    return bool(last) and date.fromisoformat(last) < now


class TeamResources:
    def __init__(self, r: redis.Redis, team: str, audit=None):
        self.team = team
        self._list = SwappedList(r, resources_key(team))
        self._audit = audit             # (who, action, id) → the staff audit stream (HandoffStore.audit)

    def list(self, *, past: bool = False, now: date | None = None) -> list[dict]:
        """Current ones (events by day first, then the rest by name); with ``past``, past events
        too, marked ``past``."""
        now = now or today()
        items = [{**x, "past": is_past(x, now)} for x in self._list.read()]
        if not past:
            items = [x for x in items if not x["past"]]
        return sorted(items, key=lambda x: (not x.get("date"), x.get("date", ""), x["name"]))

    def get(self, rid: str, *, now: date | None = None) -> dict | None:
        """A current resource (None when there is none with this id, or it is past)."""
        return next((x for x in self.list(now=now) if x["id"] == rid), None)

    def add(self, body, *, by: str, now: date | None = None) -> dict:
        fields = validate(body, now=now)
        item = {"id": uuid.uuid4().hex[:12], **fields, "updated_at": int(time.time()), "updated_by": by}

        def added(items):
            if len(items) >= MAX_ITEMS:
                raise Full()
            return items + [item]
        self._list.change(added)
        self._note(by, "add", item["id"], [f for f, v in fields.items() if v])
        return item

    def update(self, rid: str, body, *, by: str, now: date | None = None) -> bool:
        """False when there is no resource with this id."""
        fields = validate(body, now=now)
        changed: list[str] = []

        def edited(items):
            changed[:] = []
            out = []
            for x in items:
                if x["id"] == rid:
                    changed.extend(f for f in FIELDS if x.get(f, "") != fields[f])
                    x = {**x, **fields, "updated_at": int(time.time()), "updated_by": by}
                out.append(x)
            return out
        if not self._list.change(edited, rid):
            return False
        self._note(by, "edit", rid, changed)
        return True

    def delete(self, rid: str, *, by: str) -> bool:
        if not self._list.change(lambda items: [x for x in items if x["id"] != rid], rid):
            return False
        self._note(by, "delete", rid, [])
        return True

    def _note(self, who: str, what: str, rid: str, fields) -> None:
        """Audited: who and when (the stream's fields), the team, the item and which fields; no value."""
        if self._audit:
            self._audit(who, f"resource_{what}:{self.team}:{rid}:{','.join(f for f in FIELDS if f in fields)}", "")
