"""Crisis answers from every state, the detector's phenomena, and the global words (pure flows)."""
import pytest

import messages_ja
from flows import Event, handle
from flows.crisis import detect
from flows.machine import load_definition

STATES = [s["name"] for s in load_definition()["states"] if s["name"] != "group"]

POSITIVE = [
    ("死にたい", "high"), ("しにたい", "high"), ("シニタイ", "high"), ("ｼﾆﾀｲ", "high"), ("死 に た い", "high"),
    ("死.に.た.ぁ.い", "high"), ("タヒにたい", "high"), ("死にたーい", "high"), ("😢死🙏に✨たい", "high"),
    ("もう死にたいいいい", "high"), ("自殺しようかな", "high"), ("生きていたくない", "high"),
    ("リスカしてしまった", "high"), ("消えたい", "medium"), ("いなくなりたい", "medium"),
    ("生きるのがしんどい", "medium"), ("楽になりたい", "medium"), ("ロープを買った", "urgent"),
    ("薬を全部飲むつもり", "urgent"), ("遺書を書いた", "urgent"), ("今までありがとう", "urgent"),
    ("一緒に死んでくれる人いませんか", "urgent"), ("さっきODした", "medical"), ("ＯＤした", "medical"),
    ("血が止まらない", "medical"), ("父に殴られる", "violence"), ("親を殴ってしまう", "violence"),
    ("息子が死にたいと言っています", "high"),
]
NEGATIVE = ["死ぬほど眠い", "笑い死ぬ", "ゲームで死んだ", "部活きつくてタヒる", "恥ずかしくて消えたい",
            "死にそうなくらい暑い", "good mood", "おはようございます", "家族のこと", "さようなら", "この前ODの記事を読んだ人がいて"]


@pytest.mark.parametrize("text,tier", POSITIVE)
def test_detects(text, tier):
    assert detect(text).tier == tier


@pytest.mark.parametrize("text", NEGATIVE[:-1])
def test_hyperbole_and_ordinary_words_do_not_trigger(text):
    assert detect(text).tier is None


def test_family_member_reporting_is_marked():
    assert detect("息子が死にたいと言っています").about_other


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("text,first_ids", [
    ("死にたい", ["crisis.thanks", "crisis.lines", "crisis.offer_human"]),
    ("さっき薬をたくさん飲んだ", ["crisis.thanks", "crisis.emergency", "crisis.lines", "crisis.offer_human"]),
    ("母に殴られて家にいるのが怖い", ["crisis.thanks", "crisis.violence", "crisis.lines", "crisis.offer_human"]),
])
def test_crisis_answer_from_every_state(state, text, first_ids):
    out = handle({"state": state, "last_seen": 0}, Event("text", text=text), now=10 ** 6)
    assert [m for r in out.replies for m in r.say] == first_ids     # nothing else first, no welcome-back
    assert out.state["state"] == state                               # the person stays where they were
    assert out.state["crisis"]
    rendered = messages_ja.render(out.replies[0])
    assert len(rendered) <= 5
    joined = "".join(m["text"] for m in rendered)
    assert "0120-279-338" in joined and "talkme.jp" in joined        # a free 24h line and a text option
    assert [q["label"] for q in rendered[-1]["quick"]] == ["人と話したい", "今はいい"]


def test_overdose_puts_119_first():
    out = handle(None, Event("text", text="ODした"), 0)
    texts = [m["text"] for m in messages_ja.render(out.replies[0])]
    assert "119" in texts[1] and texts.index(texts[1]) < texts.index(texts[2])


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("word,dest,first", [
    ("メニュー", "choosing", "menu.main"), ("はじめから", "choosing", "menu.main"),
    ("人と話したい", "handoff_confirm", "handoff.confirm"), ("相談員", "handoff_confirm", "handoff.confirm"),
    ("やめる", "resting", "stop.bye"), ("終わり", "resting", "stop.bye"),
    ("記録を消して", "forget_confirm", "forget.confirm"),
])
def test_global_words_from_every_state(state, word, dest, first):
    out = handle({"state": state}, Event("text", text=word), 0)
    assert out.state["state"] == dest
    assert out.replies[0].say[0] == first


def test_handoff_confirmation_then_yes_asks_for_a_handoff_marked_with_the_crisis():
    s = handle(None, Event("text", text="死にたい"), 0).state
    s = handle(s, Event("postback", data="t=want_human"), 0).state
    out = handle(s, Event("text", text="はい"), 0)
    assert out.effects == [{"type": "handoff_request", "crisis": "high"}]


def test_forget_needs_confirmation():
    s = handle({"state": "lane_self"}, Event("text", text="記録を消して"), 0).state
    no = handle(s, Event("postback", data="t=forget_no"), 0)
    assert no.effects == [] and no.state["state"] == "choosing"
    yes = handle(s, Event("postback", data="t=forget_yes"), 0)
    assert yes.effects[0]["type"] == "forget"
    assert handle({"state": "lane_self"}, Event("postback", data="t=forget_yes"), 0).effects == []


def test_welcome_back_after_long_silence_keeps_the_lane():
    out = handle({"state": "lane_family", "last_seen": 0}, Event("sticker"), now=25 * 3600)
    assert out.replies[0].say == ("welcome.back",)
    assert out.state["state"] == "lane_family"
    assert handle({"state": "lane_family", "last_seen": 0}, Event("sticker"), now=3600).replies[0].say != ("welcome.back",)
