"""Anonymous statistics for staff: counters only (no per-person data is ever counted here)."""
from __future__ import annotations

import redis

from .store import STATS, HandoffStore

TOTALS = ["conversations", "lane_self", "lane_family", "lane_other", "topic_about", "topic_support",
          "topic_family", "topic_violence", "topic_8050", "topic_local", "crisis", "handoffs",
          "handoffs_urgent", "counselor_messages", "counselor_reply", "counselor_push",
          "feedback_good", "feedback_ok", "feedback_bad"]


def summary(r: redis.Redis, days: int = 14) -> dict:
    raw = r.hgetall(STATS)
    totals = {k: int(raw.get(k, 0)) for k in TOTALS}
    extra = {k: int(v) for k, v in raw.items() if ":" not in k and k not in totals}
    totals.update(extra)
    per_day: dict[str, dict[str, int]] = {}
    for key, value in raw.items():
        day, sep, name = key.partition(":")
        if sep and len(day) == 10:
            per_day.setdefault(day, {})[name] = int(value)
    recent = dict(sorted(per_day.items())[-days:])
    sent = totals["counselor_reply"] + totals["counselor_push"]
    wait = HandoffStore(r).median_wait_s()
    return {"totals": totals, "days": recent,
            "reply_share": round(totals["counselor_reply"] / sent, 3) if sent else None,
            "crisis_share": round(totals["crisis"] / totals["conversations"], 3) if totals["conversations"] else None,
            "median_wait_s": round(wait) if wait is not None else None}
