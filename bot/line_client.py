"""LINE Messaging API client (line-bot-sdk v3), with timeouts, retries and de-duplicated pushes.

Outcomes are reported as values, not guessed by callers:
- reply: DELIVERED, or TOKEN_REJECTED (expired/used: LINE's 400 "Invalid reply token"),
- push: DELIVERED (also on 409: LINE already accepted this retry key),
- anything else after the retries: SendFailed.
Retries follow LINE's advice (shared/line_platform.md §2.4): 5xx, 429 and timeouts, with
exponential backoff; never other 4xx.

Cost: the SDK's models validate and serialise each message once, when a message set is prepared
(`LineClient.messages`); the same prepared set serves the reply, a push after a refused token and
every retry. The call itself goes through the SDK's ApiClient (auth, ApiException) with that
body, so there is one JSON pass per call and no second validation of the request by the
generated endpoint wrappers; under it, each sending thread keeps one connection to LINE alive
(bot/line_transport.py).
"""
from __future__ import annotations

import enum
import functools
import json
import random
import time
import uuid

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MarkMessagesAsReadByTokenRequest,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    ShowLoadingAnimationRequest,
    TextMessage,
    FlexContainer,
    FlexMessage,
)

from .config import Config
from .line_transport import KeptAliveTransport

RETRY_KEY_NAMESPACE = uuid.UUID("6f1b7b52-6d61-4d6f-9a1e-6d61646f0001")


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    TOKEN_REJECTED = "token_rejected"          # the token was expired or used before we tried
    PRESUMED_DELIVERED = "presumed_delivered"  # an earlier try of ours got lost on the way back and
    # LINE now calls the (single-use) token used: that try was the one that went through


class SendFailed(Exception):
    """A LINE call failed for good. `status` is the HTTP status, 0 for network/timeouts."""

    def __init__(self, kind: str, status: int, retryable: bool):
        super().__init__(f"LINE {kind} failed with status {status}")
        self.kind = kind
        self.status = status
        self.retryable = retryable


def retry_key(event_key: str, batch: int) -> str:
    """The same event and place always give the same key, so a redo is the same push to LINE."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{event_key}:{batch}"))


class Messages:
    """A message set, validated and serialised once by the SDK's models (see LineClient.messages)."""

    __slots__ = ("body",)

    def __init__(self, messages: list[dict]):
        if not 1 <= len(messages) <= 5:         # what the request models require
            raise ValueError(f"a LINE call carries 1 to 5 messages, not {len(messages)}")
        self.body = [_serialised(m) for m in messages]

    def request(self, **envelope) -> dict:
        """ReplyMessageRequest / PushMessageRequest's JSON form, around the prepared messages."""
        return {**envelope, "messages": self.body, "notificationDisabled": False}


def _serialised(message: dict) -> dict:
    """The SDK's JSON form of one message. A message with quick replies or a card is one of the
    bot's own (from the catalogue: the counselor's words never carry either) and costs most to
    build (nested models): built once and kept, the same for everyone (never mutated afterwards)."""
    if message.get("card"):
        quick = tuple((q["label"], q["data"], q.get("display") or q["label"]) for q in message.get("quick", ()))
        return _serialised_card(message["text"], json.dumps(message["card"], ensure_ascii=False, sort_keys=True), quick)
    if not message.get("quick"):
        return to_sdk(message).to_dict()
    quick = tuple((q["label"], q["data"], q.get("display") or q["label"]) for q in message["quick"])
    return _serialised_quick(message["text"], quick)


@functools.lru_cache(maxsize=2048)
def _serialised_quick(text: str, quick: tuple) -> dict:
    return to_sdk({"text": text, "quick": [{"label": l, "data": d, "display": s} for l, d, s in quick]}).to_dict()


@functools.lru_cache(maxsize=512)
def _serialised_card(text: str, card: str, quick: tuple) -> dict:
    return to_sdk({"text": text, "card": json.loads(card),
                   "quick": [{"label": l, "data": d, "display": s} for l, d, s in quick]}).to_dict()


FLEX_ALT_MAX = 1500      # LINE's limit on a Flex message's altText (shared/line_platform.md)


def to_sdk(message: dict) -> TextMessage | FlexMessage:
    """A rendered message ({"text", "quick": [{"label", "data", "display"}], "card": bubble})
    as an SDK model: a Flex message when it has a card (its text is the altText, which carries
    every number of the card for devices and notifications that show text only), else text."""
    quick = None
    if message.get("quick"):
        quick = QuickReply(items=[
            QuickReplyItem(action=PostbackAction(label=q["label"], data=q["data"],
                                                 display_text=q.get("display") or q["label"]))
            for q in message["quick"]
        ])
    if message.get("card"):
        return FlexMessage(alt_text=message["text"][:FLEX_ALT_MAX],
                           contents=FlexContainer.from_dict(message["card"]), quick_reply=quick)
    return TextMessage(text=message["text"], quick_reply=quick)


def _give_up(kind: str, exc: ApiException) -> SendFailed:
    status = exc.status or 0
    return SendFailed(kind, status, status == 429 or status >= 500)


def _error_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message", ""))
    except (ValueError, AttributeError):
        return ""


class LineClient:
    def __init__(self, config: Config, *, sleep=time.sleep):
        sdk_cfg = Configuration(access_token=config.access_token, host=config.api_base_url)
        sdk_cfg.retries = False          # our own retry policy below is the only one
        sdk_cfg.connection_pool_maxsize = max(8, config.send_threads + 8)
        self._client = ApiClient(sdk_cfg)
        self._transport = self._client.rest_client = KeptAliveTransport(sdk_cfg)
        self.timeout = (3.05, config.line_timeout_s)
        self.retries = config.line_retries
        self.backoff = config.line_backoff_s
        self._sleep = sleep
        self.counts = {"reply": 0, "push": 0, "loading": 0, "mark_read": 0, "errors": 0}

    def close(self) -> None:
        self._transport.close()
        self._client.close()

    def _call(self, kind: str, fn, failures: list | None = None):
        """Run fn with retries on 5xx/429/timeouts. Returns fn's value or raises.

        Each retried failure is appended to `failures`, so a caller can tell a clean first
        answer from one that came after an attempt whose fate is unknown."""
        attempt = 0
        while True:
            try:
                return fn()
            except ApiException as exc:
                status = exc.status or 0
                retryable = status >= 500 or status == 429 or status == 0
                if not retryable or attempt >= self.retries:
                    self.counts["errors"] += 1
                    raise
                wait = self._retry_after(exc) or self.backoff * (2 ** attempt)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt >= self.retries:
                    self.counts["errors"] += 1
                    raise SendFailed(kind, 0, True) from exc
                wait = self.backoff * (2 ** attempt)
            if failures is not None:
                failures.append(kind)
            attempt += 1
            self._sleep(wait * (0.8 + 0.4 * random.random()))

    @staticmethod
    def _retry_after(exc: ApiException) -> float | None:
        headers = exc.headers or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        try:
            return min(float(value), 30.0) if value else None
        except ValueError:
            return None

    @staticmethod
    def messages(messages: "list[dict] | Messages") -> Messages:
        """The message set as the SDK builds it: build it once, pass it to reply and push."""
        return messages if isinstance(messages, Messages) else Messages(messages)

    def _post(self, path: str, body: dict, headers: dict | None = None) -> None:
        """One POST through the SDK's ApiClient (auth, pool, ApiException), the body as is."""
        self._client.call_api(
            path, "POST", None, [],
            {"Accept": "application/json", "Content-Type": "application/json", **(headers or {})},
            body=body, post_params=[], files={}, response_types_map={}, auth_settings=["Bearer"],
            _return_http_data_only=True, _preload_content=True, _request_timeout=self.timeout)

    def reply(self, reply_token: str, messages: "list[dict] | Messages", *, tried_before: bool = False) -> Outcome:
        """Reply once. `tried_before`: an earlier process may already have used this token."""
        body = self.messages(messages).request(replyToken=str(reply_token))
        failures: list = []
        try:
            self._call("reply", lambda: self._post("/v2/bot/message/reply", body), failures)
        except ApiException as exc:
            if exc.status == 400 and "reply token" in _error_message(exc).lower():
                if tried_before or failures:
                    self.counts["reply"] += 1
                    return Outcome.PRESUMED_DELIVERED
                return Outcome.TOKEN_REJECTED
            raise _give_up("reply", exc) from exc
        self.counts["reply"] += 1
        return Outcome.DELIVERED

    def push(self, to: str, messages: "list[dict] | Messages", key: str) -> Outcome:
        body = self.messages(messages).request(to=str(to))
        try:
            self._call("push", lambda: self._post("/v2/bot/message/push", body, {"X-Line-Retry-Key": key}))
        except ApiException as exc:
            if exc.status == 409:
                return Outcome.DELIVERED      # LINE already accepted this exact push
            raise _give_up("push", exc) from exc
        self.counts["push"] += 1
        return Outcome.DELIVERED

    def show_loading(self, chat_id: str, seconds: int = 20) -> None:
        seconds = min(60, max(5, int(round(seconds / 5.0)) * 5))
        body = ShowLoadingAnimationRequest(chat_id=chat_id, loading_seconds=seconds).to_dict()
        try:
            self._call("loading", lambda: self._post("/v2/bot/chat/loading/start", body))
        except ApiException as exc:
            raise SendFailed("loading", exc.status or 0, False) from exc
        self.counts["loading"] += 1

    def mark_read(self, token: str) -> None:
        body = MarkMessagesAsReadByTokenRequest(mark_as_read_token=token).to_dict()
        try:
            self._call("mark_read", lambda: self._post("/v2/bot/chat/markAsRead", body))
        except ApiException as exc:
            raise SendFailed("mark_read", exc.status or 0, False) from exc
        self.counts["mark_read"] += 1
