"""Counselor accounts, sessions and login throttling (Redis, tag ``{staff}``).

- Passwords: argon2id (argon2-cffi's defaults: memory-hard), re-hashed when parameters change.
- Sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure unless turned off for plain
  http in the demo), stored server-side with a CSRF token; a new id at every login (no fixation).
  A password change or disabling the account ends every session of that counselor at once: the
  account's ``epoch`` moves (a session from an older epoch is refused, even one opened by a login
  that was checking the old password at that moment) and the sessions are deleted.
- Throttling, per (name, address): every attempt is counted in one atomic step *before* the slow
  verify, so a burst cannot slip past the count. The first 5 failures are free; after that the
  pair waits 15 s, then 30 s, 60 s … (at most 15 minutes) before its next try: growing delays,
  never a lock, and never for the same name from another address or another name from the same
  address (behind a proxy everyone may share one). Failures are also counted per address across
  names: past ADDR_FREE_FAILURES within 15 minutes (a guesser trying name after made-up name;
  far more than an office mistypes), every login from that address waits the same growing
  delays. A success takes its own try off the address's count. The real address comes from
  MADO_TRUSTED_PROXIES (bot/__init__.py). Every 10 failures for an existing account within an
  hour, whatever the address, the admins are alerted (MADO_ALERT_WEBHOOK_URL) and it is audited.
- Memory: each verify takes 64 MiB (argon2id); at most VERIFY_SLOTS run at once per process,
  others wait up to VERIFY_WAIT_S and are then answered "busy" (503). (The web process gives
  logins VERIFY_SLOTS threads of their own and a short queue, so there none waits here:
  bot/asgi.py.) Passwords are at most
  MAX_PASSWORD characters.
"""
from __future__ import annotations

import hmac
import math
import secrets
import threading
import time

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TAG = "mado:{staff}"
ROLES = ("counselor", "admin")
SESSION_TTL_S = 12 * 3600
FAIL_WINDOW_S = 15 * 60       # failures of a (name, address) pair are forgotten after this quiet
FREE_FAILURES = 5             # per (name, address), before any delay
ADDR_FREE_FAILURES = 20       # per address, whatever the names, before any delay
BASE_DELAY_S = 15.0           # the first delay; doubled with each further failure
MAX_DELAY_S = 15 * 60
ALERT_EVERY = 10              # failures for one existing account (any address) → admins alerted
ALERT_WINDOW_S = 3600
VERIFY_SLOTS = 2              # argon2 verifications at once per process (64 MiB each)
VERIFY_WAIT_S = 5.0
MIN_PASSWORD = 10
MAX_PASSWORD = 256

_hasher = PasswordHasher()
# verified against when the name does not exist, so both answers take the same time
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    pass


def _policy_words(key: str) -> str:
    import messages_ja

    return messages_ja.console()["ui"][key].format(min=MIN_PASSWORD, max=MAX_PASSWORD)


def _policy_lists() -> dict:
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("messages_ja").joinpath("passwords.toml").read_text("utf-8"))


def check_password(name: str, password: str) -> None:
    """AccountError, in the console's words, when a password is too weak to protect transcripts:
    too short or too long, (nearly) one character repeated, a common
    password (messages_ja/passwords.toml) or a stretch of the keyboard or the alphabet."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(_policy_words("password.too_short"))
    if len(password) > MAX_PASSWORD:
        raise AccountError(_policy_words("password.too_long"))
    if len(set(password.casefold())) < 4 or not password.strip():
        raise AccountError(_policy_words("password.too_simple"))
    low = password.casefold()
    lists = _policy_lists()
    common = {w.casefold() for w in lists["common"]}
    core = low.strip("0123456789!?@#$%^&*()-_=+.,:;'\" /~` ")
    squeezed = "".join(low.split())
    if low in common or core in common or squeezed in common or any(
            squeezed in seq or squeezed in seq[::-1] for seq in lists["sequences"]):
        raise AccountError(_policy_words("password.common"))


class Throttled(Exception):
    """Too many failures from this (name, address): try again after ``retry_after_s``."""

    def __init__(self, retry_after_s: float):
        super().__init__(f"retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class Busy(Exception):
    """Every verification slot of this process stayed taken: try again in a moment."""


_verify_slots = threading.BoundedSemaphore(VERIFY_SLOTS)

# KEYS[1]: the (name, address) failure record, KEYS[2] the address's. ARGV: now ms, free failures
# of the pair, of the address, first delay ms, longest delay ms, window s. Returns the ms still
# to wait (0: go ahead, this try is counted in both).
ATTEMPT_LUA = """
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, 2 do
  local wait_until = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if wait_until - now > wait then wait = wait_until - now end
end
if wait > 0 then return wait end
for i = 1, 2 do
  local n = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local free = tonumber(ARGV[i + 1])
  local delay = 0
  if n >= free then
    delay = math.floor(math.min(tonumber(ARGV[4]) * 2 ^ (n - free), tonumber(ARGV[5])))
    redis.call('HSET', KEYS[i], 'until', now + delay)
  end
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[6]) + math.ceil(delay / 1000))
end
return 0
"""

# A success: KEYS[1] the pair's record is dropped, KEYS[2] the address's loses this try (and its
# wait, if this try was the one that started it). ARGV[1]: the address's free failures.
SUCCESS_LUA = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local n = redis.call('HINCRBY', KEYS[2], 'n', -1)
  if n < tonumber(ARGV[1]) then redis.call('HDEL', KEYS[2], 'until') end
end
return 0
"""


def account_key(name: str) -> str:
    return f"{TAG}:counselor:{name}"


def session_key(sid: str) -> str:
    return f"{TAG}:session:{sid}"


def fail_key(name: str, addr: str) -> str:
    return f"{TAG}:fail:{len(name)}:{name}:{addr}"


def addr_fail_key(addr: str) -> str:
    return f"{TAG}:failaddr:{addr}"


def sessions_key(name: str) -> str:
    return f"{TAG}:sessions:{name}"


def alert_key(name: str) -> str:
    return f"{TAG}:failures:{name}"


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= 40 and all(c.isalnum() or c in "._-" for c in name)


class Accounts:
    def __init__(self, r: redis.Redis, *, base_delay_s: float = BASE_DELAY_S):
        self.r = r
        self.base_delay_s = base_delay_s
        self._attempt = r.register_script(ATTEMPT_LUA)
        self._success = r.register_script(SUCCESS_LUA)

    def add(self, name: str, password: str, role: str = "counselor") -> None:
        if not valid_name(name):
            raise AccountError("name: 1-40 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        check_password(name, password)
        created = self.r.hsetnx(account_key(name), "name", name)
        if not created:
            raise AccountError(f"a counselor named {name!r} already exists")
        self.r.hset(account_key(name), mapping={"hash": _hasher.hash(password), "role": role,
                                                "created_at": int(time.time())})
        self.r.sadd(f"{TAG}:names", name)

    def set_password(self, name: str, password: str) -> None:
        if not self.r.exists(account_key(name)):
            raise AccountError(f"no counselor named {name!r}")
        check_password(name, password)
        self.r.hset(account_key(name), "hash", _hasher.hash(password))
        self.end_sessions(name)

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """Disable (or enable again) an account; disabling ends every session of it at once."""
        if not self.r.exists(account_key(name)):
            raise AccountError(f"no counselor named {name!r}")
        self.r.hset(account_key(name), "disabled", "1" if disabled else "0")
        if disabled:
            self.end_sessions(name)

    def end_sessions(self, name: str) -> int:
        """End every session of this counselor. Returns how many were open."""
        self.r.hincrby(account_key(name), "epoch", 1)
        sids = self.r.smembers(sessions_key(name))
        pipe = self.r.pipeline(transaction=False)
        for sid in sids:
            pipe.delete(session_key(sid))
        pipe.delete(sessions_key(name))
        pipe.execute()
        return len(sids)

    def names(self) -> list[str]:
        return sorted(self.r.smembers(f"{TAG}:names"))

    def get(self, name: str) -> dict | None:
        if not valid_name(name):
            return None
        acc = self.r.hgetall(account_key(name))
        return acc if acc.get("hash") else None

    def disabled(self, names: list[str]) -> set[str]:
        """Which of these accounts are disabled (``mado counselor disable``)."""
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.hget(account_key(name), "disabled")
        return {n for n, d in zip(names, pipe.execute()) if d == "1"}

    def check_delay(self, name: str, addr: str) -> None:
        """Throttled if this (name, address), or this address, must still wait (a read only; nothing
        is counted)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(fail_key(name[:40], addr), "until")
        pipe.hget(addr_fail_key(addr), "until")
        left = max(float(until or 0) for until in pipe.execute()) - time.time() * 1000
        if left > 0:
            raise Throttled(math.ceil(left / 100) / 10)

    def _count_attempt(self, name: str, addr: str) -> None:
        left = int(self._attempt(keys=[fail_key(name, addr), addr_fail_key(addr)], args=[
            int(time.time() * 1000), FREE_FAILURES, ADDR_FREE_FAILURES, int(self.base_delay_s * 1000),
            MAX_DELAY_S * 1000, FAIL_WINDOW_S]))
        if left > 0:
            raise Throttled(math.ceil(left / 100) / 10)

    def _failed(self, acc: dict | None) -> None:
        """A failure for an existing account, from any address: every ALERT_EVERY, the admins hear."""
        if not acc:
            return
        pipe = self.r.pipeline(transaction=False)
        pipe.incr(alert_key(acc["name"]))
        pipe.expire(alert_key(acc["name"]), ALERT_WINDOW_S, nx=True)
        n = pipe.execute()[0]
        if n % ALERT_EVERY == 0:
            from .store import ALERTS, AUDIT, now_ms

            self.r.xadd(ALERTS, {"kind": "login", "name": acc["name"], "count": n, "at": now_ms()},
                        maxlen=10_000, approximate=True)
            self.r.xadd(AUDIT, {"who": acc["name"], "action": "login_failures", "handoff": "", "at": now_ms()},
                        maxlen=100_000, approximate=True)

    def verify(self, name: str, password: str, addr: str) -> dict | None:
        """The account if the password is right; None otherwise. The attempt is counted before the
        password is checked; raises Throttled while this (name, address) must wait, and Busy when
        no verification slot came free."""
        if not isinstance(name, str) or not isinstance(password, str):
            return None
        name = name[:40]
        self.check_delay(name, addr)            # a waiting pair costs no slot and no hash
        if not _verify_slots.acquire(timeout=VERIFY_WAIT_S):
            raise Busy()
        try:
            self._count_attempt(name, addr)
            acc = self.get(name)
            if len(password) > MAX_PASSWORD:
                ok = False
            else:
                try:
                    ok = _hasher.verify(acc["hash"] if acc else _DUMMY, password)
                except (VerifyMismatchError, VerificationError, InvalidHashError):
                    ok = False
            if ok and acc and _hasher.check_needs_rehash(acc["hash"]):
                self.r.hset(account_key(name), "hash", _hasher.hash(password))
        finally:
            _verify_slots.release()
        if not ok or not acc or acc.get("disabled") == "1":
            self._failed(acc)
            return None
        self._succeeded(name, addr)
        return acc

    def _succeeded(self, name: str, addr: str) -> None:
        self._success(keys=[fail_key(name, addr), addr_fail_key(addr)], args=[ADDR_FREE_FAILURES])

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, acc: dict) -> tuple[str, str]:
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self.r.hset(session_key(sid), mapping={"name": acc["name"], "role": acc.get("role", "counselor"),
                                               "csrf": csrf, "at": int(time.time()),
                                               "epoch": acc.get("epoch", "0")})
        self.r.expire(session_key(sid), SESSION_TTL_S)
        pipe = self.r.pipeline(transaction=False)
        pipe.sadd(sessions_key(acc["name"]), sid)
        pipe.expire(sessions_key(acc["name"]), SESSION_TTL_S)
        pipe.execute()
        return sid, csrf

    def session(self, sid: str | None) -> dict | None:
        if not sid or len(sid) > 100:
            return None
        sess = self.r.hgetall(session_key(sid))
        if not sess:
            return None
        acc = self.get(sess["name"])
        if not acc or acc.get("disabled") == "1" or sess.get("epoch", "0") != acc.get("epoch", "0"):
            return None
        sess["role"] = acc.get("role", "counselor")     # a role change applies at once
        return sess

    def close_session(self, sid: str | None) -> None:
        if sid and len(sid) <= 100:
            name = self.r.hget(session_key(sid), "name")
            self.r.delete(session_key(sid))
            if name:
                self.r.srem(sessions_key(name), sid)

    @staticmethod
    def csrf_ok(sess: dict, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(sess.get("csrf", ""), token)
