"""The conversation as tables (pure: no Redis, no network) and the catalogue's rules."""
import re
import string
from pathlib import Path

import pytest

import messages_ja
from flows import Event, handle
from flows.machine import load_definition, machine
from messages_ja import catalog

ROOT = Path(__file__).resolve().parent.parent
LANES = ["自分のこと", "家族のこと", "その他・まだ分からない"]


def step(state, event):
    out = handle(state, event, now=1000.0)
    ids = [mid for reply in out.replies for mid in reply.say]
    return out, ids


@pytest.mark.parametrize("events,expected_state,expected_ids", [
    ([Event("follow")], "choosing", ["greeting.welcome", "greeting.safety", "greeting.ask_lane"]),
    ([Event("follow"), Event("text", text="自分のこと")], "lane_self", ["lane.self.intro"]),
    ([Event("follow"), Event("text", text="　家族 ")], "lane_family", ["lane.family.intro"]),
    ([Event("follow"), Event("postback", data="t=choose_other")], "lane_other", ["lane.other.intro"]),
    ([Event("follow"), Event("sticker")], "choosing", ["fallback.sticker"]),
    ([Event("follow"), Event("media")], "choosing", ["fallback.media"]),
    ([Event("follow"), Event("location")], "choosing", ["fallback.media"]),
    ([Event("follow"), Event("text", text="こんにちは")], "choosing", ["small.greeting"]),
    ([Event("follow"), Event("text", text="ぴよぴよ")], "choosing", ["fallback.text"]),
    ([Event("text", text="こんにちは")], "new", ["small.greeting"]),
    ([Event("follow"), Event("postback", data="t=follow")], "choosing", ["fallback.text"]),   # not a person's trigger
    ([Event("follow"), Event("postback", data="richmenu-changed-to-b")], "choosing", ["fallback.text"]),
    ([Event("follow"), Event("other")], "choosing", []),    # e.g. unsend: nothing to say
    ([Event("join", in_group=True)], "group", ["group.notice"]),
    ([Event("join", in_group=True), Event("text", text="自分", in_group=True)], "group", []),
])
def test_conversation_table(events, expected_state, expected_ids):
    state = None
    for ev in events:
        out, ids = step(state, ev)
        state = out.state
    assert state["state"] == expected_state
    assert ids == expected_ids


def test_every_answer_offers_the_lanes_and_a_person_again():
    state = handle(None, Event("follow"), 0).state
    for ev in [Event("sticker"), Event("text", text="?")]:
        out = handle(state, ev, 0)
        rendered = messages_ja.render(out.replies[-1])
        assert [q["label"] for q in rendered[-1]["quick"]] == LANES + ["人と話したい"]
        state = out.state


def test_unfollow_asks_to_forget():
    out = handle({"state": "lane_self"}, Event("unfollow"), 0)
    assert [e["type"] for e in out.effects] == ["forget"]


def test_unknown_stored_state_restarts_gently():
    out, ids = step({"state": "removed_in_v0"}, Event("text", text="自分"))
    assert out.state["state"] == "lane_self"


def test_machine_is_built_once():
    assert machine() is machine()


# -- the catalogue ------------------------------------------------------------------------------
def _args_of(trigger: str) -> list[str]:
    """The arguments a trigger may carry: region keys and prefecture codes (from places.toml),
    designated cities, the understood intents' arguments (understanding.toml), the fallback's
    wordings."""
    from flows.machine import FALLBACK_OFFER, FALLBACK_PLAIN
    from flows.understanding import lexicon

    places = catalog().places
    if trigger in ("answer", "small", "window", "window_calm"):
        from flows.machine import WINDOW_ARGS
        return [spec["arg"] for spec in lexicon().intents.values() if spec["trigger"] == trigger] \
            + list(WINDOW_ARGS.get(trigger, ()))
    if trigger == "city":
        return [m.rsplit(".", 1)[1] for m in catalog().messages if m.startswith("local.city.")]
    if trigger == "fallback":
        return [*FALLBACK_PLAIN, "long", *FALLBACK_OFFER]
    if trigger == "ask_harm":
        from flows.understanding import _ASK_KINDS
        return sorted(set(_ASK_KINDS.values()))
    return {"region": list(places["regions"]), "pref": list(places["prefs"])}.get(trigger, [""])


def _expand(ids, trigger):
    found = {i.replace("{arg}", a) for i in ids for a in _args_of(trigger)}
    return found | {f"{i}.family" for i in found if f"{i}.family" in catalog().messages}


def used_message_ids():
    from flows.machine import ANSWERED_TOO, ROUTE_SAID, ROUTE_SAID_PREFIX, STILL_MEDICAL, WAIT_IF_NOW, WELCOME_BACK

    from flows import crisis

    d = load_definition()
    return ({m for t in d["transitions"] for m in _expand(t.get("say", []), t["trigger"])}
            | {WELCOME_BACK, STILL_MEDICAL, ANSWERED_TOO, WAIT_IF_NOW} | {s["reask"] for s in d["states"] if s.get("reask")}
            | set(d["context"]["reminders"].values())
            | crisis.all_answer_ids() | {ROUTE_SAID_PREFIX + why for why in ROUTE_SAID})


def used_choice_ids():
    d = load_definition()
    ids = set()
    for t in d["transitions"]:
        if t.get("choices", "").startswith("guess:"):
            ids.add("guess")            # the second opinion's guesses, two of its items at a time
        elif t.get("choices") and t["choices"] not in ("@dest", "@fallback", "@crisis"):
            ids |= _expand([t["choices"]], t["trigger"])
    return (ids | {"crisis", "crisis_off"} | {s["menu"] for s in d["states"] if s.get("menu")}
            | {s["fallback_menu"] for s in d["states"] if s.get("fallback_menu")})


def test_every_message_id_used_exists_and_every_one_is_used():
    assert used_message_ids() <= set(catalog().messages)
    assert set(catalog().messages) <= used_message_ids()
    assert used_choice_ids() == set(catalog().choices)


def test_every_ui_string_is_used():
    sources = "".join(p.read_text() for p in (ROOT / "bot").glob("*.py"))
    for key in catalog().ui:
        assert f'"{key}"' in sources or f"'{key}'" in sources, key


def test_placeholders_and_limits():
    from flows import crisis

    from flows.machine import ROUTE_SAID, ROUTE_SAID_PREFIX, WAIT_IF_NOW

    filled = {mid: {"next_open"} for mid in crisis.all_answer_ids()}     # a crisis answer fills next_open
    filled.update({ROUTE_SAID_PREFIX + why: {"team_open"} for why in ROUTE_SAID})   # who answers (teams)
    filled[WAIT_IF_NOW] = {"queue_position", "wait"}           # where they would stand (the wait asked with the request)
    for t in load_definition()["transitions"]:
        for mid in t.get("say", []):
            filled.setdefault(mid, set()).update(t.get("params", ()))
    for mid, m in catalog().messages.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(m["text"]) if f}
        assert fields <= filled.get(mid, set()), f"{mid} has placeholders no flow fills: {fields}"
        assert len(m["text"].encode("utf-16-le")) // 2 <= 5000
    for cid, c in catalog().choices.items():
        # (the second opinion's guesses are offered two at a time, with a person: 3 quick replies)
        assert 1 <= len(c["items"]) <= 13 or cid == "guess"
        assert len(messages_ja.quick_items(cid if cid != "guess" else "guess:q_cost+q_work")) <= 13
        for it in c["items"]:
            assert 1 <= len(it["label"]) <= 20
    for t in load_definition()["transitions"]:
        assert len(t.get("say", [])) <= 5


PHONE = re.compile(r"(?<![\d-])(?:0\d{1,4}-\d{1,4}-\d{3,4}|#\d{4}|1[18]9|110)(?![\d-])")


def test_every_phone_number_shipped_is_named_in_its_own_sources():
    checked = 0
    for mid, m in catalog().messages.items():
        numbers = PHONE.findall(m["text"])
        if numbers or "http" in m["text"]:
            assert m.get("sources"), f"{mid} states a number or URL without a source"
        joined = " ".join(m.get("sources", []))
        for n in numbers:
            checked += 1
            assert n in joined, f"{mid}: {n} is shown but no source names it"
    assert checked > 25     # the crisis lines and every sourced centre are checked


def test_only_confidence_a_centres_show_a_phone_number():
    shown = [c for cs in catalog().centres.values() for c in cs if c["phone"]]
    assert shown and all(c["confidence"] == "A" and c["source_url"].startswith("http") for c in shown)
    # and a number from a weaker row never reaches a person (青森県: C, from a 2016 repost)
    assert "017-787-3953" not in catalog().messages["local.pref.02"]["text"]


def test_tone_no_pressure_words():
    words = catalog().tone["avoid"]
    assert "頑張って" in words and "働け" in words
    for mid, m in catalog().messages.items():
        for word in words:
            assert word not in m["text"], f"{mid} contains {word}"
    for c in catalog().choices.values():
        for it in c["items"]:
            assert not any(w in it["label"] for w in words)


def test_no_japanese_in_python_outside_messages_ja():
    jp = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    offenders = []
    for pkg in ("bot", "flows", "handoff", "benchmarks"):
        for path in (ROOT / pkg).rglob("*.py"):
            if jp.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_flows_is_pure():
    for path in (ROOT / "flows").rglob("*.py"):
        text = path.read_text()
        for banned in ("import redis", "import flask", "linebot", "requests", "urllib", "socket"):
            assert banned not in text, f"{path.name} imports {banned}"
