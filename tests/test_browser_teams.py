"""Teams in real browsers (issue 26): two teams and a shared pool end to end, each counselor in a
browser of their own, against one real `mado demo` on a real redis-server (Debian's chromium
through Playwright; the people write through the simulator).

- an admin puts counselors in and out of teams on the teams page (logged: who, what) and keeps a
  team's local resources there (refused with the console's words when a number is wrong; a past
  event shown to its editors only, marked)
- a person in team kochi's place reaches kochi's counselor, and is not in team tokyo's list
- a person in a place whose team has nobody in the console goes to the shared pool: below each
  team's own in the queue, marked 共有
- a transfer to a counselor of another team makes it that team's
- the monthly report page (`mado report --format html`) as a browser shows it: the README's picture
"""
import time

from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, say, shot, tap)
from .test_browser_console import COLLEAGUE_PASSWORD


def logged_in(browser, url, *names):
    """These counselors, each in a browser context of their own, logged in at the same time."""
    pages = []
    for name in names:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(url + "/console/login")
        page.fill("#name", name)
        page.fill("#password", COLLEAGUE_PASSWORD)
        page.click("#login-submit")
        pages.append(page)
    for name, page in zip(names, pages):
        expect(page.locator("#me-name")).to_have_text(name, timeout=T)
    return pages


def audit_actions(r):
    return [(f["who"], f["action"]) for _, f in r.xrange("mado:{handoff}:audit")]


def from_place(person, lane, words, shown):
    """Someone new names where they live (the bot answers with that place's page) and asks for a person."""
    new_person(person)
    tap(person, lane)
    say(person, words)
    expect(person.locator("#chat")).to_contain_text(shown, timeout=T)
    ask_for_a_person(person)


def test_two_teams_and_the_shared_pool_end_to_end_with_an_admin_editing_membership(browser, demo, r):
    from datetime import timedelta

    from handoff.accounts import Accounts
    from handoff.resources import TeamResources, today
    from handoff.store import meta_key
    from handoff.teams import Teams

    accounts, teams = Accounts(r), Teams(r)
    for name in ("aoi", "ben", "cai"):
        accounts.add(name, COLLEAGUE_PASSWORD)
    teams.add("kochi", ["高知県"])
    teams.add("tokyo", ["東京都"])
    teams.add("osaka", ["大阪府"], hours="mon-sun 0:00-24:00")
    teams.add_member("kochi", "aoi")
    teams.add_member("osaka", "cai")             # cai never opens the console
    # last year's course of kochi's: its editors still see it (marked), counselors do not
    TeamResources(r, "kochi").add({"kind": "course", "name": "去年の講座", "phone": "088-821-0000",
                                   "date": (today() - timedelta(days=390)).isoformat()},
                                  by="cli", now=today() - timedelta(days=400))

    # -- the admin (demo, in no team: the supervisor of them all) on the teams page ------------
    admin, person = counselor_and_simulator(browser, demo)
    admin.click("#teams-link")
    tokyo = admin.locator(".team-card[data-team='tokyo']")
    kochi = admin.locator(".team-card[data-team='kochi']")
    expect(kochi.locator(".team-facts")).to_contain_text("高知県", timeout=T)
    expect(kochi.locator(".team-facts")).to_contain_text("いつでも")
    expect(tokyo).to_contain_text("まだだれもいません")
    tokyo.locator(".member-choose").select_option("ben")
    tokyo.locator(".member-add").click()
    expect(tokyo.locator(".member-list li[data-name='ben']")).to_be_visible(timeout=T)
    tokyo.locator(".member-choose").select_option("aoi")           # by mistake, and out again
    tokyo.locator(".member-add").click()
    aoi_there = tokyo.locator(".member-list li[data-name='aoi']")
    expect(aoi_there).to_be_visible(timeout=T)
    aoi_there.get_by_role("button", name="aoi をtokyoから外す").click()
    expect(aoi_there).to_have_count(0, timeout=T)
    assert teams.get("tokyo").members == {"ben"} and teams.get("kochi").members == {"aoi"}
    done = audit_actions(r)
    assert [x for x in done if x[1].startswith("team_member")][-3:] == [
        ("demo", "team_member_add:tokyo:ben"), ("demo", "team_member_add:tokyo:aoi"),
        ("demo", "team_member_remove:tokyo:aoi")]

    # kochi's local resources: a wrong number refused in words, then added; the past one marked
    form = kochi.locator(".local-form")
    expect(kochi.locator(".local-item.past")).to_contain_text("去年の講座", timeout=T)
    form.locator("select[name=kind]").select_option("family")
    form.locator("input[name=name]").fill("高知ひきこもり家族会")
    form.locator("input[name=phone]").fill("088-821")
    form.locator("input[name=url]").fill("https://kochi.example.jp/kazoku")
    form.locator(".local-save").click()
    expect(kochi.locator(".team-error")).to_contain_text("電話番号の形が正しくありません", timeout=T)
    form.locator("input[name=phone]").fill("０８８－８２１－１２３４")
    form.locator(".local-save").click()
    added = kochi.locator(".local-item", has_text="高知ひきこもり家族会")
    expect(added).to_contain_text("088-821-1234", timeout=T)
    expect(added).to_contain_text("更新：demo")
    expect(kochi.locator(".team-error")).to_be_hidden()
    # corrected: the same item, a new note (the log says which fields, never what they say)
    added.locator(".local-edit").click()
    expect(form.locator("input[name=phone]")).to_have_value("088-821-1234")
    form.locator("input[name=note]").fill("毎月第2土曜・参加無料")
    form.locator(".local-save").click()
    expect(added).to_contain_text("毎月第2土曜・参加無料", timeout=T)
    expect(form.locator(".local-form-title")).to_have_text("新しい資料")
    admin.evaluate("() => window.scrollTo(0, 0)")
    shot(admin, "console-teams")
    edits = [a.split(":") for w, a in audit_actions(r) if w == "demo" and a.startswith("resource_")]
    assert [(e[0], e[1], e[3]) for e in edits] == [("resource_add", "kochi", "kind,name,phone,url"),
                                                  ("resource_edit", "kochi", "note")]

    # -- the counselors, each in a browser of their own ---------------------------------------
    aoi, ben = logged_in(browser, demo, "aoi", "ben")
    expect(aoi.locator("#queue-empty")).to_be_visible(timeout=T)
    expect(ben.locator("#queue-empty")).to_be_visible(timeout=T)

    # someone in Kochi: kochi's queue (aoi's), not tokyo's
    from_place(person, "家族のこと", "高知に住んでいます", "高知県の窓口")
    kochi_item = aoi.locator("#queue li").first
    expect(kochi_item.locator(".badge.team")).to_have_text("kochi", timeout=T)
    kochi_id = kochi_item.get_attribute("data-id")

    # someone in Osaka: team osaka has nobody in the console, so the shared pool; in aoi's queue
    # below her own team's, marked 共有; ben's holds only that one
    from_place(person, "自分のこと", "大阪に住んでいます", "大阪府")
    expect(aoi.locator("#queue li")).to_have_count(2, timeout=T)
    pool_item = aoi.locator("#queue li").nth(1)
    expect(pool_item.locator(".badge.pool")).to_have_text("共有")
    pool_id = pool_item.get_attribute("data-id")
    expect(aoi.locator("#queue li").first).to_have_attribute("data-id", kochi_id)
    expect(ben.locator(f"#queue li[data-id='{pool_id}']")).to_be_visible(timeout=T)
    expect(ben.locator("#queue li")).to_have_count(1)
    assert r.hget(meta_key(pool_id), "routed") == "nobody_online" and r.hget(meta_key(pool_id), "team_home") == "osaka"
    shot(aoi, "console-team-queue")

    # aoi takes the person from Kochi: the send dialog offers kochi's own resource first (never the past one)
    kochi_item.click()
    expect(aoi.locator("#claim")).to_be_visible(timeout=T)
    aoi.click("#claim")
    expect(aoi.locator(f"#mine li[data-id='{kochi_id}']")).to_be_visible(timeout=T)
    aoi.click("#resource")
    theirs = aoi.locator("#resource-theirs button")
    expect(theirs.first).to_contain_text("高知ひきこもり家族会", timeout=T)
    expect(aoi.locator("#resource-dialog")).not_to_contain_text("去年の講座")
    aoi.keyboard.press("Escape")
    expect(aoi.locator("#resource-dialog")).to_be_hidden()

    # and hands them to ben: tokyo's conversation now, in ben's list with tokyo's name
    aoi.click("#transfer")
    aoi.locator("#transfer-to").select_option("ben")
    aoi.click("#transfer-ok")
    mine = ben.locator(f"#mine li[data-id='{kochi_id}']")
    expect(mine.locator(".badge.team")).to_have_text("tokyo", timeout=T)
    assert r.hget(meta_key(kochi_id), "team") == "tokyo"
    expect(aoi.locator(f"#mine li[data-id='{kochi_id}']")).to_have_count(0, timeout=T)


def test_the_monthly_report_page_as_a_browser_shows_it(browser, r, monkeypatch, redis_server):
    """A month seeded through the store (three teams and the pool), `mado report --format html`
    shown in chromium: the charts are drawn, the small cells hidden. Its picture is the README's."""
    import io
    from contextlib import redirect_stdout

    from bot import cli
    from handoff.accounts import Accounts
    from handoff.store import HandoffStore, meta_key, tokyo_day
    from handoff.teams import Teams

    accounts, teams, store = Accounts(r), Teams(r), HandoffStore(r)
    for name, places in (("kochi", ["高知県"]), ("tokyo", ["東京都"]), ("yokohama", ["横浜市"])):
        teams.add(name, places)
        accounts.add(f"{name}1", COLLEAGUE_PASSWORD)
        teams.add_member(name, f"{name}1")
        if name != "yokohama":
            store.seen_online(f"{name}1")
    # what the conversations count before anyone is handed over (the worker's counters)
    for name, n in (("conversations", 240), ("crisis_people", 19), ("lane_self", 71), ("lane_family", 123),
                    ("lane_other", 46), ("topic_about", 88), ("topic_support", 64), ("topic_family", 57),
                    ("topic_local", 41), ("topic_8050", 12), ("topic_violence", 6)):
        store.count(name, n)
    lanes, topics = ("self", "family", "family", "other"), ("support", "family", "local", "")
    outcomes = ("listened", "informed", "referred", "listened", None)
    n = 0
    for place, handoffs, wait_s in (({"pref": "39"}, 23, 40), ({"pref": "13"}, 41, 25),
                                    ({"pref": "14", "city": "14100"}, 24, 70), (None, 12, 150)):
        for i in range(handoffs):
            n += 1
            if place and place.get("city") and i == 6:
                store.seen_online("yokohama1")      # until then nobody of yokohama: the shared pool
            hid = f"rep{n:05d}"
            assert store.create(f"{n:064x}", hid, {"lane": lanes[i % 4], "topic": topics[i % 4],
                                                   "crisis": "high" if i % 6 == 0 else ""}, place=place)
            if i % 7 != 6:             # most are taken, after waits of one to five times the team's own
                r.hset(meta_key(hid), "queued_at", int(time.time() * 1000) - wait_s * 1000 * (1 + i % 5))
                assert store.claim(hid, "kochi1") == 1
                if outcomes[i % 5]:
                    assert store.close(hid, "kochi1", "kochi1", outcomes[i % 5]) == 1
    month = tokyo_day()[:7]
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["report", "--month", month, "--format", "html"]) == 0
    page = browser.new_context(viewport={"width": 1560, "height": 1500}).new_page()
    page.set_content(out.getvalue())
    expect(page.locator("h1")).to_contain_text(month)
    charts = page.locator(".chart svg")
    expect(charts).to_have_count(4)
    assert all(charts.nth(i).bounding_box()["height"] > 200 for i in range(4))
    expect(page.locator("table")).to_contain_text("yokohama")
    expect(page.locator("td.hidden").first).to_have_text("<5")
    hidden = page.locator("td.hidden").count()
    expect(page.locator("p.note").nth(1)).to_contain_text(f"{hidden}件")      # the page says how many
    shot(page, "report-monthly")
    page.context.close()
