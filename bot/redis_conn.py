"""One way to get a Redis client from REDIS_URL, for web, worker and tools."""
from __future__ import annotations

import redis

from .config import ConfigError


def connect(url: str, *, max_connections: int | None = None, timeout_s: float | None = None) -> redis.Redis:
    """A client for REDIS_URL. `timeout_s`: how long one connect or reply may take before the call
    fails (the web: it answers LINE within LINE's 2 s, with 503 if Redis does not answer)."""
    if not url:
        raise ConfigError("missing required environment variable(s): REDIS_URL")
    if url.startswith("fakeredis://"):
        # Only `mado chat` / `mado demo` use this: an in-process Redis, never in tests or production.
        import fakeredis

        return fakeredis.FakeRedis(server=_fake_server(url), decode_responses=True)
    kwargs = {"decode_responses": True, "health_check_interval": 30, "socket_keepalive": True}
    if max_connections:
        kwargs["max_connections"] = max_connections
    if timeout_s:
        kwargs.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
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
    except (redis.ConnectionError, redis.TimeoutError):   # not reachable yet: decide as a plain
        return False                                         # Redis; callers retry


def _cluster(url: str, kwargs: dict):
    from redis.cluster import RedisCluster

    kwargs = {k: v for k, v in kwargs.items() if k != "health_check_interval"}
    return RedisCluster.from_url(url, **kwargs)


_FAKE_SERVERS: dict[str, object] = {}


def _fake_server(url: str):
    import fakeredis

    return _FAKE_SERVERS.setdefault(url, fakeredis.FakeServer())


def is_cluster(r) -> bool:
    """redis-py's cluster client: it routes each key to its slot's node, so it cannot pipeline
    scripts or send a transaction that spans two hash tags."""
    return type(r).__name__ == "RedisCluster"


def is_plain(r) -> bool:
    """A plain redis-py client on a real server: several steps may share one round trip (a
    cluster client routes per slot; the embedded stand-in has no connection to share)."""
    return (isinstance(r, redis.Redis) and not is_cluster(r)
            and not type(r).__module__.startswith("fakeredis"))


def raw_pipeline(r) -> redis.client.Pipeline:
    """A pipeline that sends commands as given and returns Redis' raw replies, MULTI and EXEC
    included (no response callbacks: the replies to queued commands are only "QUEUED")."""
    return redis.client.Pipeline(r.connection_pool, {}, False, None)


def one_trip(r, tx, rest=None) -> list:
    """Run `tx` (a transaction pipeline on one hash tag) and then `rest` (a plain pipeline:
    counters, notes, clean-up under other tags), in one round trip on a plain Redis: MULTI … EXEC
    followed by the rest, on one connection, in that order. On a Redis Cluster each goes to its
    own slot's node (a transaction never spans two tags there). Returns the transaction's
    replies (raw on a plain Redis); an error inside it is raised. The rest is best effort once
    the transaction is done: its errors are not raised."""
    if not is_plain(r) or not len(tx):
        out = tx.execute() if len(tx) else []
        if rest is not None and len(rest):
            try:
                rest.execute()
            except redis.RedisError:
                pass
        return out
    rest_cmds = rest.command_stack if rest is not None else []
    raw = raw_pipeline(r)
    raw.command_stack = [(("MULTI",), {}), *tx.command_stack, (("EXEC",), {}), *rest_cmds]
    replies = raw.execute(raise_on_error=False)
    for reply in replies[:len(tx.command_stack) + 1]:
        if isinstance(reply, Exception):      # refused before EXEC (e.g. a wrong argument)
            raise reply
    done = replies[len(tx.command_stack) + 1]
    if isinstance(done, Exception):
        raise done
    if done is None:
        raise redis.exceptions.WatchError("transaction aborted")
    for reply in done:
        if isinstance(reply, Exception):
            raise reply
    return done
