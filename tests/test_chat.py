"""`mado chat`, as a person would use it: a real process, typed lines on standard input."""
import subprocess
import sys

from .conftest import ROOT


def run_chat(lines: str, env_extra=None):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "MADO_", "SENTRY_")) and k != "REDIS_URL"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", "chat"], input=lines, capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env)


def test_chat_on_the_embedded_default():
    res = run_chat("1\n/スタンプ\nこんにちは\nぴよぴよ\n相談って無料？\n/おわり\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "はじめまして" in out and "0120-279-338" in out
    assert "[1] 自分のこと  [2] 家族のこと  [3] その他" in out
    assert "ご自身のことですね" in out
    assert "スタンプありがとうございます" in out
    assert "メッセージをくれて、ありがとうございます" in out            # a greeting is greeted
    assert "うまくお答えできなかったかもしれません" in out             # what is not understood is said gently
    assert "無料" in out.split("相談って無料？")[-1]                    # a question typed is answered
    assert "返事が届きませんでした" not in out


def test_chat_on_a_real_redis(redis_server, r):
    # `r`: an emptied Redis. What earlier tests left there (accounts, workers' heartbeats and
    # leases) is another deployment's, and `mado chat` would refuse it (tests/test_local_tools.py).
    res = run_chat("2\n", {"REDIS_URL": redis_server.url})
    assert res.returncode == 0, res.stderr
    assert "ご家族のことですね" in res.stdout


def test_chat_shows_a_cards_text_and_what_its_buttons_do():
    """Issue 22, defect 13: the first Flex card (every crisis answer, every centre card) ended
    `mado chat` with KeyError: 'text'. A card is shown as its text and its buttons."""
    res = run_chat("もう死にたい\n東京\n/おわり\n")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    _greeting, crisis, centre, _end = res.stdout.split("あなた> ")     # the answer to each line typed
    assert "0120-279-338" in crisis                                # the crisis answer's text
    assert "よりそいホットライン" in crisis
    assert "電話する → tel:0120279338" in crisis                     # its buttons, and what they do
    assert "チャットを開く → https://talkme.jp/" in crisis
    assert "東京都ひきこもりサポートネット" in centre                   # the centre card's text
    assert "0120-529-528" in centre
    assert "電話する → tel:0120529528" in centre
    assert "ウェブで見る → https://www.hikikomori-tokyo.jp/" in centre
