"""Alerts that reach counselors outside the console, and the kind notice to people kept waiting.

- Every new handoff, at once every urgent one, and every risk message in a conversation whose
  counselor is away or offline, is posted to MADO_ALERT_WEBHOOK_URL as
  {"text": …} (Slack, Mattermost, Teams and Chatwork-relay style), with no personal data: only
  the priority and how many are waiting. Delivery is retried with backoff until it succeeds;
  an alert stays pending in ``mado:{handoff}:alerts`` meanwhile, so a worker's crash loses none.
- A person waiting longer than MADO_HANDOFF_NOTICE_S is told kindly (once) and offered to keep
  waiting or leave a message: a "timeout" event into their own stream. Someone who started third
  or further back hears once when they are next ("front"): changes that matter, never a stream
  of position updates.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import redis

import messages_ja

from .store import ALERTS, CLASS, CLASS_SPAN, QUEUE, TAG, HandoffStore, meta_key, now_ms

GROUP = "senders"
SWEEP_LEASE = f"{TAG}:sweeper"


class AlertSender:
    def __init__(self, r: redis.Redis, url: str, consumer: str, *, timeout_s: float = 5.0,
                 max_backoff_s: float = 60.0):
        self.r = r
        self.url = url
        self.consumer = consumer
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0
        self.next_try = 0.0
        self.sent = 0
        try:
            r.xgroup_create(ALERTS, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _post(self, fields: dict) -> bool:
        if fields.get("kind") == "login":     # failed logins for one account (handoff/accounts.py)
            text = messages_ja.console()["ui"]["alert.login_failures"].format(
                name=fields.get("name", "?"), count=fields.get("count", "?"))
        else:
            key = {"urgent": "alert.urgent", "risk": "alert.risk"}.get(fields.get("priority"), "alert.new")
            text = messages_ja.template(key, waiting=fields.get("waiting", "?"))
        body = json.dumps({"text": text}, ensure_ascii=False).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return 200 <= resp.status < 300
        except urllib.error.HTTPError as exc:
            exc.close()
            return False
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def run_once(self, block_ms: int = 1000) -> int:
        """Deliver what is due. Returns how many were delivered. Never raises on a failed post."""
        if time.monotonic() < self.next_try:
            time.sleep(min(block_ms / 1000, self.next_try - time.monotonic()))
            return 0
        # own pending first (failed before), then others' stuck for 30 s, then new ones
        entries = self.r.xreadgroup(GROUP, self.consumer, {ALERTS: "0"}, count=20)
        batch = entries[0][1] if entries else []
        if not batch:
            claimed = self.r.xautoclaim(ALERTS, GROUP, self.consumer, min_idle_time=30_000, count=20)
            batch = claimed[1] if claimed else []
        if not batch:
            entries = self.r.xreadgroup(GROUP, self.consumer, {ALERTS: ">"}, count=20, block=block_ms)
            batch = entries[0][1] if entries else []
        delivered = 0
        for entry_id, fields in batch:
            if fields is None:
                self.r.xack(ALERTS, GROUP, entry_id)
                continue
            if not self._post(fields):
                self.failures += 1
                self.next_try = time.monotonic() + min(self.max_backoff_s, 0.5 * 2 ** min(self.failures, 10))
                return delivered
            self.failures = 0
            self.r.xack(ALERTS, GROUP, entry_id)
            self.r.xdel(ALERTS, entry_id)
            delivered += 1
            self.sent += 1
        return delivered


SWEEP_MAX = 500
_SWEEP_FIELDS = ("status", "mode", "start_pos", "pid", "queued_at", "told_front", "noticed")


def sweep_waiting(store: HandoffStore, notice_s: int, owner: str) -> int:
    """Tell each person waiting longer than notice_s, once, and the one at the front of the line
    who started far back. One worker at a time (a lease). Only those can need a word: the front
    of the line and, in each priority class, those queued before the cutoff (the queue's score
    is class, then time queued), so a long queue of people who have just come costs nothing."""
    r = store.r
    if not r.set(SWEEP_LEASE, owner, nx=True, px=5000) and r.get(SWEEP_LEASE) != owner:
        return 0
    cutoff = now_ms() - notice_s * 1000
    pipe = r.pipeline(transaction=False)           # one round trip (one tag)
    pipe.zrange(QUEUE, 0, 0)
    for cls in sorted(CLASS.values()):
        pipe.zrangebyscore(QUEUE, cls * CLASS_SPAN, cls * CLASS_SPAN + cutoff, start=0, num=SWEEP_MAX)
    front, *old = pipe.execute()
    ids = list(dict.fromkeys([*front, *(hid for group in old for hid in group)]))[:SWEEP_MAX + 1]
    if not ids:
        return 0
    pipe = r.pipeline(transaction=False)
    for hid in ids:
        pipe.hmget(meta_key(hid), _SWEEP_FIELDS)
    told = 0
    for hid, values in zip(ids, pipe.execute()):
        meta = dict(zip(_SWEEP_FIELDS, values))
        if meta["status"] != "waiting" or meta["mode"] == "message" or not meta["pid"]:
            continue
        if (front and hid == front[0] and not meta["told_front"] and int(meta["start_pos"] or 1) >= 3
                and r.hsetnx(meta_key(hid), "told_front", 1)):
            store.enqueue_console_event(meta["pid"], "front", hid)
            told += 1
        if int(meta["queued_at"] or 0) > cutoff or meta["noticed"]:
            continue
        if r.hsetnx(meta_key(hid), "noticed", 1):
            store.enqueue_console_event(meta["pid"], "timeout", hid)
            told += 1
    return told
