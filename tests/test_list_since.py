"""The lists' delta since their position (``GET /console/api/handoffs?since=<position>``): what a
console asks for when the push channel says only that the lists changed (a colleague's
conversation, whose id it is never told): the lines of every handoff changed since, exactly as a
whole list shows them, and ``gone`` for those that left this counselor's lists; the lists whole
when that cannot be told. A whole list says its ``position``. Real redis-server, the real app."""
from __future__ import annotations

from bot import keys
from handoff import events

from . import helpers
from .test_console_events import _talking
from .test_handoff import Console

TIMED = ("waiting_s", "awaiting_s")          # (counted in whole seconds from now: may tick between two answers)


def _line(h: dict) -> dict:
    return {k: v for k, v in h.items() if k not in TIMED}


def _key(position: str) -> tuple[int, int]:
    ms, seq = position.split("-")
    return int(ms), int(seq)


def test_a_delta_since_the_lists_position_is_their_own_lines_of_what_changed(app, accounts, r):
    store, pid, held = _talking(app, "aoi")                # aoi's: in ben's active list, not his to open
    qpid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
    queued = "q" + qpid[:12]
    store.create(qpid, queued, {"lane": "family"})
    ben = Console(app, "ben")
    waiting = ben.get("/console/api/handoffs?status=waiting").get_json()
    active = ben.get("/console/api/handoffs?status=active").get_json()
    position = min(waiting["position"], active["position"], key=_key)
    assert position == events.top(r)

    def since(at):
        res = ben.get(f"/console/api/handoffs?since={at}")
        assert res.status_code == 200, res.get_json()
        return res.get_json()

    assert since(position) == {"handoffs": [], "gone": [], "position": position, "alerts": False}

    # aoi's person writes: the push channel tells ben only that the lists changed; the delta has
    # that conversation's line in his lists, as the whole list now has it (its unread count)
    store.append(pid, held, {"from": "user", "kind": "text", "text": "secret words", "at": 1})
    store.note_user_message(held)
    delta = since(position)
    line = [h for h in ben.active() if h["id"] == held]
    assert [_line(h) for h in delta["handoffs"]] == [_line(h) for h in line] and line[0]["unread"] == 1
    assert delta["gone"] == [] and delta["alerts"] is False            # a message: the alerts are as they were
    assert "secret" not in str(delta) and _key(delta["position"]) > _key(position)

    # then aoi closes it and ben takes the queued one: both named, one gone from his lists, the
    # other in them as his; a change that may alter the risk alerts says so
    assert store.close(held, "aoi", "aoi") == 1
    assert store.claim(queued, "ben") == 1
    later = since(delta["position"])
    assert later["gone"] == [held] and [(h["id"], h["claimed_by"]) for h in later["handoffs"]] == [(queued, "ben")]
    assert later["alerts"] is True
    # from the first position: everything since, once each
    assert sorted(since(position)["gone"] + [h["id"] for h in since(position)["handoffs"]]) == sorted([held, queued])

    # a position the stream no longer holds (trimmed away), or ahead of it: the lists whole
    r.xtrim(events.EVENTS, maxlen=1, approximate=False)
    assert since(position)["whole"] is True
    assert since("99999999999999-0")["whole"] is True
    for bad in ("x", "1-", "-1", "1-2-3", "<script>"):
        assert ben.get(f"/console/api/handoffs?since={bad}").status_code == 400
