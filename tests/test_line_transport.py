"""LINE calls keep their connection: one per sending thread, replaced without a failed call when
LINE has closed it, over TLS with the certificate checked. Against the LINE stand-in (the only
fake: LINE's side of the network), with the real LineClient and line-bot-sdk above it."""
import threading

import pytest
from linebot.v3.messaging.exceptions import UnauthorizedException

from bot.config import Config
from bot.line_client import LineClient, Outcome, SendFailed
from bot.line_standin import StandinLine

from . import helpers

HELLO = [{"type": "text", "text": "こんにちは"}]


def _client(url: str, token: str = helpers.ACCESS_TOKEN, **extra) -> LineClient:
    """A client whose backoff waits are recorded (and not waited): a wait means a call failed."""
    waits: list = []
    client = LineClient(Config(access_token=token, api_base_url=url, line_backoff_s=0.01, **extra),
                        sleep=waits.append)
    client.waits = waits
    return client


def _reply(client: LineClient, standin: StandinLine, user: str) -> Outcome:
    return client.reply(standin.issue_reply_token(user), HELLO)


def test_one_thread_sends_every_reply_over_one_connection(standin):
    client = _client(standin.url)
    users = [helpers.new_user_id() for _ in range(20)]
    assert all(_reply(client, standin, u) is Outcome.DELIVERED for u in users)
    assert [d["to"] for d in standin.deliveries()] == users
    assert standin.connections == 1 and client.waits == []
    client.close()


def test_sending_threads_each_keep_their_own_connection(standin):
    client = _client(standin.url)
    users = [[helpers.new_user_id() for _ in range(10)] for _ in range(4)]
    outcomes: list = []
    threads = [threading.Thread(target=lambda us=us: outcomes.extend(_reply(client, standin, u) for u in us))
               for us in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes == [Outcome.DELIVERED] * 40
    assert sorted(d["to"] for d in standin.deliveries()) == sorted(u for us in users for u in us)
    assert standin.connections <= 4
    client.close()


def test_a_connection_line_closed_while_idle_is_replaced_without_a_failed_call(standin):
    """LINE closes idle connections; the next reply goes out on a new one at the first try (no
    error, no retry: a retried reply would risk LINE's 'token already used' answer)."""
    client = _client(standin.url)
    first, second = helpers.new_user_id(), helpers.new_user_id()
    assert _reply(client, standin, first) is Outcome.DELIVERED
    standin.drop_connections()
    assert _reply(client, standin, second) is Outcome.DELIVERED
    assert [d["to"] for d in standin.deliveries()] == [first, second]
    assert client.waits == [], "a call failed and was retried"
    assert standin.connections == 2
    client.close()


def test_lines_errors_come_back_as_the_sdks_exceptions(standin):
    client = _client(standin.url, token="not-the-token")
    with pytest.raises(SendFailed) as failed:
        _reply(client, standin, helpers.new_user_id())
    assert failed.value.status == 401 and isinstance(failed.value.__cause__, UnauthorizedException)
    assert standin.deliveries() == []


@pytest.fixture
def certificate(tmp_path):
    return helpers.self_signed_certificate(str(tmp_path))


@pytest.fixture
def tls_standin(certificate):
    s = StandinLine(helpers.ACCESS_TOKEN, tls=certificate).start()
    yield s
    s.stop()


def test_replies_go_over_tls_with_the_certificate_checked(tls_standin, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])      # this stand-in's certificate is trusted
    client = _client(tls_standin.url)
    users = [helpers.new_user_id() for _ in range(3)]
    assert tls_standin.url.startswith("https://")
    assert all(_reply(client, tls_standin, u) is Outcome.DELIVERED for u in users)
    assert [d["to"] for d in tls_standin.deliveries()] == users
    assert tls_standin.connections == 1
    client.close()


def test_a_server_whose_certificate_does_not_verify_is_never_sent_to(tls_standin):
    client = _client(tls_standin.url, line_retries=1)
    with pytest.raises(SendFailed):
        _reply(client, tls_standin, helpers.new_user_id())
    assert tls_standin.deliveries() == []
    client.close()
