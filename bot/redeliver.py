"""A crisis reply LINE did not take is pushed once LINE answers again.

The bot's answer to a risk message must reach the person. When sending it fails for good (the
LINE client's retries and the worker's tries used up: the entry goes to the dead letters), the
worker keeps the rendered reply, the bot's own words and never the person's, with the batches
still unsent, under the person's tag (`mado:{u:<pid>}:undelivered`, a field per event, kept
`KEEP_S`: within the 24 hours LINE remembers a retry key), and their pseudonym in `mado:{redeliver}` with the time of the next try.

Every worker tries the due ones (`run_once`, a thread of its own), one worker per person at a
time (a claim in `mado:{redeliver}`): each kept reply is pushed, oldest first, batch by batch,
with the retry key the first try used for that batch, so LINE takes each batch once (a 409 for a
key it already took counts as delivered). A failure tries again after 1, 2, 4 … `BACKOFF_MAX_S`
seconds. Nothing is pushed to someone no LINE id is kept for (they left, or were forgotten);
forget-me deletes both keys (`HandoffStore.forget_person`).

One case can still arrive twice: LINE took the first reply but its answer was lost every time
(the reply token cannot be asked again). A crisis reply twice is better than none.
"""
from __future__ import annotations

import json
import time

import redis

from . import keys, logs
from .line_client import LineClient, SendFailed, retry_key

KEEP_S = 23 * 3600       # inside the 24 h LINE remembers a push's retry key: no push is ever doubled
FIRST_TRY_S = 1.0
BACKOFF_MAX_S = 60.0
CLAIM_S = 300            # a worker that dies while pushing holds the person this long at most
DUE_AT_ONCE = 20

# Take a person whose next try is due: their entry is moved past the claim's end.
CLAIM_LUA = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if due and tonumber(due) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""
# A kept reply's progress, only while it is still kept (never brought back after forget-me).
UPDATE_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""
# Done with a claimed person: the next try (ARGV[3]) or none (''), unless a new reply was kept
# for them meanwhile (their entry no longer holds the claim: it stays as it is).
SETTLE_LUA = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


def _ms(t: float) -> int:
    return int(t * 1000)


def keep(r: redis.Redis, pid: str, ekey: str, batches: list[tuple[int, list]], now: float | None = None) -> None:
    """Keep the unsent batches ((place in the reply, messages)) of event `ekey`'s crisis reply."""
    now = time.time() if now is None else now
    item = json.dumps({"at": _ms(now), "tries": 0, "batches": [[i, b] for i, b in batches]}, ensure_ascii=False)
    pipe = r.pipeline(transaction=True)          # (one slot: the person's)
    pipe.hset(keys.undelivered(pid), ekey, item)
    pipe.expire(keys.undelivered(pid), KEEP_S)
    pipe.execute()
    pipe = r.pipeline(transaction=True)          # (then the index, in its own slot)
    pipe.zadd(keys.REDELIVER, {pid: _ms(now + FIRST_TRY_S)})
    pipe.expire(keys.REDELIVER, KEEP_S)
    pipe.execute()


def backoff_s(tries: int) -> float:
    return min(BACKOFF_MAX_S, FIRST_TRY_S * 2 ** max(0, tries))


class Redeliverer:
    def __init__(self, r: redis.Redis, line: LineClient, clock=time.time):
        self.r = r
        self.line = line
        self.clock = clock
        self._claim = r.register_script(CLAIM_LUA)
        self._settle = r.register_script(SETTLE_LUA)
        self._update = r.register_script(UPDATE_LUA)

    def run_once(self) -> int:
        """Push what is due; returns how many people were tried."""
        now = _ms(self.clock())
        due = self.r.zrangebyscore(keys.REDELIVER, "-inf", now, start=0, num=DUE_AT_ONCE)
        tried = 0
        for pid in due:
            claimed = now + CLAIM_S * 1000
            if not self._claim(keys=[keys.REDELIVER], args=[pid, now, claimed]):
                continue               # another worker has them
            tried += 1
            next_try = self._deliver(pid)
            self._settle(keys=[keys.REDELIVER], args=[pid, claimed, "" if next_try is None else next_try])
        return tried

    def _deliver(self, pid: str) -> int | None:
        """Push this person's kept replies, oldest first. The time of the next try, or None."""
        key = keys.undelivered(pid)
        kept = self.r.hgetall(key)
        if not kept:
            return None                # delivered, expired or forgotten
        target = self.r.get(keys.line_id(pid))
        if not target:                 # nobody to push to any more (left, or forgotten meanwhile)
            self.r.delete(key)
            logs.emit("crisis_reply", result="nobody", alias=keys.alias(pid))
            return None
        items = sorted(((json.loads(raw), ekey) for ekey, raw in kept.items()), key=lambda x: x[0]["at"])
        for item, ekey in items:
            if self.clock() - item["at"] / 1000 > KEEP_S:      # (the key's TTL renewed by a later one)
                self.r.hdel(key, ekey)
                logs.emit("crisis_reply", level=40, result="expired", alias=keys.alias(pid), tries=item["tries"])
                continue
            while item["batches"]:
                place, batch = item["batches"][0]
                try:
                    self.line.push(target, batch, retry_key(ekey, place))
                except SendFailed as exc:
                    if 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
                        # LINE refuses the message itself: it would refuse it again
                        logs.emit("crisis_reply", level=40, result="refused", alias=keys.alias(pid),
                                  status=exc.status)
                        break
                    item["tries"] += 1
                    self._update(keys=[key], args=[ekey, json.dumps(item, ensure_ascii=False)])
                    logs.emit("crisis_reply", result="line_down", alias=keys.alias(pid), status=exc.status,
                              tries=item["tries"])
                    return _ms(self.clock() + backoff_s(item["tries"]))
                item["batches"].pop(0)
                if item["batches"]:
                    self._update(keys=[key], args=[ekey, json.dumps(item, ensure_ascii=False)])
            self.r.hdel(key, ekey)
            logs.emit("crisis_reply", result="delivered", alias=keys.alias(pid),
                      lag_ms=_ms(self.clock()) - item["at"])
        return None
