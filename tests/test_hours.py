"""MADO_HOURS and MADO_CLOSED_DATES (pure), and how the next opening is said in Japanese."""
from datetime import datetime

import pytest

import messages_ja
from bot.config import Config, ConfigError
from handoff.hours import TOKYO, HoursError, parse

SCHEDULE = "mon-fri 10:00-17:00, sat 13:00-17:00"


def at(*args):
    return datetime(*args, tzinfo=TOKYO)


@pytest.mark.parametrize("when,open_", [
    (at(2026, 11, 23, 9, 59), False), (at(2026, 11, 23, 10, 0), True), (at(2026, 11, 23, 16, 59), True),
    (at(2026, 11, 23, 17, 0), False), (at(2026, 11, 28, 12, 0), False), (at(2026, 11, 28, 13, 30), True),
    (at(2026, 11, 29, 12, 0), False),
])
def test_a_schedule_in_tokyo_time(when, open_):
    assert parse(SCHEDULE).is_open(when) is open_


def test_the_next_opening_is_said_in_japanese():
    s = parse(SCHEDULE)
    sunday = at(2026, 11, 22, 12, 0)
    assert s.next_open(sunday) == at(2026, 11, 23, 10, 0)
    assert messages_ja.opening_text(s.next_open(sunday), sunday) == "相談員は、明日の10:00から対応します。"
    early = at(2026, 11, 23, 8, 0)
    assert messages_ja.opening_text(s.next_open(early), early) == "相談員は、今日の10:00から対応します。"
    friday = at(2026, 11, 27, 18, 0)
    assert "11月28日" not in messages_ja.opening_text(s.next_open(friday), friday)     # tomorrow
    assert messages_ja.opening_text(None, friday) == "今は、相談員が対応する時間の予定がありません。"


def test_days_off_close_the_schedule_and_move_the_next_opening():
    s = parse(SCHEDULE, "2026-12-29..2027-01-03, 2027-01-11")
    assert not s.is_open(at(2026, 12, 29, 11, 0)) and not s.is_open(at(2027, 1, 11, 11, 0))
    assert s.next_open(at(2026, 12, 28, 18, 0)) == at(2027, 1, 4, 10, 0)
    text = messages_ja.opening_text(s.next_open(at(2026, 12, 28, 18, 0)), at(2026, 12, 28, 18, 0))
    assert text == "相談員は、1月4日（月）の10:00から対応します。"
    always = parse("always", "2027-01-01")
    assert not always.is_open(at(2027, 1, 1, 12, 0)) and always.is_open(at(2027, 1, 2, 0, 1))
    assert always.next_open(at(2027, 1, 1, 12, 0)) == at(2027, 1, 2, 0, 0)
    assert not parse("never").is_open(at(2027, 1, 2, 12, 0))


@pytest.mark.parametrize("hours,closed", [
    ("mon-fri 10-17", ""), ("someday 10:00-17:00", ""), ("mon 17:00-10:00", ""), ("mon 25:00-26:00", ""),
    ("always", "2026-13-01"), ("always", "2027-01-03..2026-12-29"),
])
def test_a_wrong_setting_stops_start_up_with_its_name(hours, closed):
    with pytest.raises(HoursError):
        parse(hours, closed)
    with pytest.raises(ConfigError, match="MADO_"):
        Config.from_env({"MADO_HOURS": hours, "MADO_CLOSED_DATES": closed})
