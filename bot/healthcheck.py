"""Container health checks (compose.yaml): exit 0 when healthy, 1 when not, one line on stderr.

    python -m bot.healthcheck web      GET http://127.0.0.1:$PORT/healthz answers 200 (Redis answers)
    python -m bot.healthcheck worker   a worker process of this host (container) has renewed its
                                       heartbeat in Redis within the lease time

Cheap on purpose (it runs every few seconds): no conversation code is imported.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request


def web(port: int, timeout_s: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as res:
            return res.status == 200
    except OSError:                   # refused, a timeout, or 503 (HTTPError is an OSError)
        return False


def worker(redis_url: str, lease_ms: int, host: str | None = None) -> bool:
    """A worker whose id starts with this host's name beat within the lease (at least 5 s)."""
    import redis

    from . import keys
    from .redis_conn import connect

    prefix = f"{host or socket.gethostname()}-"
    try:
        r = connect(redis_url, timeout_s=3)
        beats = r.zrange(keys.WORKERS, 0, -1, withscores=True)
        r.close()
    except (redis.RedisError, OSError):
        return False
    now = time.time()
    return any(w.startswith(prefix) and now - beat <= max(5.0, lease_ms / 1000.0) for w, beat in beats)


def main(argv=None, env=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    what = argv[0] if argv else ""
    if what == "web":
        ok = web(int(env.get("PORT") or 8000))
    elif what == "worker":
        from .config import Config

        cfg = Config.from_env(env)
        ok = worker(cfg.redis_url, cfg.lease_ms)
    else:
        print("usage: python -m bot.healthcheck web|worker", file=sys.stderr)
        return 2
    if not ok:
        print(f"mado {what}: not healthy", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
