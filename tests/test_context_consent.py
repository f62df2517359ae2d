"""What a person wrote before asking for a person reaches the counselor only with their consent;
the bot's own safety answers always do, as system lines. Real worker, real Redis."""
from bot import keys

from . import helpers
from .test_handoff import Console, person, wait_until   # noqa: F401 (fixture)

MOTHER = "娘が高校をやめてから3年、部屋から出てきません。どうしたらいいのか分からなくて"


def start(p, *said):
    """Someone adds the account and writes, one message after the other."""
    p.send(follow=True)
    p.wait_count(1)
    return [p.say_and_wait(text) for text in said]


def handoff_of(app, p):
    aoi = Console(app, "aoi")
    alias = keys.alias(keys.pseudonym(helpers.MADO_KEY, p.uid))
    h = wait_until(lambda: next((h for h in aoi.waiting() if h["alias"] == alias), None))
    return aoi, h


def test_with_consent_the_counselor_sees_what_came_before(app, accounts, person, worker, r):
    worker()
    p = person()
    _, got = start(p, MOTHER, "人と話したい")
    assert "見せてもいいですか" in "".join(helpers.texts_of(got[0]))
    assert helpers.quick_labels(got[0])[:2] == ["つなぐ・書いたことも見せる", "つなぐ・これまでは見せない"]
    p.say_and_wait(postback="handoff_yes:share")
    aoi, h = handoff_of(app, p)
    messages = wait_until(lambda: aoi.detail(h["id"])["messages"])
    texts = [m["text"] for m in messages]
    assert [m["text"] for m in messages if m["from"] == "user"][0] == MOTHER
    assert any(m["from"] == "bot" and m["text"].startswith("（自動案内）") for m in messages)
    assert "ご本人が表示に同意" in texts[-1]
    assert aoi.detail(h["id"])["unread"] == 0           # the copy is context, not new messages
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    assert not r.exists(keys.user(pid, "recent"))       # copied once, then gone


def test_without_consent_only_the_safety_answers_are_shown(app, accounts, person, worker, r):
    worker()
    p = person()
    start(p, "もう死にたい")
    got = p.say_and_wait(postback="crisis_human")         # a crisis offer needs no second question
    assert "番目" in "".join(helpers.texts_of(got[0]))
    aoi, h = handoff_of(app, p)
    messages = wait_until(lambda: aoi.detail(h["id"])["messages"])
    texts = " ".join(m["text"] for m in messages)
    assert "もう死にたい" not in texts                     # the person's words: not without consent
    assert "24時間の窓口" in texts and all(m["from"] == "bot" for m in messages)
    assert "同意がないため" in messages[-1]["text"]


def test_declining_to_show_shows_nothing_of_theirs(app, accounts, person, worker, r):
    worker()
    p = person()
    start(p, MOTHER, "人と話したい")
    p.say_and_wait(postback="handoff_yes")
    aoi, h = handoff_of(app, p)
    p.say_and_wait("よろしくお願いします")
    messages = wait_until(lambda: aoi.detail(h["id"])["messages"])
    # nothing from before, no trace of it (only the bot's answer to this message, in its words)
    assert [m["text"] for m in messages if m["kind"] != "said"] == ["よろしくお願いします"]
    assert [m["from"] for m in messages] in (["user"], ["user", "bot"])
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    assert not r.exists(keys.user(pid, "recent"))


def test_what_was_written_is_kept_at_most_an_hour_and_forgotten_on_request(app, accounts, person, worker, r):
    worker()
    p = person()
    start(p, "相談って無料？")
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    assert 0 < r.ttl(keys.user(pid, "recent")) <= 3600
    p.say_and_wait("記録を消して")
    p.say_and_wait(postback="forget_yes")
    assert wait_until(lambda: not r.exists(keys.user(pid, "recent")))
