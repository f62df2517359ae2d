"""One event, start to finish, exactly once as seen by the person.

1. If this event was already applied (its record exists), skip the flow and only finish sending.
2. Else run the pure flow and store, in one transaction on the person's slot, the new state and
   the event's record (the rendered outbox).
3. Send each batch (≤ 5 messages): the first with the reply token while it is fresh, the rest,
   or all when it is not, by push with a retry key derived from the event and the batch's place.
   Each batch is marked sent as soon as LINE accepted it, so a redo resumes where it stopped.
The caller acknowledges the stream entry afterwards and deletes the record.
"""
from __future__ import annotations

import json
import time

import redis

import flows
import messages_ja

from . import keys, logs
from .config import Config
from .events import push_target, reply_token, to_flow_event
from .line_client import LineClient, Outcome, retry_key
from .webhook import event_key


def batches_of(replies) -> list[list[dict]]:
    """Each Reply's messages, packed into LINE calls of at most 5 messages, in order."""
    out: list[list[dict]] = []
    for reply in replies:
        msgs = messages_ja.render(reply)
        for i in range(0, len(msgs), messages_ja.MAX_MESSAGES):
            out.append(msgs[i:i + messages_ja.MAX_MESSAGES])
    if len(out) > 1 and sum(len(b) for b in out) <= messages_ja.MAX_MESSAGES:
        out = [[m for b in out for m in b]]   # one call when it fits: free with the reply token
    return out


class Processor:
    def __init__(self, config: Config, r: redis.Redis, line: LineClient, clock=time.time):
        self.cfg = config
        self.r = r
        self.line = line
        self.clock = clock

    def process(self, fields: dict) -> dict:
        """Apply one stream entry. Returns a small summary for logs (ids and counts only)."""
        pid = fields["pid"]
        ev = json.loads(fields["ev"])
        received = int(fields.get("rt") or 0) / 1000.0
        ekey = event_key(ev)
        rec_key = keys.event_record(pid, ekey)
        pipe = self.r.pipeline(transaction=False)    # one round trip; both keys are in the person's slot
        pipe.hgetall(rec_key)
        pipe.get(keys.state(pid))
        rec, raw_state = pipe.execute()
        summary = {"alias": keys.alias(pid), "kind": ev.get("type"), "rid": fields.get("rid")}
        if not rec:
            rec = self._apply(pid, ev, rec_key, raw_state, summary)
            if rec is None:
                return summary
        batches = json.loads(rec.get("batches", "[]"))
        summary["batches"] = len(batches)
        summary["sends"] = self._send(ev, ekey, rec_key, rec, batches, received)
        return summary

    def _apply(self, pid: str, ev: dict, rec_key: str, raw_state: str | None, summary: dict) -> dict | None:
        now = self.clock()
        state = json.loads(raw_state) if raw_state else None
        outcome = flows.handle(state, to_flow_event(ev), now, idle_s=self.cfg.idle_welcome_s)
        summary.update(trigger=outcome.trigger, state_from=outcome.state_from, state_to=outcome.state_to)
        forget = any(e.get("type") == "forget" for e in outcome.effects)
        if forget:
            self.forget(pid)     # the person asked (or blocked us): nothing of theirs is kept
        batches = batches_of(outcome.replies)
        if forget and not batches:
            return None
        rec = {"batches": json.dumps(batches, ensure_ascii=False)}
        ttl = self.cfg.state_ttl_s
        pipe = self.r.pipeline(transaction=True)
        if not forget:
            pipe.set(keys.state(pid), json.dumps(outcome.state, ensure_ascii=False), ex=ttl)
            target = push_target(ev)
            if target:
                pipe.set(keys.line_id(pid), target, ex=ttl)
        pipe.hset(rec_key, mapping=rec)
        pipe.expire(rec_key, self.cfg.dedup_ttl_s)
        pipe.execute()
        return rec

    def forget(self, pid: str) -> int:
        """Delete every key under the person's tag (block/unfollow, or their request)."""
        deleted = 0
        for key in self.r.scan_iter(match=keys.user_pattern(pid), count=500):
            deleted += self.r.delete(key)
        return deleted

    def _send(self, ev, ekey, rec_key, rec, batches, received) -> int:
        token = reply_token(ev)
        target = push_target(ev)
        sends = 0
        for i, batch in enumerate(batches):
            if rec.get(f"s{i}"):
                continue
            sent = False
            fresh = token and (self.clock() - received) < self.cfg.reply_fresh_s
            if i == 0 and fresh and not rec.get("r_rejected"):
                tried_before = bool(rec.get("r_try"))
                self.r.hset(rec_key, "r_try", 1)
                outcome = self.line.reply(token, batch, tried_before=tried_before)
                if outcome is Outcome.TOKEN_REJECTED:
                    self.r.hset(rec_key, "r_rejected", 1)
                    rec["r_rejected"] = "1"
                else:
                    sent = True
            if not sent:
                if not target:
                    logs.emit("send", result="no_target", rid=None)
                    continue
                self.line.push(target, batch, retry_key(ekey, i))
            if i < len(batches) - 1:
                # (the last batch needs no mark: until the entry is acknowledged, a redo of it is
                # harmless anyway: the reply token is spent and LINE knows the push's retry key)
                self.r.hset(rec_key, f"s{i}", 1)
            sends += 1
        return sends
