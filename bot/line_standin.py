"""A local stand-in for LINE's Messaging API servers: the network edge, and nothing more.

It answers the paths mado uses the way LINE does (status codes and error bodies from LINE's
reference; see shared/line_platform.md §2): reply, push, loading animation, mark as read, rich
menus, the bot's info, and the webhook settings (set, get and test the endpoint: a test posts a
signed `{"destination", "events": []}` to the endpoint, as LINE does, when it knows the channel
secret). Its `Date` header is its clock (`clock_offset_s` puts it wrong, to test ours).
Tests, `mado chat` and the benchmark point line-bot-sdk at it with LINE_API_BASE_URL.

Reply tokens exist only once "issued" (LINE issues them with a webhook): whoever posts a webhook
registers the token with POST /_standin/reply-tokens (or `issue_reply_token`). Control paths
under /_standin/ inject latency and failures and read back what a person would have seen.
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse, urlsplit

WEBHOOK_ENDPOINT = "/v2/bot/channel/webhook/endpoint"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_BODY = 2 * 1024 * 1024


FLEX_URI_SCHEMES = ("http://", "https://", "tel:", "line:")
FLEX_LAYOUTS = {"horizontal", "vertical", "baseline"}
FLEX_COMPONENTS = {"box", "text", "button", "image", "icon", "separator", "filler", "span", "video"}


def _check_flex(m: dict, where: str) -> tuple[str, str] | None:
    """The parts of LINE's Flex Message rules mado uses: (property, message) of the first
    problem, or None. altText 1-1500 characters; a bubble (≤ 30 KB of JSON) or a carousel
    (≤ 12 bubbles, ≤ 50 KB); boxes with a layout and contents; text components with text;
    buttons with an action; uri actions with a label of 1-40 characters and an http(s), tel
    or line URI (tel: digits, + and %23 only)."""
    alt = m.get("altText")
    if not isinstance(alt, str) or not 1 <= len(alt) <= 1500:
        return f"{where}.altText", "Length must be between 1 and 1500"
    contents = m.get("contents")
    if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
        return f"{where}.contents.type", "must be one of bubble, carousel"
    size = len(json.dumps(contents, ensure_ascii=False).encode("utf-8"))
    if contents["type"] == "bubble" and size > 30_000 or size > 50_000:
        return f"{where}.contents", "the JSON of the container is too large"
    bubbles = contents.get("contents", []) if contents["type"] == "carousel" else [contents]
    if contents["type"] == "carousel" and not 1 <= len(bubbles) <= 12:
        return f"{where}.contents.contents", "size must be between 1 and 12"

    def walk(node, path):
        if not isinstance(node, dict):
            return path, "must be an object"
        kind = node.get("type")
        if kind == "bubble":
            for part in ("header", "hero", "body", "footer"):
                if part in node:
                    found = walk(node[part], f"{path}.{part}")
                    if found:
                        return found
            return None
        if kind not in FLEX_COMPONENTS:
            return f"{path}.type", "unknown component type"
        if kind == "box":
            if node.get("layout") not in FLEX_LAYOUTS:
                return f"{path}.layout", "must be one of horizontal, vertical, baseline"
            if not isinstance(node.get("contents"), list):
                return f"{path}.contents", "must be specified"
            for j, child in enumerate(node["contents"]):
                found = walk(child, f"{path}.contents[{j}]")
                if found:
                    return found
        if kind == "text" and not (isinstance(node.get("text"), str) and node["text"]) and not node.get("contents"):
            return f"{path}.text", "must be specified"
        if kind == "button" and not isinstance(node.get("action"), dict):
            return f"{path}.action", "must be specified"
        action = node.get("action")
        if isinstance(action, dict) and action.get("type") == "uri":
            label = action.get("label")
            if kind == "button" and (not isinstance(label, str) or not 1 <= len(label) <= 40):
                return f"{path}.action.label", "Length must be between 1 and 40"
            uri = action.get("uri")
            if not isinstance(uri, str) or not uri.startswith(FLEX_URI_SCHEMES) or len(uri) > 1000:
                return f"{path}.action.uri", "invalid uri scheme"
            if uri.startswith("tel:") and not re.fullmatch(r"tel:\+?[0-9]+|tel:(%23)?[0-9]+", uri):
                return f"{path}.action.uri", "invalid tel uri"
        return None

    for k, b in enumerate(bubbles):
        found = walk(b, f"{where}.contents" + (f".contents[{k}]" if contents["type"] == "carousel" else ""))
        if found:
            return found
    return None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Fault:
    status: int                   # HTTP status to answer with, or 0 for "hang past the timeout"
    count: int                    # how many calls it hits
    path: str | None = None       # only calls to this path (None: any Messaging API path)
    deliver: bool = False         # deliver first, then fail (an ambiguous failure, like a lost answer)
    hang_s: float = 0.0


@dataclass
class StandinState:
    access_token: str
    token_ttl_s: float = 60.0
    latency_s: float = 0.0
    tokens: dict = field(default_factory=dict)        # reply token -> (user id, issued at, used)
    retry_keys: dict = field(default_factory=dict)    # retry key -> (accepted request id, sent messages)
    deliveries: list = field(default_factory=list)    # what people received, in order
    calls: list = field(default_factory=list)         # every API call: (path, status, at)
    faults: list = field(default_factory=list)
    loading: list = field(default_factory=list)
    read_marks: list = field(default_factory=list)
    richmenus: dict = field(default_factory=dict)     # id -> {"request", "image"}
    default_richmenu: str | None = None
    webhook_endpoint: str | None = None               # set with PUT .../webhook/endpoint
    webhook_active: bool = False                      # "Use webhook" (only the console switches it)
    webhook_tests: list = field(default_factory=list)  # what each webhook test found
    chat_mode: str = "chat"                           # the Official Account's Chat: "chat" (on) or "bot"


class StandinLine:
    def __init__(self, access_token: str = "standin-token", *, host: str = "127.0.0.1", port: int = 0,
                 token_ttl_s: float = 60.0, latency_ms: float = 0.0, auto_issue_tokens: bool = False,
                 tls: tuple[str, str] | None = None, channel_secret: str | None = None,
                 webhook_ca: str | None = None, webhook_timeout_s: float = 2.0, clock_offset_s: float = 0.0):
        self.state = StandinState(access_token=access_token, token_ttl_s=token_ttl_s,
                                  latency_s=latency_ms / 1000.0)
        # the channel as LINE knows it: its secret signs the webhooks it sends (a test's), the bot's
        # own user id is their "destination"
        self.channel_secret = channel_secret
        self.bot_user_id = "U" + hashlib.sha256(access_token.encode()).hexdigest()[:32]
        self.webhook_ca = webhook_ca              # certificates trusted for the endpoint (None: the system's)
        self.webhook_timeout_s = webhook_timeout_s  # LINE waits 2 s for a webhook's answer
        self.clock_offset_s = clock_offset_s        # its Date header this far from the true time
        self.auto_issue_tokens = auto_issue_tokens   # benchmarks: a new token is taken as just issued
        self.lock = threading.Condition()
        self._server = _Server((host, port), _Handler)
        self._server.standin = self
        self._thread: threading.Thread | None = None
        self.connections = 0              # TCP connections accepted (LINE's side of keep-alive)
        self._open: set = set()
        self._tls = tls
        if tls:                           # (certificate file, key file): https, as LINE's own host
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        if self._tls:
            return f"https://localhost:{port}"
        return f"http://{host}:{port}"

    def start(self) -> "StandinLine":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="line-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def drop_connections(self) -> None:
        """Close every kept-alive connection from LINE's side, as its servers do with idle ones."""
        with self.lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- control (in process; the same is reachable over HTTP under /_standin/) ---------------
    def issue_reply_token(self, user_id: str, token: str | None = None) -> str:
        token = token or uuid.uuid4().hex
        with self.lock:
            self.state.tokens[token] = [user_id, time.time(), False]
        return token

    def set_latency(self, ms: float) -> None:
        with self.lock:
            self.state.latency_s = ms / 1000.0

    def add_fault(self, status: int, count: int = 1, path: str | None = None, *,
                  deliver: bool = False, hang_s: float = 0.0) -> None:
        with self.lock:
            self.state.faults.append(Fault(status, count, path, deliver, hang_s))

    def clear_faults(self) -> None:
        """LINE answers again: the faults not yet used up are dropped (`add_fault(500, 10**9)`
        then this: LINE down for a while)."""
        with self.lock:
            self.state.faults.clear()

    def set_webhook(self, *, active: bool | None = None, endpoint: str | None = None) -> None:
        """What the operator does in the LINE Developers Console: "Use webhook" on or off, the URL."""
        with self.lock:
            if active is not None:
                self.state.webhook_active = active
            if endpoint is not None:
                self.state.webhook_endpoint = endpoint or None

    def webhook(self) -> dict:
        with self.lock:
            return {"endpoint": self.state.webhook_endpoint, "active": self.state.webhook_active,
                    "tests": list(self.state.webhook_tests)}

    def set_chat_mode(self, mode: str) -> None:
        """The Official Account Manager's Chat switch: "chat" (on) or "bot" (off)."""
        assert mode in ("chat", "bot")
        with self.lock:
            self.state.chat_mode = mode

    def deliveries(self, to: str | None = None) -> list[dict]:
        with self.lock:
            return [d for d in self.state.deliveries if to is None or d["to"] == to]

    def loading(self) -> list[dict]:
        with self.lock:
            return list(self.state.loading)

    def read_tokens(self) -> list[str]:
        with self.lock:
            return [m["token"] for m in self.state.read_marks]

    def calls(self, path: str | None = None) -> list[dict]:
        with self.lock:
            return [c for c in self.state.calls if path is None or c["path"] == path]

    def wait_for(self, predicate, timeout: float = 10.0):
        """Block until predicate(self) is truthy; return its value (or the last falsy one)."""
        deadline = time.time() + timeout
        with self.lock:
            while True:
                value = predicate(self)
                if value or time.time() >= deadline:
                    return value
                self.lock.wait(min(0.05, max(0.0, deadline - time.time())))

    # -- request handling -------------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        for f in self.state.faults:
            if f.count > 0 and (f.path is None or f.path == path):
                f.count -= 1
                return f
        return None

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, dict]:
        if path.startswith("/_standin/"):
            return self._control(method, path, body)
        received = time.time()
        with self.lock:
            latency = self.state.latency_s
        if latency:
            time.sleep(latency)
        status, payload, extra = self._api(method, path, headers, body, received)
        with self.lock:
            self.state.calls.append({"path": path, "status": status, "at": time.time(),
                                     "retry_key": headers.get("X-Line-Retry-Key")})
            self.lock.notify_all()
        return status, payload, extra

    READS = {"/v2/bot/info", WEBHOOK_ENDPOINT}             # paths answered to GET

    def _api(self, method, path, headers, body, received):
        allowed = method == "POST" or (method == "GET" and path in self.READS) or \
            (method == "PUT" and path == WEBHOOK_ENDPOINT)
        if not allowed:
            return 405, {"message": "Method Not Allowed"}, {}
        if headers.get("Authorization") != f"Bearer {self.state.access_token}":
            return 401, {"message": "Authentication failed. Confirm that the access token in the "
                                    "authorization header is valid."}, {}
        if path.startswith("/v2/bot/richmenu/") and path.endswith("/content"):
            return self._richmenu_image(path, headers, body)
        if len(body) > MAX_BODY:
            return 413, {"message": "Request Entity Too Large"}, {}
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "The request body could not be parsed as JSON"}, {}
        with self.lock:
            fault = self._take_fault(path)
        if fault and not fault.deliver:
            return self._fault_answer(fault)
        if method == "GET":
            answer = self._bot_info() if path == "/v2/bot/info" else self._get_webhook()
        elif method == "PUT":
            answer = self._set_webhook(req)
        elif path == "/v2/bot/channel/webhook/test":
            answer = self._test_webhook(req)
        elif path == "/v2/bot/message/reply":
            answer = self._reply(req, headers, received)
        elif path == "/v2/bot/message/push":
            answer = self._push(req, headers, received)
        elif path == "/v2/bot/chat/loading/start":
            answer = self._loading(req)
        elif path == "/v2/bot/chat/markAsRead":
            answer = self._mark_read(req)
        elif path == "/v2/bot/richmenu":
            answer = self._richmenu_create(req)
        elif path.startswith("/v2/bot/user/all/richmenu/"):
            answer = self._richmenu_default(path.rsplit("/", 1)[1])
        else:
            return 404, {"message": "Not found"}, {}
        if fault:  # delivered, but the caller never learns it
            return self._fault_answer(fault)
        return answer

    @staticmethod
    def _fault_answer(fault: Fault):
        if fault.status == 0:          # hang past the client's timeout (recorded as 504)
            time.sleep(fault.hang_s)
            return 504, {"message": "Gateway Timeout"}, {}
        if fault.status == 429:
            return 429, {"message": "The API rate limit has been exceeded. Try again later."}, {}
        return fault.status, {"message": "Internal Server Error"}, {}

    @staticmethod
    def _check_messages(req) -> dict | None:
        msgs = req.get("messages")
        if not isinstance(msgs, list) or not 1 <= len(msgs) <= 5:
            return {"message": "The request body has 1 error(s)",
                    "details": [{"message": "size must be between 1 and 5", "property": "messages"}]}
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or "type" not in m:
                return {"message": "The request body has 1 error(s)",
                        "details": [{"message": "must be specified", "property": f"messages[{i}].type"}]}
            if m["type"] == "text":
                text = m.get("text")
                if not isinstance(text, str) or not text:
                    return {"message": "The request body has 1 error(s)",
                            "details": [{"message": "must be specified", "property": f"messages[{i}].text"}]}
                if utf16_len(text) > 5000:
                    return {"message": "The request body has 1 error(s)",
                            "details": [{"message": "Length must be between 0 and 5000",
                                         "property": f"messages[{i}].text"}]}
            elif m["type"] == "flex":
                problem = _check_flex(m, f"messages[{i}]")
                if problem:
                    return {"message": "The request body has 1 error(s)",
                            "details": [{"message": problem[1], "property": problem[0]}]}
            items = ((m.get("quickReply") or {}).get("items")) or []
            if len(items) > 13:
                return {"message": "The request body has 1 error(s)",
                        "details": [{"message": "size must be between 0 and 13",
                                     "property": f"messages[{i}].quickReply.items"}]}
            for j, it in enumerate(items):
                label = (it.get("action") or {}).get("label") or ""
                if not label or len(label) > 20:
                    return {"message": "The request body has 1 error(s)",
                            "details": [{"message": "Length must be between 1 and 20",
                                         "property": f"messages[{i}].quickReply.items[{j}].action.label"}]}
        return None

    def _record(self, kind: str, to: str, req: dict, received: float, retry_key: str | None = None,
                token: str | None = None) -> list[dict]:
        sent = [{"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in req["messages"]]
        self.state.deliveries.append({"kind": kind, "to": to, "messages": req["messages"],
                                      "retry_key": retry_key, "reply_token": token,
                                      "received_at": received, "at": time.time()})
        return sent

    def _reply(self, req, headers, received):
        if headers.get("X-Line-Retry-Key"):
            return 400, {"message": "The retry key is not supported for this API"}, {}
        err = self._check_messages(req)
        if err:
            return 400, err, {}
        token = req.get("replyToken")
        with self.lock:
            entry = self.state.tokens.get(token) if isinstance(token, str) else None
            if entry is None and self.auto_issue_tokens and isinstance(token, str):
                entry = self.state.tokens[token] = ["U" + "0" * 32, time.time(), False]
            if entry is None or entry[2] or time.time() - entry[1] > self.state.token_ttl_s:
                return 400, {"message": "Invalid reply token"}, {}
            entry[2] = True
            sent = self._record("reply", entry[0], req, received, token=token)
        return 200, {"sentMessages": sent}, {}

    def _push(self, req, headers, received):
        key = headers.get("X-Line-Retry-Key")
        if key is not None and not UUID_RE.match(key):
            return 400, {"message": "The value of the X-Line-Retry-Key header is invalid"}, {}
        to = req.get("to")
        if not isinstance(to, str) or not to:
            return 400, {"message": "The request body has 1 error(s)",
                         "details": [{"message": "must be specified", "property": "to"}]}, {}
        err = self._check_messages(req)
        if err:
            return 400, err, {}
        with self.lock:
            if key is not None and key in self.state.retry_keys:
                accepted, sent = self.state.retry_keys[key]
                return 409, {"message": "The retry key is already accepted", "sentMessages": sent}, \
                    {"X-Line-Accepted-Request-Id": accepted}
            sent = self._record("push", to, req, received, key)
            if key is not None:
                self.state.retry_keys[key] = (uuid.uuid4().hex, sent)
        return 200, {"sentMessages": sent}, {}

    def _loading(self, req):
        chat = req.get("chatId")
        secs = req.get("loadingSeconds", 20)
        if not isinstance(chat, str) or not chat.startswith("U"):
            return 400, {"message": "The request body has 1 error(s)",
                         "details": [{"message": "invalid chatId", "property": "chatId"}]}, {}
        if not isinstance(secs, int) or not 5 <= secs <= 60 or secs % 5:
            return 400, {"message": "The request body has 1 error(s)",
                         "details": [{"message": "must be a multiple of 5 between 5 and 60",
                                      "property": "loadingSeconds"}]}, {}
        with self.lock:
            self.state.loading.append({"chatId": chat, "seconds": secs, "at": time.time()})
        return 202, {}, {}

    def _mark_read(self, req):
        token = req.get("markAsReadToken")
        if not isinstance(token, str) or not token:
            return 400, {"message": "The request body has 1 error(s)",
                         "details": [{"message": "must be specified", "property": "markAsReadToken"}]}, {}
        with self.lock:
            self.state.read_marks.append({"token": token, "at": time.time()})
        return 200, {}, {}

    # -- the bot and its webhook settings (LINE's reference: "Get bot info", "Webhook settings") --
    def _bot_info(self):
        with self.lock:
            mode = self.state.chat_mode
        return 200, {"userId": self.bot_user_id, "basicId": "@" + self.bot_user_id[1:9], "displayName": "mado",
                     "chatMode": mode, "markAsReadMode": "manual" if mode == "chat" else "auto"}, {}

    def _get_webhook(self):
        with self.lock:
            endpoint, active = self.state.webhook_endpoint, self.state.webhook_active
        if endpoint is None:
            return 404, {"message": "Webhook endpoint not found"}, {}
        return 200, {"endpoint": endpoint, "active": active}, {}

    @staticmethod
    def _valid_endpoint(url) -> bool:
        """LINE's rules for a webhook URL: a valid HTTPS URL of at most 500 characters."""
        if not isinstance(url, str) or not 0 < len(url) <= 500:
            return False
        try:
            parts = urlsplit(url)
            return parts.scheme == "https" and bool(parts.hostname) and parts.port != 0
        except ValueError:
            return False

    def _set_webhook(self, req):
        if not self._valid_endpoint(req.get("endpoint")):
            return 400, {"message": "Invalid webhook endpoint URL"}, {}
        with self.lock:
            self.state.webhook_endpoint = req["endpoint"]
        return 200, {}, {}

    def _test_webhook(self, req):
        """Post what LINE posts to check an endpoint (`{"destination", "events": []}`, signed with
        the channel secret) and tell how it went, in LINE's words (reason OK, COULD_NOT_CONNECT,
        REQUEST_TIMEOUT, ERROR_STATUS_CODE)."""
        endpoint = req.get("endpoint")
        if endpoint is not None and not self._valid_endpoint(endpoint):
            return 400, {"message": "Invalid webhook endpoint URL"}, {}
        if endpoint is None:
            with self.lock:
                endpoint = self.state.webhook_endpoint
            if endpoint is None:
                return 404, {"message": "Webhook endpoint not found"}, {}
        sent_at = time.time()
        body = json.dumps({"destination": self.bot_user_id, "events": []}, separators=(",", ":")).encode()
        key = (self.channel_secret or uuid.uuid4().hex).encode()      # unknown secret: a signature that fails
        signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        parts = urlsplit(endpoint)
        import http.client

        ctx = ssl.create_default_context(cafile=self.webhook_ca)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=self.webhook_timeout_s,
                                           context=ctx)
        try:
            conn.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body=body,
                         headers={"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": signature,
                                  "User-Agent": "LineBotWebhook/2.0"})
            status = conn.getresponse().status
            success = 200 <= status < 300
            result = (status, "OK" if success else "ERROR_STATUS_CODE", str(status))
        except (TimeoutError, socket.timeout):
            success, result = False, (0, "REQUEST_TIMEOUT", "Request timeout")
        except ssl.SSLError:
            success, result = False, (0, "COULD_NOT_CONNECT", f"TLS handshake failure: {endpoint}")
        except OSError:
            success, result = False, (0, "COULD_NOT_CONNECT", "Failure to connect")
        finally:
            conn.close()
        answer = {"success": success,
                  "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent_at))
                  + f".{int(sent_at * 1000) % 1000:03d}Z",
                  "statusCode": result[0], "reason": result[1], "detail": result[2]}
        with self.lock:
            self.state.webhook_tests.append({"endpoint": endpoint, **answer})
        return 200, answer, {}

    # -- rich menus (LINE's rules: shared/line_platform.md §2.8) ----------------------------
    def _richmenu_create(self, req):
        size = req.get("size") or {}
        w, h = size.get("width"), size.get("height")
        areas = req.get("areas") or []
        errors = []
        if not isinstance(w, int) or not 800 <= w <= 2500:
            errors.append("size.width")
        if not isinstance(h, int) or h < 250 or (isinstance(w, int) and w / h < 1.45):
            errors.append("size.height")
        if not 1 <= len(str(req.get("chatBarText", ""))) <= 14:
            errors.append("chatBarText")
        if not 1 <= len(areas) <= 20:
            errors.append("areas")
        for a in areas:
            b = a.get("bounds") or {}
            if isinstance(w, int) and isinstance(h, int) and (
                    b.get("x", -1) < 0 or b.get("y", -1) < 0 or b.get("x", 0) + b.get("width", 0) > w
                    or b.get("y", 0) + b.get("height", 0) > h):
                errors.append("areas.bounds")
        if errors:
            return 400, {"message": "The request body has %d error(s)" % len(errors),
                         "details": [{"message": "invalid", "property": e} for e in errors]}, {}
        menu_id = "richmenu-" + uuid.uuid4().hex
        with self.lock:
            self.state.richmenus[menu_id] = {"request": req, "image": None}
        return 200, {"richMenuId": menu_id}, {}

    def _richmenu_image(self, path, headers, body):
        if headers.get("Authorization") != f"Bearer {self.state.access_token}":
            return 401, {"message": "Authentication failed."}, {}
        menu_id = path.split("/")[4]
        with self.lock:
            menu = self.state.richmenus.get(menu_id)
        if menu is None:
            return 404, {"message": "Not found"}, {}
        if headers.get("Content-Type") not in ("image/png", "image/jpeg"):
            return 415, {"message": "Unsupported Media Type"}, {}
        if len(body) > 1024 * 1024:
            return 413, {"message": "Request Entity Too Large"}, {}
        if menu["image"] is not None:
            return 400, {"message": "An image has already been uploaded to the rich menu"}, {}
        with self.lock:
            menu["image"] = body
        return 200, {}, {}

    def _richmenu_default(self, menu_id):
        with self.lock:
            menu = self.state.richmenus.get(menu_id)
            if menu is None:
                return 404, {"message": "Not found"}, {}
            if menu["image"] is None:
                return 400, {"message": "must upload richmenu image before applying it to user"}, {}
            self.state.default_richmenu = menu_id
        return 200, {}, {}

    def richmenus(self) -> dict:
        with self.lock:
            return {"menus": dict(self.state.richmenus), "default": self.state.default_richmenu}

    def _control(self, method, path, body):
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "bad JSON"}, {}
        parsed = urlparse(path)
        route = parsed.path
        if method == "POST" and route == "/_standin/reply-tokens":
            return 200, {"replyToken": self.issue_reply_token(req["userId"], req.get("replyToken"))}, {}
        if method == "POST" and route == "/_standin/latency":
            self.set_latency(float(req.get("ms", 0)))
            return 200, {}, {}
        if method == "POST" and route == "/_standin/faults":
            self.add_fault(int(req["status"]), int(req.get("count", 1)), req.get("path"),
                           deliver=bool(req.get("deliver")), hang_s=float(req.get("hang_s", 0)))
            return 200, {}, {}
        if method == "GET" and route == "/_standin/deliveries":
            qs = parse_qs(parsed.query)
            since = float(qs.get("since", ["0"])[0])
            to = qs.get("to", [None])[0]
            items = [d for d in self.deliveries(to) if d["at"] > since]
            return 200, {"deliveries": items}, {}
        if method == "POST" and route == "/_standin/webhook":
            self.set_webhook(active=req.get("active"), endpoint=req.get("endpoint"))
            return 200, self.webhook(), {}
        if method == "GET" and route == "/_standin/calls":
            return 200, {"calls": self.calls()}, {}
        return 404, {"message": "Not found"}, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "line-standin"
    disable_nagle_algorithm = True   # headers and body are separate writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):  # quiet: the calls are recorded, not printed
        pass

    def date_time_string(self, timestamp=None):
        """The Date header: LINE's clock, which `clock_offset_s` may put wrong."""
        offset = self.server.standin.clock_offset_s
        return email.utils.formatdate((timestamp or time.time()) + offset, usegmt=True)

    def setup(self):
        super().setup()
        standin = self.server.standin
        with standin.lock:
            standin.connections += 1
            standin._open.add(self.connection)

    def finish(self):
        standin = self.server.standin
        with standin.lock:
            standin._open.discard(self.connection)
        super().finish()

    def _serve(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, extra = self.server.standin.handle(method, self.path, self.headers, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Line-Request-Id", uuid.uuid4().hex)
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass            # the client gave up waiting (a timeout under test): as LINE, nothing to say

    def do_POST(self):
        self._serve("POST")

    def do_GET(self):
        self._serve("GET")

    def do_PUT(self):
        self._serve("PUT")


def main(argv=None) -> None:
    """`python -m bot.line_standin --port 8090 --latency-ms 100`: run it alone (benchmarks)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--token", default="standin-token")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--token-ttl-s", type=float, default=60.0)
    ap.add_argument("--auto-issue-tokens", action="store_true",
                    help="take an unknown reply token as just issued (load tests)")
    args = ap.parse_args(argv)
    s = StandinLine(args.token, port=args.port, latency_ms=args.latency_ms, token_ttl_s=args.token_ttl_s,
                    auto_issue_tokens=args.auto_issue_tokens)
    print(f"LINE stand-in listening on {s.url}", flush=True)
    try:
        s.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
