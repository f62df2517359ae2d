"""`mado doctor`: is this deployment set up right? One table, a row per check, ✔ or ✘ with the fix
in words (messages_ja/operator.toml), exit status 1 when any row is ✘.

It reads the same environment as the web and the worker and asks what they depend on:
- the variables and their shape (a channel secret is 32 hex digits, a secret key is long, …);
- Redis: reachable (a single server or a cluster), persistence on (AOF or RDB), `maxmemory-policy
  noeviction` (anything else silently drops events and conversations when memory is full), room
  left under `maxmemory`;
- LINE, through line-bot-sdk (bot/line_settings.py): the token works (the bot's info), Chat is on
  (so a message shows as read only once a counselor has read it), the webhook endpoint is set, in use, ends in
  /callback and answers LINE's own test; the clock against LINE's `Date` header;
- mado itself: at least one admin account, the hours and closed days parse (and when counselors
  are next on duty), live workers holding every shard, a centre list checked within a year.

A check that cannot run because an earlier one failed (no Redis, no token) is ✘ too: nothing is
called right that was not seen to be.
"""
from __future__ import annotations

import os
import re
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Mapping
from urllib.parse import urlsplit

from messages_ja import centres_checked, opening_text, operator as say

from . import keys
from .config import Config, ConfigError

OK, FAIL = "\u2714", "\u2718"          # ✔ ✘
MIN_SECRET_KEY = 32
CLOCK_MAX_S = 10.0                     # reply tokens last a minute; hours and waits are told in minutes
MEMORY_HIGH = 0.8                      # share of maxmemory (or the machine's memory) that is too much
CENTRES_MAX_MONTHS = 12                # the centres change every year (and so do their numbers)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass
class Row:
    label: str
    ok: bool
    detail: str
    fix: str = ""


# -- variables ----------------------------------------------------------------------------------
def _config(env: Mapping[str, str]) -> tuple[Config, str]:
    """The configuration as the processes read it, and what could not be read ("" when all was).
    Hours are checked in their own row, so a bad MADO_HOURS does not hide the rest."""
    try:
        return Config.from_env(env), ""
    except ConfigError as exc:
        error = str(exc)
    rest = {k: v for k, v in env.items() if k not in ("MADO_HOURS", "MADO_CLOSED_DATES")}
    try:
        return Config.from_env(rest), ""
    except ConfigError:
        pass
    base = Config.from_env({k: env[k] for k in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN",
                                                 "LINE_API_BASE_URL", "REDIS_URL", "MADO_SECRET_KEY")
                            if k in env})
    return base, error


def check_variables(env: Mapping[str, str], cfg: Config, error: str) -> list[Row]:
    from .cli import _where

    rows = []
    secret = env.get("LINE_CHANNEL_SECRET", "")
    if not secret:
        rows.append(Row("LINE_CHANNEL_SECRET", False, say("env.missing"), say("env.secret.fix_missing")))
    elif not re.fullmatch(r"[0-9a-f]{32}", secret):
        rows.append(Row("LINE_CHANNEL_SECRET", False, say("env.secret.bad", n=len(secret)), say("env.secret.fix_bad")))
    else:
        rows.append(Row("LINE_CHANNEL_SECRET", True, say("env.secret.ok")))

    token = env.get("LINE_CHANNEL_ACCESS_TOKEN", "")
    if not token:
        rows.append(Row("LINE_CHANNEL_ACCESS_TOKEN", False, say("env.missing"), say("env.token.fix_missing")))
    elif re.search(r"[\s\"']", token):
        rows.append(Row("LINE_CHANNEL_ACCESS_TOKEN", False, say("env.token.bad"), say("env.token.fix_bad")))
    else:
        rows.append(Row("LINE_CHANNEL_ACCESS_TOKEN", True, say("env.token.ok")))

    url = env.get("REDIS_URL", "")
    try:
        parts = urlsplit(url)
        shaped = parts.scheme in ("redis", "rediss", "unix", "redis-cluster", "rediss-cluster") and \
            bool(parts.hostname or parts.scheme == "unix")
    except ValueError:
        parts, shaped = None, False
    if not url:
        rows.append(Row("REDIS_URL", False, say("env.missing"), say("env.redis.fix_missing")))
    elif not shaped:
        rows.append(Row("REDIS_URL", False, say("env.redis.bad"), say("env.redis.fix_bad")))
    elif parts.scheme != "unix" and not parts.password and parts.hostname not in LOCAL_HOSTS:
        rows.append(Row("REDIS_URL", False, say("env.redis.no_password", where=_where(url)),
                        say("env.redis.fix_no_password")))
    else:
        rows.append(Row("REDIS_URL", True, _where(url)))

    key = env.get("MADO_SECRET_KEY", "")
    if not key:
        rows.append(Row("MADO_SECRET_KEY", False, say("env.missing"), say("env.key.fix_missing")))
    elif len(key) < MIN_SECRET_KEY:
        rows.append(Row("MADO_SECRET_KEY", False, say("env.key.short", n=len(key)), say("env.key.fix_short")))
    else:
        rows.append(Row("MADO_SECRET_KEY", True, say("env.key.ok", n=len(key))))

    if error:
        rows.append(Row(say("env.other"), False, say("env.other.bad", error=error), say("env.other.fix_bad")))
    elif not cfg.cookie_secure:
        rows.append(Row(say("env.other"), False, say("env.other.cookie"), say("env.other.fix_cookie")))
    else:
        rows.append(Row(say("env.other"), True, say("env.other.ok", base=cfg.api_base_url,
                                                    proxies=cfg.trusted_proxies)))
    return rows


# -- Redis ----------------------------------------------------------------------------------------
def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _nodes(r) -> list:
    """A plain client per primary: the client itself, or each master of a cluster."""
    if type(r).__name__ == "RedisCluster":
        return [node.redis_connection for node in r.get_primaries()]
    return [r]


def _persistence(node) -> tuple[bool | None, str]:
    """(on, how) of one server; on is None when this Redis does not let us look (no CONFIG)."""
    import redis

    try:
        conf = node.config_get("appendonly")
        conf.update(node.config_get("appendfsync"))
        conf.update(node.config_get("save"))
    except redis.ResponseError:
        if node.info("persistence").get("aof_enabled") == 1:
            return True, say("redis.persist.aof", fsync="?")
        return None, ""
    aof, save = conf.get("appendonly") == "yes", (conf.get("save") or "").strip()
    if aof and save:
        return True, say("redis.persist.both", fsync=conf.get("appendfsync"))
    if aof:
        return True, say("redis.persist.aof", fsync=conf.get("appendfsync"))
    if save:
        return True, say("redis.persist.rdb", save=save)
    return False, ""


def check_redis(cfg: Config) -> tuple[list[Row], object | None]:
    """The Redis rows and the client (None when Redis could not be reached)."""
    import redis

    from .redis_conn import connect

    labels = [say("redis.reach"), say("redis.persist"), say("redis.policy"), say("redis.memory")]
    if not cfg.redis_url:
        return [Row(label, False, say("redis.no_url")) for label in labels], None
    try:
        r = connect(cfg.redis_url, timeout_s=5)
        r.ping()
        nodes = _nodes(r)
        infos = [node.info() for node in nodes]
    except (redis.RedisError, OSError, ValueError, ConfigError) as exc:     # (ValueError: not a Redis URL)
        error = f"{type(exc).__name__}: {exc}"[:160]
        return [Row(labels[0], False, say("redis.reach.fail", error=error), say("redis.reach.fix"))] \
            + [Row(label, False, say("redis.skipped")) for label in labels[1:]], None
    version = infos[0].get("redis_version", "?")
    rows = [Row(say("redis.reach"), True, say("redis.reach.cluster", n=len(nodes), version=version)
                if len(nodes) > 1 or type(r).__name__ == "RedisCluster"
                else say("redis.reach.single", version=version))]

    found = [_persistence(node) for node in nodes]
    if all(on for on, _ in found):
        rows.append(Row(say("redis.persist"), True, found[0][1]))
    elif any(on is False for on, _ in found):
        rows.append(Row(say("redis.persist"), False, say("redis.persist.off"), say("redis.persist.fix")))
    else:
        rows.append(Row(say("redis.persist"), False, say("redis.persist.unknown"), say("redis.persist.fix_unknown")))

    policies = sorted({str(i.get("maxmemory_policy", "?")) for i in infos})
    if policies == ["noeviction"]:
        rows.append(Row(say("redis.policy"), True, say("redis.policy.ok")))
    else:
        bad = ", ".join(p for p in policies if p != "noeviction")
        rows.append(Row(say("redis.policy"), False, say("redis.policy.bad", policy=bad), say("redis.policy.fix")))

    # the fullest node decides: one full master refuses the writes of its slots
    worst = max(infos, key=lambda i: i.get("used_memory", 0) / (i.get("maxmemory") or i.get("total_system_memory") or 1))
    used, limit = worst.get("used_memory", 0), worst.get("maxmemory", 0)
    if limit:
        if used > MEMORY_HIGH * limit:
            rows.append(Row(say("redis.memory"), False, say("redis.memory.low", used=_size(used), limit=_size(limit)),
                            say("redis.memory.fix")))
        else:
            rows.append(Row(say("redis.memory"), True, say("redis.memory.ok", used=_size(used), limit=_size(limit),
                                                          free=_size(limit - used))))
    else:
        total = worst.get("total_system_memory", 0)
        rows.append(Row(say("redis.memory"), not total or used <= MEMORY_HIGH * total,
                        say("redis.memory.no_limit", used=_size(used), total=_size(total)),
                        say("redis.memory.fix_no_limit") if total and used > MEMORY_HIGH * total else ""))
    return rows, r


# -- LINE -----------------------------------------------------------------------------------------
def check_line(cfg: Config) -> tuple[list[Row], Row]:
    """The LINE rows and the clock's row (the clock is read from LINE's answer)."""
    from linebot.v3.messaging import ApiException

    from . import line_settings

    labels = [say("line.token"), say("line.chat"), say("line.endpoint"), say("line.active"), say("line.test")]
    clock_unknown = Row(say("clock"), False, say("clock.unknown"))
    if not cfg.access_token:
        return [Row(label, False, say("line.skipped")) for label in labels], clock_unknown
    try:
        info, skew = line_settings.bot_info(cfg)
    except ApiException as exc:
        if exc.status in (401, 403):
            first = Row(labels[0], False, say("line.token.bad", status=exc.status), say("line.token.fix"))
        else:
            first = Row(labels[0], False, say("line.unreachable", error=line_settings.error_message(exc)),
                        say("line.fix_unreachable"))
        return [first] + [Row(label, False, say("line.skipped_token")) for label in labels[1:]], clock_unknown
    except Exception as exc:                 # no network, a refused connection, a timeout
        first = Row(labels[0], False, say("line.unreachable", error=type(exc).__name__), say("line.fix_unreachable"))
        return [first] + [Row(label, False, say("line.skipped_token")) for label in labels[1:]], clock_unknown

    rows = [Row(labels[0], True, say("line.token.ok", name=info.get("displayName", "?"),
                                     basic_id=info.get("basicId", "?")))]
    if info.get("chatMode") == "chat":
        rows.append(Row(labels[1], True, say("line.chat.ok")))
    else:
        rows.append(Row(labels[1], False, say("line.chat.off"), say("line.chat.fix")))

    if skew is None:
        clock = clock_unknown
    elif abs(skew) > CLOCK_MAX_S:
        clock = Row(say("clock"), False, say("clock.bad", offset=f"{skew:+.0f}"), say("clock.fix"))
    else:
        clock = Row(say("clock"), True, say("clock.ok", offset=f"{skew:+.0f}"))

    try:
        hook = line_settings.get_webhook(cfg)
        test = line_settings.run_webhook_test(cfg) if hook else None
    except ApiException as exc:
        error = say("line.unreachable", error=line_settings.error_message(exc))
        return rows + [Row(label, False, error, say("line.fix_unreachable")) for label in labels[2:]], clock
    if hook is None:
        skipped = say("line.no_endpoint")
        return rows + [Row(labels[2], False, say("line.endpoint.none"), say("line.endpoint.fix")),
                       Row(labels[3], False, skipped), Row(labels[4], False, skipped)], clock
    endpoint = hook.get("endpoint", "")
    if urlsplit(endpoint).path.rstrip("/") != "/callback":
        rows.append(Row(labels[2], False, say("line.endpoint.not_callback", url=endpoint), say("line.endpoint.fix")))
    else:
        rows.append(Row(labels[2], True, endpoint))
    if hook.get("active"):
        rows.append(Row(labels[3], True, say("line.active.ok")))
    else:
        rows.append(Row(labels[3], False, say("line.active.off"), say("line.active.fix")))
    rows.append(webhook_test_row(test, labels[4]))
    return rows, clock


def webhook_test_row(test: dict, label: str) -> Row:
    """LINE's test of the endpoint, as a row: ✔ when the endpoint answered 2xx."""
    if test.get("success"):
        return Row(label, True, say("line.test.ok", status=test.get("statusCode")))
    reason, detail = test.get("reason", "?"), test.get("detail", "")
    if reason == "ERROR_STATUS_CODE" and str(detail) == "400":
        fix = say("line.test.fix_signature")
    elif reason == "COULD_NOT_CONNECT":
        fix = say("line.test.fix_connect")
    elif reason == "REQUEST_TIMEOUT":
        fix = say("line.test.fix_timeout")
    else:
        fix = say("line.test.fix_status")
    return Row(label, False, say("line.test.fail", reason=reason, detail=detail), fix)


# -- mado itself ----------------------------------------------------------------------------------
def check_admin(r) -> Row:
    if r is None:
        return Row(say("admin"), False, say("redis.skipped"))
    from handoff.accounts import Accounts

    accounts = Accounts(r)
    admins = [n for n in accounts.names()
              if (acc := accounts.get(n)) and acc.get("role") == "admin" and acc.get("disabled") != "1"]
    if not admins:
        return Row(say("admin"), False, say("admin.none"), say("admin.fix"))
    return Row(say("admin"), True, say("admin.ok", n=len(admins), names=", ".join(admins[:5])))


def check_hours(env: Mapping[str, str], now: datetime) -> Row:
    from handoff.hours import HoursError, parse

    spec = (env.get("MADO_HOURS") or "always").strip()
    try:
        schedule = parse(spec, env.get("MADO_CLOSED_DATES", ""))
    except HoursError as exc:
        return Row(say("hours"), False, say("hours.bad", error=str(exc)), say("hours.fix"))
    if schedule.never:
        detail = say("hours.never")
    elif schedule.is_open(now):
        detail = say("hours.always") if schedule.always else say("hours.open_now", spec=spec)
    else:
        detail = say("hours.closed_now", spec=spec, next=opening_text(schedule.next_open(now), now))
    if schedule.closed:
        detail += " / " + say("hours.closed_days", n=len(schedule.closed))
    return Row(say("hours"), True, detail)


def check_workers(r, cfg: Config, now_s: float) -> Row:
    if r is None:
        return Row(say("workers"), False, say("redis.skipped"))
    beats = dict(r.zrange(keys.WORKERS, 0, -1, withscores=True))
    live = {w for w, beat in beats.items() if now_s - beat <= max(5.0, cfg.lease_ms / 1000.0)}
    if not live:
        return Row(say("workers"), False, say("workers.none"), say("workers.fix_none"))
    counts = r.hgetall(keys.WORKER_SHARDS)
    theirs = sorted({int(counts[w]) for w in live if w in counts and counts[w].isdigit()} - {cfg.shards})
    if theirs:
        return Row(say("workers"), False, say("workers.shards_differ", theirs=", ".join(map(str, theirs)),
                                              ours=cfg.shards), say("workers.fix_shards_differ"))
    missing = [s for s in range(cfg.shards) if r.get(keys.lease(s)) not in live]    # one key a call: any slot
    if missing:
        return Row(say("workers"), False, say("workers.missing", n=len(live), missing=", ".join(map(str, missing))),
                   say("workers.fix_missing"))
    return Row(say("workers"), True, say("workers.ok", n=len(live), shards=cfg.shards))


def check_centres(today: date, checked: str | None = None) -> Row:
    checked = centres_checked() if checked is None else checked
    try:
        when = date.fromisoformat(checked)
    except ValueError:
        return Row(say("centres"), False, say("centres.old", date=checked or "?", months="?"), say("centres.fix"))
    months = (today.year - when.year) * 12 + today.month - when.month - (today.day < when.day)
    months = max(0, months)
    if months >= CENTRES_MAX_MONTHS:
        return Row(say("centres"), False, say("centres.old", date=checked, months=months), say("centres.fix"))
    return Row(say("centres"), True, say("centres.ok", date=checked, months=months))


# -- the whole -----------------------------------------------------------------------------------
def run(env: Mapping[str, str] | None = None, *, now: datetime | None = None) -> list[Row]:
    env = os.environ if env is None else env
    now = now or datetime.now(timezone.utc)
    cfg, error = _config(env)
    rows = check_variables(env, cfg, error)
    redis_rows, r = check_redis(cfg)
    rows += redis_rows
    line_rows, clock = check_line(cfg)
    rows += line_rows + [clock]
    rows.append(check_admin(r))
    rows.append(check_hours(env, now))
    rows.append(check_workers(r, cfg, time.time()))
    rows.append(check_centres(now.date()))
    if r is not None:
        r.close()
    return rows


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render(rows: list[Row]) -> str:
    """The table: mark, label (padded to one column, wide characters counted twice), detail; a
    ✘ row's fix on the line below it."""
    col = max(_width(row.label) for row in rows) + 2
    lines = [say("doctor.title"), ""]
    for row in rows:
        lines.append(f"  {OK if row.ok else FAIL}  {row.label}{' ' * (col - _width(row.label))}{row.detail}")
        if not row.ok and row.fix:
            lines.append(f"     {' ' * col}{say('doctor.fix', fix=row.fix)}")
    failed = sum(not row.ok for row in rows)
    lines += ["", say("doctor.some_fail", n=failed) if failed else say("doctor.all_ok")]
    return "\n".join(lines)


def main(env: Mapping[str, str] | None = None, out=None) -> int:
    """`mado doctor`: the table on standard output; exit status 1 when any row is ✘."""
    rows = run(env)
    print(render(rows), file=out or sys.stdout, flush=True)
    return 1 if any(not row.ok for row in rows) else 0
