"""An auth plugin's token never shows in a request's repr, a log line or an error (review items 5-7)."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Sequence

import pytest

import steer_sync._factory
from steer_sync import (
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
from steer_sync._provider import CompletionRequest
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
    def __init__(self, headers: AuthHeaderProvider) -> None:
        self._headers = headers

    @property
    def provider_id(self) -> str:
        return "anthropic"

    def supported_methods(self) -> List[Any]:
        return []

    def resolve_auth(self, storage: Any) -> Any:
        return HeaderAuth(self._headers)

    def is_authenticated(self, storage: Any) -> bool:
        return True


def plugin_client(server: LoopbackServer, headers: AuthHeaderProvider) -> Client:
    env: Dict[str, str] = dict(server.environ)
    env.pop("ANTHROPIC_API_KEY", None)
    registry = AuthPluginRegistry()
    registry.register(TokenPlugin(headers))
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
