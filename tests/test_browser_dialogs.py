"""The console's dialogs and keys act on the person they are for (issue 27, high #2 and #3), in a
real browser: Debian's chromium through Playwright against a real `mado demo` on a real
redis-server; the people write through the simulator.

#2: a close dialog opened for one person, then `j` pressed inside it, closed another who had just
written about taking all their pills. Every dialog now names its person and acts on the handoff it was opened
for; the console's keys do nothing while a dialog is open.
#3: Ctrl+Enter in the case-note box or the transfer-note box sent the reply draft (half sentences
to three people) and saved no note. Ctrl+Enter now does what its own field's button does.
#5 (the rest): a case note is corrected and deleted by its writer, and only by them.
#7: a colleague's transfer or close of your conversation while you typed or sent: nothing said
who, the reply was not delivered without an error, and the text was unreachable.
#15: counselor bubbles did not say who wrote them; the handover note was only a transcript line.
"""
import re

import pytest
from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, shot)
from .test_browser_console import (COLLEAGUE_PASSWORD, Gate, alias_of, login_as, open_conversation,
                                   person_says, switch_person, two_talking)

RISK = "今から薬を全部飲む"
DETAIL_POLL = re.compile(r"/console/api/handoffs/[^/?]+\?peek=1(&[a-z]+=[0-9]+)?$")


def polled(page, rounds=2):
    """Returns after `rounds` more answers to the console's asking for the conversation on screen
    (whatever a key pressed before did has been drawn by then). On the push channel the console
    asks only when something changed: each round is asked for (window.madoRefresh)."""
    for _ in range(rounds):
        with page.expect_response(lambda res: res.request.method == "GET" and DETAIL_POLL.search(res.url),
                                  timeout=T):
            page.evaluate("() => { window.madoRefresh(); }")


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
    admin.fill("#reply", "demoからのお返事です")
    admin.locator("#reply").press("Control+Enter")
    expect(admin.locator("#transcript li.counselor")).to_contain_text("相談員 demo", timeout=T)

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
    admin.fill("#transfer-note", "夜は眠れていないそうです")
    admin.click("#transfer-ok")
    expect(ken.locator(f"#mine li[data-id='{a}']")).to_be_visible(timeout=T)
    expect(admin.locator(f"#others li[data-id='{a}']")).to_be_visible(timeout=T)
    expect(admin.locator(f"#mine li[data-id='{b}']")).to_be_visible()
    expect(ken.locator(f"#mine li[data-id='{b}']")).to_have_count(0)
    # ken sees who wrote what before him, and the handover note with the case notes (issue 27, #15)
    open_conversation(ken, a)
    expect(ken.locator("#transcript li.counselor")).to_contain_text("demoからのお返事です", timeout=T)
    expect(ken.locator("#transcript li.counselor .at")).to_contain_text("相談員 demo")
    handover = ken.locator("#notes li.handover")
    expect(handover).to_contain_text("夜は眠れていないそうです")
    expect(handover).to_contain_text("引き継ぎのメモ（demo → ken）")
    expect(ken.locator("#notes-empty")).to_be_hidden()
    expect(handover.locator("button")).to_have_count(0)             # only its writer may change it

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
    # its writer corrects it (Ctrl+Enter in the edit box saves the edit, nothing else)
    saved = counselor.locator("#notes li").first
    saved.locator("button.note-edit").click()
    edit = saved.locator("textarea.note-edit")
    expect(edit).to_be_focused()
    edit.fill("母親と二人暮らし。夜は眠れていない。昼夜逆転ぎみ。")
    edit.press("Control+Enter")
    expect(saved).to_contain_text("昼夜逆転ぎみ。", timeout=T)
    expect(saved).to_contain_text("（編集済み）")
    expect(saved.locator("textarea")).to_have_count(0)
    expect(reply).to_have_value(half)

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
    expect(ken.locator("#notes li.handover")).to_contain_text("仕事の話の途中です")

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
    expect(counselor.locator("#notes li")).to_contain_text("昼夜逆転ぎみ。")
    expect(counselor.locator("#transcript li.counselor")).to_have_count(0)
    assert sent == []

    # and its writer may delete it, once asked to be sure (issue 27, #5)
    counselor.locator("#notes li button.note-delete").click()
    expect(counselor.locator("#notes li")).to_contain_text("このメモを削除しますか？")
    counselor.locator("#notes li button.note-delete-ok").click()
    expect(counselor.locator("#notes li")).to_have_count(0, timeout=T)
    expect(counselor.locator("#notes-empty")).to_be_visible()
    expect(note).to_have_value("aさんのメモ、書きかけ")


def supervisor_and_ken(browser, demo, r, viewport):
    """The supervisor (demo, an admin) with the simulator, and ken talking with two people, both
    consoles at this size: (admin, ken, person, (first id, second id))."""
    from handoff.accounts import Accounts

    Accounts(r).add("ken", COLLEAGUE_PASSWORD)
    admin, person = counselor_and_simulator(browser, demo)
    admin.set_viewport_size(viewport)
    ken = login_as(browser, demo, "ken", COLLEAGUE_PASSWORD)
    ken.set_viewport_size(viewport)
    return admin, ken, person, two_talking(ken, person)


DRAFT_A = "お返事を書いています。もし今夜"
DRAFT_B = "bさんへ、送るところでした"


def test_a_colleague_hands_on_or_closes_my_conversation_i_am_told_who_and_my_unsent_reply_is_kept(browser, demo, r):
    """Issue 27, #7: the supervisor hands on one of ken's conversations while he writes to that
    person, and closes another while his reply to them is on its way: ken is told who did what,
    his words stay on his screen to copy, and the reply refused says why (nobody got it)."""
    from handoff.accounts import Accounts

    Accounts(r).add("mei", COLLEAGUE_PASSWORD)
    admin, ken, person, (a, b) = supervisor_and_ken(browser, demo, r, {"width": 1024, "height": 768})
    ken.context.grant_permissions(["clipboard-read", "clipboard-write"])
    alias_a = alias_of(ken, a)

    # ken writes to a; meanwhile the supervisor hands a to mei
    open_conversation(ken, a)
    ken.fill("#reply", DRAFT_A)
    admin.locator(f"#others li[data-id='{a}']").click()
    expect(admin.locator("#transfer")).to_be_visible(timeout=T)
    admin.click("#transfer")
    expect(admin.locator("#transfer-dialog")).to_be_visible(timeout=T)
    admin.select_option("#transfer-to", "mei")
    admin.click("#transfer-ok")
    moved = f"demo が {alias_a} を mei に引き継ぎました。"
    expect(ken.locator("#placeholder")).to_contain_text(moved, timeout=T)
    expect(ken.locator("#alert")).to_contain_text(moved, timeout=T)
    expect(ken.locator("#alert")).to_have_attribute("data-kind", "moved")
    kept = ken.locator("#kept")
    expect(kept).to_be_visible()
    expect(kept).to_contain_text(f"{alias_a} あての、送っていない下書きです")
    expect(ken.locator("#kept-text")).to_have_value(DRAFT_A)
    expect(kept).to_be_in_viewport(ratio=1)
    ken.click("#kept-copy")
    expect(ken.locator("#kept-copy")).to_have_text("コピーしました")
    assert ken.evaluate("() => navigator.clipboard.readText()") == DRAFT_A
    shot(ken, "console-moved-kept")

    # ken sends to b just as the supervisor closes b: not delivered, and kept with the reason
    open_conversation(ken, b)
    expect(kept).to_be_hidden()
    ken.fill("#reply", DRAFT_B)
    gate = Gate(ken, f"**/console/api/handoffs/{b}/messages")
    with ken.expect_request(lambda q: q.method == "POST" and q.url.endswith(f"/handoffs/{b}/messages")):
        ken.locator("#reply").press("Control+Enter")
    admin.locator(f"#others li[data-id='{b}']").click()
    expect(admin.locator("#close")).to_be_visible(timeout=T)
    expect(admin.locator("#conv-title")).to_contain_text(alias_of(admin, b), timeout=T)   # b is on screen
    admin.click("#close")
    expect(admin.locator("#close-outcome")).to_be_visible(timeout=T)
    admin.select_option("#close-outcome", "listened")
    admin.click("#close-ok")
    expect(ken.locator("#conv-ended")).to_have_text("demo がこの相談を終了しました。結果：話を聞けた", timeout=T)
    expect(ken.locator("#reply-form")).to_be_hidden()
    expect(ken.locator("#kept-text")).to_have_value(DRAFT_B)
    gate.open()
    refused = "送れませんでした：demo がこの相談を終了しました（相談者には届いていません）。"
    expect(ken.locator("#kept-error")).to_have_text(refused, timeout=T)
    expect(ken.locator("#conv-error")).to_have_text(refused)
    expect(ken.locator("#kept-text")).to_have_value(DRAFT_B)
    expect(kept).to_be_in_viewport(ratio=1)
    shot(ken, "console-closed-kept")

    # the person got neither: b's chat ends with the bot's goodbye, a's has no word from ken
    expect(person.locator("#chat")).to_contain_text("いったん終わり", timeout=T)
    expect(person.locator("#chat")).not_to_contain_text(DRAFT_B)
    switch_person(person, 1)
    expect(person.locator("#chat")).not_to_contain_text(DRAFT_A)



def test_a_supervisor_sends_my_conversation_back_to_the_queue_i_am_told_who_and_my_reply_is_kept(browser, demo, r):
    """Issue 27, #7, at 1366×768: the supervisor sends one of ken's conversations back to the
    queue while he writes to that person: ken is told who did it, and his words stay to copy."""
    admin, ken, person, (a, _) = supervisor_and_ken(browser, demo, r, {"width": 1366, "height": 768})
    alias_a = alias_of(ken, a)
    open_conversation(ken, a)
    ken.fill("#reply", DRAFT_A)
    admin.locator(f"#others li[data-id='{a}']").click()
    expect(admin.locator("#release")).to_be_visible(timeout=T)
    admin.click("#release")
    expect(admin.locator("#release-what")).to_contain_text(alias_a)
    admin.click("#release-ok")
    moved = f"demo が {alias_a} を待ち行列に戻しました。"
    expect(ken.locator("#alert")).to_contain_text(moved, timeout=T)
    expect(ken.locator("#alert")).to_have_attribute("data-kind", "moved")
    expect(ken.locator("#kept-text")).to_have_value(DRAFT_A)
    expect(ken.locator("#kept")).to_be_in_viewport(ratio=1)
    # a reply sent to it now is refused with the reason (the API says who did it too)
    got = ken.evaluate("""async (id) => (await window.madoApi(document.getElementById("app").dataset.csrf)(
        "POST", `/handoffs/${id}/messages`, {text: "x", client_id: "k-1"})).data""", a)
    assert got["error"] == "送れませんでした：demo がこの相談を待ち行列に戻しました（相談者には届いていません）。", got
