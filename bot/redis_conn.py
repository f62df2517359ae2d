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
    if url.startswith("redis-cluster://") or url.startswith("rediss-cluster://"):
        return _cluster(url.replace("-cluster://", "://", 1), kwargs)
    client = redis.Redis.from_url(url, **kwargs)
    if _is_cluster(client):
        # A Redis Cluster (or a managed one) behind a plain URL: the key layout needs no change,
        # only the client that routes each key to its slot's node.
        client.close()
        return _cluster(url, kwargs)
    return client


def _is_cluster(client: redis.Redis) -> bool:
    try:
        return client.info("cluster").get("cluster_enabled") == 1
    except redis.ResponseError:       # INFO restricted (some managed services): a plain Redis
        return False
    except redis.ConnectionError:     # not reachable yet: decide as a plain Redis; callers retry
        return False


def _cluster(url: str, kwargs: dict):
    from redis.cluster import RedisCluster

    kwargs = {k: v for k, v in kwargs.items() if k != "health_check_interval"}
    return RedisCluster.from_url(url, **kwargs)


_FAKE_SERVERS: dict[str, object] = {}


def _fake_server(url: str):
    import fakeredis

    return _FAKE_SERVERS.setdefault(url, fakeredis.FakeServer())
