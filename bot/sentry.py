"""Sentry, only when SENTRY_DSN is set, with personal data scrubbed before anything leaves."""
from __future__ import annotations

import re

from .config import Config

_LINE_ID = re.compile(r"\b[UCR][0-9a-f]{32}\b")
_SENSITIVE_KEYS = {  # compared in lower case
    "text", "body", "data", "reply_token", "replytoken", "userid", "user_id", "line_id", "to",
    "chatid", "x-line-signature", "cookie", "authorization", "markasreadtoken", "ev", "messages",
    "password",
}
# request headers that may carry a credential (the console's X-CSRF-Token, a session cookie, an
# Authorization, LINE's signature, any other token or key): their values never leave
_SECRET_HEADER = re.compile(r"auth|cookie|csrf|xsrf|token|session|signature|secret|key|password", re.I)


def _scrub(value, depth=0):
    if depth > 8:
        return "[scrubbed]"
    if isinstance(value, dict):
        return {k: ("[scrubbed]" if str(k).lower() in _SENSITIVE_KEYS else _scrub(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _LINE_ID.sub("[line-id]", value)
    return value


def before_send(event, hint):
    event.pop("user", None)
    req = event.get("request")
    if isinstance(req, dict):
        for k in ("data", "cookies", "query_string", "env"):
            req.pop(k, None)
        if isinstance(req.get("headers"), dict):
            req["headers"] = {k: "[scrubbed]" if _SECRET_HEADER.search(str(k)) else _scrub(v)
                              for k, v in req["headers"].items()}
    for exc in (event.get("exception") or {}).get("values", []) or []:
        if isinstance(exc.get("value"), str):
            exc["value"] = "[scrubbed]"
        for frame in ((exc.get("stacktrace") or {}).get("frames") or []):
            for k in ("vars", "pre_context", "context_line", "post_context"):
                frame.pop(k, None)      # file, function and line number are enough to find it
    if isinstance(event.get("extra"), dict):
        event["extra"] = _scrub(event["extra"])
    if "logentry" in event:
        event["logentry"] = {"message": "[scrubbed]"}
    return event


def before_breadcrumb(crumb, hint):
    """No data on any breadcrumb; a Redis one keeps only its command (HGETALL, EVALSHA): a key
    names a person (their pseudonym) or a counselor's session (`{staff}:session:<id>`)."""
    crumb.pop("data", None)
    message = crumb.get("message")
    if isinstance(message, str):
        if crumb.get("category") == "redis" or crumb.get("type") == "redis":
            crumb["message"] = message.split(" ", 1)[0][:40]
        else:
            crumb["message"] = _LINE_ID.sub("[line-id]", message)
    return crumb


def release() -> str:
    """mado's version, plus the deployed commit when the platform tells it (Heroku: SOURCE_VERSION)."""
    import os
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("mado")
    except PackageNotFoundError:
        v = "dev"
    commit = os.environ.get("SOURCE_VERSION") or os.environ.get("GIT_COMMIT") or ""
    return f"mado@{v}" + (f"+{commit[:12]}" if commit else "")


def init_sentry(config: Config, component: str) -> bool:
    if not config.sentry_dsn:
        return False
    import sentry_sdk

    integrations = []
    if component == "web":
        from sentry_sdk.integrations.flask import FlaskIntegration

        integrations.append(FlaskIntegration())
    sentry_sdk.init(
        dsn=config.sentry_dsn,
        # send_default_pii is off by default in every sentry-sdk 2.x (newer ones deprecate passing
        # it at all in favour of data_collection); the scrubbers below apply either way.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        environment=config.environment,
        release=release(),
        integrations=integrations,
    )
    sentry_sdk.set_tag("component", component)
    return True


def capture(message: str, **tags) -> None:
    """Report a failure that was handled (dead letter, give-up) with ids only, never content."""
    try:
        import sentry_sdk
    except ImportError:  # pragma: no cover - sentry-sdk is a dependency
        return
    if sentry_sdk.get_client().is_active():
        with sentry_sdk.new_scope() as scope:
            for k, v in tags.items():
                scope.set_tag(k, v)
            sentry_sdk.capture_message(message, level="error")
