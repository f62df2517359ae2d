"""One way to get a Redis client from REDIS_URL, for web, worker and tools."""
from __future__ import annotations

import redis

from .config import ConfigError


def connect(url: str, *, max_connections: int | None = None) -> redis.Redis:
    if not url:
        raise ConfigError("missing required environment variable(s): REDIS_URL")
    if url.startswith("fakeredis://"):
        # Only `mado chat` / `mado demo` use this: an in-process Redis, never in tests or production.
        import fakeredis

        return fakeredis.FakeRedis(server=_fake_server(url), decode_responses=True)
    kwargs = {"decode_responses": True, "health_check_interval": 30, "socket_keepalive": True}
    if max_connections:
        kwargs["max_connections"] = max_connections
    return redis.Redis.from_url(url, **kwargs)


_FAKE_SERVERS: dict[str, object] = {}


def _fake_server(url: str):
    import fakeredis

    return _FAKE_SERVERS.setdefault(url, fakeredis.FakeServer())
