"""Structured logs: one JSON object a line, with ids and timings only.

Never pass message text, LINE ids, reply tokens or request bodies here: the fields are an
allow-list, and anything else given is dropped (and counted), so a careless call cannot leak.
"""
from __future__ import annotations

import json
import logging
import sys
import time

ALLOWED = {
    "event", "alias", "kind", "shard", "result", "status", "reason", "rid", "ms", "count",
    "state_from", "state_to", "trigger", "tries", "worker", "shards", "path", "attempt",
    "sends", "batches", "lag_ms", "error", "other_shards",
}

log = logging.getLogger("mado")
_own: list[logging.StreamHandler] = []     # setup()'s handler, alone on the logger: written directly


def setup(level: int = logging.INFO) -> None:
    if getattr(setup, "_done", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    _own.append(handler)
    setup._done = True


def emit(event: str, level: int = logging.INFO, **fields) -> None:
    if not log.isEnabledFor(level):
        return
    record = {"t": round(time.time(), 3), "event": event}
    dropped = 0
    for k, v in fields.items():
        if k in ALLOWED:
            record[k] = v
        else:
            dropped += 1
    if dropped:
        record["dropped_fields"] = dropped
    line = json.dumps(record, ensure_ascii=False, default=str)
    if _own and log.handlers == _own:
        # the only handler is our own: the line as the handler would write it, without building a
        # LogRecord (a third of the cost of a line, twice per event)
        handler = _own[0]
        with handler.lock:
            try:
                handler.stream.write(line + "\n")
                handler.stream.flush()
            except (OSError, ValueError):       # a closed or broken stream: never the caller's problem
                pass
        return
    log.log(level, line)
