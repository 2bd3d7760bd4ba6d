"""The plugin -> API-key fallback over real sockets: leases, the cache slot, closing (issue review)."""

from __future__ import annotations

from typing import Any, Dict, List

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
