"""A risk message nobody present has read alerts everyone (issue 27): through the JSON API, end to
end (signed webhooks → worker → console API), on a real redis-server (and again on a Cluster).

`GET /console/api/alerts` lists, for every logged-in counselor and admin, the conversations whose
person wrote something risky while the holder is away or offline, or has not read it within
MADO_RISK_UNREAD_S. An alert names the person (alias), the danger in words, the holder and their
status, and nothing of the transcript: a counselor who is not the holder still may not read it.
Two apps over one Redis differ only in that setting (the default 60 s and 1 s), so the same moment
can be checked as "not yet" and as "too long" without waiting a minute or sleeping.
"""
import json

import messages_ja

import pytest

from bot import create_app

from . import helpers
from .test_handoff import Console, ask_for_human, claimed_by_aoi, person, wait_until  # noqa: F401 (fixture)

RISK = "今夜で終わりにする"
FIELDS = {"id", "alias", "urgent_reason", "crisis", "holder", "holder_status", "why", "since", "risk_at",
          "urgent_at"}


@pytest.fixture
def quick_app(config):
    """The same console over the same Redis, with a holder's silence alerting after 1 s."""
    return create_app(config.with_overrides(risk_unread_s=1))


def alerts(console):
    res = console.get("/console/api/alerts")
    assert res.status_code == 200, res.get_json()
    return res.get_json()["alerts"]


def peek(console, hid):
    """The detail as the console reads it (?peek=1: reading it does not count as having read it)."""
    return console.get(f"/console/api/handoffs/{hid}?peek=1").get_json()


def risk_arrived(p, aoi, hid, before=None):
    """The person writes something risky; returns once the console has it (not a fixed wait)."""
    got = p.say_and_wait(RISK)
    assert any("相談員にも、急いで読むように伝えました" in t for d in got for t in helpers.texts_of(d)), got
    return wait_until(lambda: (d := peek(aoi, hid))["priority"] == "urgent"
                      and (before is None or d["urgent_at"] > before) and d)


def test_an_away_holders_risk_message_alerts_the_others_without_the_transcript(app, quick_app, accounts, person,
                                                                              worker):
    worker()
    p, aoi, ben, hid = claimed_by_aoi(app, person)
    chief = Console(app, "chief")
    assert alerts(ben) == [] and alerts(chief) == []
    assert aoi.post("/console/api/me/status", {"status": "away"}).status_code == 200
    assert alerts(ben) == []                            # away, but nothing risky: nothing to say

    risk_arrived(p, aoi, hid)
    alias = peek(aoi, hid)["alias"]
    for who in (ben, chief, aoi):
        got = alerts(who)
        assert len(got) == 1, got
        a = got[0]
        assert set(a) == FIELDS
        assert a["id"] == hid and a["alias"] == alias and a["holder"] == "aoi"
        assert a["holder_status"] == "away" and a["why"] == "away"
        assert a["urgent_reason"] == "計画・手段・別れのことば" and a["crisis"] == "urgent"
        assert a["since"] == a["risk_at"] and a["urgent_at"] >= a["risk_at"]
    # ben sees that it is there, not what was written: the transcript stays the holder's and admins'
    body = ben.get("/console/api/alerts").get_data(as_text=True)
    assert RISK not in body and "messages" not in json.loads(body)["alerts"][0]
    assert ben.get(f"/console/api/handoffs/{hid}?peek=1").status_code == 403
    assert ben.get(f"/console/api/handoffs/{hid}").status_code == 403
    assert RISK not in "".join(ben.seen)
    assert p.uid not in "".join(ben.seen + chief.seen)
    # the admin may read it and act on it
    assert RISK in [m["text"] for m in peek(chief, hid)["messages"]]
    # aoi's console, left open on her desk, has it on screen: nobody reads while she is away
    seen = len(peek(aoi, hid)["messages"])
    res = aoi.post(f"/console/api/handoffs/{hid}/read", {"seen": seen})
    assert res.status_code == 200 and res.get_json()["away"] is True and res.get_json()["unread"] >= 1
    aoi.detail(hid)
    assert peek(aoi, hid)["unread"] >= 1 and [a["id"] for a in alerts(ben)] == [hid]

    # aoi is back at the desk: she has MADO_RISK_UNREAD_S to read it before everyone is alerted again
    assert aoi.post("/console/api/me/status", {"status": "online"}).status_code == 200
    assert alerts(ben) == []
    quick = Console(quick_app, "ben")
    late = wait_until(lambda: alerts(quick))
    assert [(a["id"], a["why"], a["holder_status"]) for a in late] == [(hid, "unread", "online")]
    assert json.loads(quick.get("/console/api/alerts").get_data(as_text=True))["unread_after_s"] == 1
    # she reads it (her console reports what has been on screen): taken, for everyone
    seen = len(peek(aoi, hid)["messages"])
    assert aoi.post(f"/console/api/handoffs/{hid}/read", {"seen": seen}).status_code == 200
    assert alerts(quick) == [] and alerts(chief) == []


def test_a_silent_holder_alerts_everyone_after_the_set_time_until_someone_present_has_read_it(
        app, quick_app, accounts, person, worker):
    worker()
    p, aoi, ben, hid = claimed_by_aoi(app, person)
    chief, quick_chief = Console(app, "chief"), Console(quick_app, "chief")
    p.send("こんにちは")
    assert wait_until(lambda: peek(aoi, hid)["messages"])
    d = risk_arrived(p, aoi, hid)
    assert d["unread"] >= 1
    # aoi is online and has not read it: within the set time (60 s) nobody else is alerted
    assert alerts(ben) == [] and alerts(chief) == []
    # past it (1 s in the quick app): everyone is
    got = wait_until(lambda: alerts(quick_chief))
    assert [(a["id"], a["holder"], a["holder_status"], a["why"]) for a in got] == [(hid, "aoi", "online", "unread")]

    # aoi reads only part of the transcript (the risk message not yet on screen): still alerted
    before = [m["text"] for m in peek(aoi, hid)["messages"]].index(RISK)
    assert before >= 1
    assert aoi.post(f"/console/api/handoffs/{hid}/read", {"seen": before}).status_code == 200
    assert [a["id"] for a in alerts(quick_chief)] == [hid]
    # a colleague's or an admin's look does not count as the holder's reading
    assert RISK in [m["text"] for m in chief.detail(hid)["messages"]]
    assert [a["id"] for a in alerts(quick_chief)] == [hid]
    # the whole of it: done
    seen = len(peek(aoi, hid)["messages"])
    assert aoi.post(f"/console/api/handoffs/{hid}/read", {"seen": seen}).status_code == 200
    assert alerts(quick_chief) == []

    # another risk message: alerted again once it is left unread
    risk_arrived(p, aoi, hid, before=d["urgent_at"])
    assert alerts(chief) == []
    assert [a["id"] for a in wait_until(lambda: alerts(quick_chief))] == [hid]
    # an admin gives it to ben: ben has the set time from now, then it is his silence that alerts
    assert chief.post(f"/console/api/handoffs/{hid}/assign", {"to": "ben"}).status_code == 200
    assert alerts(chief) == []
    got = wait_until(lambda: alerts(quick_chief))
    assert [(a["holder"], a["why"]) for a in got] == [("ben", "unread")]
    assert got[0]["since"] > got[0]["risk_at"]            # the clock started at the handover
    seen = len(ben.detail(hid)["messages"])                # reading is a POST, never a GET
    assert [a["id"] for a in alerts(quick_chief)] == [hid]
    assert ben.post(f"/console/api/handoffs/{hid}/read", {"seen": seen}).status_code == 200
    assert alerts(quick_chief) == []


def test_each_person_is_an_alert_of_their_own_and_a_closed_or_released_one_ends_its_alert(
        app, accounts, person, worker):
    worker()
    p1, aoi, ben, first = claimed_by_aoi(app, person)
    p2 = person()
    ask_for_human(p2)
    second = wait_until(lambda: aoi.waiting())[0]["id"]
    # a risk message while waiting is for everyone already (the queue's loudest alert), not here
    p2.say_and_wait("もう消えたい")
    assert wait_until(lambda: peek(aoi, second)["priority"] == "urgent")
    assert alerts(ben) == []
    assert ben.post(f"/console/api/handoffs/{second}/claim").status_code == 200
    p2.heard("相談員がつながりました")
    chief = Console(app, "chief")

    # aoi goes away and her person writes; then ben goes away and his person writes again
    assert aoi.post("/console/api/me/status", {"status": "away"}).status_code == 200
    risk_arrived(p1, aoi, first)
    assert [a["id"] for a in alerts(chief)] == [first]
    assert ben.post("/console/api/me/status", {"status": "away"}).status_code == 200
    # his person's message from the queue is unread since he took it (the clock starts then, before
    # aoi's person wrote): the oldest unread comes first, a second alert beside the first
    got = alerts(chief)
    assert [(a["id"], a["holder"], a["why"]) for a in got] == [(second, "ben", "away"), (first, "aoi", "away")], got
    assert got[0]["since"] < got[1]["since"] and got[0]["urgent_reason"] == "消えたい・生きるのがつらい"
    p2.say_and_wait(RISK)
    got = wait_until(lambda: (g := alerts(chief)) and g[0]["crisis"] == "urgent" and g)
    assert [a["id"] for a in got] == [second, first]
    assert got[0]["urgent_reason"] == "計画・手段・別れのことば" and got[0]["risk_at"] > got[0]["since"]

    # aoi's goes back to the queue (the queue alerts everyone), ben's is closed: no alert is left
    assert aoi.post(f"/console/api/handoffs/{first}/release").status_code == 200
    assert [a["id"] for a in alerts(chief)] == [second]
    assert chief.post(f"/console/api/handoffs/{second}/close").status_code == 200
    assert alerts(chief) == [] and alerts(ben) == []


def test_someone_at_risk_who_leaves_is_an_alert_for_everyone_without_a_word_of_theirs(app, accounts, person, worker, r):
    """Issue 27, #6: forget-me (and a block, a cancel) of a person in an urgent conversation."""
    worker()
    p1, aoi, ben, first = claimed_by_aoi(app, person)
    chief = Console(app, "chief")
    risk_arrived(p1, aoi, first)
    alias = peek(aoi, first)["alias"]
    p1.say_and_wait("記録を消して")
    p1.say_and_wait(postback="forget_yes")
    for who in (aoi, ben, chief):
        body = who.get("/console/api/alerts").get_data(as_text=True)
        gone = json.loads(body)["gone"]
        assert [(g["id"], g["alias"], g["holder"], g["why"], g["crisis"], g["urgent_reason"]) for g in gone] == [
            (first, alias, "aoi", "forgot", "urgent", "計画・手段・別れのことば")]
        assert RISK not in body and "記録を消して" not in body and p1.uid not in body
    # a calm person who leaves, or someone at risk who takes their request back while waiting
    p2, p3 = person(), person()
    ask_for_human(p2)
    second = wait_until(aoi.waiting)[0]["id"]
    p2.post(helpers.unfollow_event(p2.uid))
    assert wait_until(lambda: peek(aoi, second)["status"] == "closed")
    ask_for_human(p3)
    third = wait_until(aoi.waiting)[0]["id"]
    p3.say_and_wait("もう消えたい")
    assert wait_until(lambda: peek(aoi, third)["priority"] == "urgent")
    p3.say_and_wait("やめる")
    got = wait_until(lambda: (g := json.loads(ben.get("/console/api/alerts").get_data(as_text=True))["gone"])
                     and len(g) == 2 and g)
    assert [(g["id"], g["holder"], g["why"]) for g in got] == [(first, "aoi", "forgot"), (third, None, "cancelled")]
    # seen by one: over for everyone
    assert ben.post(f"/console/api/alerts/gone/{first}/seen").status_code == 200
    assert [g["id"] for g in json.loads(chief.get("/console/api/alerts").get_data(as_text=True))["gone"]] == [third]
    assert ben.post(f"/console/api/alerts/gone/{first}/seen").get_json()["already"] is True
    assert ben.post(f"/console/api/alerts/gone/{third}/seen", csrf=False).status_code == 403


def test_alerts_need_a_login(app, accounts):
    res = app.test_client().get("/console/api/alerts", base_url="https://localhost")
    assert res.status_code == 401


def test_a_risk_message_under_an_away_or_absent_counselor_is_posted_outside_the_console_every_time(r):
    """Nobody may be at a console at all: the outside alert (MADO_ALERT_WEBHOOK_URL's stream) says so
    for every risk message whose holder is away or offline, the first one's 'urgent' only otherwise."""
    from handoff.store import ALERTS, HandoffStore

    store = HandoffStore(r)
    store.create("ab" * 32, "h1", {"lane": "self"})
    assert store.claim("h1", "aoi") == 1
    store.seen_online("aoi")
    posted = lambda: [f["priority"] for _, f in r.xrange(ALERTS) if "priority" in f]  # noqa: E731
    before = posted()
    store.make_urgent("h1", "high")              # aoi is at her console: the first time only, as before
    store.make_urgent("h1", "urgent")
    assert posted()[len(before):] == ["urgent"]
    store.set_away("aoi", True)                  # away: every risk message goes out
    store.make_urgent("h1", "high")
    store.make_urgent("h1", "high")
    assert posted()[len(before):] == ["urgent", "risk", "risk"]
    assert "離席中" in messages_ja.template("alert.risk", waiting=0)
