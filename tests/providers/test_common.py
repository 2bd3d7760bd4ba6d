"""The shared provider helpers: header merging and the auth-directive send loop (over loopback)."""

from __future__ import annotations

import threading
from typing import Iterator, List, Optional, Sequence

import pytest

from steer_sync._auth._directive import (
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
    RequestKind,
)
from steer_sync._cancellation import CancellationToken
from steer_sync._errors import ApiAuthError, AuthenticationFailed, Cancelled, ReauthRequired, ServerError
from steer_sync._providers._common import body_snippet, json_dumps, merge_headers, send_with_directive
from steer_sync._transport import Timeouts, Transport
from steer_sync.testing import LoopbackServer, Reply


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


class CountingHeaders(AuthHeaderProvider):
    """Hands out a new bearer token per attempt and answers 401/403 with ``action``."""

    def __init__(self, action: AuthErrorAction = AuthErrorAction.RETRY_ONCE, fail_with: Optional[Exception] = None):
        self.action = action
        self.fail_with = fail_with
        self.contexts: List[AuthHeaderContext] = []
        self.errors: List[AuthErrorContext] = []
        self.lock = threading.Lock()

    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        if self.fail_with is not None:
            raise self.fail_with
        with self.lock:
            self.contexts.append(context)
            n = len(self.contexts)
        return [HeaderPair("Authorization", f"Bearer token-{n}"), HeaderPair("x-plugin", "yes")]

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        self.errors.append(context)
        return self.action


def send(server: LoopbackServer, directive: Optional[AuthHeaderProvider], **kw: object) -> object:
    transport = Transport("prov", timeouts=Timeouts(connect=10, read=30))
    response = send_with_directive(
        transport,
        server.url + "/v1/x",
        {"q": 1},
        base_headers={"anthropic-version": "1", "Authorization": "from-base"},
        directive_headers=directive,
        request_kind=RequestKind.STREAM,
        model_id="model-1",
        token=CancellationToken(),
        **kw,  # type: ignore[arg-type]
    )
    try:
        return response.json()
    finally:
        response.close()


def test_merge_headers_later_layers_win_case_insensitively() -> None:
    merged = merge_headers({"Content-Type": "a", "X-One": "1"}, None, {"content-type": "b"}, {"x-two": "2"})
    assert merged == {"content-type": "b", "X-One": "1", "x-two": "2"}


def test_json_dumps_and_body_snippet() -> None:
    assert json_dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert body_snippet(b"x" * 600) == "x" * 512 + "..."
    assert body_snippet("short") == "short"
    assert body_snippet(b"\xffok") == "\ufffdok"


def test_without_a_directive_it_is_a_plain_post(server: LoopbackServer) -> None:
    server.queue(Reply(body=b'{"ok": 1}'))
    assert send(server, None, extra_headers={"x-extra": "e"}) == {"ok": 1}
    request = server.requests[0]
    assert request.headers["authorization"] == "from-base"
    assert request.headers["x-extra"] == "e"


def test_fresh_directive_headers_on_every_attempt_and_one_retry_on_401(server: LoopbackServer) -> None:
    directive = CountingHeaders(AuthErrorAction.RETRY_ONCE)
    server.queue(Reply(status=401, body=b'{"error": "expired token"}'), Reply(body=b'{"ok": 2}'))
    assert send(server, directive, extra_headers={"x-extra": "e"}) == {"ok": 2}

    first, second = server.requests
    assert first.headers["authorization"] == "Bearer token-1"
    assert second.headers["authorization"] == "Bearer token-2"
    assert second.headers["x-plugin"] == "yes" and second.headers["x-extra"] == "e"
    assert second.headers["anthropic-version"] == "1"
    assert [c.request_kind for c in directive.contexts] == [RequestKind.STREAM] * 2
    assert directive.contexts[0].model_id == "model-1"
    assert len(directive.errors) == 1
    assert directive.errors[0].status == 401
    assert directive.errors[0].body_snippet == '{"error": "expired token"}'


def test_a_second_401_is_not_retried_again(server: LoopbackServer) -> None:
    directive = CountingHeaders(AuthErrorAction.RETRY_ONCE)
    server.queue(Reply(status=401, body=b"x" * 700), Reply(status=403, body=b"no"))
    with pytest.raises(AuthenticationFailed) as caught:
        send(server, directive)
    assert caught.value.status_code == 403
    assert len(server.requests) == 2
    assert directive.errors[0].body_snippet == "x" * 512 + "..."
    # The hook is asked once: asking again would force a second refresh for nothing (Q27).
    assert len(directive.errors) == 1


@pytest.mark.parametrize("action", [AuthErrorAction.NO_ACTION, AuthErrorAction.REAUTH_REQUIRED])
def test_no_retry_unless_the_header_provider_asks(server: LoopbackServer, action: AuthErrorAction) -> None:
    directive = CountingHeaders(action)
    server.queue(Reply(status=401, body=b"denied"))
    with pytest.raises(AuthenticationFailed, match="denied"):
        send(server, directive)
    assert len(server.requests) == 1


def test_other_errors_are_not_auth_retries(server: LoopbackServer) -> None:
    directive = CountingHeaders(AuthErrorAction.RETRY_ONCE)
    server.queue(Reply(status=500, body=b"boom"))
    with pytest.raises(ServerError):
        send(server, directive)
    assert directive.errors == []
    assert len(server.requests) == 1


def test_a_header_provider_failure_is_an_api_auth_error(server: LoopbackServer) -> None:
    directive = CountingHeaders(fail_with=ReauthRequired("refresh token revoked"))
    with pytest.raises(ApiAuthError, match="refresh token revoked") as caught:
        send(server, directive)
    assert caught.value.provider == "prov"
    assert server.connection_count == 0


def test_an_on_auth_error_failure_is_an_api_auth_error(server: LoopbackServer) -> None:
    class Broken(CountingHeaders):
        def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
            raise RuntimeError("refresh endpoint down")

    server.queue(Reply(status=401, body=b"no"))
    with pytest.raises(ApiAuthError, match="refresh endpoint down"):
        send(server, Broken())


def test_api_errors_from_the_header_provider_pass_through(server: LoopbackServer) -> None:
    directive = CountingHeaders(fail_with=Cancelled("prov"))
    with pytest.raises(Cancelled):
        send(server, directive)


def test_describe_error_still_shapes_the_details(server: LoopbackServer) -> None:
    directive = CountingHeaders(AuthErrorAction.NO_ACTION)
    server.queue(Reply(status=403, body=b'{"error": {"message": "forbidden"}}'))
    with pytest.raises(AuthenticationFailed) as caught:
        send(server, directive, describe_error=lambda status, body: f"described {status}")
    assert caught.value.details == "described 403"
    assert directive.errors[0].body_snippet == '{"error": {"message": "forbidden"}}'


def test_split_image_data_url() -> None:
    from steer_sync import InvalidRequest, UnsupportedFeature
    from steer_sync._providers._common import split_image_data_url

    assert split_image_data_url("data:image/png;base64,iVBO", "google", "Gemini") == ("image/png", "iVBO")
    with pytest.raises(InvalidRequest, match="Gemini image data URLs must be base64"):
        split_image_data_url("data:image/png,raw", "google", "Gemini")
    with pytest.raises(InvalidRequest, match="missing ','"):
        split_image_data_url("data:image/png;base64", "google", "Gemini")
    with pytest.raises(UnsupportedFeature, match="text/plain"):
        split_image_data_url("data:text/plain;base64,aGk=", "google", "Gemini")
