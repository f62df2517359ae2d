"""Hostile input, generated (hypothesis): random bytes, wrong types, unknown event types, deep
JSON, emoji/ZWJ/combining marks, 5,000-character texts. No 500, no crash, no hang, and nothing
enqueued from a forged request."""
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.events import to_flow_event
from flows import Event, handle
from flows.crisis import detect, normalise, tiers
from flows.language import analyse

from . import helpers

SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
EVENT_TYPES = ["message", "postback", "follow", "unfollow", "join", "leave", "beacon", "unsend",
               "memberJoined", "videoPlayComplete", "accountLink", "things", "membership", "mado.console", "?"]
events = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENT_TYPES) | st.text(max_size=10)},
    optional={
        "source": st.one_of(json_values, st.fixed_dictionaries(
            {"type": st.sampled_from(["user", "group", "room", "x"])},
            optional={"userId": st.text(max_size=40) | st.integers(), "groupId": st.text(max_size=40)})),
        "message": st.one_of(json_values, st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "sticker", "image", "video", "audio", "file", "location", "x"])},
            optional={"text": st.text(max_size=200) | st.integers() | st.none(), "id": json_values})),
        "postback": st.one_of(json_values, st.fixed_dictionaries({"data": st.text(max_size=80) | json_values})),
        "replyToken": st.text(max_size=40) | st.integers() | st.none(),
        "webhookEventId": st.text(max_size=70) | st.integers(),
        "mode": st.sampled_from(["active", "standby"]) | json_values,
        "timestamp": json_values,
    },
)


def stream_total(r):
    return sum(r.xlen(f"mado:{{ev:{i}}}") for i in range(4))


@SETTINGS
@given(body=st.binary(max_size=2000))
def test_random_bytes_with_a_valid_signature_never_500(client, r, body):
    res = client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    assert res.status_code in (200, 400), res.status_code
    assert res.get_json() is not None


@SETTINGS
@given(body=st.binary(max_size=2000),
       sig=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=60))
def test_forged_requests_never_enqueue_anything(client, r, body, sig):
    if helpers.sign(body) == sig:
        return
    before = stream_total(r)
    res = client.post("/callback", data=body, headers={"X-Line-Signature": sig})
    assert res.status_code == 400
    assert stream_total(r) == before


@SETTINGS
@given(evs=st.lists(events, max_size=5), extra=json_values)
def test_wrongly_typed_and_unknown_events_get_an_answer_and_never_break_the_conversation(client, r, evs, extra):
    body = json.dumps({"destination": "U" + "0" * 32, "events": evs, "x": extra}, ensure_ascii=False).encode()
    res = client.post("/callback", data=body, headers={"X-Line-Signature": helpers.sign(body)})
    assert res.status_code in (200, 400)
    if res.status_code == 200:
        for ev in evs:           # what the worker would do with each: never an exception
            out = handle(None, to_flow_event(ev), 0.0)
            assert out.state["state"]


def test_deep_and_huge_bodies(client, r):
    deep = b"[" * 100_000 + b"]" * 100_000
    res = client.post("/callback", data=deep, headers={"X-Line-Signature": helpers.sign(deep)})
    assert res.status_code in (400, 413)
    nested = ("{\"events\": [" + "{\"a\":" * 5000 + "1" + "}" * 5000 + "]}").encode()
    res = client.post("/callback", data=nested, headers={"X-Line-Signature": helpers.sign(nested)})
    assert res.status_code == 400
    huge = b"{" + b" " * (2 << 20) + b"}"
    res = client.post("/callback", data=huge, headers={"X-Line-Signature": helpers.sign(huge)})
    assert res.status_code == 413
    assert stream_total(r) == 0


# -- the text normaliser and the crisis detector --------------------------------------------
ODD = st.sampled_from(["\u200d", "\u200b", "\ufe0f", "\u0301", "\u3000", " ", "・", "…", "🙏", "✨", "ー", "～", "💦", "\u2060"])


@SETTINGS
@given(text=st.text(max_size=5000))
def test_any_text_up_to_5000_characters_is_handled_quickly(text):
    started = time.process_time()      # CPU time: no pathological matching, busy machine or not
    found = detect(text)
    assert found.tier is None or found.tier in tiers()
    out = handle({"state": "lane_self"}, Event("text", text=text), 0.0)
    assert out.replies or out.trigger
    assert time.process_time() - started < 1.0


@SETTINGS
@given(phrase=st.sampled_from(["死にたい", "消えたい", "自殺したい", "リスカした", "ODした"]),
       noise=st.lists(ODD, min_size=1, max_size=8), data=st.data())
def test_a_wish_to_die_is_found_through_any_disguise(phrase, noise, data):
    chars = list(phrase)
    for n in noise:                               # insert the noise at random places inside
        chars.insert(data.draw(st.integers(0, len(chars))), n)
    disguised = "".join(chars)
    assert detect(disguised).tier is not None, repr(disguised)


@SETTINGS
@given(prefix=st.text(max_size=50), suffix=st.text(max_size=50))
def test_a_signal_is_found_anywhere_in_a_long_message(prefix, suffix):
    text = prefix + "もう死にたい" + suffix
    if detect(prefix).tier or detect(suffix).tier:
        return
    if analyse(text).laughing:
        # a laughing mark at the end (w, 笑, 草) is crisis.toml's laughing_drops rule, with its own
        # corpus rows: not what this property is about (CI once drew suffix="w")
        return
    assert detect(text).tier is not None or "死ぬほど" in normalise(text) or "死にそう" in normalise(text)


@pytest.mark.parametrize("text", ["👨‍👩‍👧‍👦" * 700, "é" * 5000, "あ" * 5000, "\u0301" * 5000, "🏳️‍🌈" * 1000])
def test_emoji_zwj_and_combining_floods(text):
    started = time.process_time()      # CPU time, as above
    detect(text)
    handle(None, Event("text", text=text), 0.0)
    assert time.process_time() - started < 1.0
