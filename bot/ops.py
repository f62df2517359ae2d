"""What operators watch: health, backlog and Prometheus metrics (no personal data, ever).

`/healthz` is public (load balancers); `/metrics` exists only when MADO_METRICS_TOKEN is set and
answers only with `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import hmac
import time

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import keys

bp = Blueprint("ops", __name__)


def backlog(r: redis.Redis, shards: int) -> dict:
    """Unfinished events across the shards, the age of the oldest, dead letters."""
    pipe = r.pipeline(transaction=False)
    for shard in range(shards):
        pipe.xlen(keys.stream(shard))
        pipe.xrange(keys.stream(shard), count=1)
    pipe.xlen(keys.DEAD_LETTERS)
    res = pipe.execute()
    total, oldest_ms = 0, None
    for i in range(shards):
        total += res[2 * i]
        first = res[2 * i + 1]
        if first:
            ms = int(first[0][0].split("-")[0])
            oldest_ms = ms if oldest_ms is None else min(oldest_ms, ms)
    lag = round(time.time() - oldest_ms / 1000, 3) if oldest_ms else 0.0
    return {"backlog": total, "lag_s": max(0.0, lag), "dead_letters": res[-1]}


@bp.get("/healthz")
def healthz():
    started = time.perf_counter()
    r = current_app.extensions["mado.redis"]
    try:
        r.ping()
        figures = backlog(r, current_app.config["MADO"].shards)
    except Exception as exc:  # any failure to reach Redis means "not ready"
        return jsonify({"ok": False, "redis": "down", "error": type(exc).__name__}), 503
    return jsonify({"ok": True, "redis": "up", "redis_ms": round((time.perf_counter() - started) * 1000, 2),
                    **figures}), 200


class _Collector:
    def __init__(self, app):
        self.app = app

    def collect(self):
        from handoff.store import ACTIVE, QUEUE, STATS

        r = self.app.extensions["mado.redis"]
        cfg = self.app.config["MADO"]
        web = CounterMetricFamily("mado_webhook_requests", "Webhook requests by result (this process)",
                                  labels=["result"])
        for result, n in sorted(self.app.extensions["mado.metrics"].items()):
            web.add_metric([result], n)
        yield web
        figures = backlog(r, cfg.shards)
        yield GaugeMetricFamily("mado_stream_backlog", "Events not yet finished", value=figures["backlog"])
        yield GaugeMetricFamily("mado_stream_lag_seconds", "Age of the oldest unfinished event",
                                value=figures["lag_s"])
        yield GaugeMetricFamily("mado_dead_letters", "Entries in the dead-letter stream",
                                value=figures["dead_letters"])
        yield GaugeMetricFamily("mado_handoffs_waiting", "Handoffs waiting for a counselor", value=r.zcard(QUEUE))
        yield GaugeMetricFamily("mado_handoffs_active", "Handoffs held by a counselor", value=r.zcard(ACTIVE))
        yield GaugeMetricFamily("mado_handoff_wait_seconds_median", "Median wait of recent pickups",
                                value=self.app.extensions["mado.handoffs"].median_wait_s() or 0)
        stats = r.hgetall(STATS)
        line = CounterMetricFamily("mado_line_api_calls", "LINE Messaging API calls by kind (push costs money)",
                                   labels=["kind"])
        counts = CounterMetricFamily("mado_counts", "Anonymous counters (conversations, crisis, handoffs…)",
                                     labels=["name"])
        for name, value in sorted(stats.items()):
            if ":" in name:
                continue
            if name.startswith("line_"):
                line.add_metric([name[5:]], int(value))
            else:
                counts.add_metric([name], int(value))
        yield line
        yield counts


@bp.get("/metrics")
def metrics():
    token = current_app.config["MADO"].metrics_token
    if not token:
        return jsonify({"error": "not found"}), 404
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return jsonify({"error": "unauthorized"}), 401
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(current_app._get_current_object()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
