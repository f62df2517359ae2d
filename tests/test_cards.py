"""One tap to call: crisis lines, 119, violence routes and the regional centres as LINE Flex cards
with tel: and web buttons; checked against LINE's rules by the stand-in, sent end to end, and
shown by the simulator in a real browser."""
import json
import re

import pytest
import requests
from playwright.sync_api import expect

import messages_ja
from bot.line_client import Messages
from bot.line_standin import _check_flex
from flows import Event, handle

from . import helpers
from .test_browser import T, browser, demo, new_person, say, shot   # noqa: F401 (fixtures)

TEL = re.compile(r"tel:(?:%23)?\+?[0-9]+")


def card_messages():
    cat = messages_ja.catalog()
    return [mid for mid in cat.messages if messages_ja.card_of(mid) is not None]


def buttons(node):
    """Every uri action in a card."""
    if isinstance(node, dict):
        if node.get("type") == "button":
            yield node["action"]
        for value in node.values():
            yield from buttons(value)
    elif isinstance(node, list):
        for value in node:
            yield from buttons(value)


def digits(text: str) -> str:
    return re.sub(r"[^0-9#]", "", text)


def test_the_cards_that_exist():
    ids = set(card_messages())
    assert {"crisis.lines", "crisis.lines_off", "crisis.medical", "crisis.violence", "crisis.violence_partner"} <= ids
    assert "local.pref.13" in ids and "local.pref.02" not in ids     # 青森: no confidence-A contact, no card
    assert sum(m.startswith(("local.pref.", "local.city.")) for m in ids) >= 30


@pytest.mark.parametrize("mid", card_messages())
def test_every_card_keeps_lines_rules_and_its_numbers_are_sourced(mid):
    message = messages_ja.catalog().messages[mid]
    rendered = {"text": message["text"], "card": messages_ja.card_of(mid)}
    flex = Messages([rendered]).body[0]          # through line-bot-sdk v3's models
    assert flex["type"] == "flex" and _check_flex(flex, "messages[0]") is None
    assert len(json.dumps(flex["contents"], ensure_ascii=False).encode()) <= 30_000
    sources = " ".join(message.get("sources", []))
    for action in buttons(flex["contents"]):
        assert 1 <= len(action["label"]) <= 40
        if action["uri"].startswith("tel:"):
            assert TEL.fullmatch(action["uri"])
            number = action["uri"][4:].replace("%23", "#")
            # the altText carries the number, and the message's sources name it
            assert number in digits(flex["altText"]), (mid, number)
            assert number in digits(sources) or number in ("110", "119", "189"), (mid, number)
        else:
            assert action["uri"].startswith(("https://", "http://")) and action["uri"] in message["text"] + sources


def test_a_crisis_answer_starts_warm_and_the_card_follows():
    out = handle(None, Event("text", text="もう死にたい"), 0, ctx={"on_duty": True})
    rendered = messages_ja.render(out.replies[0])
    assert "card" not in rendered[0]                    # 「話してくれて、ありがとうございます」
    uris = [a["uri"] for a in buttons(rendered[1]["card"])]
    assert "tel:0120279338" in uris and "https://talkme.jp/" in uris
    medical = messages_ja.render(handle(None, Event("text", text="薬を全部飲んだ"), 0, ctx={"on_duty": True}).replies[0])
    assert [a["uri"] for a in buttons(medical[0]["card"])] == ["tel:119"]      # one tap to 119, first


@pytest.mark.parametrize("mutate,prop", [
    (lambda m: m.pop("altText"), "altText"),
    (lambda m: m.__setitem__("altText", "x" * 1501), "altText"),
    (lambda m: m["contents"].__setitem__("type", "bubbl"), "contents.type"),
    (lambda m: next(buttons(m["contents"])).__setitem__("uri", "javascript:alert(1)"), "action.uri"),
    (lambda m: next(buttons(m["contents"])).__setitem__("uri", "tel:0120-abc"), "action.uri"),
    (lambda m: next(buttons(m["contents"])).__setitem__("label", "あ" * 41), "action.label"),
])
def test_the_stand_in_refuses_a_malformed_card_as_line_does(standin, mutate, prop):
    flex = json.loads(json.dumps(Messages([{"text": messages_ja.catalog().messages["crisis.lines"]["text"],
                                            "card": messages_ja.card_of("crisis.lines")}]).body[0]))
    mutate(flex)
    res = requests.post(standin.url + "/v2/bot/message/push", json={"to": helpers.new_user_id(), "messages": [flex]},
                        headers={"Authorization": f"Bearer {helpers.ACCESS_TOKEN}"}, timeout=10)
    assert res.status_code == 400
    assert prop in res.json()["details"][0]["property"]


def test_a_crisis_card_reaches_line_end_to_end(post, worker, standin):
    uid = helpers.new_user_id()
    worker()
    post(helpers.text_event(uid, "もう消えたい"))
    got = standin.wait_for(lambda s: s.deliveries(uid))
    messages = got[0]["messages"]
    flex = [m for m in messages if m["type"] == "flex"]
    assert flex and "0120-279-338" in flex[0]["altText"]
    assert "tel:0120279338" in [a["uri"] for a in buttons(flex[0]["contents"])]


def test_the_simulator_shows_a_crisis_card_and_a_centre_card(browser, demo):
    page = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
    page.goto(demo + "/demo/")
    new_person(page)
    say(page, "もう死にたい")
    card = page.locator("#chat .card").first
    expect(card).to_contain_text("今すぐ話せる窓口", timeout=T)
    call = card.locator("a.card-button", has_text="電話する").first
    expect(call).to_have_attribute("href", "tel:0120279338")
    expect(call).to_contain_text("0120279338")          # the number it would dial
    shot(page, "simulator-crisis-card")
    say(page, "東京に住んでいます")
    centre = page.locator("#chat .card", has_text="東京都").last
    expect(centre).to_be_visible(timeout=T)
    expect(centre.locator("a.card-button").first).to_have_attribute("href", re.compile(r"^(tel:|https://)"))
    shot(page, "simulator-centre-card")
