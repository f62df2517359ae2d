"""The web process as gunicorn runs it (the Procfile's web line): `-k bot.asgi.Worker`.

Why not gunicorn's own thread worker: measured with a do-nothing app under the same load (300
requests/s over kept-alive connections, 2 cores), gunicorn's gthread worker costs ~0.50 ms CPU
per request before any of our code runs (its HTTP parser is Python; each request crosses from
the poller to a pool thread and back), its gevent worker the same, and the uvicorn worker under
the same gunicorn master ~0.26 ms (httptools' C parser on uvloop). `python benchmarks/web.py`
prints those figures again on any machine.

So gunicorn still manages the processes (WEB_CONCURRENCY, restarts, signals), and inside each:
- `/callback`, LINE's path and the hot one, is answered on the event loop itself by the same
  `Webhook` the WSGI app uses (bot/webhook.py): the body read (bounded), the signature, one
  Redis round trip (~0.05 ms; bounded by the web's Redis timeout, which stays under LINE's 2 s),
  a short JSON answer. No thread hop.
- Every other path (health, metrics, the counselor console, the demo) goes to the Flask app on
  a pool of WEB_THREADS threads (a2wsgi), as before.

The uvicorn settings that matter are fixed here, not left to defaults: no `Server` header (no
version told), no proxy headers trusted (MADO_TRUSTED_PROXIES decides that, in the app), no
access log unless WEB_ACCESS_LOG names one (our JSON log already has each request).
"""
from __future__ import annotations

import io
import os

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    """gunicorn's worker class for the web: uvicorn with httptools on uvloop."""

    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "off",
        "server_header": False,
        "proxy_headers": False,
        "access_log": bool(os.environ.get("WEB_ACCESS_LOG")),
    }


async def _read_body(receive, limit: int) -> bytes:
    """The request body, at most `limit` bytes (the rest is not read)."""
    chunks, size, more = [], 0, True
    while more and size < limit:
        message = await receive()
        if message["type"] != "http.request":          # the client went away
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)[:limit]


class Front:
    """The ASGI app: /callback on the loop, everything else to the Flask app's threads."""

    def __init__(self, flask_app, threads: int):
        from a2wsgi import WSGIMiddleware

        self.webhook = flask_app.extensions["mado.webhook"]
        self.limit = flask_app.config["MADO"].max_body_bytes
        self.rest = WSGIMiddleware(flask_app, workers=threads)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/callback":
            await self._callback(scope, receive, send)
        else:
            await self.rest(scope, receive, send)

    async def _callback(self, scope, receive, send):
        headers = dict(scope["headers"])        # (lower-case names, as ASGI gives them)
        length = headers.get(b"content-length", b"").decode("latin-1")
        declared_too_long = length.isdigit() and int(length) > self.limit
        body = b"" if declared_too_long else await _read_body(receive, self.limit + 1)
        environ = {
            "REQUEST_METHOD": scope["method"],
            "PATH_INFO": "/callback",
            "CONTENT_LENGTH": length,
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,       # (a body without a length was read to its end)
        }
        signature = headers.get(b"x-line-signature")
        if signature is not None:
            environ["HTTP_X_LINE_SIGNATURE"] = signature.decode("latin-1")
        started = []
        chunks = self.webhook(environ, lambda status, hdrs: started.append((status, hdrs)))
        status, hdrs = started[0]
        await send({"type": "http.response.start", "status": int(status.split(" ", 1)[0]),
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in hdrs]})
        await send({"type": "http.response.body", "body": b"".join(chunks)})


def create_app(config=None):
    """gunicorn's app (`bot.asgi:create_app()`): the Flask app of `bot.create_app`, behind `Front`."""
    from . import create_app as create_wsgi_app

    threads = int(os.environ.get("WEB_THREADS") or 8)
    return Front(create_wsgi_app(config), threads=max(1, threads))
