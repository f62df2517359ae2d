"""The console keeps what the counselor is doing through reloads, a lost session and a lost
connection (issue 27, #10 and #12), keeps focus and clicks in lists that did not change and answers
the keyboard (#14), in a real browser: Debian's chromium through Playwright against a real
`mado demo` on a real redis-server; the people write through the simulator.
"""
import re

import pytest
from playwright.sync_api import expect

from .test_browser import (PASSWORD, T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, say, shot)
from .test_browser_console import claim_first_waiting, open_conversation, switch_person
from .test_browser_dialogs import polled

VIEWPORT = {"width": 1024, "height": 768}
DRAFT = "お返事を書いているところです。今夜は"


def one_talking(browser, demo, viewport=VIEWPORT):
    counselor, person = counselor_and_simulator(browser, demo)
    counselor.set_viewport_size(viewport)
    new_person(person)
    ask_for_a_person(person)
    hid = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    return counselor, person, hid


def test_drafts_survive_a_reload_and_the_session_end_a_lost_connection_is_said_and_the_keys_work(browser, demo):
    # (at 1366×768: the layout tests take both sizes; the dialogs and alerts 1024×768)
    counselor, person, hid = one_talking(browser, demo, {"width": 1366, "height": 768})
    box = counselor.locator("#reply")
    dialogs = []

    def answer(d):
        dialogs.append(d.type)
        d.accept()
    counselor.on("dialog", answer)

    # typed, then the page reloaded: the browser asks first, and the draft is there again
    box.click()
    counselor.keyboard.type(DRAFT)
    counselor.reload()
    assert dialogs == ["beforeunload"]
    open_conversation(counselor, hid)
    expect(box).to_have_value(DRAFT)

    # the session ends (the cookie is gone): the console says why before the login page, and the
    # draft comes back after logging in again
    box.press("End")
    counselor.keyboard.type("一緒に")
    counselor.context.clear_cookies()
    # the console's next call to the server finds out (on push, a quiet console checks every
    # 60 s; here the next round is asked for at once, as any click would)
    counselor.evaluate("() => { window.madoRefresh().catch(() => {}); }")
    ended = counselor.locator("#ended-dialog")
    expect(ended).to_be_visible(timeout=T)
    expect(ended).to_contain_text("ログインが終わりました")
    expect(ended).to_contain_text("書きかけの返信は、このブラウザに残っています")
    shot(counselor, "console-session-ended")
    counselor.click("#ended-login")
    expect(counselor).to_have_url(re.compile(r"/console/login"), timeout=T)
    counselor.fill("#name", "demo")
    counselor.fill("#password", PASSWORD)
    counselor.click("#login-submit")
    expect(counselor.locator("#conv-title")).to_be_visible(timeout=T)        # back where they were
    expect(box).to_have_value(DRAFT + "一緒に", timeout=T)

    # sent: gone from the browser's storage too, and no question on leaving
    box.press("Control+Enter")
    expect(person.locator("#chat")).to_contain_text(DRAFT + "一緒に", timeout=T)
    expect(box).to_have_value("")
    assert counselor.evaluate("() => localStorage.length") == 0
    counselor.reload()
    assert dialogs == ["beforeunload"]
    open_conversation(counselor, hid)
    expect(box).to_have_value("")

    # the connection is lost (#10): the header says so, the lists say they are not current, a note
    # or a close that cannot be done says so and changes nothing; back online, all of it goes
    header = "() => document.querySelector('header.top').offsetHeight"
    one_line = counselor.evaluate(header)
    counselor.context.set_offline(True)
    expect(counselor.locator("#conn")).to_have_text("接続が切れています", timeout=T)
    expect(counselor.locator("#stale")).to_contain_text("最新ではありません")
    assert counselor.evaluate(header) == one_line            # said in the header, still one line
    note = counselor.locator("#note-text")
    note.fill("電話の話をしたい")
    note.press("Control+Enter")
    error = counselor.locator("#conv-error")
    expect(error).to_contain_text("接続が切れているため、できませんでした", timeout=T)
    expect(note).to_have_value("電話の話をしたい")
    error.evaluate("e => { e.hidden = true; }")
    counselor.click("#close")
    counselor.select_option("#close-outcome", "listened")
    counselor.click("#close-ok")
    expect(error).to_contain_text("接続が切れているため、できませんでした", timeout=T)
    shot(counselor, "console-offline")
    counselor.context.set_offline(False)
    expect(counselor.locator("#conn")).to_be_hidden(timeout=T)
    expect(counselor.locator("#stale")).to_be_hidden()
    expect(counselor.locator(f"#mine li[data-id='{hid}']")).to_be_visible()          # not closed
    note.press("Control+Enter")
    expect(counselor.locator("#notes")).to_contain_text("電話の話をしたい", timeout=T)

    # (#14) a list that did not change is not redrawn: the item under the focus stays focused
    mine = counselor.locator(f"#mine li[data-id='{hid}']")
    mine.focus()
    counselor.evaluate("() => { window.__item = document.activeElement; }")
    polled(counselor, 3)
    assert counselor.evaluate("() => window.__item.isConnected && document.activeElement === window.__item")
    # the arrow keys move through the canned replies without inserting one; Enter inserts it
    canned = counselor.locator("#canned")
    canned.focus()
    counselor.keyboard.press("ArrowDown")
    counselor.keyboard.press("ArrowDown")
    expect(box).to_have_value("")
    counselor.keyboard.press("Enter")
    expect(box).to_have_value("お返事を考えています。少しだけお待ちください。")
    expect(box).to_be_focused()
    box.fill("")
    # someone new asks: Enter on the banner opens them, Space on a list item opens it
    new_person(person)
    ask_for_a_person(person)
    banner = counselor.locator("#alert")
    expect(banner).to_have_attribute("data-kind", "normal", timeout=T)
    waiting = banner.get_attribute("data-id")
    banner.focus()
    counselor.keyboard.press("Enter")
    expect(counselor.locator("#claim")).to_be_visible(timeout=T)
    assert counselor.url.endswith(f"/console/handoffs/{waiting}")
    mine.focus()
    counselor.keyboard.press(" ")
    expect(counselor.locator("#reply-form")).to_be_visible(timeout=T)
    assert counselor.url.endswith(f"/console/handoffs/{hid}")


MOTHER = "娘が高校をやめてから3年、部屋から出てきません。どうしたらいいのか分からなくて"
TAKE_WITH = "家族を道連れにして死にたい"


@pytest.mark.parametrize("width,height", [(1024, 768), (1366, 768)])
def test_layout_words_and_alerts_that_fit(browser, demo, width, height):
    """#8 what the person agreed to show sits in the intake, beside the bot's labels; #11 opening
    one person keeps another's banner, and 道連れ is labelled as harm that may reach others; #13 at
    1024×768 (and 1366×768) at least 8 lines of transcript with intake and notes open, the header
    one line with a banner and with the lost connection said; #16 the reply box names the person,
    the title counts who waits, 「離れました」 only when the person left."""
    counselor, person = counselor_and_simulator(browser, demo)
    counselor.set_viewport_size({"width": width, "height": height})
    new_person(person)
    say(person, MOTHER)
    expect(person.locator("#chat")).to_contain_text("ご家族", timeout=T)
    ask_for_a_person(person, share=True)
    hid = claim_first_waiting(counselor)
    alias = counselor.locator(f"#mine li[data-id='{hid}'] strong").text_content()
    before = counselor.locator("#intake-list dd.before")
    expect(before).to_contain_text(MOTHER)
    expect(before).to_be_in_viewport()
    expect(counselor.locator("#intake-list")).not_to_contain_text("_")            # no raw keys
    expect(counselor.locator("#reply")).to_have_attribute("placeholder", f"{alias} へのメッセージ（Ctrl+Enterで送信）")
    counselor.fill("#note-text", "娘さんのこと。3年。")
    counselor.locator("#note-text").press("Control+Enter")
    expect(counselor.locator("#notes li")).to_have_count(1, timeout=T)

    # two more ask: the banner names the newest, the title counts both; opening mine keeps it
    for _ in range(2):
        new_person(person)
        ask_for_a_person(person)
    expect(counselor.locator("#queue li")).to_have_count(2, timeout=T)
    banner = counselor.locator("#alert")
    expect(banner).to_be_visible(timeout=T)
    expect(counselor).to_have_title(re.compile(r"^\(2\) "), timeout=T)
    counselor.locator(f"#mine li[data-id='{hid}']").click()
    polled(counselor)
    expect(banner).to_be_visible()

    # 8 lines of transcript or more, intake and notes open; the header one line
    lines = counselor.evaluate("""() => {
      const t = document.getElementById('transcript');
      return t.clientHeight / parseFloat(getComputedStyle(t).lineHeight);
    }""")
    shot(counselor, f"console-{width}-context-open")
    assert lines >= 8, lines
    # the header stays one line with the banner, and with the lost connection said beside it
    header = "() => document.querySelector('header.top').offsetHeight"
    with_banner = counselor.evaluate(header)
    expect(banner).to_be_visible()
    counselor.context.set_offline(True)
    expect(counselor.locator("#conn")).to_be_visible(timeout=T)
    expect(counselor.locator("#stale")).to_be_visible()
    assert counselor.evaluate(header) == with_banner
    lines_offline = counselor.evaluate("() => document.getElementById('transcript').clientHeight") / (
        counselor.evaluate("() => parseFloat(getComputedStyle(document.getElementById('transcript')).lineHeight)"))
    assert lines_offline >= 8, lines_offline
    counselor.context.set_offline(False)
    expect(counselor.locator("#conn")).to_be_hidden(timeout=T)

    # 道連れ: the alert's words say it may reach others too
    switch_person(person, 1)
    with person.expect_response(lambda res: res.url.endswith("/demo/api/send")):
        say(person, TAKE_WITH)
    expect(counselor.locator("#conv-urgent")).to_contain_text("道連れ・心中（ほかの人にも危険）", timeout=T)

    # closed by the counselor: not 「離れました」
    counselor.click("#close")
    counselor.select_option("#close-outcome", "listened")
    counselor.click("#close-ok")
    expect(counselor.locator("#conv-state")).to_have_text("相談は終了しています", timeout=T)
