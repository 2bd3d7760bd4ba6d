"""The shared provider shell: the request value, both call shapes, and the one header check.

A key or header value that cannot be sent must fail with ``ConfigurationError`` before any
byte reaches the server (the loopback server records every request it receives), and must
never be retried.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Type

import pytest

from steer_sync import CompletionRequest
from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
from steer_sync._cancellation import CancellationToken
from steer_sync._catalog import ModelRegistry, ProviderRegistry
from steer_sync._client import Client
from steer_sync._errors import ApiError, ConfigurationError, ResponseParsingError
from steer_sync._provider import Provider
from steer_sync._providers.anthropic import AnthropicProvider
from steer_sync._providers.gemini import GeminiProvider
from steer_sync._providers.openai_chat import OpenAIChatProvider, XaiProvider
from steer_sync._providers.openai_responses import OpenAIResponsesProvider
from steer_sync._retry import RetryPolicy
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    SystemContext,
    TextContent,
    ToolSchema,
)
from steer_sync.testing import LoopbackServer, Reply, Turn
from steer_sync.testing._client import environ_for

SECRET = "sk-very-secret-123"

#: (provider class, base URL suffix the loopback server serves the format under, model)
FORMATS = {
    "anthropic": (AnthropicProvider, "", ModelId("anthropic", "claude-sonnet-4-5")),
    "openai-responses": (OpenAIResponsesProvider, "/v1", ModelId("openai", "gpt-5.4")),
    "openai-chat": (OpenAIChatProvider, "/v1", ModelId("openai", "gpt-4.1")),
    "xai": (XaiProvider, "/v1", ModelId("xai", "grok-4")),
    "gemini": (GeminiProvider, "/v1beta", ModelId("google", "gemini-2.5-flash")),
}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("bad", ["\n", "\r\n", "\x00", "\u2603"], ids=["lf", "crlf", "nul", "non-latin-1"])
def test_a_key_that_cannot_be_a_header_is_refused_before_sending(name: str, bad: str, server: LoopbackServer) -> None:
    cls, suffix, _ = FORMATS[name]
    with pytest.raises(ConfigurationError) as caught:
        cls(api_key=SECRET + bad, base_url=server.url + suffix)
    assert "API key" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert server.requests == []


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_an_extra_header_with_a_line_break_is_refused_before_sending(name: str, server: LoopbackServer) -> None:
    cls, suffix, model = FORMATS[name]
    provider = cls(api_key="k", base_url=server.url + suffix)
    try:
        request = CompletionRequest(model, [Message.user("hi")], extra_headers={"X-Trace": "a\r\nX-Evil: 1"})
        with pytest.raises(ConfigurationError, match="'X-Trace' contains a line break"):
            provider.complete(request)
        with pytest.raises(ConfigurationError, match="'X-Trace'"):
            provider.stream_complete(request)
    finally:
        provider.close()
    assert server.requests == []


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_catalog_header_that_cannot_be_sent_is_refused(name: str, server: LoopbackServer) -> None:
    cls, suffix, _ = FORMATS[name]
    with pytest.raises(ConfigurationError, match="'X-Team' contains a control character"):
        cls(api_key="k", base_url=server.url + suffix, headers={"X-Team": "blue\x7f"})
    assert server.requests == []


def _client(env: Dict[str, str]) -> Client:
    providers = ProviderRegistry.load([], discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
    return Client(config, providers, ModelRegistry.load([], discover=False), retry_policy=RetryPolicy(base_delay=0.001))


@pytest.mark.parametrize(
    ("variable", "model"),
    [
        ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"),
        ("OPENAI_API_KEY", "openai/gpt-5.4"),
        ("GEMINI_API_KEY", "google/gemini-2.5-flash"),
        ("XAI_API_KEY", "xai/grok-4"),
    ],
)
def test_the_client_raises_a_bad_key_at_once_and_never_retries(
    variable: str, model: str, server: LoopbackServer
) -> None:
    env = environ_for(server.url)
    env[variable] = "sk-very\nsecret-123"  # inside the key: a trailing newline is stripped when read
    with _client(env) as client:
        with pytest.raises(ConfigurationError) as caught:
            client.complete(model, [Message.user("hi")])
        with pytest.raises(ConfigurationError):
            client.complete_with_retry(model, [Message.user("hi")], max_attempts=3)
    assert "secret-123" not in str(caught.value)
    assert server.requests == []


def test_the_client_refuses_an_extra_header_with_a_line_break(server: LoopbackServer) -> None:
    with _client(environ_for(server.url)) as client, pytest.raises(ConfigurationError, match="'X-Trace'"):
        client.complete("anthropic/claude-sonnet-4-5", [Message.user("hi")], extra_headers={"X-Trace": "a\nb"})
    assert server.requests == []


# --- the request value and both call shapes -------------------------------------------------


def test_a_request_is_immutable_and_keeps_tuples() -> None:
    messages = [Message.user("hi")]
    request = CompletionRequest(ModelId("anthropic", "m"), messages, tools=[ToolSchema("t", "d", {})])
    messages.append(Message.user("later"))
    assert len(request.messages) == 1 and isinstance(request.tools, tuple)
    with pytest.raises(AttributeError):
        request.model = ModelId("openai", "x")  # type: ignore[misc]
    token = CancellationToken()
    assert request.with_token(token).token is token and request.token is not token
    for option in ("timeout", "retry_policy", "extra_body", "extra_query", "response_format", "tool_choice"):
        assert getattr(request, option) is None
    assert request.parallel_tool_calls is None


def test_a_built_in_provider_takes_a_request_or_the_old_arguments(server: LoopbackServer) -> None:
    server.queue(Turn(text="one"), Turn(text="two"))
    provider = AnthropicProvider(api_key="k", base_url=server.url)
    model = ModelId("anthropic", "claude-sonnet-4-5")
    try:
        new = provider.complete(CompletionRequest(model, [Message.user("hi")], extra_headers={"X-A": "1"}))
        old = provider.complete(
            model, [Message.user("hi")], None, None, None, CancellationToken(), extra_headers={"X-A": "2"}
        )
        with pytest.raises(TypeError, match="not both"):
            provider.complete(CompletionRequest(model, [Message.user("hi")]), None)
    finally:
        provider.close()
    assert [new.extract_text(), old.extract_text()] == ["one", "two"]
    assert [r.headers.get("x-a") for r in server.requests] == ["1", "2"]


class _OldStyleProvider(Provider):
    """A third-party provider written against the six-argument signature (complete only)."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []

    @property
    def name(self) -> str:
        return "legacy"

    def complete(  # type: ignore[override]
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionResponse:
        self.calls.append({"model": model_id, "system": system, "headers": extra_headers, "token": token})
        return CompletionResponse([TextContent(f"legacy {model_id.id} {len(messages)}")])


class _NewStyleProvider(Provider):
    def __init__(self) -> None:
        self.requests: List[CompletionRequest] = []

    @property
    def name(self) -> str:
        return "modern"

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        self.requests.append(request)
        return CompletionResponse([TextContent("modern")])


@pytest.mark.parametrize("cls", [_OldStyleProvider, _NewStyleProvider])
def test_a_third_party_provider_of_either_shape_works_through_the_client(cls: Type[Provider]) -> None:
    provider = cls()
    with _client({}) as client:
        client.insert_test_provider("anthropic", provider)
        answer = client.complete(
            "anthropic/some-model", [Message.user("hi")], system="be brief", extra_headers={"X-Trace": "t1"}
        )
        with client.stream_complete("anthropic/some-model", [Message.user("hi")]) as stream:
            streamed = stream.collect()
    if isinstance(provider, _OldStyleProvider):
        assert answer.extract_text() == streamed.extract_text() == "legacy some-model 1"
        first = provider.calls[0]
        assert first["headers"] == {"X-Trace": "t1"} and first["system"] == SystemContext("be brief")
        assert isinstance(first["token"], CancellationToken) and len(provider.calls) == 2
    else:
        assert isinstance(provider, _NewStyleProvider)
        assert answer.extract_text() == streamed.extract_text() == "modern"
        request = provider.requests[0]
        assert request.model == ModelId("anthropic", "some-model") and request.extra_headers == {"X-Trace": "t1"}
        assert len(provider.requests) == 2


def test_the_client_checks_extra_headers_for_a_third_party_provider_too() -> None:
    provider = _NewStyleProvider()
    with _client({}) as client:
        client.insert_test_provider("anthropic", provider)
        with pytest.raises(ConfigurationError, match="'X-Bad' contains a character outside Latin-1"):
            client.complete("anthropic/m", [Message.user("hi")], extra_headers={"X-Bad": "\u2603"})
        with pytest.raises(ConfigurationError, match="header name 'X Bad'"):
            client.stream_complete("anthropic/m", [Message.user("hi")], extra_headers={"X Bad": "v"})
    assert provider.requests == []


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_nan_parameter_is_refused_before_sending(name: str, server: LoopbackServer) -> None:
    cls, suffix, model = FORMATS[name]
    provider = cls(api_key="k", base_url=server.url + suffix)
    try:
        # The value refuses NaN when it is built; the shell's body check is the guard behind it.
        with pytest.raises(ConfigurationError, match=r"temperature must be a finite number"):
            provider.complete(
                CompletionRequest(model, [Message.user("hi")], call_options=ModelParameters(temperature=float("nan")))
            )
    finally:
        provider.close()
    assert server.requests == []


# --- the non-streamed body cap and errors built from a 200 body -----------------------------


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_non_streamed_body_cap_is_a_provider_option(name: str, server: LoopbackServer) -> None:
    cls, suffix, model = FORMATS[name]
    provider = cls(api_key="k", base_url=server.url + suffix, max_response_body=256)
    server.queue(Turn(text="x" * 4096))
    try:
        with pytest.raises(ResponseParsingError, match="max_response_body"):
            provider.complete(CompletionRequest(model, [Message.user("hi")]))
    finally:
        provider.close()


def test_an_error_object_in_a_200_body_is_redacted(server: LoopbackServer) -> None:
    # Gemini can answer 200 with an error object; a gateway may echo the key inside it.
    body = json.dumps({"error": {"code": 400, "message": f"API key {SECRET} not valid", "status": "INVALID_ARGUMENT"}})
    server.queue(Reply(200, [("content-type", "application/json")], body.encode()))
    provider = GeminiProvider(api_key=SECRET, base_url=server.url + "/v1beta")
    try:
        with pytest.raises(ApiError) as caught:
            provider.complete(CompletionRequest(ModelId("google", "gemini-2.5-flash"), [Message.user("hi")]))
    finally:
        provider.close()
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert SECRET not in pickle.dumps(caught.value).decode("latin-1")
