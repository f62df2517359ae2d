"""MADO_TRUSTED_PROXIES checked against what the web process sees: a warning in the log (once per
process and kind, never an address) when the setting looks wrong.

The setting is how many reverse proxies stand in front of the web process; login throttling counts
per client address, read that many hops from the right of X-Forwarded-For (bot/__init__.py). Set
too high (or with the web process reachable directly), a client's own X-Forwarded-For is believed
and each made-up address gets fresh tries; set to 0 behind a proxy, every client shares the
proxy's address and one client's failures delay everyone's logins.
"""
from __future__ import annotations

import ipaddress
import logging
import os
from typing import Mapping

from . import logs

WARNINGS = {
    # at start
    "heroku_without_proxy": "MADO_TRUSTED_PROXIES is 0 on Heroku, whose router is a proxy: set it to 1",
    "unusually_many": "MADO_TRUSTED_PROXIES is more than 3: most deployments have 1 or 2; a count "
                      "higher than the real one lets clients choose their own address",
    # from requests to the console
    "forwarded_but_untrusted": "requests carry X-Forwarded-For but MADO_TRUSTED_PROXIES is 0: behind "
                               "a proxy, every client shares its address (set the number of proxies)",
    "public_peer": "a client reached the web process from a public address although "
                   "MADO_TRUSTED_PROXIES is set: it can write its own X-Forwarded-For (only the "
                   "proxies should reach the web process, or set 0)",
    "fewer_hops": "a request came through fewer proxies than MADO_TRUSTED_PROXIES says: the count is "
                  "too high, and the address a client wrote is believed",
}


def _warn(kind: str) -> None:
    logs.emit("config", level=logging.WARNING, result="warning", reason=WARNINGS[kind])


def start_warnings(trusted: int, env: Mapping[str, str] | None = None) -> list[str]:
    """What looks wrong before any request (logged, and returned for the caller)."""
    env = os.environ if env is None else env
    found = []
    if trusted == 0 and env.get("DYNO"):
        found.append("heroku_without_proxy")
    if trusted > 3:
        found.append("unusually_many")
    for kind in found:
        _warn(kind)
    return found


def _public(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_global
    except ValueError:
        return False


class Watch:
    """WSGI middleware, outside ProxyFix (it sees what the proxies sent): each kind of doubt about
    the setting is logged once per process, from console requests only (where addresses count)."""

    def __init__(self, app, trusted: int):
        self.app = app
        self.trusted = trusted
        self.said: set[str] = set()

    def __call__(self, environ, start_response):
        if len(self.said) < 3 and environ.get("PATH_INFO", "").startswith("/console"):
            kind = self._doubt(environ)
            if kind and kind not in self.said:
                self.said.add(kind)
                _warn(kind)
        return self.app(environ, start_response)

    def _doubt(self, environ) -> str | None:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if not self.trusted:
            return "forwarded_but_untrusted" if forwarded else None
        if _public(environ.get("REMOTE_ADDR", "")):
            return "public_peer"
        hops = [h for h in forwarded.split(",") if h.strip()]
        return "fewer_hops" if len(hops) < self.trusted else None
