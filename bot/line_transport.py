"""The wire under line-bot-sdk's ApiClient: one kept-alive connection per sending thread.

The SDK's own transport (urllib3's PoolManager behind its RESTClientObject) spends about as much
CPU per call as the rest of the call does: a pool looked up per URL, a queue per connection,
header and retry objects, a poll for a dropped connection. A worker makes one LINE call per
event, so that is ~0.2 ms of every event. This class keeps the SDK in charge of everything else
(the request's models and JSON, auth, the `ApiException`s and their subclasses, exactly as the SDK
raises them) and only carries the JSON POST: `http.client` on a connection that each thread
keeps to LINE's host, checked before reuse, closed after any error. Anything else (other verbs,
form or multipart bodies, a proxy, client certificates, another host) goes to the SDK's own
transport unchanged.

Network failures come out as urllib3's (`ProtocolError`) or as `OSError`s, as from the SDK's own
transport, so the client's retry policy treats them alike.
"""
from __future__ import annotations

import http.client
import json
import ssl
import threading
import weakref
from urllib.parse import urlsplit

import urllib3
from linebot.v3.messaging import rest
from linebot.v3.messaging.exceptions import (
    ApiException,
    ForbiddenException,
    NotFoundException,
    ServiceException,
    UnauthorizedException,
)

from .sockets import idle_but_readable


class _Response:
    """What RESTResponse reads from urllib3's response: status, reason, data, headers."""

    __slots__ = ("status", "reason", "data", "headers")

    def __init__(self, status: int, reason: str, data: bytes, headers) -> None:
        self.status, self.reason, self.data, self.headers = status, reason, data, headers


class KeptAliveTransport(rest.RESTClientObject):
    """Install with `api_client.rest_client = KeptAliveTransport(configuration)`."""

    def __init__(self, configuration, pools_size: int = 4, maxsize=None) -> None:
        super().__init__(configuration, pools_size, maxsize)
        base = urlsplit(configuration.host)
        self._scheme, self._netloc = base.scheme, base.netloc
        self._host, self._port = base.hostname, base.port
        self._own = (base.scheme in ("http", "https") and not configuration.proxy
                     and not configuration.cert_file and not configuration.key_file)
        self._tls = None
        if base.scheme == "https":
            self._tls = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if not configuration.verify_ssl:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self._local = threading.local()
        self._open: set = set()               # every thread's connection, for close()
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._open, self._lock)   # (as urllib3's pools do)

    def close(self) -> None:
        """Close every thread's connection (the SDK's own pool is left to the SDK)."""
        _close_all(self._open, self._lock)

    def request(self, method, url, query_params=None, headers=None, body=None, post_params=None,
                _preload_content=True, _request_timeout=None):
        parts = urlsplit(url)
        if not (self._own and method == "POST" and _preload_content and not post_params
                and (body is None or isinstance(body, (dict, list)))
                and "json" in (headers or {}).get("Content-Type", "json").lower()
                and (parts.scheme, parts.netloc) == (self._scheme, self._netloc)):
            return super().request(method, url, query_params, headers, body, post_params,
                                   _preload_content, _request_timeout)
        path = parts.path + ("?" + parts.query if parts.query else "")
        payload = json.dumps(body).encode() if body is not None else None
        connect_s, read_s = _timeouts(_request_timeout)
        conn = self._connection(connect_s)
        try:
            conn.sock.settimeout(read_s)
            conn.request("POST", path, body=payload, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
        except http.client.HTTPException as exc:
            self._drop()
            if isinstance(exc, OSError):          # RemoteDisconnected is also a ConnectionResetError
                raise
            raise urllib3.exceptions.ProtocolError(type(exc).__name__) from exc
        except BaseException:
            self._drop()
            raise
        if resp.will_close:
            self._drop()
        r = rest.RESTResponse(_Response(resp.status, resp.reason, data, resp.headers))
        if not 200 <= r.status <= 299:        # as the SDK's own transport raises them
            if r.status == 401:
                raise UnauthorizedException(http_resp=r)
            if r.status == 403:
                raise ForbiddenException(http_resp=r)
            if r.status == 404:
                raise NotFoundException(http_resp=r)
            if 500 <= r.status <= 599:
                raise ServiceException(http_resp=r)
            raise ApiException(http_resp=r)
        return r

    def _connection(self, connect_s: float | None) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and not idle_but_readable(conn.sock):
            return conn
        self._drop()
        if self._tls is not None:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=connect_s,
                                               context=self._tls)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=connect_s)
        conn.connect()
        self._local.conn = conn
        with self._lock:
            self._open.add(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            conn.close()


def _close_all(conns: set, lock) -> None:
    with lock:
        todo = list(conns)
        conns.clear()
    for conn in todo:
        conn.close()


def _timeouts(value) -> tuple[float | None, float | None]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if isinstance(value, tuple) and len(value) == 2:
        return value
    return None, None
