"""bot: the LINE edge. `create_app()` builds the web process (webhook, health, console).

Importing this package is cheap on purpose (Flask and redis-py are imported by create_app, not
here): `python -m bot.worker` imports it before the worker's first line, which puts the SIGTERM
handler in place, and a signal in that window would kill the process instead of stopping it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from .config import Config

if TYPE_CHECKING:
    from flask import Flask

_flask_class = None
REDIS_TIMEOUT_S = 1.5     # the web's Redis calls: a 503 within LINE's 2 s rather than no answer


def _mado_flask():
    """The Flask subclass, built on first use (see the module's note on import cost)."""
    global _flask_class
    if _flask_class is None:
        from flask import Flask

        from . import logs

        class MadoFlask(Flask):
            def log_exception(self, exc_info) -> None:
                """An unexpected error is one JSON line (its type and the path), never a traceback in
                the log: tracebacks may carry what people wrote. Sentry, when set, gets the scrubbed
                details."""
                from flask import request

                logs.emit("error", level=40, status=500, path=request.path, error=exc_info[0].__name__)

        _flask_class = MadoFlask
    return _flask_class


def create_app(config: Config | Mapping[str, str] | None = None, *, redis_client=None) -> Flask:
    """App factory: configuration is read and checked here, never at import."""
    if config is None or isinstance(config, Mapping):
        config = Config.from_env(config)
    import collections

    from . import logs
    from .redis_conn import connect

    config.require("channel_secret", "redis_url", "secret_key")
    logs.setup()
    from .sentry import init_sentry

    init_sentry(config, component="web")

    app = _mado_flask()(__name__)
    app.config["MADO"] = config
    app.config["SECRET_KEY"] = config.secret_key
    app.config["MAX_CONTENT_LENGTH"] = None  # the webhook enforces its own limit with a clear answer
    if config.trusted_proxies:
        # the client's address is the one the outermost of our own proxies saw (X-Forwarded-For):
        # login throttling counts per real address. Never trusted beyond the configured number.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    from .proxies import Watch, start_warnings

    # a setting that looks wrong is said in the log: at start, and from what the proxies send
    start_warnings(config.trusted_proxies)
    app.wsgi_app = Watch(app.wsgi_app, config.trusted_proxies)
    r = redis_client if redis_client is not None else connect(config.redis_url, timeout_s=REDIS_TIMEOUT_S)
    app.extensions["mado.redis"] = r
    app.extensions["mado.metrics"] = collections.Counter()
    from .webhook import Webhook, in_front_of

    # /callback is answered before Flask: LINE's path, the hot one (see bot/webhook.py)
    webhook = app.extensions["mado.webhook"] = Webhook(config, r, app.extensions["mado.metrics"])
    app.wsgi_app = in_front_of(app.wsgi_app, webhook)
    from .ops import bp as ops_bp

    app.register_blueprint(ops_bp)
    from handoff.accounts import Accounts
    from handoff.console import bp as console_bp
    from handoff.store import HandoffStore

    app.extensions["mado.handoffs"] = HandoffStore(r, shards=config.shards,
                                                   transcript_ttl_s=config.transcript_ttl_s)
    app.extensions["mado.accounts"] = Accounts(r)
    app.register_blueprint(console_bp)
    if config.demo:        # the chat simulator exists only in demo mode, never in production
        from .demo import bp as demo_bp

        app.register_blueprint(demo_bp)

    return app
