"""The LINE channel's own settings, through line-bot-sdk v3: the bot's info and the webhook
endpoint (set, show, test). `mado line webhook …` and `mado doctor` use these; LINE's reference,
"Webhook settings" and "Get bot info": PUT/GET /v2/bot/channel/webhook/endpoint,
POST /v2/bot/channel/webhook/test (60 calls an hour), GET /v2/bot/info.
"""
from __future__ import annotations

import contextlib
import email.utils
import time

from linebot.v3.messaging import (ApiClient, ApiException, Configuration, MessagingApi,
                                  SetWebhookEndpointRequest, TestWebhookEndpointRequest)

from .config import Config

TEST_TIMEOUT_S = 30.0      # LINE posts to the endpoint and waits for it before it answers


@contextlib.contextmanager
def messaging_api(cfg: Config):
    with ApiClient(Configuration(access_token=cfg.access_token, host=cfg.api_base_url)) as client:
        yield MessagingApi(client)


def bot_info(cfg: Config) -> tuple[dict, float | None]:
    """The bot's info ({"display_name", "basic_id", "chat_mode", …}) and how far LINE's clock
    (its `Date` header) is ahead of ours, in seconds (None without the header). Raises
    ApiException (401: the token is wrong)."""
    with messaging_api(cfg) as api:
        asked = time.time()
        res = api.get_bot_info_with_http_info(_request_timeout=cfg.line_timeout_s)
        answered = time.time()
    date = (res.headers or {}).get("Date") or (res.headers or {}).get("date")
    skew = None
    if date:
        try:
            theirs = email.utils.parsedate_to_datetime(date).timestamp()
            # the header has whole seconds: take our time as the middle of the call, less LINE's rounding down
            skew = theirs + 0.5 - (asked + answered) / 2
        except (TypeError, ValueError):
            skew = None
    return res.data.to_dict(), skew


def get_webhook(cfg: Config) -> dict | None:
    """{"endpoint", "active"}, or None when no endpoint is set (LINE answers 404)."""
    with messaging_api(cfg) as api:
        try:
            return api.get_webhook_endpoint(_request_timeout=cfg.line_timeout_s).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def set_webhook(cfg: Config, url: str) -> None:
    """Raises ApiException (400: LINE refused the URL: it must be HTTPS, at most 500 characters)."""
    with messaging_api(cfg) as api:
        api.set_webhook_endpoint(SetWebhookEndpointRequest(endpoint=url), _request_timeout=cfg.line_timeout_s)


def run_webhook_test(cfg: Config, url: str | None = None) -> dict | None:
    """LINE posts a test webhook to the endpoint set (or `url`) and says how it went:
    {"success", "status_code", "reason", "detail", "timestamp"}; None when no endpoint is set."""
    with messaging_api(cfg) as api:
        try:
            res = api.test_webhook_endpoint(TestWebhookEndpointRequest(endpoint=url),
                                            _request_timeout=TEST_TIMEOUT_S)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
    return res.to_dict()


def error_message(exc: ApiException) -> str:
    """LINE's own words for a refusal ({"message": …}), else the status line."""
    import json

    try:
        return str(json.loads(exc.body or "{}").get("message") or f"{exc.status} {exc.reason}")
    except (ValueError, AttributeError):
        return f"{exc.status} {exc.reason}"
