"""Both lanes as tables, the local-help finder for all 47 prefectures, and the generated files
(centres.toml from the sourced CSV, the machine diagram) being current. Pure: no Redis."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import messages_ja
from flows import Event, handle
from messages_ja import catalog

ROOT = Path(__file__).resolve().parent.parent
T = lambda text: Event("text", text=text)            # noqa: E731
P = lambda trigger: Event("postback", data="t=" + trigger)   # noqa: E731


def walk(events, state=None):
    rows = []
    for ev in events:
        out = handle(state, ev, now=1000.0, ctx={"on_duty": True})
        state = out.state
        rows.append((out.state_to, [m for r in out.replies for m in r.say],
                     [q["label"] for r in out.replies[-1:] for q in messages_ja.render(r)[-1].get("quick", [])]))
    return state, rows


SELF_LANE = [
    (Event("follow"), "choosing", ["greeting.welcome", "greeting.safety", "greeting.ask_lane"]),
    (P("choose_self"), "lane_self", ["lane.self.intro"]),
    (P("info_about"), "lane_self", ["info.about.self"]),
    (P("more"), "lane_self", ["info.about.more"]),
    (P("back"), "lane_self", ["lane.menu"]),
    (T("相談できる場所"), "lane_self", ["info.support"]),
    (P("support_more"), "lane_self", ["info.support.more"]),
    (P("find_local"), "lane_self", ["local.ask_region"]),
    (P("region:kinki"), "lane_self", ["local.ask_pref.kinki"]),
    (P("pref:26"), "lane_self", ["local.pref.26", "local.national"]),
    (T("人と話したい"), "handoff_confirm", ["handoff.confirm"]),
]

FAMILY_LANE = [
    (Event("follow"), "choosing", ["greeting.welcome", "greeting.safety", "greeting.ask_lane"]),
    (T("家族のこと"), "lane_family", ["lane.family.intro"]),
    (T("ひきこもりって？"), "lane_family", ["info.about.family"]),
    (P("back"), "lane_family", ["lane.menu"]),
    (P("family_guide"), "lane_family", ["family.guide"]),
    (T("もっと知る"), "lane_family", ["family.guide.more"]),
    (P("family_violence"), "lane_family", ["family.violence"]),
    (P("family_8050"), "lane_family", ["family.8050"]),
    (T("近くの窓口"), "lane_family", ["local.ask_region"]),
    (T("とうきょう"), "lane_family", ["local.pref.13", "local.national"]),
    (Event("sticker"), "lane_family", ["fallback.sticker"]),
    (T("自分のこと"), "lane_self", ["lane.self.intro"]),         # the lane can change at any time
    (T("ひきこもりって？"), "lane_self", ["info.about.self"]),
]


@pytest.mark.parametrize("table", [SELF_LANE, FAMILY_LANE], ids=["self", "family"])
def test_lane_walk(table):
    _, rows = walk([ev for ev, _, _ in table])
    assert [(s, ids) for s, ids, _ in rows] == [(s, ids) for _, s, ids in table]


def test_each_lane_has_its_own_menu_ending_with_a_person_and_the_start():
    menus = {}
    for lane in ("choose_self", "choose_family", "choose_other"):
        _, rows = walk([Event("follow"), P(lane)])
        menus[lane] = rows[-1][2]
        assert "人と話したい" in menus[lane] and "はじめのメニュー" in menus[lane]
    assert "暴力があるとき" in menus["choose_family"] and "暴力があるとき" not in menus["choose_self"]
    assert len({tuple(m) for m in menus.values()}) == 3


def test_every_information_page_ends_with_gentle_next_choices():
    _, rows = walk([Event("follow"), P("choose_family"), P("info_about"), P("more"), P("info_support"),
                    P("support_more"), P("family_guide"), P("family_violence"), P("family_8050")])
    for _, ids, quick in rows[2:]:
        assert "戻る" in quick and "人と話したい" in quick, ids


def test_family_pages_say_safety_first_and_name_8050_help():
    text = lambda mid: catalog().messages[mid]["text"]   # noqa: E731
    assert "110" in text("family.violence") and "安全" in text("family.violence")
    assert "地域包括支援センター" in text("family.8050")
    assert "安全" in text("family.guide.more")


def test_topics_and_prefecture_are_remembered_for_the_intake():
    state, _ = walk([Event("follow"), P("choose_family"), P("family_guide"), T("大阪府")])
    assert state["lane"] == "family" and state["pref"] == "27"
    assert state["topics"] == ["family", "local"]


def test_without_a_lane_pages_are_shown_in_the_not_sure_lane_and_back_goes_to_the_start():
    _, rows = walk([Event("follow"), T("ひきこもりって？"), P("back")])
    assert rows[1][0] == "lane_other"
    state, rows = walk([Event("follow"), P("back")])
    assert rows[1][0] == "choosing" and rows[1][2][0] == "自分のこと"


def test_more_without_a_page_gives_the_supports_details_not_a_fallback():
    # (what new writers mean by a bare "tell me more": every independent set labelled it so;
    # after the support page it is that page's details too)
    _, rows = walk([Event("follow"), P("choose_self"), T("もっと知る")])
    assert rows[-1][1] == ["info.support.more"]


# -- the finder: every prefecture, by button and typed in the ways people write it ----------
PREFS = catalog().places["prefs"]


@pytest.mark.parametrize("code", sorted(PREFS))
def test_every_prefecture_is_found_by_name_short_name_and_kana(code):
    pref = PREFS[code]
    for word in {pref["name"], pref["short"], *pref["kana"]}:
        _, rows = walk([Event("follow"), T(word)])
        assert rows[-1][1] == [f"local.pref.{code}", "local.national"], word
    text = catalog().messages[f"local.pref.{code}"]["text"]
    assert pref["name"] in text


def test_every_prefecture_is_reachable_through_region_buttons_within_lines_limits():
    reached = set()
    _, rows = walk([Event("follow"), P("find_local")])
    regions = catalog().choices["regions"]["items"]
    assert len(regions) <= 13
    for item in regions:
        if item["trigger"] == "back":
            continue
        _, rows = walk([P(item["trigger"])])
        buttons = catalog().choices[f"region.{item['trigger'].split(':')[1]}"]["items"]
        assert len(buttons) <= 13
        for b in buttons:
            if b["trigger"].startswith("pref:"):
                _, rows = walk([P(b["trigger"])])
                assert rows[-1][1][0] == "local.pref." + b["trigger"][5:]
                reached.add(b["trigger"][5:])
    assert reached == set(PREFS) and len(PREFS) == 47


def test_a_forged_postback_argument_is_not_trusted():
    for data in ("pref:99", "pref:", "region:atlantis", "pref:13:x"):
        _, rows = walk([Event("follow"), P(data)])
        assert rows[-1][1] == ["fallback.text"], data


def test_a_prefecture_without_a_sourced_centre_points_to_the_national_list():
    # 富山県 has no sourced centre in the data: say so honestly, give the national list.
    _, rows = walk([Event("follow"), T("富山")])
    assert rows[-1][1] == ["local.pref.16", "local.national"]
    assert catalog().messages["local.pref.16"]["text"].startswith("富山県の窓口の情報は")
    assert "hikikomori-voice-station.mhlw.go.jp" in catalog().messages["local.national"]["text"]


def test_designated_city_centres_are_listed_under_their_prefecture():
    text = catalog().messages["local.pref.40"]["text"]     # 福岡県: 北九州市, 福岡市 too
    assert "北九州市" in text and "福岡市" in text


# -- generated files are current --------------------------------------------------------------
SHARED_CSV = ROOT.parent / "shared" / "data" / "hikikomori_centers.csv"


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="the shared data folder is not beside this checkout")
def test_centres_toml_is_generated_from_the_sourced_csv():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_centres
    finally:
        sys.path.pop(0)
    assert build_centres.build(SHARED_CSV) == (ROOT / "messages_ja" / "centres.toml").read_text("utf-8")


def test_machine_diagram_is_current():
    from flows.diagram import mermaid

    committed = (ROOT / "flows" / "conversation.md").read_text("utf-8")
    assert mermaid() in committed, "run: python -m flows.diagram > flows/conversation.md"


def test_diagram_command_prints_the_committed_file():
    out = subprocess.run([sys.executable, "-m", "flows.diagram"], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout == (ROOT / "flows" / "conversation.md").read_text("utf-8")


def test_the_municipality_named_is_kept_for_the_team_that_serves_it():
    # a team may serve one town (handoff/teams.py): the conversation keeps the municipality or ward
    # named, and forgets it when only a prefecture or a designated city is named later
    from flows import Event, handle

    ctx = {"on_duty": True, "next_open": "N"}
    state = handle(None, Event("follow"), 1000.0, ctx=ctx).state
    out = handle(state, Event("text", text="四万十市に住んでます"), 1001.0, ctx=ctx)
    assert (out.state.get("pref"), out.state.get("muni")) == ("39", "39210")
    out = handle(out.state, Event("text", text="横浜市港北区です"), 1002.0, ctx=ctx)
    assert (out.state.get("city"), out.state.get("muni")) == ("14100", "14109")
    out = handle(out.state, Event("text", text="高知県です"), 1003.0, ctx=ctx)
    assert out.state.get("pref") == "39" and "muni" not in out.state and "city" not in out.state
