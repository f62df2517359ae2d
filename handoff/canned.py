"""Canned replies: the catalogue's (``[[canned]]`` in messages_ja/console.toml) until an admin edits
them in the console, then the edited list, kept in Redis as one JSON value under the staff tag
(``mado:{staff}:canned``: one key, so it lives in one Redis Cluster slot). Every change is a
compare-and-set of the whole list (handoff/swap.py), so two admins editing at once never lose
each other's edit; "reset" deletes the key and the catalogue's list is offered again.
"""
from __future__ import annotations

import uuid

import redis

import messages_ja

from .swap import SwappedList

KEY = "mado:{staff}:canned"
MAX_LABEL = 40
MAX_TEXT = 1000
MAX_ITEMS = 50


class Full(Exception):
    """The list already holds MAX_ITEMS replies."""


def defaults() -> list[dict]:
    """The catalogue's canned replies, with ids that stay the same from one start to the next."""
    return [{"id": f"default-{i}", "label": c["label"], "text": c["text"]}
            for i, c in enumerate(messages_ja.console().get("canned", []))]


class CannedReplies:
    def __init__(self, r: redis.Redis):
        self.r = r
        self._list = SwappedList(r, KEY, defaults)

    def list(self) -> list[dict]:
        """What counselors are offered: the edited list, or the catalogue's until there is one."""
        return self._list.read()

    def edited(self) -> bool:
        return bool(self.r.exists(KEY))

    def add(self, label: str, text: str) -> dict:
        item = {"id": uuid.uuid4().hex[:12], "label": label, "text": text}

        def added(items):
            if len(items) >= MAX_ITEMS:
                raise Full()
            return items + [item]
        self._change(added)
        return item

    def update(self, cid: str, label: str, text: str) -> bool:
        """False when there is no reply with this id."""
        return self._change(lambda items: [{**c, "label": label, "text": text} if c["id"] == cid else c
                                           for c in items], cid)

    def delete(self, cid: str) -> bool:
        """False when there is no reply with this id."""
        return self._change(lambda items: [c for c in items if c["id"] != cid], cid)

    def reset(self) -> None:
        """Back to the catalogue's list."""
        self.r.delete(KEY)

    def _change(self, edit, cid: str | None = None) -> bool:
        return self._list.change(edit, cid)
