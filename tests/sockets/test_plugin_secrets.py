"""An auth plugin's token never shows in a request's repr, a log line or an error (review items 5-7)."""

from __future__ import annotations

import logging
import pickle
from typing import Any, Dict, List, Sequence

import pytest

import steer_sync._factory
from steer_sync import (
    AnthropicAuth,
    AuthHeaderProvider,
    AuthPlugin,
    AuthPluginRegistry,
    Client,
    InMemoryAuthStorage,
    LlmConfigProvider,
    Message,
    ModelId,
    ModelRegistry,
    ProviderRegistry,
    RetryPolicy,
)
from steer_sync._auth._directive import AuthErrorAction, AuthErrorContext, HeaderAuth, HeaderPair
from steer_sync._errors import ApiAuthError, AuthenticationFailed
from steer_sync._provider import CompletionRequest
from steer_sync._providers._common import SNIPPET_CHARS
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

MODEL = "anthropic/claude-sonnet-4-5"
HI = [Message.user("hi")]
TOKEN = "plugin-secret-token-0123456789"


class TokenHeaders(AuthHeaderProvider):
    """Sends :data:`TOKEN`; asks for one retry after a 401/403 and records what it was told."""

    def __init__(self) -> None:
        self.told: List[AuthErrorContext] = []

    def headers(self, context: Any) -> Sequence[HeaderPair]:
        return [HeaderPair("Authorization", f"Bearer {TOKEN}")]

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        self.told.append(context)
        return AuthErrorAction.RETRY_ONCE


class TokenPlugin(AuthPlugin):
    def __init__(self, headers: AuthHeaderProvider, directive: Any = HeaderAuth) -> None:
        self._headers = headers
        self._directive = directive

    @property
    def provider_id(self) -> str:
        return "anthropic"

    def supported_methods(self) -> List[Any]:
        return []

    def resolve_auth(self, storage: Any) -> Any:
        return self._directive(self._headers)

    def is_authenticated(self, storage: Any) -> bool:
        return True


def plugin_client(server: LoopbackServer, headers: AuthHeaderProvider, directive: Any = HeaderAuth) -> Client:
    env: Dict[str, str] = dict(server.environ)
    env.pop("ANTHROPIC_API_KEY", None)
    registry = AuthPluginRegistry()
    registry.register(TokenPlugin(headers, directive))
    providers = ProviderRegistry.load(discover=False)
    config = LlmConfigProvider(
        InMemoryAuthStorage(), plugin_registry=registry, env=env.get, provider_registry=providers
    )
    policy = RetryPolicy(base_delay=0, jitter=0)
    return Client(config, providers, ModelRegistry.load(discover=False), retry_policy=policy)


def test_a_requests_repr_shows_no_extra_header_or_query_value() -> None:
    request = CompletionRequest(
        ModelId("anthropic", "claude-sonnet-4-5"),
        tuple(HI),
        extra_headers={"Authorization": f"Bearer {TOKEN}"},
        extra_query={"key": TOKEN},
    )
    assert TOKEN not in repr(request)
    assert TOKEN not in str(request)


def test_a_plugin_token_is_never_in_the_requests_repr_or_the_logs(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="steer_sync")
    seen: List[str] = []
    original = steer_sync._factory.call_stream_complete

    def recording(provider: Any, request: CompletionRequest) -> Any:
        seen.append(repr(request))
        return original(provider, request)

    monkeypatch.setattr(steer_sync._factory, "call_stream_complete", recording)
    headers = TokenHeaders()
    client = plugin_client(server, headers)
    broken = Turn(text="Partial answer that breaks", error_after=4)
    server.queue(ErrorReply(401, "token expired", error_type="authentication_error"), broken, Turn(text="ok"))
    with client.stream_complete(MODEL, HI, retry_after_output=True) as stream:
        assert stream.collect().extract_text() == "ok"
    assert server.requests[0].headers.get("authorization") == f"Bearer {TOKEN}"
    assert len(seen) >= 2 and all("Authorization" not in text for text in seen)
    assert all(TOKEN not in text for text in seen), seen
    assert "retrying" in caplog.text and TOKEN not in caplog.text


def requests_error() -> BaseException:
    """What a plugin calling an identity provider with ``requests`` may raise: it carries the request."""
    import requests

    prepared = requests.Request(
        "POST",
        "https://idp.example/token?client_secret=idp-query-secret-42",
        headers={"Authorization": "Basic aWRwLWJhc2ljLXNlY3JldA=="},
    ).prepare()
    return requests.exceptions.HTTPError(
        f"401 Client Error: Unauthorized for url: {prepared.url} (sent Bearer {TOKEN}, client_secret=idp-body-secret-7)",
        request=prepared,
    )


SECRETS = (TOKEN, "idp-query-secret-42", "aWRwLWJhc2ljLXNlY3JldA==", "idp-body-secret-7")


class FailingHeaders(TokenHeaders):
    """Fails where ``where`` says, with :func:`requests_error`."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def headers(self, context: Any) -> Sequence[HeaderPair]:
        if self.where == "headers":
            raise requests_error()
        return super().headers(context)

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        raise requests_error()


@pytest.mark.parametrize("where", ["headers", "on_auth_error"])
@pytest.mark.parametrize("directive", [HeaderAuth, AnthropicAuth], ids=["header_auth", "anthropic_auth"])
def test_a_plugin_exception_becomes_an_auth_error_without_its_secrets_or_its_request(
    server: LoopbackServer, where: str, directive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="steer_sync")
    client = plugin_client(server, FailingHeaders(where), directive)
    server.queue(ErrorReply(401, "token expired", error_type="authentication_error"))
    with pytest.raises(ApiAuthError) as caught:
        client.complete(MODEL, HI)
    error = caught.value
    assert error.provider == "anthropic"
    assert "HTTPError" in str(error) and "401 Client Error" in str(error)  # the class and what happened
    assert "https://idp.example/token" in str(error)  # the endpoint stays, its query does not
    assert error.__cause__ is None and error.__suppress_context__
    for text in (str(error), repr(error), pickle.dumps(error).decode("latin-1"), caplog.text):
        for secret in SECRETS:
            assert secret not in text, (secret, text)


@pytest.mark.parametrize("directive", [HeaderAuth, AnthropicAuth], ids=["header_auth", "anthropic_auth"])
def test_every_directive_gets_the_same_401_retry_once_contract(server: LoopbackServer, directive: Any) -> None:
    headers = TokenHeaders()
    client = plugin_client(server, headers, directive)
    refused = ErrorReply(401, "token expired " + "x" * 3000, error_type="authentication_error")
    server.queue(refused, refused)
    with pytest.raises(AuthenticationFailed):
        client.complete(MODEL, HI)
    assert len(server.requests) == 2  # re-sent once, as the hook asked
    assert len(headers.told) == 1  # not asked again after the second refusal (spec Q27)
    told = headers.told[0]
    assert told.status == 401 and "token expired" in told.body_snippet
    assert len(told.body_snippet) <= SNIPPET_CHARS + len("...")
