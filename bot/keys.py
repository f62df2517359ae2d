"""Every Redis key mado uses, in one place (shared/design.md, "Redis keys").

All of one person's keys share the hash tag ``{u:<pid>}`` so multi-key transactions stay in one
Redis Cluster slot; each event stream and its bookkeeping share ``{ev:<shard>}``.
"""
from __future__ import annotations

import hmac

PREFIX = "mado"


def pseudonym(secret_key: str, line_id: str) -> str:
    """pid = HMAC-SHA256(MADO_SECRET_KEY, LINE id), hex. The LINE id cannot be recovered from it."""
    return hmac.digest(secret_key.encode(), line_id.encode(), "sha256").hex()


def alias(pid: str) -> str:
    """The short name staff see (e.g. 7F3A); never the LINE id."""
    return pid[:4].upper()


def shard_of(pid: str, shards: int) -> int:
    return int(pid[:8], 16) % shards


# -- per person ---------------------------------------------------------------------------------
def user(pid: str, part: str) -> str:
    return f"{PREFIX}:{{u:{pid}}}:{part}"


def state(pid: str) -> str:
    return user(pid, "state")


def line_id(pid: str) -> str:
    """The one place the LINE id is kept: only the worker reads it, only to push."""
    return user(pid, "line")


def event_record(pid: str, event_key: str) -> str:
    """Outcome of one event (outbox, what was sent): makes a redo after a crash send nothing twice."""
    return user(pid, f"ev:{event_key}")


def undelivered(pid: str) -> str:
    """Crisis replies LINE did not take, kept to be pushed when it answers again (bot/redeliver.py):
    the bot's own rendered words, never the person's."""
    return user(pid, "undelivered")


def user_pattern(pid: str) -> str:
    return f"{PREFIX}:{{u:{pid}}}:*"


# -- event streams ------------------------------------------------------------------------------
def stream(shard: int) -> str:
    return f"{PREFIX}:{{ev:{shard}}}"


def seen(shard: int, event_key: str) -> str:
    return f"{PREFIX}:{{ev:{shard}}}:seen:{event_key}"


def tries(shard: int) -> str:
    return f"{PREFIX}:{{ev:{shard}}}:tries"


def lease(shard: int) -> str:
    return f"{PREFIX}:{{ev:{shard}}}:lease"


DEAD_LETTERS = f"{PREFIX}:{{ev:dlq}}"            # events that failed for good: ids and the failure only
REDELIVER = f"{PREFIX}:{{redeliver}}"             # pid → when to push their kept crisis reply again (ms)
WORKERS = f"{PREFIX}:{{workers}}"                 # live workers: id → last heartbeat (s)
WORKER_SHARDS = f"{PREFIX}:{{workers}}:shards"     # each live worker's shard count (MADO_EVENT_SHARDS)
GROUP = "workers"
