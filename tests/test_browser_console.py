"""The counselor console in a real browser (issue 16): a draft stays with its conversation and a
reply goes to the person on screen; the newest message is never hidden behind the reply box and
is marked read (既読) only once it has been in view; a quick double send or a retry after a lost
answer sends once. Debian's chromium, Playwright, a real `mado demo` on a real redis-server.
"""
import re

from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, say, shot)


class Gate:
    """Holds the browser's matching requests until opened (the test's hand on the network)."""

    def __init__(self, page, pattern):
        self.held, self.opened = [], False
        page.route(pattern, self._handle)

    def _handle(self, route):
        if self.opened:
            route.continue_()
        else:
            self.held.append(route)

    def open(self):
        self.opened = True
        for route in self.held:
            route.continue_()


def claim_first_waiting(counselor):
    """Open the first waiting handoff, claim it; its id once it is listed as the counselor's."""
    item = counselor.locator("#queue li").first
    expect(item).to_be_visible(timeout=T)
    hid = item.get_attribute("data-id")
    item.click()
    expect(counselor.locator("#claim")).to_be_visible(timeout=T)
    counselor.click("#claim")
    expect(counselor.locator(f"#mine li[data-id='{hid}']")).to_be_visible(timeout=T)
    expect(counselor.locator("#reply-form")).to_be_visible(timeout=T)
    return hid


def open_conversation(counselor, hid):
    item = counselor.locator(f"#mine li[data-id='{hid}']")
    alias = item.locator("strong").text_content()
    item.click()
    expect(counselor.locator("#conv-title")).to_have_text(alias, timeout=T)
    expect(counselor.locator("#reply-form")).to_be_visible(timeout=T)


def person_says(person, text):
    """The simulated person writes; returns once the webhook for it has been accepted (in order)."""
    with person.expect_response(lambda res: res.url.endswith("/demo/api/send")):
        say(person, text)


def switch_person(person, n):
    person.locator("#people li", has_text=f"人 {n}").click()
    expect(person.locator("#who")).to_have_text(f"人 {n}", timeout=T)


def test_a_draft_stays_with_its_conversation_and_a_reply_goes_to_the_person_on_screen(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person)
    first = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    new_person(person)
    ask_for_a_person(person)
    second = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    box = counselor.locator("#reply")

    draft = "1人目の方への下書きです"
    open_conversation(counselor, first)
    counselor.fill("#reply", draft)
    open_conversation(counselor, second)
    expect(box).to_have_value("")                  # the other person's draft is not offered here
    box.press("Control+Enter")                     # an empty box sends nothing
    counselor.fill("#reply", "2人目の方へのお返事です")
    with counselor.expect_request(lambda q: q.method == "POST" and "/messages" in q.url) as sent:
        box.press("Control+Enter")
    assert sent.value.url.endswith(f"/console/api/handoffs/{second}/messages")
    expect(counselor.locator("#transcript")).to_contain_text("2人目の方へのお返事です", timeout=T)
    expect(box).to_have_value("")
    expect(person.locator("#chat")).to_contain_text("2人目の方へのお返事です", timeout=T)

    # back to the first: their draft is there again, and it goes to them
    open_conversation(counselor, first)
    expect(box).to_have_value(draft)
    expect(counselor.locator("#transcript")).not_to_contain_text("2人目の方へのお返事です")
    with counselor.expect_request(lambda q: q.method == "POST" and "/messages" in q.url) as sent:
        box.press("Control+Enter")
    assert sent.value.url.endswith(f"/console/api/handoffs/{first}/messages")
    assert sent.value.post_data_json["text"] == draft
    expect(counselor.locator("#transcript")).to_contain_text(draft, timeout=T)
    switch_person(person, 1)
    expect(person.locator("#chat")).to_contain_text(draft, timeout=T)
    expect(person.locator("#chat")).not_to_contain_text("2人目の方へのお返事です")
    switch_person(person, 2)
    expect(person.locator("#chat")).to_contain_text("2人目の方へのお返事です", timeout=T)
    expect(person.locator("#chat")).not_to_contain_text(draft)

    # while the next conversation is still loading, nothing of the last one is offered to send
    gate = Gate(counselor, re.compile(rf"/console/api/handoffs/{re.escape(second)}(\?[^/]*)?$"))
    counselor.fill("#reply", "まだ送らない下書き")
    counselor.locator(f"#mine li[data-id='{second}']").click()
    expect(counselor.locator("#reply-form")).to_be_hidden(timeout=T)
    expect(counselor.locator("#transcript")).not_to_contain_text(draft)
    gate.open()
    expect(counselor.locator("#transcript")).to_contain_text("2人目の方へのお返事です", timeout=T)
    expect(counselor.locator("#reply-form")).to_be_visible(timeout=T)
    expect(box).to_have_value("")
    open_conversation(counselor, first)
    expect(box).to_have_value("まだ送らない下書き")
