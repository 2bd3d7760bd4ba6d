"""The plugin -> API-key fallback over real sockets: leases, the cache slot, closing (issue review)."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, cast

import pytest

from steer_sync import (
    AnthropicAuth,
    AuthHeaderProvider,
    AuthPlugin,
    AuthPluginRegistry,
    Client,
    InMemoryAuthStorage,
    LlmConfigProvider,
    Message,
    ModelRegistry,
    ProviderRegistry,
    RetryPolicy,
    TextDelta,
)
from steer_sync._auth._directive import HeaderPair
from steer_sync._chunks import ErrorChunk, MessageComplete, Reset
from steer_sync._errors import AuthenticationFailed, InvalidRequest, ServerError
from steer_sync._provider import Provider
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

MODEL = "anthropic/claude-sonnet-4-5"
HI = [Message.user("hi")]
PLUGIN_TOKEN = "plugin-secret-token-0123456789"
FAST = RetryPolicy(base_delay=0, jitter=0)


class StaticHeaders(AuthHeaderProvider):
    def headers(self, context: Any) -> List[HeaderPair]:
        return [HeaderPair("authorization", f"Bearer {PLUGIN_TOKEN}")]


class Plugin(AuthPlugin):
    @property
    def provider_id(self) -> str:
        return "anthropic"

    def supported_methods(self) -> List[Any]:
        return []

    def resolve_auth(self, storage: Any) -> Any:
        return AnthropicAuth(StaticHeaders())

    def is_authenticated(self, storage: Any) -> bool:
        return True


def plugin_client(server: LoopbackServer, policy: RetryPolicy = FAST) -> Client:
    """A client whose anthropic credential comes from :class:`Plugin`, with an API key to fall back to."""
    env: Dict[str, str] = {**server.environ, "ANTHROPIC_API_KEY": "sk-ant-fallback"}
    registry = AuthPluginRegistry()
    registry.register(Plugin())
    providers = ProviderRegistry.load(discover=False)
    config = LlmConfigProvider(
        InMemoryAuthStorage(), plugin_registry=registry, env=env.get, provider_registry=providers
    )
    return Client(config, providers, ModelRegistry.load(discover=False), retry_policy=policy)


def refused_then(*items: Any) -> List[Any]:
    return [ErrorReply(401, "token expired", error_type="authentication_error"), *items]


def test_client_close_during_a_fallback_stream_spares_the_provider_it_uses(server: LoopbackServer) -> None:
    client = plugin_client(server)
    broken = Turn(text="Partial answer that breaks", error_after=4)
    server.queue(*refused_then(broken, Turn(text="whole answer")))
    stream = client.stream_complete(MODEL, HI, retry_after_output=True)
    assert isinstance(next(stream), TextDelta)
    client.close()  # the stream's provider is in use: it must be closed only when the stream ends
    chunks = list(stream)
    assert not [chunk for chunk in chunks if isinstance(chunk, ErrorChunk)], chunks
    assert any(isinstance(chunk, Reset) for chunk in chunks)
    assert isinstance(chunks[-1], MessageComplete)
    assert chunks[-1].response.extract_text() == "whole answer"
    assert [r.headers.get("x-api-key") for r in server.requests[1:]] == ["sk-ant-fallback"] * 2
    stream.close()
    assert server.wait_connections_closed(5.0), "the fallback provider outlived the stream after close()"


def test_a_fallback_stream_releases_the_fallback_provider_it_used(server: LoopbackServer) -> None:
    client = plugin_client(server)
    server.queue(*refused_then(Turn(text="ok")))
    with client.stream_complete(MODEL, HI) as stream:
        assert stream.collect().extract_text() == "ok"
    assert client._in_use == {}, "a lease outlived its stream"
    server.queue(*refused_then(Turn(text="ok")))
    client.invalidate_provider("anthropic")
    assert client.complete_with_retry(MODEL, HI).extract_text() == "ok"
    assert client._in_use == {}


class Closing(Provider):
    """Wraps a provider and records its close()."""

    def __init__(self, inner: Provider, closed: List[Provider]) -> None:
        self._inner = inner
        self._closed = closed

    @property
    def name(self) -> str:
        return self._inner.name

    def complete(self, request: Any) -> Any:  # type: ignore[override]
        return self._inner.complete(request)

    def stream_complete(self, request: Any) -> Any:  # type: ignore[override]
        return self._inner.stream_complete(request)

    def close(self) -> None:
        self._closed.append(self)
        self._inner.close()


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> List[Provider]:
    """Every provider the client builds records its close() here."""
    import steer_sync._factory

    record: List[Provider] = []
    original = steer_sync._factory.create_provider

    def create(*args: Any, **kwargs: Any) -> Provider:
        return Closing(original(*args, **kwargs), record)

    monkeypatch.setattr(steer_sync._factory, "create_provider", create)
    return record


def test_a_failed_fallback_attempt_closes_the_fallback_provider(server: LoopbackServer, closed: List[Provider]) -> None:
    client = plugin_client(server)
    server.queue(*refused_then(ErrorReply(400, "bad model", error_type="invalid_request_error")))
    with pytest.raises(InvalidRequest) as caught:
        client.complete(MODEL, HI)
    assert isinstance(caught.value.__cause__, AuthenticationFailed)
    assert len(closed) == 1, "the fallback's connection pool was left open"
    assert "anthropic" not in client._providers


def test_a_fresh_entry_installed_meanwhile_survives_and_the_fallback_is_closed_after_use(
    server: LoopbackServer, closed: List[Provider]
) -> None:
    client = plugin_client(server)
    fresh: List[Optional[Any]] = []
    arrived = threading.Event()

    def refuse_and_race(request: Any) -> Any:
        # While the refused call falls back, another caller caches a fresh provider.
        if not arrived.is_set():
            arrived.set()
            return ErrorReply(401, "token expired", error_type="authentication_error")
        if not fresh:
            client.insert_test_provider("anthropic", Closing(cast(Provider, object()), []))
            fresh.append(client._providers["anthropic"])
        return Turn(text="ok")

    server.queue(refuse_and_race, refuse_and_race)
    assert client.complete(MODEL, HI).extract_text() == "ok"
    assert client._providers["anthropic"] is fresh[0], "another thread's fresh entry was overwritten"
    assert len(closed) == 1, "the uninstalled fallback provider was not closed after its call"


def test_complete_with_retry_shares_one_attempt_budget_with_its_fallback(server: LoopbackServer) -> None:
    client = plugin_client(server)
    busy = ErrorReply(503, "busy", error_type="overloaded_error")
    refused = ErrorReply(401, "token expired", error_type="authentication_error")
    server.queue(busy, busy, refused, busy, busy, busy, busy)
    with pytest.raises(ServerError):
        client.complete_with_retry(MODEL, HI, max_attempts=3)
    # Three attempts with the plugin's credential spend the budget; the fallback still gets one.
    assert len(server.requests) == 4
    assert server.requests[-1].headers.get("x-api-key") == "sk-ant-fallback"


def _finished(heard: List[Any]) -> Any:
    from steer_sync import CallFinished

    calls = [event for event in heard if isinstance(event, CallFinished)]
    assert len(calls) == 1, heard
    return calls[0]


def test_a_fallback_call_finishes_exactly_once(server: LoopbackServer) -> None:
    client = plugin_client(server)
    heard: List[Any] = []
    client.add_listener(heard.append)
    server.queue(*refused_then(Turn(text="from the key")))
    assert client.complete(MODEL, HI).extract_text() == "from the key"
    done = _finished(heard)
    assert done.error is None and done.attempts == 2


def test_a_fallback_stream_finishes_exactly_once(server: LoopbackServer) -> None:
    client = plugin_client(server)
    heard: List[Any] = []
    client.add_listener(heard.append)
    server.queue(*refused_then(Turn(text="streamed from the key")))
    with client.stream_complete(MODEL, HI) as stream:
        assert isinstance(list(stream)[-1], MessageComplete)
    assert _finished(heard).error is None


def test_a_refused_fallback_finishes_exactly_once_with_its_error(server: LoopbackServer) -> None:
    client = plugin_client(server)
    heard: List[Any] = []
    client.add_listener(heard.append)
    server.queue(*refused_then(ErrorReply(401, "bad key", error_type="authentication_error")))
    with pytest.raises(AuthenticationFailed):
        client.complete_with_retry(MODEL, HI)
    assert isinstance(_finished(heard).error, AuthenticationFailed)
