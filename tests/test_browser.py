"""`mado demo` in a real browser: Debian's chromium driven by Playwright, against a real
`mado demo` process on a real redis-server. Screenshots go to artifacts/screenshots (git-ignored).
"""
import os
import re
import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "rehearsal-password-1"
T = 20_000     # ms: polling pages, a worker, a browser


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture
def demo(r, redis_server, tmp_path, demo_zygote):
    """A real `mado demo` process (web + worker + console + simulator), on the test redis-server."""
    yield from run_demo(r, redis_server, tmp_path, demo_zygote)


def run_demo(r, redis_server, tmp_path, demo_zygote, **settings):
    """`mado demo` with these MADO_* settings in its environment; yields its address, then ends it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "MADO_", "SENTRY_"))}
    env.update(PORT=str(port), REDIS_URL=redis_server.url, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT),
               **{k: str(v) for k, v in settings.items()})
    log_path = tmp_path / "demo.log"
    log_path.touch()
    pid = demo_zygote.start(env, log_path)
    url = None
    deadline = time.monotonic() + 120    # readiness (the printed address), generous on a busy machine
    while time.monotonic() < deadline and url is None:
        found = re.search(r"(http://127\.0\.0\.1:\d+)/demo/", log_path.read_text())
        url = found.group(1) if found else None
        if url is None and not _alive(pid):
            break
        time.sleep(0.05)                 # polling for readiness, not waiting a fixed time
    if url is None:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        pytest.fail("mado demo did not start:\n" + log_path.read_text())
    # on a Redis of its own (REDIS_URL) the demo makes no account: the operator does, as here
    from handoff.accounts import Accounts

    Accounts(r).add("demo", PASSWORD, "admin")
    yield url
    # gone at once, with nothing of it left to act on the next test's Redis: its clean stop (a
    # second or two of winding down) is not what these tests are about (tests/test_startup.py and
    # the worker tests are)
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.01)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def login(browser, url, password=PASSWORD):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(url + "/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.fill("#name", "demo")
    page.fill("#password", password)
    page.click("#login-submit")
    return page


def new_person(page):
    """Someone new adds the account; returns once the simulator shows their chat (not the last one's)."""
    n = page.locator("#people li").count() + 1
    page.click("#new-person")
    expect(page.locator("#who")).to_have_text(f"人 {n}", timeout=T)
    expect(page.locator("#chat")).to_contain_text("はじめまして", timeout=T)


def counselor_and_simulator(browser, demo, **context):
    """A counselor logged in with an empty queue, and the simulator open beside them."""
    counselor = login(browser, demo)
    expect(counselor.locator("#queue-empty")).to_be_visible(timeout=T)
    person = browser.new_context(**context).new_page()
    person.goto(demo + "/demo/")
    return counselor, person


def ask_for_a_person(page, words="人と話したい", share=False):
    say(page, words)
    expect(page.locator("#chat")).to_contain_text("つないでもよいですか", timeout=T)
    tap(page, "つなぐ・書いたことも見せる" if share else "つなぐ・これまでは見せない")
    expect(page.locator("#chat")).to_contain_text("番目", timeout=T)


def tap(page, label):
    page.locator("#quick button", has_text=label).click()


def say(page, text):
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_a_person_asks_for_a_human_a_counselor_answers_and_hands_back(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo, viewport={"width": 900, "height": 800})
    new_person(person)
    tap(person, "家族のこと")
    expect(person.locator("#chat")).to_contain_text("ご家族のことですね", timeout=T)
    ask_for_a_person(person)
    expect(person.locator("#chat")).to_contain_text("1番目", timeout=T)
    say(person, "息子のことで相談したいです")
    shot(person, "simulator-waiting")

    # the counselor is alerted without reloading, and sees the alias, never an id
    expect(counselor.locator("#alert")).to_contain_text("新しい相談が届きました", timeout=T)
    item = counselor.locator("#queue li").first
    expect(item).to_contain_text("相談者", timeout=T)
    item.click()
    expect(counselor.locator("#transcript")).to_contain_text("息子のことで相談したいです", timeout=T)
    expect(counselor.locator("#intake-list")).to_contain_text("家族")
    shot(counselor, "console-queue")
    counselor.click("#claim")
    expect(person.locator("#chat")).to_contain_text("相談員がつながりました", timeout=T)

    # typing shows LINE's loading animation to the person; the reply arrives in the chat
    counselor.fill("#reply", "こんにちは。相談員です。お話を聞かせてください。")
    counselor.locator("#reply").press("Space")
    expect(person.locator("#typing")).to_be_visible(timeout=T)
    counselor.locator("#reply").press("Control+Enter")
    expect(person.locator("#chat")).to_contain_text("お話を聞かせてください", timeout=T)
    expect(person.locator("#typing")).to_be_hidden(timeout=T)

    # what the person writes now reaches the counselor; 既読 appears once a human has read it
    say(person, "よろしくお願いします")
    expect(counselor.locator("#transcript")).to_contain_text("よろしくお願いします", timeout=T)
    expect(person.locator("#chat li.me .meta[data-read='1']").last).to_have_text("既読", timeout=T)
    shot(person, "simulator-with-counselor")
    shot(counselor, "console-conversation")

    # close → the person is back with the bot
    counselor.click("#close")
    counselor.select_option("#close-outcome", "listened")
    counselor.click("#close-ok")
    expect(person.locator("#chat")).to_contain_text("いったん終わり", timeout=T)
    expect(person.locator("#quick button", has_text="よかった")).to_be_visible(timeout=T)
    say(person, "メニュー")
    expect(person.locator("#chat")).to_contain_text("はじめのメニューです", timeout=T)
    shot(person, "simulator-back-with-bot")
    html = counselor.content()
    for uid in person.evaluate("() => fetch('/demo/api/people').then(r => r.json()).then(j => j.people)"):
        assert uid not in html


def test_a_crisis_message_jumps_the_queue(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person)
    expect(person.locator("#chat")).to_contain_text("1番目", timeout=T)
    expect(counselor.locator("#queue li")).to_have_count(1, timeout=T)

    new_person(person)                       # someone else, in crisis
    say(person, "もう死にたい")
    expect(person.locator("#chat")).to_contain_text("話してくれて、ありがとうございます", timeout=T)
    expect(person.locator("#chat")).to_contain_text("0120-279-338")
    tap(person, "人と話したい")
    expect(person.locator("#chat")).to_contain_text("1番目", timeout=T)

    expect(counselor.locator("#queue li")).to_have_count(2, timeout=T)
    first = counselor.locator("#queue li").first
    expect(first).to_have_class(re.compile("urgent"))
    expect(first).to_contain_text("急ぎ")
    expect(counselor.locator("#alert")).to_contain_text("急ぎの相談", timeout=T)
    shot(counselor, "console-urgent")
    first.click()
    expect(counselor.locator("#intake-list")).to_contain_text("死にたい・自傷", timeout=T)


def test_a_wrong_password_is_refused(browser, demo):
    page = login(browser, demo, password="not the password")
    expect(page.locator("#login-error")).to_contain_text("違います", timeout=T)
    expect(page).to_have_url(re.compile(r"/console/login"))
    shot(page, "console-login-refused")


def test_a_counselor_hands_a_conversation_to_a_colleague(browser, demo, r):
    from handoff.accounts import Accounts

    Accounts(r).add("ben", "a long enough secret")
    counselor, person = counselor_and_simulator(browser, demo)
    new_person(person)
    ask_for_a_person(person, "相談員")
    counselor.locator("#queue li").first.click()
    counselor.click("#claim")
    expect(counselor.locator("#mine li")).to_have_count(1, timeout=T)
    counselor.click("#transfer")
    expect(counselor.locator("#transfer-dialog")).to_be_visible()
    counselor.select_option("#transfer-to", "ben")
    shot(counselor, "console-transfer")
    counselor.click("#transfer-ok")
    expect(counselor.locator("#others li")).to_contain_text("ben", timeout=T)
    expect(counselor.locator("#mine li")).to_have_count(0)
