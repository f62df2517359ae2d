"""One JSON list kept as one Redis value, changed by compare-and-set of the whole list: two admins
editing at once never lose each other's edit (the canned replies, a team's local resources). One
key, so it lives in one Redis Cluster slot."""
from __future__ import annotations

import json
from typing import Callable

import redis

# ARGV[1] the list as read ("" when the key was absent), ARGV[2] the new list: 1 set, 0 changed meanwhile
SWAP_LUA = """
local now = redis.call('GET', KEYS[1]) or ''
if now ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


class SwappedList:
    def __init__(self, r: redis.Redis, key: str, default: Callable[[], list] = list):
        self.r, self.key, self.default = r, key, default
        self._swap = r.register_script(SWAP_LUA)

    def read(self) -> list[dict]:
        raw = self.r.get(self.key)
        return json.loads(raw) if raw else self.default()

    def change(self, edit: Callable[[list], list], cid: str | None = None) -> bool:
        """Apply ``edit`` (list → list) to the list as stored now; again if it moved meanwhile.
        With ``cid``: False (nothing changed) when no item has this id."""
        while True:
            raw = self.r.get(self.key) or ""
            items = json.loads(raw) if raw else self.default()
            if cid is not None and not any(c["id"] == cid for c in items):
                return False
            if self._swap(keys=[self.key], args=[raw, json.dumps(edit(items), ensure_ascii=False)]):
                return True
