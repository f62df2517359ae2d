"""A counselor's tools in a real browser (issue 15, items 4-7): a resource card, previewed with its
person named and then sent, reaches the person with its call button; case notes stay with counselors; a returning person's
earlier conversation is listed with its closing note and opened read-only; an admin edits the
canned replies and a counselor's picker offers the edited list. Debian's chromium, Playwright, a
real `mado demo` on a real redis-server. The README's screenshots of these come from here.
"""
from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, say, shot, tap)
from .test_browser_console import alias_of, claim_first_waiting


def test_a_resource_previewed_for_its_person_then_sent_notes_kept_private_and_the_earlier_conversation_on_return(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    counselor.set_viewport_size({"width": 1366, "height": 900})
    new_person(person)
    tap(person, "家族のこと")
    say(person, "東京に住んでいます")
    expect(person.locator("#chat .card", has_text="東京都")).to_be_visible(timeout=T)
    ask_for_a_person(person)
    first = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    say(person, "息子が部屋から出てきません")
    expect(counselor.locator("#transcript")).to_contain_text("息子が部屋から出てきません", timeout=T)
    expect(counselor.locator("#earlier-section")).to_be_hidden()
    expect(counselor.locator("#intake-list")).not_to_contain_text("以前にも相談あり")

    # a case note: on the counselor's screen, never on the person's
    counselor.fill("#note-text", "母親からの相談。息子さんは20代、昼夜逆転。")
    counselor.click("#note-add")
    expect(counselor.locator("#notes")).to_contain_text("昼夜逆転", timeout=T)
    expect(counselor.locator("#note-text")).to_have_value("")

    # send a resource: the person's own prefecture is offered first; a choice shows what the
    # person will get and names them, and nothing goes out before 「… に送る」 (issue 27, #16)
    alias = alias_of(counselor, first)
    counselor.click("#resource")
    dialog = counselor.locator("#resource-dialog")
    expect(dialog).to_be_visible(timeout=T)
    theirs = dialog.locator("#resource-theirs button").first
    expect(theirs).to_have_text("東京都の相談窓口")
    expect(dialog.locator("#resource-common")).to_contain_text("今すぐ話せる窓口")
    shot(counselor, "console-send-resource")
    before = person.locator("#chat .card", has_text="東京都").count()
    sends = []
    counselor.on("request", lambda q: sends.append(q.url) if q.method == "POST" and q.url.endswith("/resources") else None)
    dialog.locator("#resource-common button", has_text="今すぐ話せる窓口").click()
    preview = dialog.locator("#resource-preview")
    expect(preview).to_be_visible(timeout=T)
    expect(preview).to_contain_text(f"{alias} に「今すぐ話せる窓口")
    expect(dialog.locator("#resource-preview-text")).to_contain_text("0120-279-338")   # the card's own words
    expect(dialog.locator("#resource-send")).to_have_text(f"{alias} に送る")
    dialog.locator("#resource-back").click()                 # not that one: back to the choices
    expect(preview).to_be_hidden()
    theirs.click()
    expect(dialog.locator("#resource-preview-what")).to_contain_text(f"{alias} に「東京都の相談窓口」を送りますか？", timeout=T)
    expect(dialog.locator("#resource-preview-text")).to_contain_text("東京都")
    expect(dialog.locator("#resource-send")).to_be_focused()
    shot(counselor, "console-send-resource-preview")
    assert sends == []
    expect(counselor.locator("#transcript")).not_to_contain_text("送った資料")
    dialog.locator("#resource-send").click()
    expect(dialog).to_be_hidden()
    expect(counselor.locator("#transcript")).to_contain_text("［送った資料］東京都の相談窓口", timeout=T)
    cards = person.locator("#chat .card", has_text="東京都")
    expect(cards).to_have_count(before + 1, timeout=T)
    call = cards.last.locator("a.card-button", has_text="電話する").first
    expect(call).to_have_attribute("href", __import__("re").compile(r"^tel:0\d+$"))
    # a place chosen from the list goes the same way
    counselor.click("#resource")
    expect(counselor.locator("#resource-preview")).to_be_hidden()          # a new opening: the choices
    counselor.select_option("#resource-place", "pref:27")
    counselor.click("#resource-place-send")
    expect(counselor.locator("#resource-preview-what")).to_contain_text(f"{alias} に「大阪府の相談窓口」", timeout=T)
    counselor.keyboard.press("Enter")                          # the focus is on 「… に送る」
    expect(counselor.locator("#transcript")).to_contain_text("［送った資料］大阪府の相談窓口", timeout=T)
    expect(person.locator("#chat .card", has_text="大阪府")).to_be_visible(timeout=T)
    expect(person.locator("#chat")).not_to_contain_text("昼夜逆転")
    expect(person.locator("#chat")).not_to_contain_text("送った資料")

    # closing asks for a one-line note, which the next counselor sees
    counselor.click("#close")
    counselor.select_option("#close-outcome", "referred")
    counselor.fill("#close-note", "東京都の窓口を紹介。次は家族会の話を。")
    counselor.click("#close-ok")
    expect(person.locator("#chat")).to_contain_text("いったん終わり", timeout=T)

    # the same person comes back: the intake says so, the earlier conversation is listed
    ask_for_a_person(person)
    second = claim_first_waiting(counselor)
    assert second != first
    expect(counselor.locator("#intake-list")).to_contain_text("以前にも相談あり", timeout=T)
    earlier = counselor.locator(f"#earlier li[data-id='{first}']")
    expect(earlier).to_contain_text("対応：demo", timeout=T)
    expect(earlier).to_contain_text("東京都の窓口を紹介。次は家族会の話を。")
    expect(counselor.locator("#notes-empty")).to_be_visible()       # notes belong to their conversation
    counselor.fill("#note-text", "2回目。前回の続きから。")
    counselor.click("#note-add")
    expect(counselor.locator("#notes")).to_contain_text("前回の続きから", timeout=T)
    say(person, "また来ました")
    expect(counselor.locator("#transcript")).to_contain_text("また来ました", timeout=T)
    shot(counselor, "console-earlier-and-notes")

    # the earlier transcript opens read-only, with its notes
    earlier.locator("button").click()
    old = counselor.locator("#earlier-dialog")
    expect(old).to_be_visible(timeout=T)
    expect(old.locator("#earlier-transcript")).to_contain_text("息子が部屋から出てきません")
    expect(old.locator("#earlier-transcript")).to_contain_text("［送った資料］東京都の相談窓口")
    expect(old.locator("#earlier-notes")).to_contain_text("昼夜逆転")
    expect(old.locator("#earlier-notes")).to_contain_text("東京都の窓口を紹介")
    expect(old.locator("textarea, input")).to_have_count(0)
    shot(counselor, "console-earlier-transcript")
    counselor.click("#earlier-back")
    expect(old).to_be_hidden()
    expect(counselor.locator("#conv-title")).to_be_visible()


def test_an_admin_edits_the_canned_replies_and_the_picker_offers_them_as_text(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)         # demo is an admin
    alerts = []
    # (leaving the console with a reply unsent asks first: a beforeunload, accepted, not counted)
    counselor.on("dialog", lambda d: (d.type != "beforeunload" and alerts.append(d.message), d.accept()))
    counselor.click("#canned-admin")
    expect(counselor.locator("#canned-state")).to_have_text("最初から用意された定型文を使っています。", timeout=T)
    expect(counselor.locator("#canned-reset")).to_be_disabled()
    first = counselor.locator("#canned-list li").first
    first.locator(".canned-label").fill("最初のあいさつ（編集）")
    first.locator(".canned-text").fill("こんにちは。相談員のあおいです。")
    first.locator(".canned-save").click()
    expect(counselor.locator("#canned-state")).to_have_text("編集された定型文を使っています。", timeout=T)
    hostile = '<img src=x onerror="document.title=1">'
    counselor.fill("#canned-add-label", hostile)
    counselor.fill("#canned-add-text", "ゆっくりで大丈夫です。")
    counselor.click("#canned-add button[type=submit]")
    expect(counselor.locator("#canned-list li")).to_have_count(5, timeout=T)
    counselor.evaluate("() => window.scrollTo(0, 0)")
    shot(counselor, "console-canned-admin")
    counselor.fill("#canned-add-label", "x" * 40)
    counselor.fill("#canned-add-text", "   ")
    counselor.click("#canned-add button[type=submit]")
    expect(counselor.locator("#canned-error")).to_have_text("見出しと本文の両方を書いてください。", timeout=T)

    # a counselor's picker offers the edited list; the hostile label is only text
    counselor.goto(demo + "/console/")
    new_person(person)
    ask_for_a_person(person)
    claim_first_waiting(counselor)
    options = counselor.locator("#canned option")
    expect(options.nth(1)).to_have_text("最初のあいさつ（編集）")
    expect(options.last).to_have_text(hostile)
    assert counselor.locator("img").count() == 0 and counselor.title() != "1"
    counselor.select_option("#canned", label="最初のあいさつ（編集）")
    expect(counselor.locator("#reply")).to_have_value("こんにちは。相談員のあおいです。")

    # back to the catalogue's replies (after a confirmation)
    counselor.click("#canned-admin")
    counselor.click("#canned-reset")
    expect(counselor.locator("#canned-state")).to_have_text("最初から用意された定型文を使っています。", timeout=T)
    expect(counselor.locator("#canned-list li").first.locator(".canned-label")).to_have_value("はじめのあいさつ")
    assert alerts == ["編集した定型文をすべて消して、最初から用意された定型文に戻しますか？"]
