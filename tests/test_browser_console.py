"""The counselor console in a real browser (issue 16): a draft stays with its conversation and a
reply goes to the person on screen; the newest message is never hidden behind the reply box and
is marked read (既読) only once it has been in view; a quick double send or a retry after a lost
answer sends once. Debian's chromium, Playwright, a real `mado demo` on a real redis-server.
"""
import re

import pytest
from playwright.sync_api import expect

from .test_browser import (T, ask_for_a_person, browser, counselor_and_simulator, demo,  # noqa: F401
                           new_person, say, shot)

# the newest message of the transcript is entirely on screen and above the reply box
NEWEST_ABOVE_REPLY_BOX = """() => {
  const last = document.querySelector('#transcript > li:last-child');
  const form = document.getElementById('reply-form');
  if (!last || !form || form.hidden) return false;
  const b = last.getBoundingClientRect(), f = form.getBoundingClientRect();
  return b.top >= 0 && b.bottom <= f.top && f.bottom <= window.innerHeight;
}"""


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


def two_talking(counselor, person):
    """Two people from the simulator ask for a person and the counselor claims both: their ids,
    once the second has been told a counselor joined."""
    new_person(person)
    ask_for_a_person(person)
    first = claim_first_waiting(counselor)
    new_person(person)
    ask_for_a_person(person)
    second = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    return first, second


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


@pytest.mark.parametrize("width,height", [(1024, 768), (1366, 768)])
def test_the_newest_message_shows_above_the_reply_box_and_is_read_only_once_seen(browser, demo, width, height):
    counselor, person = counselor_and_simulator(browser, demo)
    counselor.set_viewport_size({"width": width, "height": height})
    new_person(person)
    ask_for_a_person(person)
    hid = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    for i in range(1, 21):
        person_says(person, f"メッセージ {i} です")

    newest = counselor.locator("#transcript > li").last
    expect(newest).to_contain_text("メッセージ 20 です", timeout=T)
    expect(counselor.locator("#transcript > li")).to_have_count(20)
    counselor.wait_for_function(NEWEST_ABOVE_REPLY_BOX, timeout=T)
    expect(newest).to_be_in_viewport(ratio=1)
    box, form = newest.bounding_box(), counselor.locator("#reply-form").bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= form["y"] <= height
    # it was on screen, so it is read: the person sees 既読, the list no unread count
    expect(person.locator("#chat li.me .meta").last).to_have_text("既読", timeout=T)
    expect(counselor.locator(f"#mine li[data-id='{hid}']")).not_to_contain_text("未読", timeout=T)
    shot(counselor, f"console-newest-{width}x{height}")

    # the counselor scrolls up to reread; a new message does not pull them down
    reads = []
    counselor.on("request", lambda q: reads.append(q.url) if q.method == "POST" and q.url.endswith("/read") else None)
    counselor.locator("#transcript").hover()
    counselor.mouse.wheel(0, -20000)
    counselor.wait_for_function("() => document.getElementById('transcript').scrollTop < 5", timeout=T)
    person_says(person, "メッセージ 21 です")
    expect(newest).to_contain_text("メッセージ 21 です", timeout=T)
    pill = counselor.locator("#new-messages")
    expect(pill).to_be_visible()
    expect(pill).to_have_text("新しいメッセージ")
    expect(newest).not_to_be_in_viewport()
    expect(counselor.locator(f"#mine li[data-id='{hid}']")).to_contain_text("未読 1", timeout=T)
    for _ in range(2):      # two more rounds of asking for this conversation: still not read
        with counselor.expect_response(lambda res: res.request.method == "GET" and f"/handoffs/{hid}?" in res.url,
                                       timeout=T):
            counselor.evaluate("() => { window.madoRefresh(); }")
    assert reads == []
    expect(person.locator("#chat li.me .meta").last).to_have_attribute("data-read", "0")
    expect(counselor.locator(f"#mine li[data-id='{hid}']")).to_contain_text("未読 1")
    shot(counselor, f"console-new-messages-pill-{width}x{height}")

    pill.click()
    counselor.wait_for_function(NEWEST_ABOVE_REPLY_BOX, timeout=T)
    expect(newest).to_be_in_viewport(ratio=1)
    expect(pill).to_be_hidden()
    expect(person.locator("#chat li.me .meta").last).to_have_text("既読", timeout=T)
    expect(counselor.locator(f"#mine li[data-id='{hid}']")).not_to_contain_text("未読", timeout=T)
    assert len(reads) >= 1

    # (issue 27, #16) scrolled up only a little, the newest words still in view: the pill that a
    # new message brings covers none of them, and what was in view stays in view above it
    counselor.evaluate("() => { const t = document.getElementById('transcript'); t.scrollTop -= 24; }")
    counselor.wait_for_function(f"() => !({NEWEST_ABOVE_REPLY_BOX})()", timeout=T)
    seen = counselor.evaluate(VISIBLE_PART, 20)
    person_says(person, "メッセージ 22 です")
    expect(newest).to_contain_text("メッセージ 22 です", timeout=T)
    expect(pill).to_be_visible()
    counselor.wait_for_function(PILL_COVERS_NOTHING, timeout=T)
    assert counselor.evaluate(VISIBLE_PART, 20) >= seen - 1          # message 21: as much in view as before
    # scrolled down to all but the last few pixels, the pill still there: the newest is above it
    counselor.evaluate("() => { const t = document.getElementById('transcript'); t.scrollTop = t.scrollHeight - t.clientHeight - 6; }")
    counselor.wait_for_function(PILL_COVERS_NOTHING, timeout=T)
    expect(pill).to_be_visible()
    assert counselor.evaluate(VISIBLE_PART, 21) > 0
    shot(counselor, f"console-pill-below-newest-{width}x{height}")


# how many pixels of the n-th transcript entry (0-based) are inside the transcript's visible box
VISIBLE_PART = """n => {
  const t = document.getElementById('transcript').getBoundingClientRect();
  const b = document.querySelectorAll('#transcript > li')[n].getBoundingClientRect();
  return Math.max(0, Math.min(b.bottom, t.bottom) - Math.max(b.top, t.top));
}"""
# the pill is shown and no visible part of any transcript entry is at its height
PILL_COVERS_NOTHING = """() => {
  const p = document.getElementById('new-messages');
  if (p.hidden) return false;
  const r = p.getBoundingClientRect(), t = document.getElementById('transcript').getBoundingClientRect();
  return [...document.querySelectorAll('#transcript > li')].every((li) => {
    const b = li.getBoundingClientRect();
    const top = Math.max(b.top, t.top), bottom = Math.min(b.bottom, t.bottom);
    return bottom <= top || bottom <= r.top || top >= r.bottom;
  });
}"""


def test_a_quick_double_send_and_a_retry_after_a_lost_answer_each_send_once(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person)
    hid = claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    box, send = counselor.locator("#reply"), counselor.locator("#send")
    pattern = re.compile(rf"/console/api/handoffs/{re.escape(hid)}/messages$")

    # Ctrl+Enter twice while the first send is still on its way: the button is off, one request
    gate = Gate(counselor, pattern)
    counselor.fill("#reply", "一度だけ届くはずのお返事です")
    with counselor.expect_request(pattern):
        box.press("Control+Enter")
    box.press("Control+Enter")
    expect(send).to_be_disabled()
    assert len(gate.held) <= 1
    gate.open()
    counselor.unroute(pattern)
    expect(send).to_be_enabled(timeout=T)
    expect(box).to_have_value("")

    # the answer to a send is lost on the way back: the counselor sends again, the person gets it once
    def lose_the_answer(route):
        route.fetch()          # the server has it and queues the message
        route.abort()          # but the browser never hears back

    # (issue 27, #9) the console asks by the draft's client_id whether it arrived before offering
    # to send again: it had, so the box is emptied and says so
    counselor.route(pattern, lose_the_answer, times=1)
    counselor.fill("#reply", "答えが途中で消えたお返事です")
    box.press("Control+Enter")
    error = counselor.locator("#conv-error")
    expect(error).to_have_text("さきほどのメッセージは相談者に届いていました（二重には送っていません）。", timeout=T)
    expect(box).to_have_value("")

    # lost again, and the question cannot be asked either (the line is down): the box keeps the
    # words, an edit and Ctrl+Enter send nothing new until the answer is known; then it is
    check = re.compile(rf"/console/api/handoffs/{re.escape(hid)}/messages/[0-9a-f]+$")
    counselor.route(pattern, lose_the_answer, times=1)
    counselor.route(check, lambda route: route.abort(), times=2)
    counselor.fill("#reply", "二度目に答えが消えたお返事です")
    box.press("Control+Enter")
    expect(error).to_contain_text("確かめられていません", timeout=T)
    counselor.fill("#reply", "二度目に答えが消えたお返事です。")           # one character more
    box.press("Control+Enter")
    expect(error).to_have_text("直す前のメッセージが、すでに相談者に届いていました。直した文はまだ送っていません。",
                               timeout=T)
    expect(box).to_have_value("二度目に答えが消えたお返事です。")
    box.fill("")

    counselor.fill("#reply", "最後のお返事です")
    box.press("Control+Enter")
    # the person's messages arrive in order: once the last is there, any double would be too
    expect(person.locator("#chat")).to_contain_text("最後のお返事です", timeout=T)
    expect(counselor.locator("#transcript")).to_contain_text("最後のお返事です", timeout=T)
    expect(person.locator("#chat")).not_to_contain_text("二度目に答えが消えたお返事です。")
    for text in ("一度だけ届くはずのお返事です", "答えが途中で消えたお返事です", "二度目に答えが消えたお返事です"):
        expect(person.locator("#chat li.bot", has_text=text)).to_have_count(1)
        expect(counselor.locator("#transcript li.counselor", has_text=text)).to_have_count(1)


# Records every tone the page starts through the real Web Audio API (installed before the console's
# own script runs), so a test can tell that a sound was played and which one.
SOUND_HOOK = """
window.__tones = [];
const __start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones.push(this.frequency.value);
  return __start.apply(this, args);
};
"""
WORSE_TONE = 988          # the first tone of the console's loudest alert


def hook_sounds(counselor):
    counselor.add_init_script(SOUND_HOOK)
    counselor.reload()
    expect(counselor.locator("#queue-empty")).to_be_visible(timeout=T)


def tones(page):
    return page.evaluate("() => window.__tones.slice()")


def alias_of(counselor, hid):
    return counselor.locator(f".items li[data-id='{hid}'] strong").text_content()


def test_a_worsening_person_raises_the_loudest_alert_says_why_and_comes_first(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    hook_sounds(counselor)
    first, second = two_talking(counselor, person)
    expect(counselor.locator("#mine li").first).to_have_attribute("data-id", first)
    open_conversation(counselor, first)          # the counselor is talking with the first person
    alert = counselor.locator("#alert")
    stack = counselor.locator("#alerts")

    # the second person, talking with this counselor, writes something risky
    person_says(person, "今から薬を全部飲む")
    loud = stack.locator(f"li[data-id='{second}']")
    expect(loud).to_have_attribute("data-kind", "worse", timeout=T)      # at the next poll
    expect(loud).to_be_visible()
    reason = "計画・手段・別れのことば"
    expect(loud).to_contain_text(reason)
    expect(loud).to_contain_text(alias_of(counselor, second))
    expect(counselor).to_have_title(re.compile(r"^【急ぎ】"))
    assert counselor.locator("#app").get_attribute("data-sound") == "worse"
    assert WORSE_TONE in tones(counselor)
    # the list says why and puts them first
    top = counselor.locator("#mine li").first
    expect(top).to_have_attribute("data-id", second, timeout=T)
    expect(top).to_have_class(re.compile("urgent"))
    expect(top).to_contain_text(reason)
    expect(counselor.locator("#conv-urgent")).to_be_hidden()       # the first person is not urgent
    shot(counselor, "console-worsening")

    # the banner leads to them; the header says why; opened, the alert is done
    loud.click()
    expect(counselor.locator("#conv-title")).to_have_text(alias_of(counselor, second), timeout=T)
    expect(counselor.locator("#conv-urgent")).to_have_text(f"急ぎ：{reason}", timeout=T)
    expect(counselor.locator("#transcript")).to_contain_text("今から薬を全部飲む")
    expect(loud).to_have_count(0)
    expect(stack).to_be_hidden()
    expect(counselor).not_to_have_title(re.compile("【急ぎ】"))

    # someone waiting in the queue writes 「もう消えたい」: the same alert, and they move up
    new_person(person)
    ask_for_a_person(person)
    new_person(person)
    ask_for_a_person(person)
    queue = counselor.locator("#queue li")
    expect(queue).to_have_count(2, timeout=T)
    expect(alert).to_have_attribute("data-kind", "normal", timeout=T)
    later = queue.nth(1).get_attribute("data-id")
    heard = len(tones(counselor))
    person_says(person, "もう消えたい")
    loud = stack.locator(f"li[data-id='{later}']")
    expect(loud).to_have_attribute("data-kind", "worse", timeout=T)      # at the next poll
    expect(loud).to_contain_text("消えたい・生きるのがつらい")
    assert WORSE_TONE in tones(counselor)[heard:]
    expect(queue.first).to_have_attribute("data-id", later, timeout=T)
    expect(queue.first).to_contain_text("消えたい・生きるのがつらい")
    expect(counselor).to_have_title(re.compile(r"^【急ぎ】"))
    # a new handoff meanwhile has its own banner and does not cover the loudest alert
    new_person(person)
    ask_for_a_person(person)
    expect(queue).to_have_count(3, timeout=T)
    expect(alert).to_have_attribute("data-kind", "normal", timeout=T)
    expect(loud).to_be_visible()
    expect(counselor).to_have_title(re.compile(r"^【急ぎ】"))
    loud.click()
    expect(counselor.locator("#conv-urgent")).to_have_text("急ぎ：消えたい・生きるのがつらい", timeout=T)


def test_who_is_waiting_for_my_reply_comes_first_with_a_sound_and_the_persons_state(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    hook_sounds(counselor)
    a, b = two_talking(counselor, person)
    mine = counselor.locator("#mine li")
    expect(mine.first).to_have_attribute("data-id", a)
    open_conversation(counselor, a)
    expect(counselor.locator("#conv-state")).to_have_text("相談者：会話中", timeout=T)

    # b writes first, then a: b has waited longer for a reply, so b comes first; a new message rings
    heard = len(tones(counselor))
    person_says(person, "聞いてほしいことがあります")
    expect(mine.first).to_have_attribute("data-id", b, timeout=T)
    expect(mine.first).to_contain_text(re.compile(r"返信待ち \d+分"))
    counselor.wait_for_function("() => document.getElementById('app').dataset.sound === 'message'", timeout=T)
    assert len(tones(counselor)) > heard
    switch_person(person, 1)
    person_says(person, "私も書きます")
    expect(counselor.locator(f"#mine li[data-id='{a}']")).to_contain_text(re.compile(r"返信待ち \d+分"), timeout=T)
    expect(mine.first).to_have_attribute("data-id", b)
    expect(counselor.locator("#conv-badges")).to_contain_text(re.compile(r"返信待ち \d+分"), timeout=T)
    shot(counselor, "console-awaiting-reply")

    # answering b: b no longer waits for me, a comes first
    open_conversation(counselor, b)
    counselor.fill("#reply", "お待たせしました。読みました。")
    counselor.locator("#reply").press("Control+Enter")
    expect(mine.first).to_have_attribute("data-id", a, timeout=T)
    expect(counselor.locator(f"#mine li[data-id='{b}']")).not_to_contain_text("返信待ち", timeout=T)
    expect(counselor.locator("#conv-badges")).not_to_contain_text("返信待ち", timeout=T)

    # a pauses: the header says so
    open_conversation(counselor, a)
    person_says(person, "今日はここまで")
    expect(counselor.locator("#conv-state")).to_have_text("相談者：一時中断中", timeout=T)
    # someone new in the queue is waiting for a counselor
    new_person(person)
    ask_for_a_person(person)
    counselor.locator("#queue li").first.click()
    expect(counselor.locator("#conv-state")).to_have_text("相談者：順番待ち", timeout=T)


COLLEAGUE_PASSWORD = "a long enough secret for ken"


def login_as(browser, url, name, password):
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(url + "/console/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login-submit")
    expect(page.locator("#me-name")).to_have_text(name, timeout=T)
    return page


def test_small_things_a_colleagues_conversation_a_release_a_cancel_and_keys_in_a_list(browser, demo, r):
    from handoff.accounts import Accounts

    Accounts(r).add("ken", COLLEAGUE_PASSWORD)
    admin, person = counselor_and_simulator(browser, demo)
    ken = login_as(browser, demo, "ken", COLLEAGUE_PASSWORD)
    new_person(person)
    ask_for_a_person(person)
    theirs = claim_first_waiting(admin)
    expect(ken.locator(f"#others li[data-id='{theirs}']")).to_be_visible(timeout=T)
    new_person(person)
    ask_for_a_person(person)
    expect(ken.locator("#queue li")).to_have_count(1, timeout=T)
    own = claim_first_waiting(ken)
    open_conversation(ken, own)
    own_alias = ken.locator("#conv-title").text_content()

    # ken (not an admin) clicks the admin's conversation: the pane shows nothing of his own
    ken.locator(f"#others li[data-id='{theirs}']").click()
    expect(ken.locator("#conversation")).to_be_hidden(timeout=T)
    expect(ken.locator("#placeholder")).to_have_text("この相談はあなたが対応しているものではありません。")
    expect(ken.locator(f"#others li[data-id='{theirs}']")).to_have_class(re.compile("selected"))
    expect(ken.locator(f"#mine li[data-id='{own}']")).not_to_have_class(re.compile("selected"))
    expect(ken.locator("#reply-form")).to_be_hidden()

    # j while the canned-reply list has the focus chooses nothing in the conversation list
    open_conversation(ken, own)
    ken.focus("#canned")
    ken.keyboard.press("j")
    ken.keyboard.press("k")
    expect(ken.locator("#conv-title")).to_have_text(own_alias)
    assert ken.url.endswith(f"/console/handoffs/{own}")

    # releasing one's own conversation is not a new handoff for oneself (the admin is told)
    ken.locator("#alert").evaluate("e => e.hidden = true")
    ken.click("#release")
    ken.click("#release-ok")
    expect(ken.locator(f"#queue li[data-id='{own}']")).to_be_visible(timeout=T)
    expect(admin.locator(f"#queue li[data-id='{own}']")).to_be_visible(timeout=T)
    expect(admin.locator("#alert")).to_contain_text("新しい相談", timeout=T)
    with ken.expect_response(lambda res: "/handoffs?status=waiting" in res.url, timeout=T):
        ken.evaluate("() => { window.madoRefresh(); }")    # one more round of the lists: still no alert
    expect(ken.locator("#alert")).to_be_hidden()

    # the person cancels while ken looks at them: ken is told why 対応する went away
    ken.locator(f"#queue li[data-id='{own}']").click()
    expect(ken.locator("#claim")).to_be_visible(timeout=T)
    switch_person(person, 2)
    person_says(person, "やめる")
    expect(ken.locator("#conv-ended")).to_have_text(re.compile("取り消しました"), timeout=T)
    expect(ken.locator("#claim")).to_be_hidden()
    shot(ken, "console-cancelled")


def test_the_transfer_dialog_says_when_no_one_else_is_online(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person)
    claim_first_waiting(counselor)
    counselor.click("#transfer")
    expect(counselor.locator("#transfer-dialog")).to_be_visible()
    expect(counselor.locator("#transfer-none")).to_be_visible()
    expect(counselor.locator("#transfer-none")).to_contain_text("オンラインのほかの相談員はいません")
    expect(counselor.locator("#transfer-ok")).to_be_disabled()
    counselor.keyboard.press("Escape")
    expect(counselor.locator("#transfer-dialog")).to_be_hidden()


def test_the_statistics_page_speaks_in_words_and_adds_up(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)                              # four people; one of them in crisis, twice
    say(person, "もう死にたい")
    expect(person.locator("#chat")).to_contain_text("0120-279-338", timeout=T)
    person_says(person, "死にたい")
    for _ in range(3):
        new_person(person)
    ask_for_a_person(person)
    claim_first_waiting(counselor)
    for text in ("こんにちは。", "相談員です。"):
        counselor.fill("#reply", text)
        counselor.locator("#reply").press("Control+Enter")
        expect(person.locator("#chat")).to_contain_text(text, timeout=T)
    counselor.goto(demo + "/console/stats")
    expect(counselor.locator("#stats table").first).to_be_visible(timeout=T)
    value = lambda label: counselor.locator("#stats tr", has=counselor.locator(f"th:text-is('{label}')")).first.locator("td").text_content()  # noqa: E731
    heads = counselor.locator("#stats th").all_text_contents()
    assert heads and not [h for h in heads if re.fullmatch(r"[a-z0-9_]+", h)], heads
    assert value("危険のサインがあった人の割合（はじめての会話のうち）") == "25 %"
    assert value("相談員のメッセージ") == "2"
    assert int(value("無料の返信で送信")) + int(value("プッシュ（有料）で送信")) == 2
    assert value("返信トークンで送れた割合").endswith(" %")
    shot(counselor, "console-stats")


def test_a_transfer_carries_a_note_alerts_the_receiver_and_leaves_a_line_and_release_asks_first(browser, demo, r):
    from handoff.accounts import Accounts

    Accounts(r).add("ken", COLLEAGUE_PASSWORD)
    receiver, person = counselor_and_simulator(browser, demo)      # "demo"
    hook_sounds(receiver)
    ken = login_as(browser, demo, "ken", COLLEAGUE_PASSWORD)
    new_person(person)
    ask_for_a_person(person)
    expect(ken.locator("#queue li")).to_have_count(1, timeout=T)
    hid = claim_first_waiting(ken)
    expect(receiver.locator(f"#others li[data-id='{hid}']")).to_be_visible(timeout=T)
    receiver.locator("#alert").evaluate("e => e.hidden = true")

    ken.click("#transfer")
    expect(ken.locator("#transfer-dialog")).to_be_visible()
    ken.select_option("#transfer-to", "demo")
    note = "お母さんからのご相談。息子さんの昼夜逆転の話の途中です。"
    ken.fill("#transfer-note", note)
    shot(ken, "console-transfer-note")
    ken.click("#transfer-ok")
    expect(ken.locator(f"#others li[data-id='{hid}']")).to_be_visible(timeout=T)

    # the receiver hears and sees it, opens it, and finds the handover in the transcript
    alert = receiver.locator("#alert")
    expect(alert).to_have_attribute("data-kind", "transfer", timeout=T)
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("ken から")
    expect(receiver.locator(f"#mine li[data-id='{hid}']")).to_be_visible()
    receiver.wait_for_function("() => document.getElementById('app').dataset.sound === 'transfer'", timeout=T)
    alert.click()
    line = receiver.locator("#transcript li.transfer")
    expect(line).to_contain_text("ken から demo に引き継ぎました", timeout=T)
    expect(line).to_contain_text(note)
    expect(alert).to_be_hidden()
    shot(receiver, "console-transferred")
    expect(person.locator("#chat")).not_to_contain_text(note)          # never shown to the person

    # release asks first, naming the person: cancelled, nothing happens; confirmed, back in the queue
    release = receiver.locator("#release-dialog")
    receiver.click("#release")
    expect(release).to_be_visible()
    expect(receiver.locator("#release-what")).to_have_text(
        f"{alias_of(receiver, hid)} を待ち行列に戻しますか？相談者には、相談員が交代することが伝わります。")
    receiver.keyboard.press("Escape")
    expect(release).to_be_hidden()
    expect(receiver.locator(f"#mine li[data-id='{hid}']")).to_be_visible()
    receiver.click("#release")
    receiver.click("#release-ok")
    expect(receiver.locator(f"#queue li[data-id='{hid}']")).to_be_visible(timeout=T)


def close_with(counselor, outcome):
    counselor.click("#close")
    expect(counselor.locator("#close-dialog")).to_be_visible()
    expect(counselor.locator("#close-ok")).to_be_disabled()        # an outcome first
    counselor.select_option("#close-outcome", outcome)
    counselor.click("#close-ok")


def test_closed_conversations_have_an_outcome_and_are_found_by_alias_and_date(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person)
    first = claim_first_waiting(counselor)
    first_alias = alias_of(counselor, first)
    new_person(person)
    ask_for_a_person(person)
    second = claim_first_waiting(counselor)
    open_conversation(counselor, first)
    close_with(counselor, "referred")
    expect(counselor.locator(f"#mine li[data-id='{first}']")).to_have_count(0, timeout=T)
    open_conversation(counselor, second)
    close_with(counselor, "listened")
    expect(counselor.locator("#mine li")).to_have_count(0, timeout=T)

    # the closed list: newest first, each with its outcome
    counselor.locator("#closed-section summary").click()
    closed = counselor.locator("#closed li")
    expect(closed).to_have_count(2, timeout=T)
    expect(closed.first).to_have_attribute("data-id", second)
    expect(closed.first).to_contain_text("話を聞けた")
    expect(closed.nth(1)).to_contain_text("相談窓口を紹介した")
    # by alias, any case, a part of it
    code = first_alias.split()[-1]
    counselor.fill("#closed-q", code[1:].lower())
    counselor.click("#closed-go")
    expect(closed).to_have_count(1, timeout=T)
    expect(closed.first).to_have_attribute("data-id", first)
    # by the day it was closed (Tokyo): today finds it, another day nothing
    today = counselor.evaluate("() => new Date(Date.now() + 9 * 3600e3).toISOString().slice(0, 10)")
    counselor.fill("#closed-date", today)
    counselor.click("#closed-go")
    expect(closed).to_have_count(1, timeout=T)
    shot(counselor, "console-closed-search")
    counselor.fill("#closed-date", "2020-01-01")
    counselor.click("#closed-go")
    expect(closed).to_have_count(0, timeout=T)
    expect(counselor.locator("#closed-empty")).to_be_visible()
    counselor.fill("#closed-date", "")
    counselor.fill("#closed-q", "")
    counselor.click("#closed-go")
    expect(closed).to_have_count(2, timeout=T)

    # opened: read-only, with its outcome
    counselor.locator(f"#closed li[data-id='{first}']").click()
    expect(counselor.locator("#conv-title")).to_have_text(first_alias, timeout=T)
    expect(counselor.locator("#conv-ended")).to_contain_text("相談窓口を紹介した", timeout=T)
    for button in ("#claim", "#release", "#transfer", "#close", "#reply-form"):
        expect(counselor.locator(button)).to_be_hidden()


def test_the_supervisor_sees_who_is_here_away_or_gone_and_gives_an_away_counselors_conversation_on(browser, demo, r):
    from handoff.accounts import Accounts

    Accounts(r).add("ken", COLLEAGUE_PASSWORD)
    Accounts(r).add("mei", COLLEAGUE_PASSWORD)           # never logs in: offline
    admin, person = counselor_and_simulator(browser, demo)
    ken = login_as(browser, demo, "ken", COLLEAGUE_PASSWORD)
    expect(ken.locator("#staff-section")).to_have_count(0)          # admins only
    new_person(person)
    ask_for_a_person(person)
    expect(ken.locator("#queue li")).to_have_count(1, timeout=T)
    hid = claim_first_waiting(ken)
    alias = alias_of(ken, hid)

    staff = admin.locator("#staff")
    row = lambda name: staff.locator(f"li[data-name='{name}']")       # noqa: E731
    expect(row("ken")).to_contain_text("オンライン", timeout=T)
    expect(row("ken")).to_contain_text(alias, timeout=T)
    expect(row("mei")).to_contain_text("オフライン")
    expect(row("demo")).to_contain_text("オンライン")
    expect(row("ken").locator("button.assign")).to_have_count(0)      # ken is here: nothing to take over

    # ken steps away: the supervisor sees it and gives ken's conversation to someone present
    ken.click("#away")
    expect(ken.locator("#away")).to_have_attribute("aria-pressed", "true", timeout=T)
    expect(ken.locator("#away")).to_have_text("離席中（押すと戻ります）")
    expect(row("ken")).to_contain_text("離席中", timeout=T)
    expect(row("ken")).to_have_attribute("data-status", "away")
    shot(admin, "console-supervisor")
    row("ken").locator(f"button.assign[data-id='{hid}']").click()
    expect(admin.locator("#assign-dialog")).to_be_visible()
    admin.select_option("#assign-to", "demo")
    admin.click("#assign-ok")
    expect(admin.locator(f"#mine li[data-id='{hid}']")).to_be_visible(timeout=T)
    expect(ken.locator(f"#mine li[data-id='{hid}']")).to_have_count(0, timeout=T)
    expect(row("demo")).to_contain_text(alias, timeout=T)
    admin.locator(f"#mine li[data-id='{hid}']").click()
    expect(admin.locator("#transcript li.transfer")).to_contain_text("demo が ken から demo に割り当てました", timeout=T)

    # back at the desk
    ken.click("#away")
    expect(ken.locator("#away")).to_have_attribute("aria-pressed", "false", timeout=T)
    expect(row("ken")).to_contain_text("オンライン", timeout=T)


# issue 14, item 10: what a person writes stays inside its bubble, whatever it is made of
ZALGO = "Z" + "\u0301\u0308\u030a" * 60 + "a" + "\u0316\u0323\u0331" * 60 + "lgo にちは"
RLO = "abc\u202eお願いします"


# pixels that differ clearly between two screenshots (counted in the page, on a canvas)
COUNT_CHANGED = """async ([a, b]) => {
  const load = (src) => new Promise((ok, no) => { const i = new Image(); i.onload = () => ok(i); i.onerror = no; i.src = src; });
  const pixels = (img) => {
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return g.getImageData(0, 0, c.width, c.height).data;
  };
  const [p, q] = (await Promise.all([load(a), load(b)])).map(pixels);
  let n = 0;
  for (let i = 0; i < p.length; i += 4) {
    if (Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]) + Math.abs(p[i + 2] - q[i + 2]) > 60) n++;
  }
  return n;
}"""


def drawn_outside(page, bubble, text, area):
    """How many pixels of `area` around `bubble` change when its text is hidden: what of the text
    is drawn outside the bubble (a few from anti-aliased corners at most)."""
    import base64

    b, a = bubble.bounding_box(), page.locator(area).bounding_box()
    clips = [{"x": a["x"], "y": a["y"], "width": a["width"], "height": max(1, b["y"] - a["y"] - 1)},
             {"x": a["x"], "y": b["y"] + b["height"] + 1, "width": a["width"],
              "height": max(1, a["y"] + a["height"] - b["y"] - b["height"] - 1)}]
    url = lambda png: "data:image/png;base64," + base64.b64encode(png).decode()      # noqa: E731
    shown = [url(page.screenshot(clip=c)) for c in clips]
    text.evaluate("e => e.style.visibility = 'hidden'")
    hidden = [url(page.screenshot(clip=c)) for c in clips]
    text.evaluate("e => e.style.visibility = ''")
    return sum(page.evaluate(COUNT_CHANGED, [x, y]) for x, y in zip(shown, hidden))


def test_combining_marks_stay_in_the_bubble_and_right_to_left_overrides_are_isolated(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person)
    claim_first_waiting(counselor)
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)
    for text in ("まえのメッセージです", ZALGO, RLO, "あとのメッセージです"):
        person_says(person, text)
    expect(counselor.locator("#transcript")).to_contain_text("あとのメッセージです", timeout=T)
    expect(person.locator("#chat")).to_contain_text("あとのメッセージです", timeout=T)

    # the console: the transcript bubble clips the marks; the text is isolated for direction
    li = counselor.locator("#transcript li.user", has_text="にちは")
    text = li.locator("bdi.text")
    expect(text).to_have_count(1)
    counselor.evaluate("() => document.getElementById('transcript').scrollTop = 0")
    li.scroll_into_view_if_needed()
    assert drawn_outside(counselor, li, text, "#transcript") < 50
    rlo = counselor.locator("#transcript li.user", has_text="abc").locator("bdi.text")
    assert rlo.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    shot(counselor, "console-hostile-text")

    # the simulator: the same
    bubble = person.locator("#chat li.me .bubble", has_text="にちは")
    # 既読 first: the simulator redraws the chat when it arrives, and nothing changes after it
    expect(person.locator("#chat li.me .meta").last).to_have_text("既読", timeout=T)
    bubble.scroll_into_view_if_needed()
    assert drawn_outside(person, bubble, bubble, "#chat") < 50
    rlo = person.locator("#chat li.me .bubble", has_text="abc")
    assert rlo.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    shot(person, "simulator-hostile-text")
