"""Teams: which counselors serve which places, when, and where a handoff goes (issue 26).

A team has a name, the places it serves (prefectures, municipalities, designated cities and their
wards, kept as JIS codes: messages_ja/places.toml and municipalities.toml, the data flows/places.py
reads), its hours and closed dates (handoff/hours.py's syntax, as MADO_HOURS and MADO_CLOSED_DATES)
and its members (a counselor may be in several). Kept with the accounts, under ``{staff}``:

- ``mado:{staff}:teams``                  the team names
- ``mado:{staff}:team:<name>``            name, places (JSON list of codes), hours, closed, created_at
- ``mado:{staff}:team:<name>:members``    its counselors' names
- ``mado:{staff}:team:<name>:resources``  its local resources (handoff/resources.py)

Routing (``Teams.route``): a handoff goes to the team serving the person's place, the most
specific one first (a municipality's team over its designated city's, over its prefecture's). It
goes to the shared pool (``team`` ""/null) when no place is known, no team serves it, the team is
off duty (its own hours), or nobody of the team is in the console now (online, not away). An
urgent handoff keeps its team for the figures but is in every counselor's queue (every team on
duty answers it; ``Teams.visible``). Without any team, the queue is the one national queue.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import redis

from .hours import HoursError, Schedule, parse as parse_hours

TAG = "mado:{staff}"
TEAMS = f"{TAG}:teams"
POOL = ""                     # the shared pool: no team
MAX_NAME = 40
MAX_TEAMS = 200
FORBIDDEN = set(":|{}/\\\"'<>&")


class TeamError(ValueError):
    """A team command could not be done; the message says why (for the operator)."""


def team_key(name: str) -> str:
    return f"{TAG}:team:{name}"


def members_key(name: str) -> str:
    return f"{TAG}:team:{name}:members"


def resources_key(name: str) -> str:
    """Its local resources (handoff/resources.py)."""
    return f"{TAG}:team:{name}:resources"


def valid_team_name(name: str) -> bool:
    return (isinstance(name, str) and 1 <= len(name) <= MAX_NAME and name == name.strip()
            and not name.startswith("_") and all(c.isprintable() and not c.isspace() and c not in FORBIDDEN
                                                 for c in name))


# -- places ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _places() -> tuple[dict, dict]:
    """(prefectures by code, municipalities by code), the data flows/places.py reads."""
    import messages_ja

    return messages_ja.catalog().places["prefs"], messages_ja.municipalities()


def resolve_place(word: str) -> str:
    """A place as an operator writes it (a prefecture with or without its suffix, a municipality,
    a designated city, a ward after its city, any of them after their prefecture; or a JIS code:
    39, 39210) → its code: two digits for a prefecture, five for a municipality or ward.
    TeamError when it names nothing or several places (then the prefecture must be written too)."""
    prefs, munis = _places()
    word = word.strip()
    if word.isdigit() and (word in prefs or word in munis):
        return word
    for code, p in prefs.items():
        if word in (p["name"], p["short"]):
            return code
    within = None
    for code, p in prefs.items():
        if word.startswith(p["name"]) and len(word) > len(p["name"]):
            within, word = code, word[len(p["name"]):]
            break
    found = [c for c, m in munis.items() if m["name"] == word and (within is None or m["pref"] == within)]
    if not found:     # a designated city's ward, written after its city
        found = [c for c, m in munis.items() if m["kind"] == "ward" and m.get("city") in munis
                 and word == munis[m["city"]]["name"] + m["name"]
                 and (within is None or m["pref"] == within)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise TeamError(f"no place named {word!r} (a prefecture, a municipality or a ward, or its JIS code)")
    raise TeamError(f"{word!r} names {len(found)} places ({', '.join(found)}): write it with its "
                    "prefecture (as in Tokyo-to Fuchu-shi, written as one word) or give the JIS code")


def place_name(code: str) -> str:
    prefs, munis = _places()
    if code in prefs:
        return prefs[code]["name"]
    m = munis.get(code)
    if not m:
        return code
    if m["kind"] == "ward" and m.get("city") in munis:
        return prefs[m["pref"]]["name"] + munis[m["city"]]["name"] + m["name"]
    return prefs[m["pref"]]["name"] + m["name"]


def person_codes(pref: str | None, city: str | None = None, muni: str | None = None) -> dict[str, int]:
    """The codes that describe where a person is, each with how specific it is: the municipality
    (3; when the conversation kept one), its designated city or the designated city named (2), the
    prefecture (1)."""
    _, munis = _places()
    out: dict[str, int] = {}
    if muni and muni in munis:
        out[muni] = 3
        city = city or munis[muni].get("city") or (muni if munis[muni]["kind"] == "designated" else None)
        pref = pref or munis[muni]["pref"]
    if city:
        out.setdefault(city, 2)
    if pref:
        out.setdefault(pref, 1)
    return out


# -- teams -------------------------------------------------------------------------------------
@dataclass
class Team:
    name: str
    places: list[str]
    hours: str = "always"
    closed: str = ""
    members: set[str] = field(default_factory=set)

    @property
    def schedule(self) -> Schedule:
        return parse_hours(self.hours, self.closed)

    def on_duty(self, now: datetime) -> bool:
        return self.schedule.is_open(now)

    def as_dict(self) -> dict:
        return {"name": self.name, "places": [{"code": c, "name": place_name(c)} for c in self.places],
                "hours": self.hours, "closed": self.closed, "members": sorted(self.members)}


@dataclass(frozen=True)
class Route:
    team: str            # the team that answers ("" the shared pool)
    home: str            # the team serving the place, even when it overflowed ("" none)
    why: str             # served, urgent, no_place, no_team, off_duty, nobody_online


class Teams:
    def __init__(self, r: redis.Redis, audit=None):
        self.r = r
        self._audit = audit        # (who, action, id) → the staff audit stream (HandoffStore.audit)

    def audit(self, who: str, action: str) -> None:
        if self._audit:
            self._audit(who, action, "")

    # -- editing (mado team …; the supervisor view) --------------------------------------------
    def add(self, name: str, places: list[str], hours: str = "always", closed: str = "", *, by: str = "cli") -> Team:
        if not valid_team_name(name):
            raise TeamError(f"team name: 1-{MAX_NAME} characters, no spaces, none of "
                            f"{''.join(sorted(FORBIDDEN))}, not starting with _")
        codes = self._codes(places)
        self._check_hours(hours, closed)
        if self.r.scard(TEAMS) >= MAX_TEAMS:
            raise TeamError(f"at most {MAX_TEAMS} teams")
        if not self.r.hsetnx(team_key(name), "name", name):
            raise TeamError(f"a team named {name!r} already exists")
        self.r.hset(team_key(name), mapping={"places": json.dumps(codes), "hours": hours or "always",
                                             "closed": closed or "", "created_at": int(time.time())})
        self.r.sadd(TEAMS, name)
        self.audit(by, f"team_add:{name}")
        return self.get(name)

    def change(self, name: str, *, places: list[str] | None = None, hours: str | None = None,
               closed: str | None = None, by: str = "cli") -> Team:
        team = self._must(name)
        fields = {}
        if places is not None:
            fields["places"] = json.dumps(self._codes(places))
        if hours is not None or closed is not None:
            self._check_hours(hours if hours is not None else team.hours, closed if closed is not None else team.closed)
            if hours is not None:
                fields["hours"] = hours
            if closed is not None:
                fields["closed"] = closed
        if fields:
            self.r.hset(team_key(name), mapping=fields)
            self.audit(by, f"team_change:{name}:{','.join(sorted(fields))}")
        return self.get(name)

    def remove(self, name: str, *, by: str = "cli") -> None:
        self._must(name)
        self.r.delete(team_key(name), members_key(name), resources_key(name))
        self.r.srem(TEAMS, name)
        self.audit(by, f"team_remove:{name}")

    def add_member(self, name: str, counselor: str, *, by: str = "cli") -> None:
        from .accounts import account_key

        self._must(name)
        if not self.r.exists(account_key(counselor)):
            raise TeamError(f"no counselor named {counselor!r} (mado counselor add first)")
        if self.r.sadd(members_key(name), counselor):
            self.audit(by, f"team_member_add:{name}:{counselor}")

    def remove_member(self, name: str, counselor: str, *, by: str = "cli") -> None:
        self._must(name)
        if not self.r.srem(members_key(name), counselor):
            raise TeamError(f"{counselor!r} is not in team {name!r}")
        self.audit(by, f"team_member_remove:{name}:{counselor}")

    def _must(self, name: str) -> Team:
        team = self.get(name) if valid_team_name(name) else None
        if team is None:
            raise TeamError(f"no team named {name!r}")
        return team

    @staticmethod
    def _codes(places: list[str]) -> list[str]:
        codes = []
        for word in places:
            if word.strip():
                code = resolve_place(word)
                if code not in codes:
                    codes.append(code)
        if not codes:
            raise TeamError("a team serves at least one place (--places 39,39210 or their names)")
        return codes

    @staticmethod
    def _check_hours(hours: str, closed: str) -> None:
        try:
            parse_hours(hours or "always", closed or "")
        except HoursError as exc:
            raise TeamError(str(exc).replace("MADO_HOURS", "--hours").replace("MADO_CLOSED_DATES", "--closed")) from None

    # -- reading -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self.r.smembers(TEAMS))

    def get(self, name: str) -> Team | None:
        raw = self.r.hgetall(team_key(name))
        if not raw.get("places"):
            return None
        return Team(name=name, places=json.loads(raw["places"]), hours=raw.get("hours") or "always",
                    closed=raw.get("closed", ""), members=set(self.r.smembers(members_key(name))))

    def all(self) -> list[Team]:
        names = self.names()
        if not names:
            return []
        pipe = self.r.pipeline(transaction=False)
        for n in names:
            pipe.hgetall(team_key(n))
            pipe.smembers(members_key(n))
        got = pipe.execute()
        out = []
        for i, n in enumerate(names):
            raw, members = got[2 * i], got[2 * i + 1]
            if raw.get("places"):
                out.append(Team(n, json.loads(raw["places"]), raw.get("hours") or "always",
                                raw.get("closed", ""), set(members)))
        return out

    def of(self, counselor: str, teams: list[Team] | None = None) -> list[str]:
        """The teams a counselor belongs to."""
        return [t.name for t in (self.all() if teams is None else teams) if counselor in t.members]

    # -- routing -------------------------------------------------------------------------------
    @staticmethod
    def serving(teams: list[Team], pref: str | None, city: str | None = None, muni: str | None = None) -> Team | None:
        """The team that serves this place, most specific first (then by name)."""
        codes = person_codes(pref, city, muni)
        best, best_rank = None, 0
        for team in sorted(teams, key=lambda t: t.name):
            rank = max((codes.get(c, 0) for c in team.places), default=0)
            if rank > best_rank:
                best, best_rank = team, rank
        return best

    def route(self, pref: str | None, city: str | None = None, muni: str | None = None, *,
              urgent: bool = False, now: datetime | None = None, present_of=None) -> Route:
        """Where a new handoff goes (``route_among`` the teams as they are in Redis now)."""
        return route_among(self.all(), pref, city, muni, urgent=urgent, now=now, present_of=present_of)

    def visible(self, handoffs: list[dict], counselor: str, *, admin: bool, present: set[str]) -> list[dict]:
        """The waiting queue as a counselor sees it (``visible_among`` the teams in Redis now)."""
        return visible_among(self.all(), handoffs, counselor, admin=admin, present=present)


# -- the routing rules themselves: pure (a list of teams and a clock in, an answer out), so that
# benchmarks/teams.py simulates a day with exactly these -----------------------------------------
def route_among(teams: list[Team], pref: str | None, city: str | None = None, muni: str | None = None, *,
                urgent: bool = False, now: datetime | None = None, present_of=None) -> Route:
    """Where a new handoff goes. ``present_of()``: the counselors in the console now (online,
    not away); asked only when a team on duty serves the place."""
    if not teams:
        return Route(POOL, POOL, "no_team")
    if not pref and not city and not muni:
        return Route(POOL, POOL, "no_place")
    team = Teams.serving(teams, pref, city, muni)
    if team is None:
        return Route(POOL, POOL, "no_team")
    if urgent:
        return Route(team.name, team.name, "urgent")
    if not team.on_duty(now or datetime.now().astimezone()):
        return Route(POOL, team.name, "off_duty")
    if present_of is not None and not (team.members & present_of()):
        return Route(POOL, team.name, "nobody_online")
    return Route(team.name, team.name, "served")


def visible_among(teams: list[Team], handoffs: list[dict], counselor: str, *, admin: bool,
                  present: set[str]) -> list[dict]:
    """The waiting queue as a counselor sees it. An admin, or a counselor in no team: everything,
    in queue order. A team's counselor: urgent ones first (every team answers them), then their
    teams' in queue order, then the shared pool, then another team's that nobody of that team
    is present to answer (``overflow``). Each handoff gets ``lane``-free labels: ``mine``
    (their team's) and ``overflow``."""
    mine = {t.name for t in teams if counselor in t.members}
    if admin or not mine:
        return handoffs
    covered = {t.name for t in teams if t.members & present}
    urgent, own, pool, spill = [], [], [], []
    for m in handoffs:
        team = m.get("team") or POOL
        if m.get("priority") == "urgent":
            urgent.append(m)
        elif team in mine:
            own.append(m)
        elif team == POOL:
            pool.append(m)
        elif team not in covered:
            spill.append({**m, "overflow": True})
    # ``group``: where in that order (a console placing one handoff it asked for again, by group
    # then queue order)
    return [{**m, "group": g} for g, part in enumerate((urgent, own, pool, spill)) for m in part]
