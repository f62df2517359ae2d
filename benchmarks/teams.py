"""Benchmark: the wait for a counselor with 3 teams of 5 (routing by place, per-team hours, the
shared pool) against one national queue served by the same 15 people. Prints figures, asserts nothing.

In-process, no Redis: a discrete-event simulation of whole days whose every routing decision is
made by mado's own rules (handoff/teams.py ``route_among`` when a handoff arrives,
``visible_among`` when a counselor is free and looks at the queue; hours by handoff/hours.py).

- Teams: kochi (Kochi prefecture, JIS 39) on duty 9:00-17:00, sapporo (Sapporo city, 01100)
  12:00-20:00, osaka (Osaka prefecture, 27) 16:00-24:00, every day; 5 counselors each, in the console exactly while their team is
  on duty (so from 0:00 to 9:00 nobody is, in both set-ups).
- People: arrivals by hour of the day (``HOURLY``, heavier in the evening and at night, an
  assumption), ``--per-day`` a day; 35 % from Kochi, 30 % Sapporo, 25 % Osaka, 10 % who named no
  place; ``--urgent`` of them urgent. A conversation takes a lognormal time (median 20 min, p90
  about 43 min); a counselor holds one at a time.
- Teams: a free counselor takes the first handoff of their own view of the queue (urgent ones,
  their team's, the shared pool, another team's with nobody of it present). National: one queue,
  urgent first then oldest, any free counselor takes the head (``route_among`` with no team).

The wait is from arriving in the queue to a counselor taking it, over ``--days`` simulated days
(the same weekday, different random draws; the same draws for both set-ups).

    python benchmarks/teams.py [--days 30] [--per-day 150] [--urgent 0.05] [--seed 1]
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import describe  # noqa: E402
from handoff.hours import TOKYO  # noqa: E402
from handoff.teams import Team, route_among, visible_among  # noqa: E402

# arrivals by hour of day, relative (0:00 … 23:00)
HOURLY = [4, 3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 5, 5, 6, 7, 8, 9, 9, 8, 6]
DAY = datetime(2026, 11, 11, tzinfo=TOKYO)          # a Wednesday
TEAMS = [("kochi", "39", "mon-sun 9:00-17:00"), ("sapporo", "01100", "mon-sun 12:00-20:00"),
         ("osaka", "27", "mon-sun 16:00-24:00")]
PLACES = [("kochi", 0.35), ("sapporo", 0.30), ("osaka", 0.25), (None, 0.10)]
PER_TEAM = 5
HANDLE_MEDIAN_MIN = 20.0
HANDLE_SIGMA = 0.6


def make_teams() -> list[Team]:
    return [Team(name, [code], hours, members={f"{name}-{i}" for i in range(PER_TEAM)})
            for name, code, hours in TEAMS]


def place_of(team: str | None) -> dict:
    """The codes a person from that team's place would give (what the conversation keeps)."""
    if team is None:
        return {}
    code = dict((n, c) for n, c, _ in TEAMS)[team]
    if len(code) == 5:                                  # a designated city: its prefecture too
        return {"pref": code[:2], "city": code}
    return {"pref": code}


def day_of_arrivals(rng: random.Random, per_day: int, urgent_share: float) -> list[dict]:
    total = sum(HOURLY)
    people = []
    for hour, weight in enumerate(HOURLY):
        for _ in range(_poisson(rng, per_day * weight / total)):
            at = hour * 3600 + rng.random() * 3600
            r = rng.random()
            acc, home = 0.0, None
            for team, share in PLACES:
                acc += share
                if r < acc:
                    home = team
                    break
            urgent = rng.random() < urgent_share
            people.append({"at": at, "home": home, "urgent": urgent, "priority": "urgent" if urgent else "normal",
                           "handle": 60 * HANDLE_MEDIAN_MIN * math.exp(HANDLE_SIGMA * rng.gauss(0, 1))})
    people.sort(key=lambda p: p["at"])
    for i, p in enumerate(people):
        p["id"] = i
    return people


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method (lam is small here: a few per hour)."""
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def simulate(people: list[dict], teams: list[Team], *, national: bool) -> list[dict]:
    """One day; each person gets ``wait`` (seconds from arriving to being taken; None if nobody
    took them before the next day's 9:00) and ``team``/``routed`` (where the rules sent them)."""
    counselors = {m: t for t in teams for m in t.members}
    routing_teams = [] if national else teams
    free_since: dict[str, float] = {}                  # present and free: since when (longest idle first)
    busy: set[str] = set()
    queue: list[dict] = []                             # waiting handoffs, in queue order
    events: list[tuple[float, int, str, object]] = []  # (time, order, kind, what)
    seq = 0

    def push(t, kind, what):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, what))
        seq += 1

    def clock(t: float) -> datetime:
        return DAY + timedelta(seconds=t)

    on_shift: dict[int, set[str]] = {}

    def present(t: float) -> set[str]:
        """Who is in the console: the counselors of every team on duty (hours.py), by the minute."""
        minute = int(t // 60)
        if minute not in on_shift:
            now = clock(minute * 60.0)
            on_shift[minute] = {m for m, team in counselors.items() if team.on_duty(now)}
        return on_shift[minute]

    for p in people:
        push(p["at"], "arrive", p)
    # every minute of the day and the next morning: shifts start and end on the minute
    for minute in range(0, (24 + 10) * 60):
        push(minute * 60.0, "tick", None)

    def dispatch(t: float) -> None:
        here = present(t)
        for name in sorted((n for n in free_since if n in here), key=lambda n: free_since[n]):
            if not queue:
                return
            view = visible_among(routing_teams, queue, name, admin=False, present=here)
            if not view:
                continue
            chosen = next(h for h in queue if h["id"] == view[0]["id"])
            queue.remove(chosen)
            chosen["wait"] = t - chosen["at"]
            del free_since[name]
            busy.add(name)
            push(t + chosen["handle"], "done", name)

    while events:
        t, _, kind, what = heapq.heappop(events)
        if kind == "arrive":
            p = what
            place = place_of(p["home"])
            route = route_among(routing_teams, place.get("pref"), place.get("city"), urgent=p["urgent"],
                                now=clock(t), present_of=lambda: present(t))
            p.update(team=route.team, routed=route.why, wait=None)
            queue.append(p)
            queue.sort(key=lambda h: (h["priority"] != "urgent", h["at"]))      # the queue's score
        elif kind == "done":
            busy.discard(what)
            free_since[what] = t
        else:                                           # a minute: who is in the console now
            here = present(t)
            for name in counselors:
                if name in here and name not in busy and name not in free_since:
                    free_since[name] = t
                elif name not in here:
                    free_since.pop(name, None)         # (a busy one finishes the conversation first)
        dispatch(t)
    return people


def run_day(people: list[dict], *, national: bool) -> list[dict]:
    return simulate([dict(p) for p in people], make_teams(), national=national)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def staffed(at_s: float) -> bool:
    now = DAY + timedelta(seconds=at_s)
    return any(t.on_duty(now) for t in make_teams())


def row(label: str, waits: list[float | None]) -> str:
    got = [w / 60 for w in waits if w is not None]
    left = sum(w is None for w in waits)
    if not got:
        return f"  {label:<34} n={len(waits):>5}  (nobody taken)"
    return (f"  {label:<34} n={len(waits):>5}  median {statistics.median(got):6.1f} min   "
            f"p90 {pct(got, 0.9):6.1f} min   mean {statistics.fmean(got):6.1f} min"
            + (f"   never taken {left}" if left else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=150)
    ap.add_argument("--urgent", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    started = time.process_time()
    results = {"teams": [], "national": []}
    for _ in range(args.days):
        people = day_of_arrivals(rng, args.per_day, args.urgent)
        results["teams"].extend(run_day(people, national=False))
        results["national"].extend(run_day(people, national=True))
    cpu = time.process_time() - started

    print(f"machine: {describe()}")
    print(f"{args.days} simulated days, {args.per_day} handoffs a day on average ({args.urgent:.0%} urgent); "
          f"3 teams of {PER_TEAM}: " + ", ".join(f"{n} {h.split(' ', 1)[1]}" for n, _, h in TEAMS)
          + f"; conversations lognormal, median {HANDLE_MEDIAN_MIN:.0f} min")
    for mode, label in (("teams", "3 teams + shared pool"), ("national", "one national queue")):
        people = results[mode]
        print(f"{label}:")
        print(row("every handoff", [p["wait"] for p in people]))
        print(row("arrived while someone is on duty", [p["wait"] for p in people if staffed(p["at"])]))
        print(row("arrived 17:00-24:00", [p["wait"] for p in people if p["at"] >= 17 * 3600]))
        print(row("urgent", [p["wait"] for p in people if p["urgent"]]))
        if mode == "teams":
            for name, _, _ in TEAMS:
                print(row(f"from {name}'s place", [p["wait"] for p in people if p["home"] == name]))
            print(row("named no place", [p["wait"] for p in people if p["home"] is None]))
            routed: dict[str, int] = {}
            for p in people:
                routed[p["routed"]] = routed.get(p["routed"], 0) + 1
            print("  routed: " + ", ".join(f"{k} {v / len(people):.0%}" for k, v in sorted(routed.items())))
    print(f"simulation CPU: {cpu:.2f} s for {len(results['teams']) * 2} simulated handoffs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
