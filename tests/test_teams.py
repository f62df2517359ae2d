"""Teams, routing and the monthly report (issue 26), end to end on a real redis-server: signed
webhooks → worker → the console's JSON API, teams made with the `mado team` command itself.

- a handoff goes to the team serving the place the person named; a counselor sees their team's
  first, then the shared pool, and not another team's that someone of that team is there to take
- nobody of the team online, or the team off duty: the shared pool (and the card says why)
- someone who named no place: the shared pool; an urgent handoff: in every counselor's queue
- a transfer to a counselor of another team makes it that team's
"""
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest

from bot import cli
from handoff.store import meta_key
from handoff.teams import TeamError, Teams, resolve_place

from .test_counselor_tools import ask_from_tokyo
from .test_handoff import Console, ask_for_human, person, wait_until  # noqa: F401 (fixture)


def mado(monkeypatch, redis_url, *argv):
    """`mado …` as the operator runs it: (exit code, standard output, standard error)."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def here(*consoles):
    """These counselors have their console open (it calls the API all the time)."""
    for c in consoles:
        assert c.get("/console/api/me").status_code == 200
    return consoles


def ask_from_kochi(p):
    p.send(follow=True)
    p.wait_count(1)
    p.say_and_wait(postback="choose_self")
    p.say_and_wait("高知に住んでいます")
    p.say_and_wait("人と話したい")
    return p.say_and_wait("はい")


@pytest.fixture
def two_teams(monkeypatch, redis_server, accounts, r):
    """Team kochi (aoi) serves Kochi; team tokyo (ben) serves Tokyo; chief is an admin of neither."""
    url = redis_server.url
    assert mado(monkeypatch, url, "team", "add", "kochi", "--places", "高知県,四万十市")[0] == 0
    assert mado(monkeypatch, url, "team", "add", "tokyo", "--places", "東京都", "--hours", "always")[0] == 0
    assert mado(monkeypatch, url, "team", "member", "add", "kochi", "aoi")[0] == 0
    assert mado(monkeypatch, url, "team", "member", "add", "tokyo", "ben")[0] == 0
    return url


def test_team_commands_resolve_places_and_refuse_what_is_wrong(monkeypatch, two_teams, r):
    code, out, _ = mado(monkeypatch, two_teams, "team", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("kochi\t") and "高知県, 高知県四万十市" in lines[0] and "members: aoi" in lines[0]
    assert lines[1].startswith("tokyo\t") and "members: ben" in lines[1]
    assert resolve_place("横浜市港北区") == "14109" and resolve_place("東京都府中市") == "13206"
    with pytest.raises(TeamError, match="2 places"):
        resolve_place("府中市")
    for argv, why in ((["team", "add", "kochi", "--places", "高知県"], "already exists"),
                      (["team", "add", "x", "--places", "どこでもない町"], "no place"),
                      (["team", "add", "y", "--places", "高知県", "--hours", "mon-fri 17:00-10:00"], "--hours"),
                      (["team", "member", "add", "kochi", "nobody"], "no counselor"),
                      (["team", "add", "a:b", "--places", "高知県"], "team name")):
        code, _, err = mado(monkeypatch, two_teams, *argv)
        assert code == 2 and why in err, (argv, err)
    # every change is in the audit stream: who (the command line), what
    actions = [f["action"] for _, f in r.xrange("mado:{handoff}:audit")]
    assert "team_add:kochi" in actions and "team_member_add:tokyo:ben" in actions


def test_routing_by_place_with_the_shared_pool_below(app, two_teams, person, worker, r):
    worker()
    aoi, ben, chief = here(Console(app, "aoi"), Console(app, "ben"), Console(app, "chief"))
    ask_from_kochi(k := person())
    ask_from_tokyo(t := person())
    ask_for_human(nowhere := person())       # named no place: the shared pool
    everyone = wait_until(lambda: len(w := chief.waiting()) == 3 and w)
    by_team = {h["team"]: h for h in everyone}
    assert set(by_team) == {"kochi", "tokyo", None}
    assert r.hget(meta_key(by_team["kochi"]["id"]), "routed") == "served"
    assert r.hget(meta_key(by_team[None]["id"]), "routed") == "no_place"
    # a team's counselor: their own team's first, the pool below, never the other team's
    assert [h["team"] for h in aoi.waiting()] == ["kochi", None]
    assert [h["team"] for h in ben.waiting()] == ["tokyo", None]
    # the detail carries the team too
    assert aoi.detail(by_team["kochi"]["id"])["team"] == "kochi"
    assert {k, t, nowhere}


def test_nobody_online_or_off_duty_overflows_to_the_pool(app, monkeypatch, two_teams, person, worker, r):
    worker()
    chief = Console(app, "chief")            # ben (tokyo) is not in the console
    ask_from_tokyo(person())
    h = wait_until(chief.waiting)[0]
    assert h["team"] is None and r.hget(meta_key(h["id"]), "routed") == "nobody_online"
    assert r.hget(meta_key(h["id"]), "team_home") == "tokyo"
    # the kochi team is off duty: the pool, even with aoi in the console
    assert mado(monkeypatch, two_teams, "team", "set", "kochi", "--hours", "never")[0] == 0
    aoi, = here(Console(app, "aoi"))
    ask_from_kochi(person())
    got = wait_until(lambda: len(w := chief.waiting()) == 2 and w)
    kochi = next(x for x in got if x["id"] != h["id"])
    assert kochi["team"] is None and r.hget(meta_key(kochi["id"]), "routed") == "off_duty"
    assert {x["id"] for x in aoi.waiting()} == {h["id"], kochi["id"]}      # both in the pool


def test_another_team_with_nobody_present_spills_into_my_queue_and_a_transfer_moves_the_team(
        app, two_teams, person, worker, r):
    worker()
    aoi, ben = here(Console(app, "aoi"), Console(app, "ben"))
    ask_from_tokyo(person())
    hid = wait_until(ben.waiting)[0]["id"]
    assert aoi.waiting() == []                          # ben (tokyo) is there to take it
    # ben leaves the console: aoi sees tokyo's handoff below her own, marked as overflow
    r.zrem("mado:{handoff}:online", "ben")
    spilled = wait_until(aoi.waiting)
    assert [(x["id"], x["team"], x["overflow"]) for x in spilled] == [(hid, "tokyo", True)]
    # aoi takes it and hands it to ben: still tokyo's; ben hands it to aoi: kochi's now
    assert aoi.post(f"/console/api/handoffs/{hid}/claim").status_code == 200
    ben = Console(app, "ben")
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "ben"}).status_code == 200
    assert r.hget(meta_key(hid), "team") == "tokyo"
    assert ben.post(f"/console/api/handoffs/{hid}/transfer", {"to": "aoi"}).status_code == 200
    assert r.hget(meta_key(hid), "team") == "kochi"
    assert aoi.detail(hid)["team"] == "kochi"


def test_the_supervisor_edits_membership_through_the_api(app, two_teams, r):
    chief, aoi = Console(app, "chief"), Console(app, "aoi")
    assert aoi.post("/console/api/teams/tokyo/members", {"name": "aoi"}).status_code == 403
    assert chief.post("/console/api/teams/tokyo/members", {"name": "aoi"}).status_code == 200
    assert chief.post("/console/api/teams/tokyo/members", {"name": "nobody"}).status_code == 400
    mine = {t["name"]: t for t in aoi.get("/console/api/teams").get_json()["teams"]}
    assert set(mine) == {"kochi", "tokyo"} and mine["tokyo"]["members"] == ["aoi", "ben"]
    listed = {c["name"]: c.get("teams", []) for c in chief.get("/console/api/counselors").get_json()["counselors"]}
    assert listed["aoi"] == ["kochi", "tokyo"] and listed["chief"] == []
    assert chief.post("/console/api/teams/tokyo/members/aoi/delete").status_code == 200
    assert Teams(r).of("aoi") == ["kochi"]
    assert "team_member_remove:tokyo:aoi" in [f["action"] for _, f in r.xrange("mado:{handoff}:audit")]
    assert json.dumps(chief.get("/console/api/teams").get_json()).count('"name"') >= 2


def test_the_teams_page_is_offered_to_admins_and_to_counselors_in_a_team(app, two_teams, r):
    """The console links to the teams page (the supervisor's edits, a team's resources) for admins
    and for counselors in a team; without teams, or in none, nothing changes. The page itself
    shows what the API lets the caller see (the API checks every permission)."""
    aoi, chief = Console(app, "aoi"), Console(app, "chief")
    Teams(r).remove_member("tokyo", "ben")
    ben = Console(app, "ben")
    for who, linked in ((aoi, True), (chief, True), (ben, False)):
        page = who.get("/console/").get_data(as_text=True)
        assert ('id="teams-link"' in page) is linked, who.name
        assert 'data-teams="1"' in page                   # the shared pool marked in the queue
        assert who.get("/console/teams").status_code == 200
    assert 'data-role="admin"' in chief.get("/console/teams").get_data(as_text=True)
    for name in Teams(r).names():
        Teams(r).remove(name)
    page = chief.get("/console/").get_data(as_text=True)
    assert 'id="teams-link"' not in page and 'data-teams=""' in page


def test_the_monthly_report_matches_a_seeded_day_with_small_cells_hidden(monkeypatch, two_teams, r):
    """A day of handoffs, pickups and closes seeded through the store on a real Redis; the CSV's
    figures are exactly what they make, small counts hidden and what would give one away too."""
    import csv
    import time

    from handoff.store import HandoffStore, tokyo_day

    store = HandoffStore(r)
    store.seen_online("aoi")
    store.seen_online("ben")
    for _ in range(20):
        store.count("conversations")
    for _ in range(6):
        store.count("crisis_people")

    def handoff(n, place, lane, waited_s=None, crisis="", outcome=None):
        hid = f"seed{n:04d}"
        assert store.create(f"{n:064x}", hid, {"lane": lane, "topic": "", "crisis": crisis}, place=place)
        if waited_s is not None:
            r.hset(meta_key(hid), "queued_at", int(time.time() * 1000) - waited_s * 1000)   # just before the pickup
            assert store.claim(hid, "aoi") == 1
            if outcome:
                assert store.close(hid, "aoi", "aoi", outcome) == 1
        return hid

    for i in range(7):     # kochi: waits of 1 to 7 minutes, one urgent, five closed as listened
        handoff(i, {"pref": "39"}, "self" if i < 5 else "family", 60 * (i + 1),
                crisis="high" if i == 0 else "", outcome="listened" if i < 5 else None)
    for i in range(6):     # tokyo: five taken after 30 s
        handoff(10 + i, {"pref": "13"}, "family", 30 if i < 5 else None)
    for i in range(2):     # no place said: the shared pool
        handoff(20 + i, None, "")
    assert r.hget(meta_key("seed0010"), "team") == "tokyo" and r.hget(meta_key("seed0020"), "team") == ""
    month = tokyo_day()[:7]

    code, out, err = mado(monkeypatch, two_teams, "report", "--month", month, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    got = {(x["team"], x["metric"]): x["value"] for x in rows}
    notes = {(x["team"], x["metric"]): x["note"] for x in rows}
    expected = {
        ("_all", "conversations"): "20", ("_all", "crisis_people"): "6", ("_all", "crisis_share"): "0.3",
        ("_all", "handoffs"): "15", ("_all", "handoffs_urgent"): "<5",
        ("_all", "waits_n"): "12", ("_all", "wait_median_s"): "90", ("_all", "wait_p90_s"): "360",
        ("_all", "outcome_listened"): "5",
        ("kochi", "handoffs"): "7", ("kochi", "waits_n"): "7", ("kochi", "wait_median_s"): "240",
        ("kochi", "wait_p90_s"): "420", ("kochi", "outcome_listened"): "5",
        ("kochi", "handoffs_urgent"): "<5", ("kochi", "handoff_crisis_people"): "<5",
        ("kochi", "handoff_crisis_share"): "<5",
        ("kochi", "lane_family"): "<5", ("kochi", "lane_self"): "<5",      # 2, and the 5 that would give it away
        ("tokyo", "waits_n"): "5", ("tokyo", "wait_median_s"): "30",
        ("_pool", "handoffs"): "<5", ("tokyo", "handoffs"): "<5",            # 2, and the smallest other team's
        ("tokyo", "lane_family"): "<5",                                      # beside kochi's hidden 2
        ("_pool", "waits_n"): "0", ("_pool", "wait_median_s"): "",
    }
    assert {k: got.get(k) for k in expected} == expected
    assert notes[("kochi", "lane_family")] == "suppressed: under 5"
    assert notes[("kochi", "lane_self")] == notes[("tokyo", "handoffs")] == "suppressed: would reveal a suppressed cell"
    assert {x["month"] for x in rows} == {month}

    # the printable page: charts drawn by the library as inline SVG, the rule said, nothing personal
    code, page, _ = mado(monkeypatch, two_teams, "report", "--month", month, "--format", "html", "--team", "kochi")
    assert code == 0
    assert page.count("<svg") >= 3 and "<script" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)        # nothing fetched from anywhere
    assert "&lt;5" in page and "チーム：kochi" in page and "tokyo" not in page
    assert "seed0" not in page and "0000000000000000000000000" not in page
    assert mado(monkeypatch, two_teams, "report", "--month", "2026-13", "--format", "csv")[0] == 2
    assert mado(monkeypatch, two_teams, "report", "--month", month, "--team", "nope")[0] == 2


# -- a team's local resources (handoff/resources.py) -------------------------------------------
def _event(days_ahead=10, **kw):
    from datetime import timedelta

    from handoff.resources import today

    return {"kind": "family", "name": "高知ひきこもり家族会", "note": "毎月1回・参加無料",
            "phone": "０８８－８２１－１２３４", "url": "https://kochi.example.jp/kazoku",
            "date": (today() + timedelta(days=days_ahead)).isoformat(), **kw}


@pytest.fixture
def kochi_admin(two_teams, accounts):
    """kchief: an admin in team kochi (its resources' editor, not tokyo's)."""
    from .conftest import COUNSELOR_PASSWORD

    accounts.add("kchief", COUNSELOR_PASSWORD, "admin")
    Teams(accounts.r).add_member("kochi", "kchief")
    return "kchief"


def test_team_resources_are_validated_kept_per_team_past_events_hidden_and_every_edit_audited(
        app, kochi_admin, r):
    from datetime import timedelta

    from handoff.resources import TeamResources, today

    kchief, chief, aoi, ben = (Console(app, n) for n in ("kchief", "chief", "aoi", "ben"))
    url = "/console/api/teams/kochi/resources"
    res = kchief.post(url, _event())
    assert res.status_code == 200, res.get_json()
    got = res.get_json()["resources"]
    assert [(x["name"], x["phone"], x["kind"]) for x in got] == [("高知ひきこもり家族会", "088-821-1234", "family")]
    rid = got[0]["id"]
    assert got[0]["title"].startswith("家族会：高知ひきこもり家族会　") and got[0]["updated_by"] == "kchief"
    # validated: each refusal says what is wrong, and nothing is kept
    for bad, code in (({"phone": "12345"}, "error.resource_bad_phone"),
                      ({"phone": "088-821-12345678"}, "error.resource_bad_phone"),
                      ({"phone": "tel:0888211234"}, "error.resource_bad_phone"),
                      ({"url": "javascript:alert(1)"}, "error.resource_bad_url"),
                      ({"url": "https://localhost/x"}, "error.resource_bad_url"),
                      ({"url": "https://user@evil.example.jp/"}, "error.resource_bad_url"),
                      ({"url": "https://kochi.example.jp/a b"}, "error.resource_bad_url"),
                      ({"phone": "", "url": ""}, "error.resource_no_contact"),
                      ({"date": "2026-13-01"}, "error.resource_bad_date"),
                      ({"until": "2000-01-01"}, "error.resource_bad_date"),
                      ({"date": "2000-01-01", "until": ""}, "error.resource_past"),
                      ({"kind": "party"}, "error.resource_bad_kind"),
                      ({"name": "  "}, "error.resource_empty"),
                      ({"name": "x" * 61}, "error.resource_too_long")):
        res = kchief.post(url, _event(**bad))
        assert (res.status_code, res.get_json()["code"]) == (400, code), bad
    # per team: its counselors read, its admins (and an admin of no team) edit, nobody else
    assert aoi.get(url).get_json()["editable"] is False and len(aoi.get(url).get_json()["resources"]) == 1
    assert aoi.post(url, _event()).status_code == 403
    assert ben.get(url).status_code == 403 and ben.post(url, _event()).status_code == 403
    assert kchief.post("/console/api/teams/tokyo/resources", _event()).status_code == 403
    assert chief.post("/console/api/teams/tokyo/resources",
                      _event(kind="work", name="サポステ東京", date="", phone="")).status_code == 200
    assert ben.get("/console/api/teams/tokyo/resources").get_json()["resources"][0]["name"] == "サポステ東京"
    assert aoi.get("/console/api/teams/tokyo/resources").status_code == 403
    assert chief.get("/console/api/teams/nowhere/resources").status_code == 404
    # an event that has ended is hidden from counselors by itself; its editors still see it, marked
    # (seeded as if added 400 days ago)
    TeamResources(r, "kochi").add(_event(-390, name="去年の講座", kind="course"), by="kchief",
                                  now=today() - timedelta(days=400))
    assert [x["name"] for x in aoi.get(url).get_json()["resources"]] == ["高知ひきこもり家族会"]
    editors = {x["name"]: x["past"] for x in kchief.get(url).get_json()["resources"]}
    assert editors == {"高知ひきこもり家族会": False, "去年の講座": True}
    # edit and delete: audited with who, when, the team, the item and which fields, never a value
    assert kchief.post(f"{url}/{rid}", _event(phone="088-000-1111")).status_code == 200
    assert aoi.get(url).get_json()["resources"][0]["phone"] == "088-000-1111"
    assert kchief.post(f"{url}/nosuchid/delete").status_code == 404
    assert kchief.post(f"{url}/{rid}", _event(phone="1")).status_code == 400
    assert kchief.post(f"{url}/{rid}/delete").status_code == 200
    assert aoi.get(url).get_json()["resources"] == []
    audit = [f for _, f in r.xrange("mado:{handoff}:audit") if f["action"].startswith("resource_")]
    assert [(f["who"], f["action"].rsplit(":", 1)[0]) for f in audit] == [
        ("kchief", f"resource_add:kochi:{rid}"), ("chief", "resource_add:tokyo:" + audit[1]["action"].split(":")[2]),
        ("kchief", f"resource_edit:kochi:{rid}"), ("kchief", f"resource_delete:kochi:{rid}")]
    assert audit[0]["action"].endswith(":kind,name,note,phone,url,date") and audit[2]["action"].endswith(":phone")
    assert all(f["at"] for f in audit)
    text = json.dumps(audit, ensure_ascii=False)
    # (the values themselves: "088" alone may turn up in a random id or a timestamp)
    assert not any(v in text for v in ("821-1234", "8211234", "000-1111", "0001111", "家族会", "example", "サポステ", "毎月"))
    # a team removed takes its resources with it
    assert mado_removed(r, "tokyo") and not r.exists("mado:{staff}:team:tokyo:resources")


def mado_removed(r, name):
    Teams(r).remove(name)
    return name not in Teams(r).names()


def test_send_a_resource_lists_the_persons_team_first_and_sends_it_as_a_card(app, kochi_admin, person, worker, r):
    from . import helpers
    from .test_cards import buttons
    from .test_counselor_tools import flex_cards

    worker()
    kchief, chief, aoi = Console(app, "kchief"), Console(app, "chief"), Console(app, "aoi")
    here(aoi)
    assert kchief.post("/console/api/teams/kochi/resources", _event()).status_code == 200
    assert kchief.post("/console/api/teams/kochi/resources",
                       _event(kind="ibasho", name="居場所ひだまり", date="", url="")).status_code == 200
    assert chief.post("/console/api/teams/tokyo/resources", _event(name="東京の家族会")).status_code == 200
    ask_from_kochi(p := person())
    hid = wait_until(aoi.waiting)[0]["id"]
    assert aoi.post(f"/console/api/handoffs/{hid}/claim").status_code == 200
    listed = aoi.get(f"/console/api/resources?handoff={hid}").get_json()["resources"]
    # the person's team's own first (events by day, then the rest), then their prefecture's centres
    assert [x["title"].split("：")[0] for x in listed[:2]] == ["家族会", "居場所"]
    assert all(x["theirs"] and x["team"] == "kochi" and x["id"].startswith("team:kochi:") for x in listed[:2])
    assert listed[2]["id"] == "pref:39" and "東京の家族会" not in json.dumps(listed, ensure_ascii=False)
    # without a person in mind: the counselor's own teams'
    assert aoi.get("/console/api/resources").get_json()["resources"][0]["team"] == "kochi"

    # the console's preview before sending (issue 27): a team's resource as it would go out
    preview = aoi.get(f"/console/api/resources/{listed[0]['id']}").get_json()
    assert preview["title"] == listed[0]["title"] and "088-821-1234" in preview["text"]

    url = f"/console/api/handoffs/{hid}/resources"
    before = len(flex_cards(p))
    assert aoi.post(url, {"id": listed[0]["id"], "client_id": "local-1"}).status_code == 200
    card = wait_until(lambda: (c := flex_cards(p)[before:]) and c[0])
    assert "088-821-1234" in card["altText"] and "高知ひきこもり家族会" in card["altText"]
    uris = [a["uri"] for a in buttons(card["contents"])]
    assert "tel:0888211234" in uris and "https://kochi.example.jp/kazoku" in uris
    said = [m for m in aoi.detail(hid)["messages"] if m["kind"] == "resource"]
    assert said[-1]["text"] == "［送った資料］" + listed[0]["title"]
    # another team's id, a deleted one, a malformed one: nothing sent
    tokyo_id = chief.get("/console/api/teams/tokyo/resources").get_json()["resources"][0]["id"]
    assert aoi.post(url, {"id": f"team:tokyo:{tokyo_id}"}).status_code == 200       # any team's current one may be sent
    rid = listed[1]["id"].split(":")[2]
    assert kchief.post(f"/console/api/teams/kochi/resources/{rid}/delete").status_code == 200
    for gone in (listed[1]["id"], "team:kochi", "team:no:such", "team:{x}:y"):
        assert aoi.post(url, {"id": gone}).status_code == 404, gone
        assert aoi.get(f"/console/api/resources/{gone}").status_code == 404, gone
    assert helpers.settled(r) and len(flex_cards(p)) == before + 2


def test_the_person_is_asked_where_they_live_told_who_answers_and_offered_the_teams_resources(
        app, monkeypatch, two_teams, kochi_admin, person, worker, r):
    from . import helpers

    worker()
    kchief, aoi, chief = Console(app, "kchief"), Console(app, "aoi"), Console(app, "chief")
    here(aoi)
    assert kchief.post("/console/api/teams/kochi/resources", _event()).status_code == 200

    def start(p):
        p.send(follow=True)
        p.wait_count(1)
        p.say_and_wait(postback="choose_self")

    # the place's windows, then the team's own resources (the quick replies stay on the last)
    start(k := person())
    got = k.say_and_wait("高知に住んでいます")
    texts = [t for d in got for t in helpers.texts_of(d)]
    assert any("高知ひきこもり家族会" in t and "088-821-1234" in t for t in texts[1:]), texts
    assert "高知ひきこもり家族会" in helpers.texts_of(got[-1])[-1] and helpers.quick_labels(got[-1])
    # the place is known: not asked again; who answers is said
    confirm = " ".join(helpers.texts_of(k.say_and_wait("人と話したい")[0]))
    assert "お住まいの都道府県" not in confirm
    assert "お住まいの地域の相談員がお返事します" in " ".join(helpers.texts_of(k.say_and_wait("はい")[0]))

    # not known: asked at the confirmation, with "not saying" offered; a place typed connects them
    start(q := person())
    asked = q.say_and_wait("人と話したい")[0]
    assert "お住まいの都道府県" in " ".join(helpers.texts_of(asked)) and "地域は言わない" in helpers.quick_labels(asked)
    assert "お住まいの地域の相談員がお返事します" in " ".join(helpers.texts_of(q.say_and_wait("四万十です")[0]))
    # declined: the shared pool, and the next request does not ask again
    start(s := person())
    s.say_and_wait("人と話したい")
    s.say_and_wait(postback="handoff_yes:noplace")
    teams = wait_until(lambda: len(w := chief.waiting()) == 3 and sorted(str(h["team"]) for h in w))
    assert teams == ["None", "kochi", "kochi"]
    s.say_and_wait("やめます")
    assert "お住まいの都道府県" not in " ".join(helpers.texts_of(s.say_and_wait("人と話したい")[0]))

    # the area's team is closed: told so, with when it opens, and who answers meanwhile
    assert mado(monkeypatch, two_teams, "team", "set", "kochi", "--hours", "never")[0] == 0
    start(o := person())
    o.say_and_wait("高知に住んでいます")
    o.say_and_wait("人と話したい")
    said = " ".join(helpers.texts_of(o.say_and_wait("はい")[0]))
    assert "受付時間の外" in said and "ほかの地域の相談員" in said, said
