"""Issue 25 in a real browser: the console on the push channel (Server-Sent Events) loses its
connection mid-conversation, says so, polls meanwhile, and comes back on the channel from its last
event (Last-Event-ID): every message the person wrote shows once, in order. Debian's chromium
through Playwright against a real `mado demo` on a real redis-server."""
from playwright.sync_api import expect

from .test_browser import T, browser, demo  # noqa: F401
from .test_browser_console import person_says
from .test_browser_console_state import one_talking


def test_a_dropped_push_channel_loses_no_message_and_shows_none_twice(browser, demo):  # noqa: F811
    counselor, person, hid = one_talking(browser, demo)
    conn = counselor.locator("#conn")
    expect(conn).to_have_attribute("data-mode", "push", timeout=T)
    expect(conn).to_be_hidden()
    said = []

    def says(text):
        said.append(text)
        person_says(person, text)

    def shown():
        return counselor.locator("#transcript li.user .text").all_text_contents()

    says("ひとつめ")
    expect(counselor.locator("#transcript li.user .text").last).to_have_text("ひとつめ", timeout=T)

    # the connection drops, the channel with it: the header says so; the person writes meanwhile
    counselor.context.set_offline(True)
    expect(conn).to_have_attribute("data-mode", "offline", timeout=T)
    expect(conn).to_be_visible()
    says("ふたつめ")
    says("みっつめ")
    # back: on the channel again from where the console left off, nothing missed, nothing twice
    counselor.context.set_offline(False)
    expect(conn).to_have_attribute("data-mode", "push", timeout=T)
    expect(conn).to_be_hidden()
    expect(counselor.locator("#transcript li.user .text").last).to_have_text("みっつめ", timeout=T)
    says("よっつめ")
    expect(counselor.locator("#transcript li.user .text").last).to_have_text("よっつめ", timeout=T)
    assert [t for t in shown() if t in said] == said               # each once, in order

    # a browser where the channel cannot be had: the console polls as before, and says so
    counselor.add_init_script("delete window.EventSource;")
    counselor.reload()
    expect(conn).to_have_attribute("data-mode", "polling", timeout=T)
    expect(conn).to_contain_text("1秒ごと")
    counselor.locator(f"#mine li[data-id='{hid}']").click()
    says("いつつめ")
    expect(counselor.locator("#transcript li.user .text").last).to_have_text("いつつめ", timeout=T)
    assert [t for t in shown() if t in said] == said
