"""What a person wrote before asking for a person reaches the counselor's screen only with their
consent (issue 16, item 5); the bot's own safety answers always do. Real `mado demo`, Debian's
chromium."""
from playwright.sync_api import expect

from .test_browser import T, ask_for_a_person, browser, counselor_and_simulator, demo, new_person, say, shot  # noqa: F401

MOTHER = "娘が高校をやめてから3年、部屋から出てきません。どうしたらいいのか分からなくて"


def open_first_waiting(counselor):
    item = counselor.locator("#queue li").first
    expect(item).to_contain_text("相談者", timeout=T)
    item.click()
    return counselor.locator("#transcript")


def test_the_counselor_sees_what_came_before_only_with_consent(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo, viewport={"width": 1100, "height": 800})
    new_person(person)
    say(person, MOTHER)
    expect(person.locator("#chat")).to_contain_text("ご家族", timeout=T)           # answered as a family member
    say(person, "人と話したい")
    expect(person.locator("#chat")).to_contain_text("見せてもいいですか", timeout=T)
    person.locator("#quick button", has_text="つなぐ・これまでは見せない").click()
    expect(person.locator("#chat")).to_contain_text("番目", timeout=T)
    say(person, "よろしくお願いします")
    transcript = open_first_waiting(counselor)
    expect(transcript).to_contain_text("よろしくお願いします", timeout=T)
    expect(transcript).not_to_contain_text("高校をやめてから")                  # nothing of theirs from before

    # another person agrees: their words are there, marked as coming before the handoff
    new_person(person)
    say(person, MOTHER)
    expect(person.locator("#chat")).to_contain_text("ご家族", timeout=T)
    ask_for_a_person(person, share=True)
    expect(counselor.locator("#queue li")).to_have_count(2, timeout=T)
    counselor.locator("#queue li").last.click()          # the newer one: oldest waits first
    transcript = counselor.locator("#transcript")
    expect(transcript).to_contain_text("高校をやめてから", timeout=T)
    expect(transcript).to_contain_text("ご本人が表示に同意")
    shot(counselor, "console-context-with-consent")


def test_a_crisis_answer_is_always_shown_as_a_system_line(browser, demo):
    counselor, person = counselor_and_simulator(browser, demo, viewport={"width": 1100, "height": 800})
    new_person(person)
    say(person, "もう死にたい")
    expect(person.locator("#chat .card")).to_contain_text("今すぐ話せる窓口", timeout=T)
    person.locator("#quick button", has_text="人と話したい").click()
    expect(person.locator("#chat")).to_contain_text("番目", timeout=T)
    transcript = open_first_waiting(counselor)
    expect(transcript).to_contain_text("24時間の窓口", timeout=T)
    expect(transcript).not_to_contain_text("もう死にたい")
