"""A risk message nobody present reads alerts everyone (issue 27), in real browsers: Debian's
chromium through Playwright at 1024×768, two counselors (aoi, ben) and the supervisor (demo, an
admin) against a real `mado demo` on a real redis-server; the person writes through the
simulator, so every message goes the real way (signed webhook → stream → worker → console).
Also (issue 27, #4) what the bot told the person mid-conversation is in the transcript, in words,
and (#6) a person at risk who asks to be forgotten rings every console, without a word of theirs.
"""
import re

import pytest
from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, run_demo, shot, tap)
from .test_browser_console import (WORSE_TONE, alias_of, claim_first_waiting, hook_sounds, open_conversation,
                                   person_says, switch_person, tones, two_talking)

PASSWORD = "a long enough secret for the team"
VIEWPORT = {"width": 1024, "height": 768}
RISK = "今夜で終わりにする"
REASON = "計画・手段・別れのことば"
HELP = "記録は担当者と管理者だけが読めます"


@pytest.fixture
def quick_demo(r, redis_server, tmp_path, demo_zygote):
    """`mado demo` where a holder's silence over a risk message alerts everyone after 3 s."""
    yield from run_demo(r, redis_server, tmp_path, demo_zygote, MADO_RISK_UNREAD_S=3)


def team(browser, url, r):
    """The supervisor (demo, admin) with the simulator, and two counselors, each in a 1024×768
    window with its sounds recorded and an empty queue on screen."""
    from handoff.accounts import Accounts

    for name in ("aoi", "ben"):
        Accounts(r).add(name, PASSWORD)
    admin, person = counselor_and_simulator(browser, url)
    admin.set_viewport_size(VIEWPORT)
    pages = [admin]
    for name in ("aoi", "ben"):
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(url + "/console/login")
        page.fill("#name", name)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#me-name")).to_have_text(name, timeout=T)
        pages.append(page)
    for page in pages:
        hook_sounds(page)
    return (*pages, person)


def risk_alert(page, hid):
    return page.locator(f"#alerts li[data-id='{hid}']")


def test_an_away_holders_risk_message_alerts_the_other_counselor_and_the_supervisor(browser, demo, r):
    admin, aoi, ben, person = team(browser, demo, r)

    # someone asks; the supervisor's banner says so, and goes once aoi has taken them
    new_person(person)
    ask_for_a_person(person)
    expect(admin.locator("#alert")).to_have_attribute("data-kind", "normal", timeout=T)
    first = claim_first_waiting(aoi)
    expect(admin.locator(f"#others li[data-id='{first}']")).to_be_visible(timeout=T)
    expect(admin.locator("#alert")).to_be_hidden(timeout=T)              # not left naming a handled person
    new_person(person)
    ask_for_a_person(person)
    second = claim_first_waiting(aoi)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    first_alias, second_alias = alias_of(aoi, first), alias_of(aoi, second)

    # aoi steps away from her desk, the second person on her screen
    aoi.click("#away")
    expect(aoi.locator("#away")).to_have_attribute("aria-pressed", "true", timeout=T)
    ben_heard, admin_heard = len(tones(ben)), len(tones(admin))

    # the second person writes that tonight is the end
    person_says(person, RISK)
    expect(person.locator("#chat")).to_contain_text("相談員にも、急いで読むように伝えました", timeout=T)
    for page in (ben, admin):
        alert = risk_alert(page, second)
        expect(alert).to_be_visible(timeout=T)                             # at the next poll
        expect(alert).to_have_attribute("data-kind", "risk")
        expect(alert).to_contain_text(second_alias)
        expect(alert).to_contain_text(REASON)
        expect(alert).to_contain_text("担当の aoi は離席中です")
        expect(page).to_have_title(re.compile(r"^【急ぎ】" + re.escape(second_alias)))
        page.wait_for_function("() => document.getElementById('app').dataset.sound === 'worse'", timeout=T)
    assert WORSE_TONE in tones(ben)[ben_heard:] and WORSE_TONE in tones(admin)[admin_heard:]
    # aoi still holds it; her own console rings, but nobody is reading there: no 既読 for the person
    expect(aoi.locator(f"#mine li[data-id='{second}']")).to_be_visible()
    expect(risk_alert(aoi, second)).to_have_attribute("data-kind", "worse", timeout=T)
    expect(admin.locator("#staff li[data-name='aoi']")).to_contain_text("離席中", timeout=T)
    expect(admin.locator("#staff li[data-name='aoi']")).to_contain_text(second_alias)
    expect(person.locator("#chat li.me .meta").last).to_have_attribute("data-read", "0")
    # ben may not read it: the alert says whom to tell, and nothing of the transcript is on his page
    expect(risk_alert(ben, second)).to_contain_text(HELP)
    expect(risk_alert(ben, second).locator("button.assign")).to_have_count(0)
    expect(ben.locator("body")).not_to_contain_text(RISK)
    shot(ben, "console-risk-colleague")

    # the first person writes too: a second alert beside the first, which stays
    switch_person(person, 1)
    person_says(person, "もう死にたい")
    for page in (ben, admin):
        expect(page.locator("#alerts li")).to_have_count(2, timeout=T)
        expect(page.locator("#alerts li").nth(0)).to_have_attribute("data-id", second)
        expect(page.locator("#alerts li").nth(1)).to_have_attribute("data-id", first)
        expect(risk_alert(page, first)).to_contain_text(first_alias)
        expect(risk_alert(page, first)).to_contain_text("死にたい・自傷")
        expect(risk_alert(page, second)).to_contain_text(REASON)
        expect(page).to_have_title(re.compile(r"^【急ぎ】" + re.escape(first_alias)))
    shot(admin, "console-risk-supervisor")

    # the supervisor gives the second person to ben from the alert; ben, present, opens and reads it
    risk_alert(admin, second).locator("button.assign").click()
    expect(admin.locator("#assign-dialog")).to_be_visible()
    admin.select_option("#assign-to", "ben")
    admin.click("#assign-ok")
    expect(ben.locator(f"#mine li[data-id='{second}']")).to_be_visible(timeout=T)
    for page in (ben, admin):
        expect(risk_alert(page, second)).to_have_count(0, timeout=T)
        expect(risk_alert(page, first)).to_be_visible()
    expect(ben.locator("#alert")).to_have_attribute("data-kind", "transfer", timeout=T)
    ben.locator("#alert").click()                                        # 「… が引き継がれました」
    expect(ben.locator("#transcript")).to_contain_text(RISK, timeout=T)
    # what the bot told the person is there too, in words, right after what they wrote: ben does
    # not send the crisis lines again without knowing (issue 27, #4)
    said = ben.locator("#transcript li", has_text=RISK).locator("xpath=following-sibling::li[1]")
    expect(said).to_have_class(re.compile(r"\bsaid\b"))
    expect(said).to_contain_text("急いで読むように伝えました")
    expect(said).to_contain_text("119・110を案内")
    expect(said).to_contain_text("カード「今すぐ話せる窓口」")
    expect(said).to_contain_text("まど（自動案内）")
    expect(said).not_to_contain_text("crisis.")                         # words, never an id
    switch_person(person, 2)
    expect(person.locator("#chat li.me .meta").last).to_have_text("既読", timeout=T)

    # the first stays until someone present has read it: the supervisor opens it (reading is not
    # taking it), then aoi comes back and reads it
    risk_alert(admin, first).locator(".text").click()
    expect(admin.locator("#transcript")).to_contain_text("もう死にたい", timeout=T)
    expect(risk_alert(admin, first)).to_be_visible()
    aoi.click("#away")
    expect(aoi.locator("#away")).to_have_attribute("aria-pressed", "false", timeout=T)
    open_conversation(aoi, first)
    for page in (ben, admin):
        expect(page.locator("#alerts li")).to_have_count(0, timeout=T)
        expect(page.locator("#alerts")).to_be_hidden()
        expect(page).not_to_have_title(re.compile("【急ぎ】"))

    # the first person, at risk, asks for their records to be deleted: they do not vanish in
    # silence; every console rings, and the alert says who and how, never what they wrote (#6)
    heard = {page: len(tones(page)) for page in (aoi, ben, admin)}
    switch_person(person, 1)
    person_says(person, "記録を消して")
    expect(person.locator("#chat")).to_contain_text("消してもよいですか", timeout=T)
    tap(person, "消す")
    expect(person.locator("#chat")).to_contain_text("記録を消しました", timeout=T)
    for page in (aoi, ben, admin):
        alert = risk_alert(page, first)
        expect(alert).to_have_attribute("data-kind", "gone", timeout=T)
        expect(alert).to_contain_text(first_alias)
        expect(alert).to_contain_text("「記録を消して」を選び、相談を離れました（担当：aoi）")
        expect(alert).to_contain_text("死にたい・自傷")
        expect(page.locator("#alerts")).not_to_contain_text("もう死にたい")
        expect(page).to_have_title(re.compile(r"^【急ぎ】" + re.escape(first_alias)))
        page.wait_for_function("n => window.__tones.slice(n).includes(%d)" % WORSE_TONE, arg=heard[page], timeout=T)
    expect(aoi.locator(f"#mine li[data-id='{first}']")).to_have_count(0)
    shot(aoi, "console-risk-gone")
    # it stays until someone has seen it; then it ends on every console
    risk_alert(ben, first).locator("button.seen").click()
    for page in (aoi, ben, admin):
        expect(risk_alert(page, first)).to_have_count(0, timeout=T)


def test_a_silent_holder_alerts_everyone_after_the_set_time_and_a_queued_persons_alert_ends_when_taken(
        browser, quick_demo, r):
    admin, aoi, ben, person = team(browser, quick_demo, r)
    first, second = two_talking(aoi, person)
    first_alias = alias_of(aoi, first)

    # aoi is at her desk, talking with the second person; the first writes something risky
    switch_person(person, 1)
    person_says(person, RISK)
    expect(risk_alert(aoi, first)).to_have_attribute("data-kind", "worse", timeout=T)
    # she does not open it: after 3 s (MADO_RISK_UNREAD_S) her colleague and the supervisor are alerted
    for page in (ben, admin):
        alert = risk_alert(page, first)
        expect(alert).to_contain_text("担当の aoi が3秒以上読んでいません", timeout=T)
        expect(alert).to_contain_text(first_alias)
        expect(alert).to_contain_text(REASON)
    expect(aoi.locator("#alerts li")).to_have_count(1)                   # her own, once

    # someone waiting writes something risky: everyone's loudest alert, until someone takes them
    new_person(person)
    ask_for_a_person(person)
    third = ben.locator("#queue li").first
    expect(third).to_be_visible(timeout=T)
    third_id = third.get_attribute("data-id")
    expect(admin.locator(f"#queue li[data-id='{third_id}']")).to_be_visible(timeout=T)   # listed before it worsens
    person_says(person, "もう消えたい")
    for page in (ben, admin):
        expect(risk_alert(page, third_id)).to_have_attribute("data-kind", "worse", timeout=T)
        expect(page.locator("#alerts li")).to_have_count(2)
    risk_alert(ben, third_id).click()
    ben.click("#claim")
    expect(ben.locator(f"#mine li[data-id='{third_id}']")).to_be_visible(timeout=T)
    # taken by ben: the supervisor's alert for them goes (it would name a person already handled),
    # the one for aoi's silence stays
    expect(risk_alert(admin, third_id)).to_have_count(0, timeout=T)
    expect(risk_alert(admin, first)).to_be_visible()

    # aoi opens the first person: read, and the alert is over for everyone
    risk_alert(aoi, first).click()
    expect(aoi.locator("#transcript")).to_contain_text(RISK, timeout=T)
    for page in (ben, admin):
        expect(risk_alert(page, first)).to_have_count(0, timeout=T)
    expect(admin.locator("#alerts")).to_be_hidden()

    # (#11) alerts handled on other consoles leave nothing behind that holds a later one back:
    # someone new asking is the banner on every console, their risk message a loud alert again,
    # and a console opened after it (ben reloads) rings for it too: they wait, at risk, untaken
    new_person(person)
    ask_for_a_person(person)
    fourth = ben.locator("#queue li").first
    expect(fourth).to_be_visible(timeout=T)
    fourth = fourth.get_attribute("data-id")
    for page in (ben, admin):
        expect(page.locator(f"#queue li[data-id='{fourth}']")).to_be_visible(timeout=T)
        expect(page.locator("#alert")).to_be_visible(timeout=T)
        expect(page.locator("#alert")).to_have_attribute("data-id", fourth)
    person_says(person, "もう消えたい")
    for page in (ben, admin):
        expect(risk_alert(page, fourth)).to_have_attribute("data-kind", "worse", timeout=T)
        expect(page.locator("#alerts li")).to_have_count(1)
    ben.reload()
    expect(risk_alert(ben, fourth)).to_have_attribute("data-kind", "worse", timeout=T)
    expect(risk_alert(ben, fourth)).to_contain_text("消えたい・生きるのがつらい")
    expect(ben).to_have_title(re.compile(r"^【急ぎ】"))
    expect(ben.locator("#alerts li")).to_have_count(1)
