"""LINE Messaging API client (line-bot-sdk v3), with timeouts, retries and de-duplicated pushes.

Outcomes are reported as values, not guessed by callers:
- reply: DELIVERED, or TOKEN_REJECTED (expired/used: LINE's 400 "Invalid reply token"),
- push: DELIVERED (also on 409: LINE already accepted this retry key),
- anything else after the retries: SendFailed.
Retries follow LINE's advice (shared/line_platform.md §2.4): 5xx, 429 and timeouts, with
exponential backoff; never other 4xx.
"""
from __future__ import annotations

import enum
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
    MessagingApi,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)

from .config import Config

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


def to_sdk(message: dict) -> TextMessage:
    """A rendered message ({"text", "quick": [{"label", "data", "display"}]}) as an SDK model."""
    quick = None
    if message.get("quick"):
        quick = QuickReply(items=[
            QuickReplyItem(action=PostbackAction(label=q["label"], data=q["data"],
                                                 display_text=q.get("display") or q["label"]))
            for q in message["quick"]
        ])
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
        self.api = MessagingApi(self._client)
        self.timeout = (3.05, config.line_timeout_s)
        self.retries = config.line_retries
        self.backoff = config.line_backoff_s
        self._sleep = sleep
        self.counts = {"reply": 0, "push": 0, "loading": 0, "mark_read": 0, "errors": 0}

    def close(self) -> None:
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

    def reply(self, reply_token: str, messages: list[dict], *, tried_before: bool = False) -> Outcome:
        """Reply once. `tried_before`: an earlier process may already have used this token."""
        req = ReplyMessageRequest(reply_token=reply_token, messages=[to_sdk(m) for m in messages])
        failures: list = []
        try:
            self._call("reply", lambda: self.api.reply_message(req, _request_timeout=self.timeout),
                       failures)
        except ApiException as exc:
            if exc.status == 400 and "reply token" in _error_message(exc).lower():
                if tried_before or failures:
                    self.counts["reply"] += 1
                    return Outcome.PRESUMED_DELIVERED
                return Outcome.TOKEN_REJECTED
            raise _give_up("reply", exc) from exc
        self.counts["reply"] += 1
        return Outcome.DELIVERED

    def push(self, to: str, messages: list[dict], key: str) -> Outcome:
        req = PushMessageRequest(to=to, messages=[to_sdk(m) for m in messages])
        try:
            self._call("push", lambda: self.api.push_message(req, x_line_retry_key=key,
                                                              _request_timeout=self.timeout))
        except ApiException as exc:
            if exc.status == 409:
                return Outcome.DELIVERED      # LINE already accepted this exact push
            raise _give_up("push", exc) from exc
        self.counts["push"] += 1
        return Outcome.DELIVERED

    def show_loading(self, chat_id: str, seconds: int = 20) -> None:
        seconds = min(60, max(5, int(round(seconds / 5.0)) * 5))
        req = ShowLoadingAnimationRequest(chat_id=chat_id, loading_seconds=seconds)
        try:
            self._call("loading", lambda: self.api.show_loading_animation(req, _request_timeout=self.timeout))
        except ApiException as exc:
            raise SendFailed("loading", exc.status or 0, False) from exc
        self.counts["loading"] += 1

    def mark_read(self, token: str) -> None:
        req = MarkMessagesAsReadByTokenRequest(mark_as_read_token=token)
        try:
            self._call("mark_read",
                       lambda: self.api.mark_messages_as_read_by_token(req, _request_timeout=self.timeout))
        except ApiException as exc:
            raise SendFailed("mark_read", exc.status or 0, False) from exc
        self.counts["mark_read"] += 1
