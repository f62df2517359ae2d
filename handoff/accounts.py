"""Counselor accounts, sessions and login throttling (Redis, tag ``{staff}``).

- Passwords: argon2id (argon2-cffi's defaults: memory-hard), re-hashed when parameters change.
- Sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure unless turned off for plain
  http in the demo), stored server-side with a CSRF token; a new id at every login (no fixation).
- Throttling: after 5 failed logins for one name or one address within 15 minutes, 429.
"""
from __future__ import annotations

import hmac
import secrets
import time

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TAG = "mado:{staff}"
ROLES = ("counselor", "admin")
SESSION_TTL_S = 12 * 3600
FAIL_WINDOW_S = 15 * 60
FAIL_LIMIT = 5
MIN_PASSWORD = 10

_hasher = PasswordHasher()
# verified against when the name does not exist, so both answers take the same time
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    pass


def account_key(name: str) -> str:
    return f"{TAG}:counselor:{name}"


def session_key(sid: str) -> str:
    return f"{TAG}:session:{sid}"


def fail_key(kind: str, value: str) -> str:
    return f"{TAG}:fail:{kind}:{value}"


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= 40 and all(c.isalnum() or c in "._-" for c in name)


class Accounts:
    def __init__(self, r: redis.Redis):
        self.r = r

    def add(self, name: str, password: str, role: str = "counselor") -> None:
        if not valid_name(name):
            raise AccountError("name: 1-40 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        created = self.r.hsetnx(account_key(name), "name", name)
        if not created:
            raise AccountError(f"a counselor named {name!r} already exists")
        self.r.hset(account_key(name), mapping={"hash": _hasher.hash(password), "role": role,
                                                "created_at": int(time.time())})
        self.r.sadd(f"{TAG}:names", name)

    def set_password(self, name: str, password: str) -> None:
        if not self.r.exists(account_key(name)):
            raise AccountError(f"no counselor named {name!r}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        self.r.hset(account_key(name), "hash", _hasher.hash(password))

    def names(self) -> list[str]:
        return sorted(self.r.smembers(f"{TAG}:names"))

    def get(self, name: str) -> dict | None:
        if not valid_name(name):
            return None
        acc = self.r.hgetall(account_key(name))
        return acc if acc.get("hash") else None

    def throttled(self, name: str, addr: str) -> bool:
        counts = self.r.mget(fail_key("name", name), fail_key("addr", addr))
        return any(int(c or 0) >= FAIL_LIMIT for c in counts)

    def _failed(self, name: str, addr: str) -> None:
        pipe = self.r.pipeline(transaction=False)
        for k in (fail_key("name", name), fail_key("addr", addr)):
            pipe.incr(k)
            pipe.expire(k, FAIL_WINDOW_S, nx=True)
        pipe.execute()

    def verify(self, name: str, password: str, addr: str) -> dict | None:
        """The account if the password is right; None otherwise (and the failure counts)."""
        acc = self.get(name) if isinstance(name, str) else None
        try:
            _hasher.verify(acc["hash"] if acc else _DUMMY, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            self._failed(str(name)[:40], addr)
            return None
        if not acc or acc.get("disabled") == "1":
            self._failed(str(name)[:40], addr)
            return None
        if _hasher.check_needs_rehash(acc["hash"]):
            self.r.hset(account_key(name), "hash", _hasher.hash(password))
        self.r.delete(fail_key("name", name))
        return acc

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, acc: dict) -> tuple[str, str]:
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self.r.hset(session_key(sid), mapping={"name": acc["name"], "role": acc.get("role", "counselor"),
                                               "csrf": csrf, "at": int(time.time())})
        self.r.expire(session_key(sid), SESSION_TTL_S)
        return sid, csrf

    def session(self, sid: str | None) -> dict | None:
        if not sid or len(sid) > 100:
            return None
        sess = self.r.hgetall(session_key(sid))
        if not sess:
            return None
        acc = self.get(sess["name"])
        if not acc or acc.get("disabled") == "1":
            return None
        sess["role"] = acc.get("role", "counselor")     # a role change applies at once
        return sess

    def close_session(self, sid: str | None) -> None:
        if sid:
            self.r.delete(session_key(sid))

    @staticmethod
    def csrf_ok(sess: dict, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(sess.get("csrf", ""), token)
