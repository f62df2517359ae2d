"""Anonymous statistics for staff: counters only (no per-person data is ever counted here)."""
from __future__ import annotations

import redis

from .store import STATS, HandoffStore

TOTALS = ["conversations", "lane_self", "lane_family", "lane_other", "topic_about", "topic_support",
          "topic_family", "topic_violence", "topic_8050", "topic_local", "crisis", "handoffs",
          "handoffs_urgent", "counselor_messages", "counselor_reply", "counselor_push",
          "feedback_good", "feedback_ok", "feedback_bad"]
# counted too, shown folded: answers to single questions ("topic_<answer>") as one line; LINE
# calls by kind ("line_*") are for /metrics, not for this page
FOLDED_TOPICS = "topic_answers"


def _known(raw: dict[str, int]) -> dict[str, int]:
    """Only counters the page has words for: every answer topic folded into one."""
    out = {k: raw.get(k, 0) for k in TOTALS}
    out["crisis_people"] = raw.get("crisis_people", 0)
    out["topic_heard"] = raw.get("topic_heard", 0)
    out[FOLDED_TOPICS] = sum(v for k, v in raw.items() if k.startswith("topic_") and k not in out)
    return out


def summary(r: redis.Redis, days: int = 14) -> dict:
    raw = r.hgetall(STATS)
    totals = _known({k: int(v) for k, v in raw.items() if ":" not in k})
    per_day: dict[str, dict[str, int]] = {}
    for key, value in raw.items():
        day, sep, name = key.partition(":")
        if sep and len(day) == 10:
            per_day.setdefault(day, {})[name] = int(value)
    recent = {day: {k: v for k, v in _known(c).items() if v} for day, c in sorted(per_day.items())[-days:]}
    sent = totals["counselor_reply"] + totals["counselor_push"]
    wait = HandoffStore(r).median_wait_s()
    # shares are fractions (0.2 = 20 %); the crisis share is of people, not of messages
    return {"totals": totals, "days": recent,
            "reply_share": round(totals["counselor_reply"] / sent, 3) if sent else None,
            "crisis_share": round(min(1, totals["crisis_people"] / totals["conversations"]), 3)
            if totals["conversations"] else None,
            "median_wait_s": round(wait) if wait is not None else None}
