"""Configuration: read once from the environment (or a dict in tests), validated in one place.

The variable names are a contract (shared/design.md); the `MADO_*` tuning knobs below are optional.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Mapping

DEFAULT_API_BASE_URL = "https://api.line.me"


class ConfigError(RuntimeError):
    """A required setting is missing or malformed. The message names it and says what to do."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Config:
    channel_secret: str = ""
    access_token: str = ""
    api_base_url: str = DEFAULT_API_BASE_URL
    redis_url: str = ""
    secret_key: str = ""
    hours: str = "always"
    closed_dates: str = ""            # MADO_CLOSED_DATES: days off despite MADO_HOURS (New Year, holidays)
    sentry_dsn: str = ""
    environment: str = "production"

    # Tuning (optional environment variables, all prefixed MADO_).
    shards: int = 16                  # MADO_EVENT_SHARDS: event streams; fixed for a deployment
    lease_ms: int = 15_000            # MADO_LEASE_MS: a dead worker's shards are taken over after this
    send_threads: int = 64            # MADO_SEND_THREADS: people served in parallel by one worker
    reply_fresh_s: float = 50.0       # MADO_REPLY_FRESH_S: reply tokens older than this are not used
    line_timeout_s: float = 10.0      # MADO_LINE_TIMEOUT_S: read timeout of every LINE API call
    line_retries: int = 4             # MADO_LINE_RETRIES: retries of one LINE call on 5xx/429/timeout
    line_backoff_s: float = 0.5       # MADO_LINE_BACKOFF_S: first backoff, doubled each retry
    max_tries: int = 5                # MADO_MAX_TRIES: attempts of one event before the dead-letter stream
    state_ttl_s: int = 30 * 86400     # MADO_STATE_TTL_S: conversation state kept after last activity
    dedup_ttl_s: int = 2 * 86400      # MADO_DEDUP_TTL_S: webhookEventId remembered this long (>= 1 day)
    max_body_bytes: int = 1 << 20     # MADO_MAX_BODY_BYTES: larger webhook bodies are refused with 413
    idle_welcome_s: int = 24 * 3600   # MADO_IDLE_WELCOME_S: after this silence the person is welcomed back
    demo: bool = False                # MADO_DEMO=1: demo-only routes (never in production)
    transcript_ttl_s: int = 90 * 86400  # MADO_TRANSCRIPT_TTL_S: a handoff's transcript kept after it ends
    handoff_notice_s: int = 15 * 60   # MADO_HANDOFF_NOTICE_S: waiting this long → told kindly, offered choices
    risk_unread_s: int = 60           # MADO_RISK_UNREAD_S: a risk message its holder has not read this long alerts everyone
    alert_webhook_url: str = ""       # MADO_ALERT_WEBHOOK_URL: Slack/Teams/Chatwork-style incoming webhook
    metrics_token: str = ""           # MADO_METRICS_TOKEN: enables /metrics (Bearer token)
    person_rate_per_min: int = 30     # MADO_PERSON_RATE_PER_MIN: more from one person is not answered
    cookie_secure: bool = True        # MADO_COOKIE_SECURE=0 only for plain-http local use (the demo)
    trusted_proxies: int = 0          # MADO_TRUSTED_PROXIES: reverse proxies in front of web (Heroku: 1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if env is None else env
        cfg = cls(
            channel_secret=env.get("LINE_CHANNEL_SECRET", ""),
            access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN", ""),
            api_base_url=(env.get("LINE_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/"),
            redis_url=env.get("REDIS_URL", ""),
            secret_key=env.get("MADO_SECRET_KEY", ""),
            hours=env.get("MADO_HOURS", "always") or "always",
            closed_dates=env.get("MADO_CLOSED_DATES", ""),
            sentry_dsn=env.get("SENTRY_DSN", ""),
            environment=env.get("MADO_ENVIRONMENT", "production"),
            shards=_int(env, "MADO_EVENT_SHARDS", cls.shards),
            lease_ms=_int(env, "MADO_LEASE_MS", cls.lease_ms),
            send_threads=_int(env, "MADO_SEND_THREADS", cls.send_threads),
            reply_fresh_s=_float(env, "MADO_REPLY_FRESH_S", cls.reply_fresh_s),
            line_timeout_s=_float(env, "MADO_LINE_TIMEOUT_S", cls.line_timeout_s),
            line_retries=_int(env, "MADO_LINE_RETRIES", cls.line_retries),
            line_backoff_s=_float(env, "MADO_LINE_BACKOFF_S", cls.line_backoff_s),
            max_tries=_int(env, "MADO_MAX_TRIES", cls.max_tries),
            state_ttl_s=_int(env, "MADO_STATE_TTL_S", cls.state_ttl_s),
            dedup_ttl_s=_int(env, "MADO_DEDUP_TTL_S", cls.dedup_ttl_s),
            max_body_bytes=_int(env, "MADO_MAX_BODY_BYTES", cls.max_body_bytes),
            idle_welcome_s=_int(env, "MADO_IDLE_WELCOME_S", cls.idle_welcome_s),
            demo=env.get("MADO_DEMO", "") in ("1", "true", "yes"),
            transcript_ttl_s=_int(env, "MADO_TRANSCRIPT_TTL_S", cls.transcript_ttl_s),
            handoff_notice_s=_int(env, "MADO_HANDOFF_NOTICE_S", cls.handoff_notice_s),
            risk_unread_s=_int(env, "MADO_RISK_UNREAD_S", cls.risk_unread_s),
            alert_webhook_url=env.get("MADO_ALERT_WEBHOOK_URL", ""),
            cookie_secure=env.get("MADO_COOKIE_SECURE", "1") not in ("0", "false", "no"),
            metrics_token=env.get("MADO_METRICS_TOKEN", ""),
            person_rate_per_min=_int(env, "MADO_PERSON_RATE_PER_MIN", cls.person_rate_per_min),
            trusted_proxies=_int(env, "MADO_TRUSTED_PROXIES", cls.trusted_proxies),
        )
        from handoff.hours import HoursError, parse

        try:
            parse(cfg.hours, cfg.closed_dates)
        except HoursError as exc:
            raise ConfigError(str(exc)) from None
        if not 0 <= cfg.trusted_proxies <= 10:
            raise ConfigError("MADO_TRUSTED_PROXIES must be the number of reverse proxies in front of "
                              "the web process (0 when clients connect directly, 1 on Heroku)")
        if cfg.risk_unread_s < 0:
            raise ConfigError("MADO_RISK_UNREAD_S must be 0 or more (seconds)")
        if cfg.shards < 1:
            raise ConfigError("MADO_EVENT_SHARDS must be at least 1")
        if cfg.dedup_ttl_s < 86400:
            raise ConfigError("MADO_DEDUP_TTL_S must be at least 86400 (one day): LINE may redeliver later")
        return cfg

    def with_overrides(self, **kw) -> "Config":
        known = {f.name for f in fields(self)}
        unknown = set(kw) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **kw)

    def require(self, *names: str) -> "Config":
        """Fail fast, naming every missing variable, before anything starts."""
        env_names = {
            "channel_secret": "LINE_CHANNEL_SECRET",
            "access_token": "LINE_CHANNEL_ACCESS_TOKEN",
            "redis_url": "REDIS_URL",
            "secret_key": "MADO_SECRET_KEY",
        }
        missing = [env_names[n] for n in names if not getattr(self, n)]
        if missing:
            raise ConfigError(
                "missing required environment variable(s): " + ", ".join(missing)
                + " (see README.md, 'Configuration')"
            )
        return self
