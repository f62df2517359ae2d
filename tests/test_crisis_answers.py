"""Crisis and violence on the language layer: the labelled corpus as a table, answers fitted to
the tier, the writer and the hour, and urgency reaching the counselor's queue from every tier."""
import pytest

import messages_ja
from bot import keys
from flows import Event, crisis, handle
from flows.crisis import detect
from handoff.store import URGENT_TIERS
from tests.corpus import crisis_rows, score_crisis

from . import helpers
from .test_handoff import Console, ask_for_human, person, wait_until   # noqa: F401 (fixture)

ROWS = crisis_rows()
ON = {"on_duty": True, "next_open": "", "queue_position": 1, "wait": "W"}
OFF = {"on_duty": False, "next_open": "NEXT"}


def test_the_corpus_is_big_and_covers_every_tier_writer_and_spelling():
    assert len(ROWS) >= 400
    assert sum(r.label == "none" for r in ROWS) >= 150
    assert {r.label for r in ROWS} == set(crisis.tiers()) | {"none"}
    assert {r.writer for r in ROWS} >= {"self", "parent", "spouse", "sibling"}
    assert {r.state for r in ROWS} >= {"kanji", "hiragana", "katakana", "dialect", "slang", "emoji", "long"}


def test_the_corpus_is_found_without_false_alarms():
    recall, overall, false_alarms, misses = score_crisis(ROWS)
    report = "\n".join(f"{r.label} -> {got}: {r.text[:60]}" for r, got in misses)
    assert recall["high"][0] == 1.0 and recall["medical"][0] == 1.0, report     # explicit and medical: all
    assert overall >= 0.97, report
    assert false_alarms <= 0.03, report


@pytest.mark.parametrize("text", ["自殺したい", "じさつしたい", "自分を殺したい", "自殺しようかな"])
def test_suicide_is_never_the_violence_tier(text):
    assert detect(text).tier == "high"


@pytest.mark.parametrize("text,about", [
    ("娘が消えたいと言っています", "child"), ("夫が自殺をほのめかす", "spouse"), ("息子が薬を大量に飲んで意識がない", "child"),
    ("消えたい", None), ("私がいなければ親も楽になる", None), ("母に毎日「死ね」って言われる", None),
])
def test_who_the_risk_is_about(text, about):
    assert detect(text).about == about


def said(text, ctx, state=None):
    out = handle(state or {"state": "lane_self", "lane": "self"}, Event("text", text=text), 0, ctx=ctx)
    return out, [m for r in out.replies for m in r.say]


@pytest.mark.parametrize("text,ids", [
    ("お薬まとめて飲んじゃった", ["crisis.medical", "crisis.lines", "crisis.offer_human"]),
    ("薬を少しずつ集めてる", ["crisis.thanks", "crisis.urgent", "crisis.lines", "crisis.offer_human"]),
    ("いきてたくない", ["crisis.thanks", "crisis.lines", "crisis.offer_human"]),
    ("私がいなければ親も楽になる", ["crisis.thanks", "crisis.lines", "crisis.offer_human"]),
    ("息子に胸ぐらをつかまれた", ["crisis.thanks", "crisis.violence", "crisis.offer_human"]),
    ("夫に殴られた", ["crisis.thanks", "crisis.violence_partner", "crisis.offer_human"]),
    ("親を殴ってしまいそう", ["crisis.violence_by_me", "crisis.offer_human"]),
    ("娘が消えたいと言っています", ["crisis.family.thanks", "crisis.family.tonight", "crisis.lines", "crisis.family.offer"]),
    ("息子が薬を大量に飲んで意識がありません",
     ["crisis.family.medical", "crisis.family.tonight", "crisis.lines", "crisis.family.offer"]),
])
def test_each_tier_and_writer_gets_its_answer(text, ids):
    out, got = said(text, ON)
    assert got == ids
    assert out.state["crisis"] and out.replies[-1].choices == "crisis"
    rendered = [m["text"] for m in messages_ja.render(out.replies[0])]
    assert len(rendered) <= 5


def test_medical_says_119_first_without_if():
    for text in ("お薬まとめて飲んじゃった", "息子が薬を大量に飲んで意識がありません"):
        out, _ = said(text, ON)
        first = messages_ja.render(out.replies[0])[0]["text"]
        assert first.startswith("今すぐ119") and "もし" not in first


def test_family_violence_routes_and_partner_violence_routes_differ():
    family = "".join(m["text"] for m in messages_ja.render(said("息子が家具を壊して暴れる", ON)[0].replies[0]))
    partner = "".join(m["text"] for m in messages_ja.render(said("彼氏に首を絞められた", ON)[0].replies[0]))
    assert "#9110" in family and "189" in family and "地域包括支援センター" in family and "0120-279-889" not in family
    assert "0120-279-889" in partner and "110" in partner


def test_out_of_hours_a_crisis_answer_offers_no_one_who_is_not_there():
    out, got = said("もう死にたい", OFF)
    assert got == ["crisis.thanks", "crisis.lines_off", "crisis.offer_off"]
    texts = [m["text"] for m in messages_ja.render(out.replies[0])]
    assert texts[1].index("talkme.jp") < texts[1].index("0120-279-338")        # the 24-hour chat first
    assert "NEXT" in texts[2]
    labels = [q["label"] for q in messages_ja.render(out.replies[0])[-1]["quick"]]
    assert labels == ["メッセージを残す", "今はいい"]
    left = handle(out.state, Event("postback", data="t=crisis_human"), 0, ctx=OFF)
    assert left.state["state"] == "message_left" and left.effects[0]["crisis"] == "high"
    assert [m for r in left.replies for m in r.say] == ["handoff.leave_message"]


def test_a_parent_off_hours_gets_the_family_offer():
    _, got = said("娘が消えたいと言っています", OFF)
    assert got[-1] == "crisis.family.offer_off" and "crisis.lines_off" in got


@pytest.mark.parametrize("state", ["waiting", "talking", "paused", "message_left"])
@pytest.mark.parametrize("text,tier", [("今から薬を全部飲む", "urgent"), ("もう消えたい", "medium"), ("息子に蹴られる", "violence_family")])
def test_with_the_humans_every_tier_flags_the_handoff(state, text, tier):
    out, got = said(text, ON, {"state": state, "handoff": "h1"})
    assert out.state["crisis"] == tier and out.state["state"] == state
    assert [e["type"] for e in out.effects] == ["crisis"] and got[-1] == "handoff.crisis_flagged"


def test_every_tier_is_urgent_in_the_queue():
    assert set(crisis.tiers()) <= URGENT_TIERS


def test_stopping_right_after_a_risk_message_is_honoured_with_one_safety_line():
    s, _ = said("消えたい", ON)
    out, got = said("やめる", ON, s.state)
    assert got == ["stop.bye", "crisis.reminder"] and out.state["state"] == "resting"
    waiting = handle({"state": "waiting", "handoff": "h1", "crisis": "high"}, Event("text", text="やめる"), 0, ctx=ON)
    assert [m for r in waiting.replies for m in r.say] == ["handoff.cancelled", "crisis.reminder"]
    assert waiting.effects[0]["type"] == "handoff_cancel"


def test_a_waiting_parent_writing_about_violence_jumps_the_queue(app, accounts, person, worker):
    worker()
    first, second = person(), person()
    ask_for_human(first)
    ask_for_human(second)
    got = second.say_and_wait("息子に胸ぐらをつかまれた")
    assert "#9110" in "".join(helpers.texts_of(got[0]))
    aoi = Console(app, "aoi")
    alias = lambda p: keys.alias(keys.pseudonym(helpers.MADO_KEY, p.uid))   # noqa: E731
    order = wait_until(lambda: (q := aoi.waiting()) and q[0]["alias"] == alias(second) and q)
    assert order[0]["priority"] == "urgent" and order[0]["crisis"] == "violence_family"
