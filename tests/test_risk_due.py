"""The moment a held conversation's unread risk message alerts everyone is told by the server (the
push channel's ``{"type": "alerts"}``), so a console on push need not ask every few seconds to be
sure it rings: the timetable ``mado:{handoff}:riskdue`` (handoff/store.py ``risk_due``), looked at
about once a second by each web process, each entry taken by one of them. Real redis-server; the
Procfile's web process for the stream, with MADO_RISK_UNREAD_S=1."""
from __future__ import annotations

import json
import time

import pytest

from bot import keys
from handoff.store import RISK_DUE, log_key

from . import helpers
from .conftest import CLUSTER
from .test_console_events import Listener, _login
from .test_handoff import claimed_by_aoi, person, wait_until  # noqa: F401 (fixture)
from .test_web_process import Web

QUIET_S = 1


@pytest.fixture(scope="module")
def quick_web(redis_server, tmp_path_factory):
    w = Web(redis_server.url, tmp_path_factory.mktemp("riskdue"), MADO_RISK_UNREAD_S=str(QUIET_S))
    yield w
    w.stop()


def _held_risk(app, holder="aoi"):
    """A conversation ``holder`` has taken, where the person has just written something risky
    (as the worker records it: the transcript entry marked ``risk``, then ``make_urgent``)."""
    store = app.extensions["mado.handoffs"]
    pid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
    hid = "h" + pid[:12]
    assert store.create(pid, hid, {"lane": "family"})
    assert store.claim(hid, holder) == 1
    at = int(time.time() * 1000)
    store.append(pid, hid, {"from": "user", "kind": "text", "text": "secret words", "at": at, "risk": "high"})
    store.make_urgent(hid, "high")
    return store, hid, at


def test_each_due_entry_is_taken_once_and_put_back_only_while_an_alert_may_still_begin(app, accounts, r):
    # (first in this file: no web process of this module is looking at the timetable yet)
    app.extensions["mado.handoffs"].seen_online("aoi")          # at her console
    store, hid, at = _held_risk(app)
    assert r.zscore(RISK_DUE, hid) is not None
    assert store.risks_due(60_000) == 0 and r.zscore(RISK_DUE, hid) is not None   # not yet due
    assert store.risks_due(0) == 1                                # due: alerts now (aoi silent)
    assert store.risks_due(0) == 0 and r.zscore(RISK_DUE, hid) is None   # taken: never twice
    # asked for early (a claim restarts the clock, say): looked at, and put back for its real time
    store.risk_due(hid, 0)
    assert store.risks_due(60_000) == 0
    since = max(at, int(store.get(hid)["claimed_at"]))         # when her unread time began
    assert since <= r.zscore(RISK_DUE, hid) <= since + 1000
    assert store.risks_due(0) == 1
    # read by aoi before then: nothing left to tell, the entry dropped
    meta = store.get(hid)
    store.mark_seen(meta, int(r.llen(log_key(meta["pid"], hid))))
    store.risk_due(hid, 0)
    assert store.risks_due(0) == 0 and r.zscore(RISK_DUE, hid) is None


def test_an_unread_risk_message_s_time_running_out_is_pushed_to_every_console(quick_web, app, accounts, r):
    sessions = {n: _login(quick_web, n) for n in ("aoi", "ben")}
    streams = {n: Listener(quick_web, s) for n, s in sessions.items()}       # aoi is at her console
    for s in streams.values():
        s.until(lambda d: d["type"] == "reset")
    store, hid, _at = _held_risk(app)
    # nobody asks anything: after MADO_RISK_UNREAD_S the server itself says the alerts changed
    for name, stream in streams.items():
        heard = stream.until(lambda d: d["type"] == "alerts")
        assert heard[-1][1] == {"type": "alerts"}, name          # no id, no words: ask /alerts
        assert "secret" not in json.dumps(heard)
    for s in streams.values():
        s.close()
    alerts = sessions["ben"].get(quick_web.url + "/console/api/alerts", timeout=30).json()["alerts"]
    assert [(a["id"], a["holder"], a["why"]) for a in alerts] == [(hid, "aoi", "unread")]
    assert r.zscore(RISK_DUE, hid) is None                        # taken, told once
    for s in sessions.values():
        s.close()


@pytest.mark.skipif(CLUSTER, reason="MONITOR follows one node; the order is the same on a cluster")
def test_a_risk_message_s_urgent_event_is_told_after_the_transcript_holds_it(app, accounts, person, worker, r,
                                                                            redis_server):
    """A console that hears ``urgent`` asks for the risk alerts at once: the message must be in the
    transcript by then, or nobody is alerted until the next change (an order seen in Redis itself)."""
    import threading

    import redis as redis_py

    worker()
    p, aoi, _ben, hid = claimed_by_aoi(app, person)
    assert aoi.post("/console/api/me/status", {"status": "away"}).status_code == 200
    seen, ready = [], threading.Event()

    def watch():
        with redis_py.Redis(port=redis_server.port, decode_responses=True).monitor() as m:
            for cmd in m.listen():
                seen.append(cmd["command"])
                if "mado-monitor" in cmd["command"]:
                    ready.set()
                if "mado-monitor-end" in cmd["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert wait_until(lambda: r.echo("mado-monitor") and ready.wait(0.1))
    p.say_and_wait("今夜で終わりにする")

    def urgent_event(c):
        return c.startswith("XADD mado:{console}:events") and "type urgent" in c and hid in c

    def told():
        return any(urgent_event(c) for c in list(seen))
    assert wait_until(told)
    r.echo("mado-monitor-end")
    watcher.join(10)
    risk = next(i for i, c in enumerate(seen) if c.startswith("RPUSH") and f"ho:{hid}:log" in c and "risk" in c)
    urgent = next(i for i, c in enumerate(seen) if urgent_event(c))
    assert urgent > risk
