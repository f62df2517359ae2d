"""The rich menu: LINE's rules checked, and `mado richmenu deploy` against the stand-in API."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.richmenu import RichMenuError, check, load, png_size
from flows import Event, handle

from . import helpers

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_menu_follows_lines_rules():
    spec, image = load()
    check(spec, image)
    assert png_size(image) == (2500, 843) and len(image) < 1024 * 1024
    assert [a["label"] for a in spec["areas"]] == ["話を聞いてほしい", "ひきこもりについて", "相談できる場所", "家族の方へ"]


def test_every_area_starts_what_it_says():
    spec, _ = load()
    first = {a["trigger"]: handle({"state": "choosing"}, Event("postback", data="t=" + a["trigger"]), 0)
             for a in spec["areas"]}
    assert first["want_human"].state["state"] == "handoff_confirm"
    assert first["info_about"].replies[0].say == ("info.about.self",)
    assert first["info_support"].replies[0].say == ("info.support",)
    assert first["choose_family"].state["state"] == "lane_family"


@pytest.mark.parametrize("change,words", [
    ({"width": 700}, "800"), ({"height": 2000}, "1.45"), ({"chat_bar_text": "あ" * 15}, "14"),
    ({"areas": [{"label": "x", "trigger": "follow", "lines": []}]}, "not a trigger"),
])
def test_rule_breaking_menus_are_refused_with_a_reason(change, words):
    spec, image = load()
    with pytest.raises(RichMenuError, match=words):
        check({**spec, **change}, image)


def test_deploy_creates_uploads_and_sets_the_default(standin):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "MADO_"))}
    env.update(LINE_CHANNEL_ACCESS_TOKEN=helpers.ACCESS_TOKEN, LINE_API_BASE_URL=standin.url,
               PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "bot.cli", "richmenu", "deploy"], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    got = standin.richmenus()
    menu_id = got["default"]
    assert menu_id and menu_id in run.stdout
    menu = got["menus"][menu_id]
    assert menu["image"] == load()[1]
    req = menu["request"]
    assert req["chatBarText"] == "メニュー" and req["size"] == {"width": 2500, "height": 843}
    assert [a["action"]["data"] for a in req["areas"]] == ["t=want_human", "t=info_about", "t=info_support",
                                                           "t=choose_family"]
    assert sum(a["bounds"]["width"] for a in req["areas"]) == 2500
    # a wrong token is LINE's 401, reported without a traceback
    env["LINE_CHANNEL_ACCESS_TOKEN"] = "wrong"
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "richmenu", "deploy"], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
