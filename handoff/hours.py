"""When counselors are on duty (MADO_HOURS, Asia/Tokyo).

    always                                  always on duty
    never                                   no one on duty: information and leave-a-message only
    mon-fri 10:00-17:00, sat 13:00-17:00    days (ranges or single days) and times, comma-separated

MADO_CLOSED_DATES (optional): days off despite the schedule, e.g. the New Year and public
holidays: `2026-12-29..2027-01-03, 2027-01-11` (dates, or ranges with ..; Asia/Tokyo).

Pure: a schedule and a clock in, an answer out.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class HoursError(ValueError):
    """MADO_HOURS could not be read; the message says what was expected."""


@dataclass(frozen=True)
class Schedule:
    always: bool = False
    # (weekday 0=Mon, start, end) windows; end may be 24:00 (written as time.max)
    windows: tuple[tuple[int, time, time], ...] = ()
    closed: frozenset[date] = frozenset()

    @property
    def never(self) -> bool:
        return not self.always and not self.windows

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(TOKYO)
        if local.date() in self.closed:
            return False
        if self.always:
            return True
        t = local.time().replace(tzinfo=None)
        return any(day == local.weekday() and start <= t < end for day, start, end in self.windows)

    def next_open(self, now: datetime) -> datetime | None:
        """The next moment a shift starts after `now` (Asia/Tokyo), or None if never."""
        local = now.astimezone(TOKYO)
        if self.always:
            if local.date() not in self.closed:
                return None
            day = local.date()
            while day in self.closed:
                day += timedelta(days=1)
            return datetime.combine(day, time(0, 0), tzinfo=TOKYO)
        if not self.windows:
            return None
        best = None
        for offset in range(0, 8 + len(self.closed)):
            day = (local + timedelta(days=offset)).date()
            if day in self.closed:
                continue
            for wd, start, _ in self.windows:
                if wd != day.weekday():
                    continue
                at = datetime.combine(day, start, tzinfo=TOKYO)
                if at > local and (best is None or at < best):
                    best = at
            if best is not None:
                return best
        return best


def _time(text: str, name: str) -> time:
    try:
        h, m = text.split(":")
        h, m = int(h), int(m)
    except ValueError:
        raise HoursError(f"MADO_HOURS: {text!r} is not a time like 10:00") from None
    if (h, m) == (24, 0):
        return time.max
    if not (0 <= h < 24 and 0 <= m < 60):
        raise HoursError(f"MADO_HOURS: {text!r} is not a time of day ({name})")
    return time(h, m)


def _days(text: str) -> list[int]:
    text = text.strip().lower()
    if "-" in text:
        a, b = (p.strip()[:3] for p in text.split("-", 1))
        if a not in DAYS or b not in DAYS:
            raise HoursError(f"MADO_HOURS: {text!r} is not a day range like mon-fri")
        i, j = DAYS.index(a), DAYS.index(b)
        return [(i + k) % 7 for k in range((j - i) % 7 + 1)]
    if text[:3] not in DAYS:
        raise HoursError(f"MADO_HOURS: {text!r} is not a day (mon, tue, … sun)")
    return [DAYS.index(text[:3])]


def parse_dates(spec: str) -> frozenset[date]:
    out: set[date] = set()
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ".." in part:
                a, b = (date.fromisoformat(x.strip()) for x in part.split("..", 1))
                if b < a or (b - a).days > 366:
                    raise ValueError
                out.update(a + timedelta(days=i) for i in range((b - a).days + 1))
            else:
                out.add(date.fromisoformat(part))
        except ValueError:
            raise HoursError(f"MADO_CLOSED_DATES: {part!r} should look like 2026-12-29..2027-01-03 "
                             "or 2027-01-11") from None
    return frozenset(out)


def parse(spec: str, closed: str = "") -> Schedule:
    days_off = parse_dates(closed)
    spec = (spec or "always").strip().lower()
    if spec == "always":
        return Schedule(always=True, closed=days_off)
    if spec == "never":
        return Schedule()
    windows = []
    for part in spec.split(","):
        bits = part.split()
        if len(bits) != 2 or "-" not in bits[1]:
            raise HoursError(f"MADO_HOURS: {part.strip()!r} should look like 'mon-fri 10:00-17:00'")
        start_s, end_s = bits[1].split("-", 1)
        start, end = _time(start_s, "start"), _time(end_s, "end")
        if end <= start:
            raise HoursError(f"MADO_HOURS: {part.strip()!r} ends before it starts")
        for day in _days(bits[0]):
            windows.append((day, start, end))
    return Schedule(windows=tuple(windows), closed=days_off)
