"""The console's dialogs and keys act on the person they are for (issue 27, high #2 and #3), in a
real browser: Debian's chromium through Playwright against a real `mado demo` on a real
redis-server; the people write through the simulator.

#2: a close dialog opened for one person, then `j` pressed inside it, closed another who had just
written about taking all their pills. Every dialog now names its person and acts on the handoff it was opened
for; the console's keys do nothing while a dialog is open.
#3: Ctrl+Enter in the case-note box or the transfer-note box sent the reply draft (half sentences
to three people) and saved no note. Ctrl+Enter now does what its own field's button does.
"""
import re

import pytest
from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, shot)
from .test_browser_console import (COLLEAGUE_PASSWORD, Gate, alias_of, login_as, open_conversation,
                                   person_says, switch_person, two_talking)

RISK = "今から薬を全部飲む"
DETAIL_POLL = re.compile(r"/console/api/handoffs/[^/?]+\?peek=1$")


def polled(page, rounds=2):
    """Returns after `rounds` more answers to the console's poll of the conversation on screen
    (whatever a key pressed before did has been drawn by then)."""
    for _ in range(rounds):
        with page.expect_response(lambda res: res.request.method == "GET" and DETAIL_POLL.search(res.url),
                                  timeout=T):
            pass


@pytest.mark.parametrize("width,height", [(1024, 768), (1366, 768)])
def test_a_close_dialog_names_its_person_and_closes_them_whatever_key_is_pressed_inside_it(browser, demo,
                                                                                           width, height):
    counselor, person = counselor_and_simulator(browser, demo)
    counselor.set_viewport_size({"width": width, "height": height})
    a, b = two_talking(counselor, person)
    expect(counselor.locator("#mine li").first).to_have_attribute("data-id", a)
    alias_a, alias_b = alias_of(counselor, a), alias_of(counselor, b)
    open_conversation(counselor, a)
    person_says(person, RISK)                  # b, while the counselor is about to end a's conversation
    expect(counselor.locator("#mine li").first).to_have_attribute("data-id", b, timeout=T)   # urgent: first

    counselor.click("#close")
    dialog = counselor.locator("#close-dialog")
    expect(dialog).to_be_visible()
    what = counselor.locator("#close-what")
    expect(what).to_have_text(f"{alias_a} との相談を終了し、自動案内に戻しますか？")
    expect(what).to_be_in_viewport(ratio=1)
    counselor.select_option("#close-outcome", "listened")
    what.click()                       # the focus leaves the list of outcomes (a click on the text)
    counselor.keyboard.press("k")      # the conversation above a in the list: b
    polled(counselor)
    expect(dialog).to_be_visible()
    assert counselor.url.endswith(f"/console/handoffs/{a}")
    expect(counselor.locator("#conv-title")).to_have_text(alias_a)
    expect(counselor.locator("#mine li.selected")).to_have_attribute("data-id", a)
    expect(what).to_contain_text(alias_a)
    shot(counselor, f"console-close-dialog-{width}x{height}")

    counselor.click("#close-ok")
    expect(counselor.locator(f"#mine li[data-id='{a}']")).to_have_count(0, timeout=T)
    expect(counselor.locator(f"#mine li[data-id='{b}']")).to_be_visible()
    expect(counselor.locator("#conv-ended")).to_contain_text("話を聞けた", timeout=T)
    switch_person(person, 1)
    expect(person.locator("#chat")).to_contain_text("いったん終わり", timeout=T)
    switch_person(person, 2)
    expect(person.locator("#chat")).to_contain_text(RISK)
    expect(person.locator("#chat")).not_to_contain_text("いったん終わり")

    # the dialog answered, the keys move again: to b, still the counselor's, with what they wrote
    counselor.keyboard.press("j")
    expect(counselor.locator("#conv-title")).to_have_text(alias_b, timeout=T)
    expect(counselor.locator("#transcript")).to_contain_text(RISK, timeout=T)
    expect(counselor.locator("#reply-form")).to_be_visible()


def test_every_dialog_names_its_person_and_acts_on_them_though_the_screen_moved_on(browser, demo, r):
    from handoff.accounts import Accounts

    Accounts(r).add("ken", COLLEAGUE_PASSWORD)
    admin, person = counselor_and_simulator(browser, demo)          # demo, an admin
    admin.set_viewport_size({"width": 1024, "height": 768})
    ken = login_as(browser, demo, "ken", COLLEAGUE_PASSWORD)
    a, b = two_talking(admin, person)
    alias_a, alias_b = alias_of(admin, a), alias_of(admin, b)
    open_conversation(admin, a)

    # transfer: a's, though b is opened while the list of colleagues is still on its way
    gate = Gate(admin, "**/console/api/colleagues")
    with admin.expect_request("**/console/api/colleagues"):
        admin.click("#transfer")
    open_conversation(admin, b)
    gate.open()
    dialog = admin.locator("#transfer-dialog")
    expect(dialog).to_be_visible(timeout=T)
    expect(admin.locator("#transfer-what")).to_have_text(f"{alias_a} を、ほかの相談員に引き継ぎます。")
    expect(admin.locator("#transfer-to")).to_have_value("")       # nobody chosen for them (27, 16)
    expect(admin.locator("#transfer-ok")).to_be_disabled()
    admin.select_option("#transfer-to", "ken")
    admin.click("#transfer-ok")
    expect(ken.locator(f"#mine li[data-id='{a}']")).to_be_visible(timeout=T)
    expect(admin.locator(f"#others li[data-id='{a}']")).to_be_visible(timeout=T)
    expect(admin.locator(f"#mine li[data-id='{b}']")).to_be_visible()
    expect(ken.locator(f"#mine li[data-id='{b}']")).to_have_count(0)

    # sending a resource: the dialog says to whom
    expect(admin.locator("#conv-title")).to_have_text(alias_b)
    admin.click("#resource")
    expect(admin.locator("#resource-dialog")).to_be_visible(timeout=T)
    expect(admin.locator("#resource-what")).to_have_text(f"{alias_b} に資料（カード）を送る")
    admin.keyboard.press("Escape")
    expect(admin.locator("#resource-dialog")).to_be_hidden()

    # release: a dialog of the page (not the browser's), naming b; keys inside it do nothing
    admin.click("#release")
    release = admin.locator("#release-dialog")
    expect(release).to_be_visible()
    expect(admin.locator("#release-what")).to_have_text(
        f"{alias_b} を待ち行列に戻しますか？相談者には、相談員が交代することが伝わります。")
    admin.locator("#release-what").click()
    admin.keyboard.press("j")                  # the next in the list: a, now ken's
    polled(admin)
    assert admin.url.endswith(f"/console/handoffs/{b}")
    admin.click("#release-ok")
    expect(admin.locator(f"#queue li[data-id='{b}']")).to_be_visible(timeout=T)
    expect(ken.locator(f"#queue li[data-id='{b}']")).to_be_visible(timeout=T)

    # assigning (the supervisor, ken away): the dialog names a and its holder
    ken.click("#away")
    expect(ken.locator("#away")).to_have_attribute("aria-pressed", "true", timeout=T)
    give = admin.locator(f"#staff li[data-name='ken'] button.assign[data-id='{a}']")
    expect(give).to_be_visible(timeout=T)
    give.click()
    expect(admin.locator("#assign-dialog")).to_be_visible()
    expect(admin.locator("#assign-what")).to_have_text(f"{alias_a}（担当：ken）を、ほかの相談員に割り当てます。")
    shot(admin, "console-assign-dialog")
    expect(admin.locator("#assign-to")).to_have_value("")
    expect(admin.locator("#assign-ok")).to_be_disabled()
    admin.select_option("#assign-to", "demo")
    admin.click("#assign-ok")
    expect(admin.locator(f"#mine li[data-id='{a}']")).to_be_visible(timeout=T)
    expect(ken.locator(f"#mine li[data-id='{a}']")).to_have_count(0, timeout=T)


def test_ctrl_enter_saves_a_note_or_answers_its_dialog_and_never_sends_the_reply_draft(browser, demo, r):
    from handoff.accounts import Accounts

    Accounts(r).add("ken", COLLEAGUE_PASSWORD)
    counselor, person = counselor_and_simulator(browser, demo)
    counselor.set_viewport_size({"width": 1024, "height": 768})
    ken = login_as(browser, demo, "ken", COLLEAGUE_PASSWORD)
    a, b = two_talking(counselor, person)
    sent = []
    for page in (counselor, ken):
        page.on("request", lambda q: sent.append(q.url) if q.method == "POST" and q.url.endswith("/messages") else None)
    reply, note = counselor.locator("#reply"), counselor.locator("#note-text")
    half = "そのお気持ち、よくわかります。もし"                  # a reply half written

    # the case note: Ctrl+Enter saves it; the reply stays a draft
    open_conversation(counselor, a)
    counselor.fill("#reply", half)
    counselor.fill("#note-text", "母親と二人暮らし。夜は眠れていない。")
    note.press("Control+Enter")
    expect(counselor.locator("#notes")).to_contain_text("母親と二人暮らし。夜は眠れていない。", timeout=T)
    expect(note).to_have_value("")
    expect(reply).to_have_value(half)
    note.press("Control+Enter")                      # an empty note box: nothing
    shot(counselor, "console-note-ctrl-enter")

    # a note half written for a stays with a: b's note box is b's own
    counselor.fill("#note-text", "aさんのメモ、書きかけ")
    open_conversation(counselor, b)
    expect(note).to_have_value("")
    expect(counselor.locator("#notes-empty")).to_be_visible()
    note.press("Control+Enter")

    # the transfer note: Ctrl+Enter hands b over with it
    counselor.fill("#reply", "bさんへ、途中まで書いた")
    counselor.click("#transfer")
    expect(counselor.locator("#transfer-dialog")).to_be_visible(timeout=T)
    counselor.select_option("#transfer-to", "ken")
    counselor.fill("#transfer-note", "仕事の話の途中です")
    counselor.locator("#transfer-note").press("Control+Enter")
    expect(counselor.locator("#transfer-dialog")).to_be_hidden()
    expect(ken.locator(f"#mine li[data-id='{b}']")).to_be_visible(timeout=T)
    open_conversation(ken, b)
    expect(ken.locator("#transcript li.transfer")).to_contain_text("仕事の話の途中です", timeout=T)

    # the closing note: Ctrl+Enter closes once an outcome is chosen, not before
    ken.fill("#reply", "kenの下書き")
    ken.click("#close")
    expect(ken.locator("#close-dialog")).to_be_visible()
    ken.fill("#close-note", "次は仕事の話の続きから")
    ken.locator("#close-note").press("Control+Enter")
    ken.select_option("#close-outcome", "listened")          # still open: the outcome can be chosen
    ken.locator("#close-note").press("Control+Enter")
    expect(ken.locator("#close-dialog")).to_be_hidden()
    expect(person.locator("#chat")).to_contain_text("いったん終わり", timeout=T)   # b, on the simulator

    # nobody got a draft: b's chat ends with the bot, a's has no counselor's words; no send at all
    for text in ("bさんへ、途中まで書いた", "kenの下書き", half):
        expect(person.locator("#chat")).not_to_contain_text(text)
    switch_person(person, 1)
    expect(person.locator("#chat")).not_to_contain_text(half)
    open_conversation(counselor, a)
    expect(reply).to_have_value(half)
    expect(note).to_have_value("aさんのメモ、書きかけ")
    expect(counselor.locator("#notes li")).to_have_count(1)
    expect(counselor.locator("#transcript li.counselor")).to_have_count(0)
    assert sent == []
