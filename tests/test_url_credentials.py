"""A password (or a key used as the user name) in a base URL never reaches logs or errors."""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

from steer_sync._cancellation import CancellationToken
from steer_sync._errors import ApiError
from steer_sync._transport import Timeouts, Transport
from steer_sync.testing import LoopbackServer, Reply

PASSWORD = "pw-Gateway-Secret-4711"
USER_KEY = "sk-gw-0123456789abcdefXYZ"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


def with_userinfo(server: LoopbackServer, userinfo: str) -> str:
    return server.url.replace("http://", f"http://{userinfo}@") + "/v1/x?key=abc12345678"


def test_debug_lines_show_the_url_without_its_user_info(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(Reply(body=b"{}"))
    transport = Transport("test", timeouts=Timeouts(connect=10, read=30))
    with caplog.at_level(logging.DEBUG, "steer_sync"):
        response = transport.post(with_userinfo(server, f"alice:{PASSWORD}"), {}, headers={}, token=CancellationToken())
        response.close()
    lines = [record.getMessage() for record in caplog.records]
    sent = [line for line in lines if line.startswith("POST ")]
    assert sent and sent[0].startswith(f"POST {server.url}/v1/x?key=[redacted] ")
    assert PASSWORD not in caplog.text and "alice" not in caplog.text


@pytest.mark.parametrize(
    ("userinfo", "secret"), [(f"alice:{PASSWORD}", PASSWORD), (USER_KEY, USER_KEY), (f"{USER_KEY}:", USER_KEY)]
)
def test_an_error_echoing_the_url_credential_is_redacted(server: LoopbackServer, userinfo: str, secret: str) -> None:
    server.queue(Reply(status=401, body=f"bad credential {secret} for user".encode()))
    transport = Transport("test", timeouts=Timeouts(connect=10, read=30))
    with pytest.raises(ApiError) as caught:
        transport.post(with_userinfo(server, userinfo), {}, headers={}, token=CancellationToken())
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert "[redacted]" in str(caught.value)
