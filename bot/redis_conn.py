"""One way to get a Redis client from REDIS_URL, for web, worker and tools."""
from __future__ import annotations

import threading
import weakref

import redis

try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:          # (a dependency; without it redis-py's own packing is used)
    _hiredis_pack = None

from .config import ConfigError
from .sockets import idle_but_readable


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


_OWN: "weakref.WeakKeyDictionary[object, threading.local]" = weakref.WeakKeyDictionary()
_OWN_LOCK = threading.Lock()


def _own_connection(r) -> redis.connection.AbstractConnection:
    """This thread's own connection to `r`'s server, made with the pool's settings and kept for
    the thread's life: no pool lock, no check-out and return, on the hot paths."""
    pool = r.connection_pool
    local = _OWN.get(pool)
    if local is None:
        with _OWN_LOCK:
            local = _OWN.setdefault(pool, threading.local())
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = pool.connection_class(**pool.connection_kwargs)
    return conn


def send_raw(r, commands: list[tuple], *, repeatable: bool = False) -> list:
    """Send `commands` as given in one round trip and return Redis' raw replies, in order (an
    error reply as the exception, not raised; MULTI and EXEC as Redis answers them: "QUEUED"
    for a queued command, the list of results for EXEC). On a plain Redis only (`is_plain`).

    On this thread's own connection (`_own_connection`): what redis-py's pipeline costs around
    the commands (the pool, the retry wrapper, the command stack, the callbacks) is not paid.
    As the pool does when it hands a connection out, one that reads as ready while idle (closed
    by the server: a restart, a timeout) is replaced before anything is sent. A connection that
    breaks on the way is dropped and the error raised; `repeatable` commands (doing them twice
    is harmless: the webhook's SET NX script, acknowledgements) are then sent once more on a
    new connection, as redis-py's own retry would."""
    conn = _own_connection(r)
    try:
        return _exchange(conn, commands)
    except redis.ConnectionError:
        if not repeatable:
            raise
    return _exchange(conn, commands)


def _exchange(conn, commands: list[tuple]) -> list:
    if conn._sock is not None and idle_but_readable(conn._sock):
        conn.disconnect()
    conn.send_packed_command(_pack(conn, commands))
    replies = []
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except redis.ResponseError as exc:   # an error reply: the connection is fine
            replies.append(exc)
        except BaseException:
            conn.disconnect()                # (replies left unread: never reuse it)
            raise
    return replies


def _pack(conn, commands: list[tuple]) -> list[bytes]:
    """The commands in Redis' protocol, packed by hiredis in C: the same bytes as redis-py's
    `pack_commands` (a command name with a space, such as "XGROUP CREATE", split into its words;
    text as UTF-8) for a fifth of its CPU. Anything else (another encoding in REDIS_URL, an
    argument hiredis does not take) is left to redis-py, which also raises its own errors."""
    if _hiredis_pack is None or conn.encoder.encoding != "utf-8":
        return conn.pack_commands(commands)
    try:
        return [b"".join([_hiredis_pack((*c[0].split(), *c[1:]) if _spaced(c[0]) else c)
                          for c in commands])]
    except TypeError:
        return conn.pack_commands(commands)


def _spaced(name) -> bool:
    return (isinstance(name, str) and " " in name) or (isinstance(name, bytes) and b" " in name)


def trip(r, commands: list[tuple], *, repeatable: bool = False) -> list:
    """Commands in one round trip; an error reply is raised. A plain Redis answers raw
    (`send_raw`, `repeatable` as there: HGETALL as a flat list, see `as_dict`), the others
    through redis-py's pipeline (its callbacks; independent commands, one hash tag on a cluster)."""
    if is_plain(r):
        replies = send_raw(r, commands, repeatable=repeatable)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies
    pipe = r.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute()


def as_dict(reply) -> dict:
    """HGETALL's reply as a dict, raw (a flat list of fields and values) or not."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


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
    result = many_trips(r, [(tx, rest)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def many_trips(r, writes: list[tuple]) -> list:
    """Several `one_trip` writes ((tx, rest), each tx non-empty) in one round trip on a plain
    Redis, in order. Returns for each its transaction's raw replies, or the exception that
    refused or aborted it (the others are not affected). A broken connection is raised."""
    groups = []
    for tx, rest in writes:
        group = [("MULTI",), *[args for args, _options in tx.command_stack], ("EXEC",)]
        if rest is not None:
            group += [args for args, _options in rest.command_stack]
        groups.append(group)
    return [_transaction_result(replies[:len(tx.command_stack) + 2])
            for (tx, _rest), replies in zip(writes, send_grouped(r, groups))]


def send_grouped(r, groups: list[list[tuple]]) -> list[list]:
    """`send_raw` for several groups of commands in one round trip: each group's raw replies."""
    replies = send_raw(r, [command for group in groups for command in group])
    out, at = [], 0
    for group in groups:
        out.append(replies[at:at + len(group)])
        at += len(group)
    return out


def _transaction_result(replies: list):
    """MULTI's, the queued commands' and EXEC's replies: EXEC's results, or the error."""
    for reply in replies[:-1]:
        if isinstance(reply, Exception):      # refused before EXEC (e.g. a wrong argument)
            return reply
    done = replies[-1]
    if isinstance(done, Exception):
        return done
    if done is None:
        return redis.exceptions.WatchError("transaction aborted")
    for reply in done:
        if isinstance(reply, Exception):
            return reply
    return done
