"""Handoffs in Redis: the queue, who holds what, transcripts, alerts, audit, anonymous counts.

Keys (bot/keys.py has the rest; shared/design.md "Redis keys"):
- ``mado:{handoff}:h:<id>``       one handoff's metadata and intake (no identity: alias, lane…)
- ``mado:{handoff}:queue``        waiting handoffs, score = priority class, then time queued
- ``mado:{handoff}:active``/``:closed``   indexes by time
- ``mado:{handoff}:pickups``      recent waits (ms) for an honest estimate
- ``mado:{handoff}:online``       counselors seen in the console recently (name → ms)
- ``mado:{handoff}:alerts``       outgoing alerts, consumed by the worker's alert sender
- ``mado:{handoff}:riskdue``      held conversations whose risk alert may begin later, and when
  (``risk_due``: the web tells every console at that moment)
- ``mado:{handoff}:audit``        who did what to which handoff (ids only), capped
- ``mado:{handoff}:gone``         people at risk who left mid-conversation (forget-me, a block, a
  cancel): handoff id → what the console's alert says (alias, danger tier, holder, how they left;
  never a word they wrote), until a counselor has seen it or a day has passed
- ``mado:{handoff}:h:<id>:cid:<client_id>``  a counselor message already taken (the console's
  random id per draft), for a day: the same id again is the same message
- ``mado:{u:<pid>}:ho:<id>:log``  the transcript, under the person's tag: forget-me deletes it
- ``mado:{u:<pid>}:ho:<id>:size``  the transcript's size in bytes, for its bound (TRANSCRIPT_*_BYTES)
- ``mado:{u:<pid>}:ho:<id>:notes``  counselors' private case notes on it (the closing note too):
  never sent to the person, kept and deleted with the transcript (every touch of one renews both)
- ``mado:{u:<pid>}:handoffs``     the person's handoffs (ids): their earlier ones, and forget-me
- ``mado:{stats}``                anonymous counters only
- ``mado:{stats}:teams``          the same per team (``<day>|<team or _pool>|<name>``), counts only
- ``mado:{stats}:waits:<YYYY-MM>``  each pickup's wait that month (``<team or _pool>|<ms>``), no id

Every change of a handoff's status is one Lua step on the ``{handoff}`` slot, so two counselors
claiming at once get exactly one winner. What the person sees follows through their own event
stream (``enqueue_console_event``), in order with what they write.
"""
from __future__ import annotations

import json
import statistics
import time
import uuid

import redis

import messages_ja
from bot import keys

TAG = "mado:{handoff}"
QUEUE = f"{TAG}:queue"
ACTIVE = f"{TAG}:active"
CLOSED = f"{TAG}:closed"
PICKUPS = f"{TAG}:pickups"
ONLINE = f"{TAG}:online"
ALERTS = f"{TAG}:alerts"
AWAY = f"{TAG}:away"        # counselors who said they are away (name → since, ms)
RISK_DUE = f"{TAG}:riskdue"  # held conversations whose risk alert may begin later (see risk_due)
AUDIT = f"{TAG}:audit"
STATS = "mado:{stats}"
TEAM_STATS = "mado:{stats}:teams"
POOL_KEY = "_pool"          # the shared pool in the per-team figures (no team name starts with _)
STATS_KEEP_S = 400 * 86400  # the monthly waits: a year and a month
CLASS = {"urgent": 0, "normal": 1}
CLASS_SPAN = 10 ** 13       # > any epoch ms: class first, then time queued
ONLINE_WINDOW_MS = 120_000
def _words(key: str) -> str:
    """A line of the console's own words (messages_ja/console.toml [ui])."""
    return messages_ja.console()["ui"][key]


def _unread_kind(entry: dict) -> bool:
    """A message of the person's that can be unread (not one copied from before the handoff)."""
    return entry.get("from") == "user" and entry.get("kind") != "context"


URGENT_TIERS = {"urgent", "medical", "harm_others", "violence", "high", "medium", "violence_partner", "violence_family", "violence_by_me"}
# most serious first: a later, milder risk message does not hide an earlier, graver one
TIER_ORDER = ["medical", "harm_others", "urgent", "high", "violence_partner", "violence_by_me", "violence_family", "violence", "medium"]
CLIENT_ID_TTL_S = 86400
GONE = f"{TAG}:gone"
GONE_KEEP_MS = 86_400_000   # an alert about someone at risk who left: a day at most, unseen
# A transcript is bounded (the console reads it whole): entries are kept whole up to 1 MiB of
# JSON, then shortened to their first SHORTENED_CHARS characters, and past 2 MiB nothing more is
# kept but one line that says so. About 200 messages of 5,000 characters, or thousands of usual ones.
TRANSCRIPT_WHOLE_BYTES = 1 << 20
TRANSCRIPT_MAX_BYTES = 2 << 20
SHORTENED_CHARS = 200


def meta_key(hid: str) -> str:
    return f"{TAG}:h:{hid}"


def client_id_key(hid: str, client_id: str) -> str:
    """Same hash tag as the handoff's own key: checked together with it in one Lua step."""
    return f"{TAG}:h:{hid}:cid:{client_id}"


def log_key(pid: str, hid: str) -> str:
    return keys.user(pid, f"ho:{hid}:log")


def notes_key(pid: str, hid: str) -> str:
    return keys.user(pid, f"ho:{hid}:notes")


def size_key(pid: str, hid: str) -> str:
    """How many bytes the transcript holds (its bound: TRANSCRIPT_WHOLE_BYTES, TRANSCRIPT_MAX_BYTES)."""
    return keys.user(pid, f"ho:{hid}:size")


def score(priority: str, queued_ms: int) -> int:
    return CLASS.get(priority, 1) * CLASS_SPAN + queued_ms


def now_ms() -> int:
    return int(time.time() * 1000)


def tokyo_day(at_s: float | None = None) -> str:
    """The Asia/Tokyo day (YYYY-MM-DD) of a moment (now when None): the figures' calendar."""
    return time.strftime("%Y-%m-%d", time.gmtime((time.time() if at_s is None else at_s) + 9 * 3600))


def waits_key(month: str) -> str:
    return f"{STATS}:waits:{month}"


CLAIM_LUA = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if st == 'waiting' then
  local queued = tonumber(redis.call('HGET', KEYS[1], 'queued_at') or ARGV[2])
  redis.call('HSET', KEYS[1], 'status', 'active', 'claimed_by', ARGV[1], 'claimed_at', ARGV[2],
             'paused', '0')
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
  redis.call('LPUSH', KEYS[4], tonumber(ARGV[2]) - queued)
  redis.call('LTRIM', KEYS[4], 0, 19)
  return 1
end
if st == 'active' and redis.call('HGET', KEYS[1], 'claimed_by') == ARGV[1] then return 2 end
return 0
"""

# status change guarded by the expected holder ('' = anyone): release / close / transfer
MOVE_LUA = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
local holder = redis.call('HGET', KEYS[1], 'claimed_by') or ''
local action = ARGV[1]
if ARGV[2] ~= '' and holder ~= ARGV[2] then return 0 end
if action == 'release' then
  if st ~= 'active' then return 0 end
  local prio = redis.call('HGET', KEYS[1], 'priority') or 'normal'
  local class = (prio == 'urgent') and 0 or 1
  local queued = tonumber(redis.call('HGET', KEYS[1], 'queued_at'))
  redis.call('HSET', KEYS[1], 'status', 'waiting', 'claimed_by', '', 'paused', '0')
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('ZADD', KEYS[2], class * tonumber(ARGV[5]) + queued, ARGV[4])
  return 1
elseif action == 'close' then
  if st == 'closed' then return 2 end
  redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[3], 'closed_by', ARGV[6],
             'paused', '0')
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  return 1
elseif action == 'transfer' then
  if st ~= 'active' then return 0 end
  redis.call('HSET', KEYS[1], 'claimed_by', ARGV[6], 'handover_from', holder)
  return 1
end
return -2
"""


# A note changed by its writer: the entry as it was read (ARGV[1]) replaced by ARGV[2], only if it
# is still there unchanged (1), else 0 (edited or deleted meanwhile: read again).
NOTE_SET_LUA = """
local all = redis.call('LRANGE', KEYS[1], 0, -1)
for i, x in ipairs(all) do
  if x == ARGV[1] then
    redis.call('LSET', KEYS[1], i - 1, ARGV[2])
    return 1
  end
end
return 0
"""

# A counselor message with this client_id: 1 the first time (taken), 0 a repeat, -1 the handoff is
# gone or no longer this counselor's. KEYS[1] the handoff, KEYS[2] its client id (same slot).
CLIENT_ID_LUA = """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' or redis.call('HGET', KEYS[1], 'claimed_by') ~= ARGV[1] then
  return -1
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', ARGV[3]) then return 1 end
return 0
"""

# One turn onto a transcript within its bound (HandoffStore.append). KEYS: the transcript, its size
# in bytes, its notes (renewed with it). ARGV: the entry, the entry with its text shortened ('' when
# its text is short), the line that says nothing more is kept, the bytes kept whole, the most bytes
# kept, the retention. Lua's string.len counts bytes, as the bound does.
APPEND_LUA = """
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local raw = ARGV[1]
local size = string.len(raw)
local most = tonumber(ARGV[5])
if used + size > tonumber(ARGV[4]) then
  if used >= most then return 0 end
  if ARGV[2] ~= '' then
    raw = ARGV[2]
    size = string.len(raw)
  end
  if used + size > most then
    raw = ARGV[3]
    size = most
  end
end
redis.call('RPUSH', KEYS[1], raw)
redis.call('INCRBY', KEYS[2], size)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return 1
"""

# The holder has now seen the transcript up to ARGV[2] entries, ARGV[3] of them the person's and new
# since ARGV[1] (the mark read from): one step on the handoff's slot, so two tabs never count a
# message twice and a message counted but not yet in the transcript stays unread.
SEEN_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if tonumber(redis.call('HGET', KEYS[1], 'read_upto') or '0') ~= tonumber(ARGV[1]) then return -1 end
local unread = tonumber(redis.call('HGET', KEYS[1], 'unread') or '0') - tonumber(ARGV[3])
if unread < 0 then unread = 0 end
redis.call('HSET', KEYS[1], 'read_upto', ARGV[2], 'unread', unread)
return unread
"""

# A forgotten person's card: ARGV[1] the intake kept, the rest the fields to drop; never recreates
# a card that has expired meanwhile (an HSET would, without its retention).
FORGET_CARD_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('HSET', KEYS[1], 'priority', 'normal', 'intake', ARGV[1])
return 1
"""


class HandoffStore:
    def __init__(self, r: redis.Redis, *, shards: int = 16, transcript_ttl_s: int = 90 * 86400,
                 transcript_bytes: tuple[int, int] = (TRANSCRIPT_WHOLE_BYTES, TRANSCRIPT_MAX_BYTES)):
        self.r = r
        self.shards = shards
        self.transcript_ttl_s = transcript_ttl_s
        self.whole_bytes, self.max_bytes = transcript_bytes
        self._claim = r.register_script(CLAIM_LUA)
        self._move = r.register_script(MOVE_LUA)
        self._seen = r.register_script(SEEN_LUA)
        self._client_id = r.register_script(CLIENT_ID_LUA)
        self._note_set = r.register_script(NOTE_SET_LUA)
        self._forget_card = r.register_script(FORGET_CARD_LUA)

    # -- reading ----------------------------------------------------------------------------
    def get(self, hid: str) -> dict | None:
        meta = self.r.hgetall(meta_key(hid))
        return meta or None

    LIST_SIZE = {"waiting": 200, "active": 200, "closed": 100}

    def list(self, status: str, ids: list[str] | None = None) -> list[dict]:
        """A console list (waiting, active: oldest first; closed: newest first, the first
        LIST_SIZE). With ``ids``: only those of them in that list now, in its order (a console's
        list delta). Each handoff carries ``order``, its score in the list's index (what the
        list is sorted by, then its id)."""
        if status not in self.LIST_SIZE:
            raise ValueError(status)
        index = {"waiting": QUEUE, "active": ACTIVE, "closed": CLOSED}[status]
        size, newest_first = self.LIST_SIZE[status], status == "closed"
        if ids is None:
            ranged = self.r.zrevrange if newest_first else self.r.zrange
            pairs = ranged(index, 0, size - 1, withscores=True)
        else:
            pipe = self.r.pipeline(transaction=False)
            for hid in ids:
                (pipe.zrevrank if newest_first else pipe.zrank)(index, hid)
                pipe.zscore(index, hid)
            got = pipe.execute()
            ranks = sorted((got[2 * i], hid, got[2 * i + 1]) for i, hid in enumerate(ids)
                           if got[2 * i] is not None and got[2 * i] < size)
            pairs = [(hid, score) for _rank, hid, score in ranks]
        pipe = self.r.pipeline(transaction=False)
        for hid, _score in pairs:
            pipe.hgetall(meta_key(hid))
        out = [{**m, "order": score} for m, (_hid, score) in zip(pipe.execute(), pairs) if m]
        if status == "waiting":      # the index is the order; drop any that moved meanwhile
            out = [m for m in out if m.get("status") == "waiting"]
        return out

    def search_closed(self, q: str = "", day_ms: tuple[int, int] | None = None, limit: int = 100) -> list[dict]:
        """Closed handoffs still kept, newest first: whose alias contains ``q`` (any case), closed
        within ``day_ms`` (start, end) when given. Reads the index in slices, stops at ``limit``."""
        q = "".join(ch for ch in q.upper() if ch in "0123456789ABCDEF")
        out, start, step = [], 0, 500
        while len(out) < limit:
            if day_ms:
                ids = self.r.zrevrangebyscore(CLOSED, day_ms[1] - 1, day_ms[0], start=start, num=step)
            else:
                ids = self.r.zrevrange(CLOSED, start, start + step - 1)
            if not ids:
                break
            pipe = self.r.pipeline(transaction=False)
            for hid in ids:
                pipe.hgetall(meta_key(hid))
            out += [m for m in pipe.execute() if m and q in m.get("alias", "")]
            start += step
        return out[:limit]

    def transcript(self, meta: dict) -> list[dict]:
        pid = meta.get("pid")
        if not pid:
            return []
        return [json.loads(x) for x in self.r.lrange(log_key(pid, meta["id"]), 0, -1)]

    def transcript_page(self, meta: dict, *, after: int | None = None, before: int | None = None,
                        limit: int | None = None) -> tuple[list[dict], int, int]:
        """Part of the transcript: (its entries, the index of the first of them, how many the
        transcript holds in all). ``after``: the entries from that index on (what is new since a
        console's cursor); else the ``limit`` newest ones before index ``before`` (the whole
        transcript when neither is given). Entries are never changed or removed once written
        (forget-me deletes the whole list), so an index is a stable place in it."""
        pid = meta.get("pid")
        if not pid:
            return [], 0, 0
        key = log_key(pid, meta["id"])
        if after is not None:
            raw = self.r.lrange(key, after, -1)
            return [json.loads(x) for x in raw], after, after + len(raw)
        pipe = self.r.pipeline(transaction=True)          # one key: the count and the page agree
        pipe.llen(key)
        if before is None:
            pipe.lrange(key, -limit if limit else 0, -1)
        else:
            before = max(0, before)
            pipe.lrange(key, max(0, before - (limit or before)), max(0, before - 1))
        total, raw = pipe.execute()
        total = int(total)
        if before is None:
            start = total - len(raw)
        else:
            raw = raw if before > 0 else []
            start = max(0, before - (limit or before))
            raw = raw[:max(0, min(before, total) - start)]
        return [json.loads(x) for x in raw], start, total

    def notes(self, meta: dict) -> list[dict]:
        """The case notes on a handoff, oldest first ([] once the person is forgotten)."""
        pid = meta.get("pid")
        if not pid:
            return []
        return [json.loads(x) for x in self.r.lrange(notes_key(pid, meta["id"]), 0, -1)]

    def earlier(self, meta: dict) -> list[dict]:
        """The same person's handoffs still kept that began before this one, newest first: each
        one's metadata with ``note`` (its closing note, or "") and ``message_count``."""
        pid = meta.get("pid")
        if not pid:
            return []
        ids = [h for h in self.r.smembers(keys.user(pid, "handoffs")) if h != meta["id"]]
        pipe = self.r.pipeline(transaction=False)
        for hid in ids:
            pipe.hgetall(meta_key(hid))
        before = int(meta.get("created_at") or 0)
        found = [m for m in pipe.execute() if m and m.get("pid") == pid and int(m.get("created_at") or 0) < before]
        pipe = self.r.pipeline(transaction=False)
        for m in found:
            pipe.lrange(notes_key(pid, m["id"]), 0, -1)
            pipe.llen(log_key(pid, m["id"]))
        read = pipe.execute()
        for i, m in enumerate(found):
            closing = [n for n in map(json.loads, read[2 * i]) if n.get("kind") == "close"]
            m["note"] = closing[-1]["text"] if closing else ""
            m["message_count"] = int(read[2 * i + 1])
        return sorted(found, key=lambda m: int(m.get("created_at") or 0), reverse=True)

    def queue_position(self, priority: str, hid: str | None = None) -> int:
        """A place in line, counting only who is ahead. A handoff already waiting (`hid`): its own
        rank, so the person asking is never counted ahead of themselves, nor those who came
        later. Otherwise where a new handoff of this class would stand: everyone of its class or
        a more urgent one already waiting, plus one."""
        if hid:
            rank = self.r.zrank(QUEUE, hid)
            if rank is not None:
                return rank + 1
        return self.r.zcount(QUEUE, "-inf", f"({(CLASS[priority] + 1) * CLASS_SPAN}") + 1

    def wait_minutes(self, position: int) -> float | None:
        """From recent pickups: their median wait, scaled by place in line and counselors online."""
        recent = [int(x) for x in self.r.lrange(PICKUPS, 0, 19)]
        if len(recent) < 3:
            return None
        online = max(1, len(self.online()))
        return statistics.median(recent) / 60000 * max(1.0, position / online)

    def median_wait_s(self) -> float | None:
        """Median wait of the recent pickups, in seconds (None before the first)."""
        waits = [int(x) for x in self.r.lrange(PICKUPS, 0, -1)]
        return statistics.median(waits) / 1000 if waits else None

    def online(self) -> list[str]:
        return self.r.zrangebyscore(ONLINE, now_ms() - ONLINE_WINDOW_MS, "+inf")

    def seen_online(self, name: str) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(ONLINE, {name: now_ms()})
        pipe.zremrangebyscore(ONLINE, "-inf", now_ms() - 10 * ONLINE_WINDOW_MS)
        pipe.execute()

    def left_console(self, name: str, grace_s: float) -> None:
        """The last console of ``name`` connected to the push channel closed (handoff/events.py):
        offline ``grace_s`` from now, unless a console of theirs is seen again meanwhile (a
        reconnect, another tab, polling), not after ONLINE_WINDOW_MS."""
        self.r.zadd(ONLINE, {name: now_ms() - ONLINE_WINDOW_MS - 1 + int(grace_s * 1000)}, xx=True, lt=True)

    def set_away(self, name: str, away: bool) -> None:
        if away:
            self.r.hset(AWAY, name, now_ms())
        else:
            self.r.hdel(AWAY, name)
        self.publish("presence", name=name)

    def publish(self, kind: str, hid: str | None = None, *, pipe=None, **extra) -> None:
        """Tell every open console that something changed (handoff/events.py)."""
        from . import events

        events.publish(self.r, kind, hid, pipe=pipe, **extra)

    def is_away(self, name: str) -> bool:
        """The counselor said they are away: nobody is at their console, so nothing it shows is read."""
        return bool(self.r.hexists(AWAY, name))

    def statuses(self, names: list[str]) -> dict[str, str]:
        """online (in the console lately), away (in the console, said they are away) or offline."""
        online, away = set(self.online()), set(self.r.hkeys(AWAY))
        return {n: "offline" if n not in online else "away" if n in away else "online" for n in names}

    def holdings(self, aliases: dict | None = None) -> dict[str, list[str]]:
        """Who holds which active handoffs (ids, in the order they were taken); ``aliases``, when
        given, is filled with each one's pseudonym (id → alias)."""
        out: dict[str, list[str]] = {}
        for m in self.list("active"):
            if m.get("status") == "active" and m.get("claimed_by"):
                out.setdefault(m["claimed_by"], []).append(m["id"])
                if aliases is not None:
                    aliases[m["id"]] = m.get("alias", "")
        return out

    def unattended_risks(self, quiet_ms: int) -> list[dict]:
        return self.risks(quiet_ms)[0]

    def _urgent_held(self) -> list[dict]:
        """The active list's handoffs (its first LIST_SIZE, as the console lists it) that are urgent,
        held by someone and still have their person: each one's whole metadata. Four fields of each
        are read first and the whole card only of those (the risk alerts are asked for often; most
        conversations are not urgent)."""
        ids = self.r.zrange(ACTIVE, 0, self.LIST_SIZE["active"] - 1)
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for hid in ids:
            pipe.hmget(meta_key(hid), ["status", "priority", "claimed_by", "pid"])
        picked = [hid for hid, (status, priority, holder, pid) in zip(ids, pipe.execute())
                  if status == "active" and priority == "urgent" and holder and pid]
        if not picked:
            return []
        pipe = self.r.pipeline(transaction=False)
        for hid in picked:
            pipe.hgetall(meta_key(hid))
        return [m for m in pipe.execute()
                if m.get("status") == "active" and m.get("priority") == "urgent" and m.get("claimed_by") and m.get("pid")]

    def risks(self, quiet_ms: int) -> tuple[list[dict], int | None]:
        """Active handoffs with a risk message that its holder has not read (the read mark, what
        the holder's console has had on screen, stops before it) while the holder is away or
        offline, or has left it unread for ``quiet_ms`` or more: the console alerts every counselor
        and admin about these. The clock starts at the oldest unread risk message, or at the
        moment the present holder took it over (claim, transfer, assignment) if that was later.
        Each is the handoff's metadata with ``holder_status`` (online, away, offline), ``why``
        (away, offline, unread), ``risk_since`` (ms, when the clock started) and ``risk_at``
        (ms of the newest unread risk message), oldest first. With them: in how many ms the next
        may begin if nothing else changes (an unread one's time running out, or its holder's
        console last seen long enough ago to be offline), or None."""
        return self._risks_of(self._urgent_held(), quiet_ms)

    def _risks_of(self, found: list[dict], quiet_ms: int) -> tuple[list[dict], int | None]:
        """``risks`` for these handoffs (urgent, active, held; their metadata)."""
        if not found:
            return [], None
        pipe = self.r.pipeline(transaction=False)
        for m in found:
            pipe.lrange(log_key(m["pid"], m["id"]), int(m.get("read_upto") or 0), -1)
        tails = pipe.execute()
        holders = sorted({m["claimed_by"] for m in found})
        status = self.statuses(holders)
        seen = dict(zip(holders, self.r.zmscore(ONLINE, holders)))
        now, out, due = now_ms(), [], []
        for m, tail in zip(found, tails):
            risks = [int(e.get("at") or 0) for e in map(json.loads, tail) if e.get("risk")]
            if not risks:
                continue
            since = max(risks[0], int(m.get("claimed_at") or 0), int(m.get("handover_at") or 0))
            holder = status[m["claimed_by"]]
            if holder != "online":
                why = holder
            elif now - since >= quiet_ms:
                why = "unread"
            else:
                due.append(since + quiet_ms - now)
                if seen.get(m["claimed_by"]):
                    due.append(int(seen[m["claimed_by"]]) + ONLINE_WINDOW_MS - now)
                continue
            out.append({**m, "holder_status": holder, "why": why, "risk_since": since, "risk_at": risks[-1]})
        return sorted(out, key=lambda m: m["risk_since"]), max(0, min(due)) if due else None

    # -- the moment an unread risk message's time runs out, told by the server ---------------
    # RISK_DUE holds each held conversation whose risk alert may begin later with nothing else
    # happening (its holder's unread time running out, or their console gone quiet): score =
    # that moment less the unread time (MADO_RISK_UNREAD_S, which only the web knows), so the
    # worker adds an entry when a risk message comes (make_urgent) and any claim, transfer or
    # assignment restarts it, without knowing the setting. Each web process looks once a second
    # (handoff/events.py) and takes what is due with ZREM (one process each), looks at it again
    # and tells every console (an ``alerts`` event) when an alert begins now; what is due later
    # is put back for then. A console's own asking (its due_in_s timer, its slow safety net)
    # stays as it was: this only makes the moment reach every console without asking.
    def risk_due(self, hid: str, at_ms: int | None = None) -> None:
        """Look at ``hid``'s risk alert again once its unread time from ``at_ms`` (now) has passed
        (the earliest of the moments asked for is kept)."""
        self.r.zadd(RISK_DUE, {hid: now_ms() if at_ms is None else at_ms}, lt=True)

    def risks_due(self, quiet_ms: int, limit: int = 100) -> int:
        """The entries of RISK_DUE whose time has come, each taken by this process alone (ZREM)
        and looked at now: how many of them alert now (the caller tells the consoles once); those
        whose alert may begin later (the clock restarted, the holder's console seen lately) are
        put back for then, the rest (read, closed, handed back) dropped."""
        now = now_ms()
        ids = self.r.zrangebyscore(RISK_DUE, "-inf", now - quiet_ms, start=0, num=limit)
        alerting = 0
        for hid in ids:
            if not self.r.zrem(RISK_DUE, hid):
                continue                    # another web process took it
            meta = self.get(hid) or {}
            if not (meta.get("status") == "active" and meta.get("priority") == "urgent"
                    and meta.get("claimed_by") and meta.get("pid")):
                continue
            found, due = self._risks_of([meta], quiet_ms)
            if found:
                alerting += 1
            elif due is not None:
                self.risk_due(hid, now_ms() + due - quiet_ms)
        return alerting

    def held(self, hid: str | None) -> bool:
        """A paused handoff whose counselor still holds it and is in the console now."""
        if not hid:
            return False
        meta = self.get(hid) or {}
        return meta.get("status") == "active" and meta.get("claimed_by", "") in self.online()

    # -- the person's side (called by the worker, in the person's event order) ----------------
    def present(self) -> set[str]:
        """Counselors in the console now who have not said they are away."""
        return set(self.online()) - set(self.r.hkeys(AWAY))

    def route(self, place: dict | None, urgent: bool):
        """Which team a new handoff goes to (handoff/teams.py): ``place`` holds the codes the
        conversation kept (pref, city, muni)."""
        from .teams import Teams

        place = place or {}
        return Teams(self.r).route(place.get("pref"), place.get("city"), place.get("muni"), urgent=urgent,
                                   present_of=self.present)

    def create(self, pid: str, hid: str, intake: dict, *, mode: str = "live", place: dict | None = None) -> bool:
        """Queue a new handoff, for the team serving ``place`` (or the shared pool). Idempotent: a
        redo of the same event creates nothing twice."""
        priority = "urgent" if intake.get("crisis") in URGENT_TIERS else "normal"
        at = now_ms()
        route = self.route(place, priority == "urgent")
        meta = {
            "id": hid, "pid": pid, "alias": keys.alias(pid), "status": "waiting", "mode": mode,
            "priority": priority, "lane": intake.get("lane", ""), "topic": intake.get("topic", ""),
            "intake": json.dumps(intake, ensure_ascii=False), "created_at": at, "queued_at": at,
            "claimed_by": "", "paused": "0", "unread": 0, "crisis": intake.get("crisis", ""),
            "team": route.team, "team_home": route.home, "routed": route.why,
        }
        if priority == "urgent":
            meta["urgent_at"] = at
        if not self.r.hsetnx(meta_key(hid), "id", hid):
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(meta_key(hid), mapping=meta)
        pipe.expire(meta_key(hid), self.transcript_ttl_s)     # refreshed on activity and at close
        pipe.zadd(QUEUE, {hid: score(priority, at)})
        pipe.zrank(QUEUE, hid)
        rank = pipe.execute()[-1]
        self.r.hset(meta_key(hid), "start_pos", (rank or 0) + 1)
        # the person's own list of their handoffs, so forget-me can find every one of them
        self.r.sadd(keys.user(pid, "handoffs"), hid)
        self.r.expire(keys.user(pid, "handoffs"), self.transcript_ttl_s)
        team = route.team
        self.count("handoffs", team=team)
        pipe = self.r.pipeline(transaction=False)
        if priority == "urgent":
            self.count("handoffs_urgent", team=team, pipe=pipe)
        if intake.get("crisis"):
            self.count_team("crisis_people", team, pipe=pipe)
        if intake.get("lane"):
            self.count_team(f"lane_{intake['lane'].removeprefix('lane_')}", team, pipe=pipe)
        if intake.get("topic"):
            self.count_team(f"topic_{intake['topic']}", team, pipe=pipe)
        if route.why in ("off_duty", "nobody_online"):
            self.count_team(f"overflow_{route.why}", route.home, pipe=pipe)
        pipe.execute()
        self.alert(priority)
        self.audit("person", "created", hid)
        self.publish("urgent" if priority == "urgent" else "queue", hid)
        return True

    def note_user_message(self, hid: str, *, pipe=None) -> None:
        target = pipe if pipe is not None else self.r.pipeline(transaction=False)
        target.hincrby(meta_key(hid), "unread", 1)
        target.hset(meta_key(hid), "last_user_at", now_ms())
        target.hsetnx(meta_key(hid), "awaiting_since", now_ms())    # the oldest one not yet answered
        target.expire(meta_key(hid), self.transcript_ttl_s)
        if pipe is None:
            target.execute()

    def make_urgent(self, hid: str, tier: str, *, pipe=None) -> None:
        """A risk message from someone in a handoff: urgent, the gravest tier so far kept, and
        ``urgent_at`` moved to now, which is what makes every console watching it alert again.
        Posted outside the console (MADO_ALERT_WEBHOOK_URL) the first time, and every time when
        the counselor holding it is away or offline."""
        meta = self.get(hid)
        if not meta or meta.get("status") == "closed":
            return
        first = meta.get("priority") != "urgent"
        tier = self.graver(meta.get("crisis") or "", tier)
        self.r.hset(meta_key(hid), mapping={"priority": "urgent", "crisis": tier, "urgent_at": now_ms()})
        if meta.get("status") == "waiting":
            self.r.zadd(QUEUE, {hid: score("urgent", int(meta["queued_at"]))})
        elif meta.get("status") == "active":
            self.risk_due(hid)              # unread by its holder so long: everyone is told
        self.publish("urgent", hid, pipe=pipe)      # (``pipe``: told once the caller runs it)
        holder = meta.get("claimed_by") if meta.get("status") == "active" else ""
        if holder and self.statuses([holder])[holder] != "online":
            # its counselor is away or gone: outside the console too, every time (nobody may be
            # at a console at all to see the alert there)
            self.alert("risk")
        elif first:
            self.alert("urgent")
        if first:
            self.count("handoffs_urgent", team=meta.get("team") or "")
            if not meta.get("crisis"):
                self.count_team("crisis_people", meta.get("team") or "")
            self.audit("person", "urgent", hid)

    @staticmethod
    def graver(old: str, new: str) -> str:
        rank = {t: i for i, t in enumerate(TIER_ORDER)}
        if old in rank and rank[old] < rank.get(new, len(rank)):
            return old
        return new or old

    def _moved(self, action: str, hid: str, *, holder: str = "", who: str = "") -> int:
        """One status change in MOVE_LUA, guarded by the expected holder ("" = anyone)."""
        ttl_ms = self.transcript_ttl_s * 1000 if action == "close" else 0
        return self._move(keys=[meta_key(hid), QUEUE, ACTIVE, CLOSED],
                          args=[action, holder, now_ms(), hid, CLASS_SPAN, who, ttl_ms])

    def cancel(self, hid: str, reason: str = "cancelled") -> None:
        meta = self.get(hid) or {}
        if reason == "cancelled":
            self.note_gone(meta, "cancelled")
        if self._moved("close", hid) == 1:
            self.count(f"outcome_{reason}", team=meta.get("team") or "")
        self.r.hset(meta_key(hid), "closed_reason", reason)
        self._keep(self.get(hid) or {})
        self.audit("person", reason, hid)
        self.publish("queue", hid)

    def _keep(self, meta: dict) -> None:
        """A handoff ended: its transcript and notes, and the person's list of their handoffs, are
        kept for the retention period from now (as its card is, by MOVE_LUA)."""
        pid = meta.get("pid")
        if not pid:
            return
        pipe = self.r.pipeline(transaction=True)
        for key in (log_key(pid, meta["id"]), notes_key(pid, meta["id"]), size_key(pid, meta["id"]),
                    keys.user(pid, "handoffs")):
            pipe.expire(key, self.transcript_ttl_s)
        pipe.execute()

    def forget_person(self, pid: str, why: str = "") -> int:
        """End and unlink every handoff of this person, delete every key under their tag, their
        dead letters and their place among the crisis replies waiting to be pushed. ``why`` (the
        person asked, "forgot", or blocked us, "blocked"): how an open handoff of someone at risk
        ended, for the console's alert (staff deleting on request: "", no alert)."""
        for hid in self.r.smembers(keys.user(pid, "handoffs")):
            self.person_left(hid, why)
        deleted = 0
        for key in self.r.scan_iter(match=keys.user_pattern(pid), count=500):
            deleted += self.r.delete(key)
        self.r.zrem(keys.REDELIVER, pid)
        return deleted + self._forget_dead_letters(pid)

    def _forget_dead_letters(self, pid: str) -> int:
        """Delete the person's entries of the dead-letter stream (read through in pages: it holds
        at most 10,000, and forgetting is rare)."""
        start, mine = "-", []
        while True:
            page = self.r.xrange(keys.DEAD_LETTERS, start, "+", count=1000)
            mine += [entry_id for entry_id, fields in page if fields.get("pid") == pid]
            if len(page) < 1000:
                break
            start = "(" + page[-1][0]
        for i in range(0, len(mine), 500):
            self.r.xdel(keys.DEAD_LETTERS, *mine[i:i + 500])
        return len(mine)

    # What a card keeps once its person is forgotten: when and how it went, and who had it; never
    # what they said or how grave it was (the handover note, the danger tier, where they live).
    FORGOTTEN_DROP = ("pid", "handover_note", "crisis", "urgent_at", "awaiting_since", "last_user_at",
                      "team", "team_home", "routed")     # a team says where the person lives
    FORGOTTEN_INTAKE = ("lane", "topic", "topics", "mode")

    def person_left(self, hid: str, why: str = "") -> None:
        """Forget-me or block: the handoff ends, the counselor sees that the person left, and the
        card (kept for the staff's records) keeps nothing about the person: no handover note, no
        danger tier (nor its urgent class), no prefecture. ``why`` ("forgot", "blocked"): someone
        at risk who left is an alert on every console (note_gone), before the card forgets."""
        meta = self.get(hid)
        if not meta or not meta.get("pid"):
            return
        if meta.get("status") != "closed":
            if why:
                self.note_gone(meta, why)
            self.cancel(hid, "left")
        try:
            intake = json.loads(meta.get("intake") or "{}")
        except ValueError:
            intake = {}
        kept = {k: v for k, v in intake.items() if k in self.FORGOTTEN_INTAKE} if isinstance(intake, dict) else {}
        self._forget_card(keys=[meta_key(hid)], args=[json.dumps(kept, ensure_ascii=False), *self.FORGOTTEN_DROP])
        self.publish("queue", hid)

    def note_gone(self, meta: dict, why: str) -> None:
        """Someone at risk (an urgent handoff, waiting or with a counselor) left: they asked to be
        forgotten ("forgot"), blocked us ("blocked") or took their request back ("cancelled").
        Every console alerts about it until a counselor has seen it: who (the alias), the danger
        tier, who held it and how they left; nothing they wrote (it may be what they asked to
        delete). Kept a day at most."""
        if meta.get("status") not in ("waiting", "active") or meta.get("priority") != "urgent":
            return
        at = now_ms()
        gone = {"id": meta["id"], "alias": meta.get("alias", ""), "crisis": meta.get("crisis") or "",
                "holder": (meta.get("claimed_by") or "") if meta.get("status") == "active" else "",
                "why": why, "at": at}
        self.r.hset(GONE, meta["id"], json.dumps(gone, ensure_ascii=False))
        self.alert("risk")              # outside the console too (MADO_ALERT_WEBHOOK_URL, no personal data)
        self.audit("person", f"gone:{why}", meta["id"])
        self.publish("urgent", meta["id"], gone=1)

    def gone(self) -> list[dict]:
        """The alerts about people at risk who left, oldest first (those older than a day dropped)."""
        now, out, stale = now_ms(), [], []
        for hid, raw in self.r.hgetall(GONE).items():
            g = json.loads(raw)
            if now - int(g.get("at") or 0) > GONE_KEEP_MS:
                stale.append(hid)
            else:
                out.append(g)
        if stale:
            self.r.hdel(GONE, *stale)
        return sorted(out, key=lambda g: g["at"])

    def gone_seen(self, hid: str, who: str) -> bool:
        """A counselor has seen the alert that someone at risk left: it ends for everyone."""
        if not self.r.hdel(GONE, hid):
            return False
        self.audit(who, "gone_seen", hid)
        self.publish("queue", hid)
        return True

    def pause(self, hid: str) -> None:
        self.r.hset(meta_key(hid), "paused", "1")
        self.publish("queue", hid)

    def resume(self, hid: str, held: bool, mode: str = "live") -> None:
        if held:
            self.r.hset(meta_key(hid), "paused", "0")
        else:
            self._moved("release", hid)
            self.r.hset(meta_key(hid), mapping={"mode": mode, "paused": "0"})
        self.publish("queue", hid)

    def set_mode(self, hid: str, mode: str) -> None:
        self.r.hset(meta_key(hid), "mode", mode)
        self.publish("queue", hid)

    # -- the counselor's side (called by the console) ---------------------------------------
    def claim(self, hid: str, who: str) -> int:
        """1 claimed, 2 already yours, 0 someone else holds it / closed, -1 unknown."""
        res = self._claim(keys=[meta_key(hid), QUEUE, ACTIVE, PICKUPS], args=[who, now_ms(), hid])
        if res == 1:
            self.audit(who, "claimed", hid)
            self._picked_up(hid)
            self.risk_due(hid)              # (an unread risk message counts from now)
            self.publish("queue", hid)
        return res

    def _picked_up(self, hid: str) -> None:
        """A waiting handoff was taken: its wait, for the month's figures (a number and a team, no id)."""
        queued, claimed, team = self.r.hmget(meta_key(hid), ["queued_at", "claimed_at", "team"])
        if not queued or not claimed:
            return
        key = waits_key(tokyo_day(int(claimed) / 1000)[:7])
        pipe = self.r.pipeline(transaction=False)
        pipe.rpush(key, f"{team or POOL_KEY}|{max(0, int(claimed) - int(queued))}")
        pipe.expire(key, STATS_KEEP_S)
        pipe.execute()

    def release(self, hid: str, who: str, holder: str | None = None) -> int:
        """Back to the queue (guarded by its holder, ``who`` unless ``holder`` says otherwise: an
        admin releasing a colleague's). Who did it and whose it was are kept on the handoff, so
        the one who held it is told (their console, and a reply they try to send)."""
        holder = who if holder is None else holder
        res = self._moved("release", hid, holder=holder)
        if res == 1:
            self.r.hset(meta_key(hid), mapping={"released_by": who, "released_from": holder,
                                                "released_at": now_ms()})
            self.audit(who, "released", hid)
            self.publish("queue", hid)
        return res

    def close(self, hid: str, who: str, holder: str, outcome: str = "", note: str = "") -> int:
        """End a handoff (guarded by its holder), with the outcome chosen and a one-line closing
        note (a case note of kind "close", shown with the person's earlier handoffs)."""
        res = self._moved("close", hid, holder=holder, who=who)
        if res == 1:
            self.r.hset(meta_key(hid), mapping={"closed_reason": "closed", "outcome": outcome})
            self.r.zremrangebyscore(CLOSED, "-inf", now_ms() - self.transcript_ttl_s * 1000)
            meta = self.get(hid) or {}
            self.count(f"outcome_{outcome or 'none'}", team=meta.get("team") or "")
            if note and meta.get("pid"):
                self.add_note(meta, who, note, kind="close")
            self._keep(meta)
            self.audit(who, "closed", hid)
            self.publish("queue", hid)
        return res

    def transfer(self, hid: str, who: str, holder: str, to: str, *, note: str = "", line: str = "") -> int:
        """Hand an active handoff to ``to``. The handover (who, the note) is kept on the handoff
        for the receiver, with the one who held it before (``handover_from``: their console says
        who took it where); the note is a case note of kind "handover" too (the notes panel), and
        ``line`` (the words for it) goes into the transcript as a system line: counselors see it,
        the person never does."""
        res = self._moved("transfer", hid, holder=holder, who=to)
        if res == 1:
            at = now_ms()
            self.r.hset(meta_key(hid), mapping={"handover_by": who, "handover_note": note, "handover_at": at})
            meta = self.get(hid) or {}
            if line and meta.get("pid"):
                self.append(meta["pid"], hid, {"from": "bot", "kind": "transfer", "text": line, "at": at, "by": who})
            if note and meta.get("pid"):
                self.add_note(meta, who, note, kind="handover", to=to)
            self.audit(who, f"transferred:{to}", hid)
            self._follow_team(hid, who, to)
            self.risk_due(hid)
            self.publish("transfer", hid)
        return res

    def _follow_team(self, hid: str, who: str, to: str) -> None:
        """Handed to a counselor of another team: the handoff is that team's now (if ``to`` is in
        exactly one team and not in the handoff's own), so a release puts it in their queue."""
        from .teams import Teams

        teams = Teams(self.r)
        theirs = teams.of(to)
        team = self.r.hget(meta_key(hid), "team") or ""
        if len(theirs) == 1 and team not in theirs:
            self.r.hset(meta_key(hid), "team", theirs[0])
            self.audit(who, f"team:{theirs[0]}", hid)

    def assign(self, hid: str, who: str, to: str, line: str = "") -> int:
        """An admin gives a handoff to ``to``: a waiting one is taken for them (1), an active one
        is handed over from whoever holds it (3, with ``line`` in the transcript); 2 already
        theirs, 0 closed, -1 unknown."""
        res = self._claim(keys=[meta_key(hid), QUEUE, ACTIVE, PICKUPS], args=[to, now_ms(), hid])
        if res == 1:
            self.audit(who, f"assigned:{to}", hid)
            self._picked_up(hid)
            self._follow_team(hid, who, to)
            self.risk_due(hid)
            self.publish("assign", hid)
        if res != 0:
            return res
        if (self.get(hid) or {}).get("status") != "active":
            return 0
        return 3 if self.transfer(hid, who, "", to, line=line) == 1 else 0

    def answered(self, hid: str) -> None:
        """A counselor wrote to the person: nothing of theirs is waiting for a reply now."""
        self.r.hdel(meta_key(hid), "awaiting_since")
        self.publish("queue", hid)

    def typing_once(self, hid: str, every_s: int = 5) -> bool:
        """True at most once per every_s for a handoff (LINE's loading animation lasts longer)."""
        if not self.r.set(f"{TAG}:typing:{hid}", 1, nx=True, ex=every_s):
            return False
        self.publish("typing", hid)
        return True

    def mark_seen(self, meta: dict, seen: int) -> tuple[int, int]:
        """The holder has seen the first ``seen`` transcript entries, the newest of them on screen.
        Returns (the person's messages still unread, those read just now)."""
        hid, pid = meta["id"], meta.get("pid")
        log = log_key(pid, hid) if pid else None
        for _ in range(5):
            upto, unread = self.r.hmget(meta_key(hid), ["read_upto", "unread"])
            upto = int(upto or 0)
            n = min(seen, self.r.llen(log)) if log else 0
            if n <= upto:
                return int(unread or 0), 0
            newly = sum(1 for x in self.r.lrange(log, upto, n - 1) if _unread_kind(json.loads(x)))
            left = self._seen(keys=[meta_key(hid)], args=[upto, n, newly])
            if left == -2:
                return 0, 0
            if left >= 0:
                self.publish("read", hid)
                return int(left), newly
        return int(unread or 0), 0       # marked meanwhile by another tab: nothing more to do

    def take_client_id(self, hid: str, client_id: str, who: str) -> int:
        """1: a new message, send it; 0: this message was already taken (a double send or a
        retry), send nothing; -1: the handoff is no longer this counselor's."""
        return int(self._client_id(keys=[meta_key(hid), client_id_key(hid, client_id)],
                                   args=[who, now_ms(), CLIENT_ID_TTL_S]))

    def client_id_taken(self, hid: str, client_id: str) -> bool:
        """Whether a message with this id was taken (queued for the person) within the last day."""
        return bool(self.r.exists(client_id_key(hid, client_id)))

    def drop_client_id(self, hid: str, client_id: str) -> None:
        """The message could not be queued after all: a retry with the same id may try again."""
        self.r.delete(client_id_key(hid, client_id))

    def append(self, pid: str, hid: str, entry: dict, *, pipe=None) -> None:
        """Add one turn to the transcript (under the person's tag, with its retention), within its
        bound: whole up to ``whole_bytes``, then its text shortened, and past ``max_bytes`` one
        line saying that nothing more is kept. One step on the person's slot (APPEND_LUA): the
        size is read where it is written, so entries written at the same moment never pass the
        bound, and the caller's pipeline makes no trip of its own before it runs."""
        raw = json.dumps(entry, ensure_ascii=False)
        text = entry.get("text") or ""
        shortened = json.dumps({**entry, "text": text[:SHORTENED_CHARS] + _words("transcript.shortened"),
                                "length": len(text)}, ensure_ascii=False) if len(text) > SHORTENED_CHARS else ""
        full = json.dumps({"from": "bot", "kind": "full", "text": _words("transcript.full"),
                           "at": entry.get("at") or now_ms()}, ensure_ascii=False)
        target = pipe if pipe is not None else self.r
        # (EVAL, not EVALSHA: the script rides in a caller's MULTI, where a NOSCRIPT could not be
        # retried; as a command, which a cluster's pipeline routes by its keys, where its eval() refuses)
        target.execute_command("EVAL", APPEND_LUA, 3, log_key(pid, hid), size_key(pid, hid), notes_key(pid, hid),
                               raw, shortened, full, self.whole_bytes, self.max_bytes, self.transcript_ttl_s)
        if pipe is None:            # (into a caller's pipeline: the caller publishes once it is written)
            self.publish("message", hid)

    def add_note(self, meta: dict, who: str, text: str, *, kind: str = "note", **extra) -> None:
        """A private case note on the handoff: counselors and admins see it, the person never.
        Each has an ``id``: its writer may change or delete it (``change_note``)."""
        self._push(notes_key(meta["pid"], meta["id"]), meta["pid"], meta["id"],
                   json.dumps({"id": uuid.uuid4().hex[:16], "by": who, "text": text, "at": now_ms(), "kind": kind,
                               **extra}, ensure_ascii=False), None)
        self.audit(who, "note", meta["id"])
        self.publish("message", meta["id"])

    def change_note(self, meta: dict, nid: str, who: str, text: str | None) -> int:
        """The writer of note ``nid`` changes its text (``text``) or deletes it (None): 1 done,
        0 no such note, -1 someone else wrote it. One step on the notes' key: an edit never
        overwrites a change made meanwhile (it reads again), a delete removes that one entry."""
        pid = meta.get("pid")
        if not pid:
            return 0
        key = notes_key(pid, meta["id"])
        for _ in range(5):
            raw = next((x for x in self.r.lrange(key, 0, -1) if json.loads(x).get("id") == nid), None)
            if raw is None:
                return 0
            note = json.loads(raw)
            if note.get("by") != who:
                return -1
            if text is None:
                done = self.r.lrem(key, 1, raw)
            else:
                done = self._note_set(keys=[key], args=[raw, json.dumps(
                    {**note, "text": text, "edited_at": now_ms()}, ensure_ascii=False)])
            if done:
                self.audit(who, "note_deleted" if text is None else "note_edited", meta["id"])
                self.publish("message", meta["id"])
                return 1
        return 0

    def _push(self, key: str, pid: str, hid: str, raw: str, pipe) -> None:
        """One entry (JSON) onto the notes; the transcript and its size are renewed with them, so
        the notes never outlive the transcript nor the transcript its notes."""
        target = pipe if pipe is not None else self.r.pipeline(transaction=False)
        target.rpush(key, raw)
        for renewed in (log_key(pid, hid), notes_key(pid, hid), size_key(pid, hid)):
            target.expire(renewed, self.transcript_ttl_s)
        if pipe is None:
            target.execute()

    def enqueue_console_event(self, pid: str, action: str, hid: str, **extra) -> str:
        """What a counselor did, into the person's own event stream: it reaches them in order
        with what they write, through the same exactly-once path as LINE's events."""
        eid = uuid.uuid4().hex
        ev = {"type": "mado.console", "webhookEventId": eid, "action": action, "hid": hid, **extra}
        self.r.xadd(keys.stream(keys.shard_of(pid, self.shards)),
                    {"pid": pid, "ev": json.dumps(ev, ensure_ascii=False), "rt": now_ms(),
                     "rid": eid[:16], "src": "console"})
        return eid

    def find_by_alias(self, alias: str) -> list[dict]:
        """Handoffs (any status, still retained) whose person has this alias and is still known."""
        alias = alias.strip().upper()
        ids = set(self.r.zrange(QUEUE, 0, -1)) | set(self.r.zrange(ACTIVE, 0, -1)) | set(self.r.zrange(CLOSED, 0, -1))
        found = []
        for hid in sorted(ids):
            meta = self.get(hid)
            if meta and meta.get("alias") == alias and meta.get("pid"):
                found.append(meta)
        return found

    def request_forget(self, meta: dict, who: str) -> bool:
        """Staff handling a deletion request made by other means (admin only; audited). The
        deletion itself runs in the person's own event order, in the worker."""
        if not meta.get("pid"):
            return False
        self.enqueue_console_event(meta["pid"], "forget", meta["id"])
        self.audit(who, "forget_requested", meta["id"])
        return True

    # -- alerts, audit, anonymous counts --------------------------------------------------
    def alert(self, priority: str) -> None:
        waiting = self.r.zcard(QUEUE)
        self.r.xadd(ALERTS, {"priority": priority, "waiting": waiting, "at": now_ms()},
                    maxlen=10_000, approximate=True)

    def audit(self, who: str, action: str, hid: str) -> None:
        self.r.xadd(AUDIT, {"who": who, "action": action, "handoff": hid, "at": now_ms()},
                    maxlen=100_000, approximate=True)

    def count(self, name: str, by: int = 1, *, pipe=None, team: str | None = None) -> None:
        """An anonymous counter, in all and for the Tokyo day; into `pipe` when one is given. With
        ``team`` (a name, "" for the shared pool): that team's count of the day too."""
        day = tokyo_day()
        target = pipe if pipe is not None else self.r.pipeline(transaction=False)
        target.hincrby(STATS, name, by)
        target.hincrby(STATS, f"{day}:{name}", by)
        if team is not None:
            target.hincrby(TEAM_STATS, f"{day}|{team or POOL_KEY}|{name}", by)
        if pipe is None:
            target.execute()

    def count_team(self, name: str, team: str, by: int = 1, *, pipe=None) -> None:
        """A team's own counter of the day (what only a team's figures have: its people at risk,
        lanes and topics of its handoffs, overflow to the pool)."""
        target = pipe if pipe is not None else self.r.pipeline(transaction=False)
        target.hincrby(TEAM_STATS, f"{tokyo_day()}|{team or POOL_KEY}|{name}", by)
        if pipe is None:
            target.execute()
