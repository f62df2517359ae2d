"""The worker's and webhook's raw round trips (bot/redis_conn.send_raw): what they pack reaches
Redis intact, whatever people write."""
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import redis_conn

from .conftest import CLUSTER

pytestmark = pytest.mark.skipif(CLUSTER, reason="raw round trips are for a plain Redis")

values = st.one_of(st.text(max_size=300), st.binary(max_size=300), st.integers(-2**63, 2**63 - 1),
                   st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(values, min_size=1, max_size=6))
def test_commands_are_packed_as_redis_py_packs_them(args):
    conn = redis.Connection()
    commands = [("RPUSH", "mado:{t}:list", *args), ("XGROUP CREATE", "mado:{t}:s", "g", "$", "MKSTREAM"),
                (b"CLIENT SETNAME", "mado")]
    assert b"".join(redis_conn._pack(conn, commands)) == b"".join(conn.pack_commands(commands))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=2000), blob=st.binary(max_size=500), score=st.floats(-1e12, 1e12))
def test_what_is_sent_raw_is_read_back_unchanged(r, text, blob, score):
    replies = redis_conn.send_raw(r, [
        ("MULTI",), ("SET", "mado:{t}:text", text), ("SET", "mado:{t}:blob", blob),
        ("ZADD", "mado:{t}:z", score, "m"), ("EXEC",),
        ("GET", "mado:{t}:text"), ("ZSCORE", "mado:{t}:z", "m"),
    ])
    assert replies[-2] == text
    assert float(replies[-1]) == score
    assert redis.Redis(port=r.connection_pool.connection_kwargs["port"]).get("mado:{t}:blob") == blob


def test_a_value_redis_cannot_take_is_refused_before_anything_is_sent(r):
    with pytest.raises(redis.DataError):
        redis_conn.send_raw(r, [("SET", "mado:{t}:k", None)])
    assert redis_conn.send_raw(r, [("SET", "mado:{t}:k", "ok"), ("GET", "mado:{t}:k")]) == ["OK", "ok"]           # (raw replies: no callbacks)
