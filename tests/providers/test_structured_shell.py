"""Structured output in the shared provider shell: one hook for every format, requests built by hand.

``tests/providers/test_wire_structured.py`` goes through a Client; these call the providers with
a hand-built :class:`CompletionRequest` (as a user of the provider API would), and check what the
shell itself owns: the fields reach the body of both endpoints (and the Responses endpoint that
only streams), a dataclass type is coerced here too, a provider without the hook refuses before
sending, and the hook's headers reach the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Sequence

import pytest

from steer_sync import (
    CompletionRequest,
    JsonSchema,
    Message,
    ModelId,
    ToolChoice,
    ToolSchema,
    UnsupportedFeature,
)
from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
from steer_sync._auth._directive import AuthHeaderContext, AuthHeaderProvider, HeaderPair, OpenAiResponsesAuth
from steer_sync._catalog import ModelRegistry, ProviderRegistry
from steer_sync._chunks import StreamChunk
from steer_sync._client import Client
from steer_sync._provider import Provider
from steer_sync._providers._base import HttpProvider
from steer_sync._providers._structured import Fields, apply_structured
from steer_sync._providers.anthropic import AnthropicProvider
from steer_sync._providers.gemini import GeminiProvider
from steer_sync._providers.openai_chat import OpenAIChatProvider, XaiProvider
from steer_sync._providers.openai_responses import OpenAIResponsesProvider
from steer_sync._sse import SseEvent
from steer_sync._transport import HttpResponse
from steer_sync._types import CompletionResponse, TextContent
from steer_sync._types._structured import StructuredOptions
from steer_sync.testing import LoopbackServer, Turn


@dataclass
class Point:
    x: int
    y: int


WEATHER = ToolSchema("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})

#: (provider class, base URL suffix, model, where the body carries the schema's name or type)
FORMATS = {
    "anthropic": (AnthropicProvider, "", ModelId("anthropic", "claude-sonnet-4-5")),
    "openai-responses": (OpenAIResponsesProvider, "/v1", ModelId("openai", "gpt-5.4")),
    "openai-chat": (OpenAIChatProvider, "/v1", ModelId("openai", "gpt-4.1")),
    "xai": (XaiProvider, "/v1", ModelId("xai", "grok-4")),
    "gemini": (GeminiProvider, "/v1beta", ModelId("google", "gemini-2.5-flash")),
}


def _schema_marker(name: str, body: Mapping[str, Any]) -> Any:
    """The part of ``body`` that says "answer in this schema", per format."""
    if name == "anthropic":
        return body["output_config"]["format"]["type"]
    if name == "openai-responses":
        return body["text"]["format"]["name"]
    if name in ("openai-chat", "xai"):
        return body["response_format"]["json_schema"]["name"]
    return body["generationConfig"]["responseMimeType"]


EXPECTED_MARKER = {
    "anthropic": "json_schema",
    "openai-responses": "Point",
    "openai-chat": "Point",
    "xai": "Point",
    "gemini": "application/json",
}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_hand_built_request_gets_the_native_fields_on_both_endpoints(name: str, server: LoopbackServer) -> None:
    cls, suffix, model = FORMATS[name]
    provider = cls(api_key="k", base_url=server.url + suffix)
    server.queue(Turn(json={"x": 1, "y": 2}), Turn(json={"x": 3, "y": 4}))
    # A dataclass type, not a JsonSchema: the shell coerces it like the client does.
    request = CompletionRequest(model, [Message.user("where?")], response_format=Point)
    try:
        first = provider.complete(request)
        with provider.stream_complete(request) as stream:
            second = stream.collect()
    finally:
        provider.close()
    assert first.parse(Point) == Point(1, 2) and second.parse(Point) == Point(3, 4)
    assert [_schema_marker(name, r.json) for r in server.requests] == [EXPECTED_MARKER[name]] * 2
    assert request.response_format is Point  # the request value itself is not changed


class _Auth(AuthHeaderProvider):
    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        return [HeaderPair("authorization", "Bearer access")]


def test_the_responses_endpoint_that_only_streams_carries_the_fields(server: LoopbackServer) -> None:
    directive = OpenAiResponsesAuth(
        _Auth(), base_url_override=server.url + "/backend-api/codex/responses", require_streaming=True
    )
    provider = OpenAIResponsesProvider(api_key=None, base_url="https://ignored.example/v1", directive=directive)
    assert provider.requires_streaming
    server.queue(Turn(json={"x": 5, "y": 6}))
    request = CompletionRequest(
        ModelId("openai", "gpt-5.4"),
        [Message.user("where?")],
        tools=[WEATHER],
        response_format=JsonSchema.from_dataclass(Point),
        tool_choice=ToolChoice.none(),
        parallel_tool_calls=False,
    )
    try:
        assert provider.complete(request).parse(Point) == Point(5, 6)
    finally:
        provider.close()
    (sent,) = server.requests
    assert sent.json["stream"] is True
    assert sent.json["text"]["format"]["name"] == "Point"
    assert (sent.json["tool_choice"], sent.json["parallel_tool_calls"]) == ("none", False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tool_choice", "required", "tool_choice must be a ToolChoice"),
        ("parallel_tool_calls", "no", "parallel_tool_calls must be True, False or None"),
        ("response_format", {"type": "object"}, "response_format must be a JsonSchema or a dataclass type"),
    ],
)
def test_a_wrong_type_on_a_hand_built_request_is_refused_before_sending(
    field: str, value: Any, message: str, server: LoopbackServer
) -> None:
    provider = OpenAIChatProvider(api_key="k", base_url=server.url + "/v1")
    request = CompletionRequest(ModelId("openai", "gpt-4.1"), [Message.user("hi")], tools=[WEATHER], **{field: value})
    try:
        with pytest.raises(TypeError, match=message):
            provider.complete(request)
    finally:
        provider.close()
    assert server.requests == []


def test_gemini_refuses_one_tool_at_a_time_before_sending(server: LoopbackServer) -> None:
    provider = GeminiProvider(api_key="k", base_url=server.url + "/v1beta")
    request = CompletionRequest(
        ModelId("google", "gemini-2.5-flash"), [Message.user("hi")], tools=[WEATHER], parallel_tool_calls=False
    )
    try:
        with pytest.raises(UnsupportedFeature, match="parallel_tool_calls=False"):
            provider.stream_complete(request)
    finally:
        provider.close()
    assert server.requests == []


class _Sent(Exception):
    """Raised by the hook-less provider's ``_post``: the shell got as far as sending."""


class _NoHookProvider(HttpProvider):
    """A format that declares no structured-output fields (the shell's default hook)."""

    def __init__(self) -> None:
        super().__init__("plain", timeouts=None)
        self.bodies: List[Mapping[str, Any]] = []

    @property
    def name(self) -> str:
        return "plain"

    def _build_body(self, request: CompletionRequest, *, stream: bool) -> Mapping[str, Any]:
        return {"model": request.model.id}

    def _post(self, request: CompletionRequest, body: Mapping[str, Any], *, stream: bool) -> HttpResponse:
        self.bodies.append(body)
        raise _Sent()

    def _parse_response(self, body: Any) -> CompletionResponse:
        return CompletionResponse([TextContent(str(body))])

    def _convert_stream(self, events: Iterable[SseEvent]) -> Iterator[StreamChunk]:
        return iter(())


def test_a_format_without_the_hook_refuses_structured_options_before_sending() -> None:
    provider = _NoHookProvider()
    plain = CompletionRequest(ModelId("plain", "m"), [Message.user("hi")])
    try:
        with pytest.raises(_Sent):
            provider.complete(plain)
        for asked in ({"response_format": Point}, {"tool_choice": ToolChoice.auto()}, {"parallel_tool_calls": True}):
            request = CompletionRequest(ModelId("plain", "m"), [Message.user("hi")], **asked)  # type: ignore[arg-type]
            with pytest.raises(UnsupportedFeature, match="structured output and tool choice") as caught:
                provider.stream_complete(request)
            assert caught.value.provider == "plain"
    finally:
        provider.close()
    assert provider.bodies == [{"model": "m"}]


def test_apply_structured_leaves_the_built_body_alone_and_merges_the_hooks_headers() -> None:
    built: Dict[str, Any] = {"generationConfig": {"temperature": 0.5}, "contents": []}
    seen: List[StructuredOptions] = []

    def hook(options: StructuredOptions, body: Mapping[str, Any]) -> Fields:
        seen.append(options)
        return {"generationConfig": {"responseMimeType": "application/json"}}, {"anthropic-beta": "b2"}

    request = CompletionRequest(
        ModelId("p", "m"), [Message.user("hi")], extra_headers={"Anthropic-Beta": "b1"}, response_format=Point
    )
    body, sent = apply_structured(request, built, hook)
    assert body["generationConfig"] == {"temperature": 0.5, "responseMimeType": "application/json"}
    assert built == {"generationConfig": {"temperature": 0.5}, "contents": []}
    assert sent.extra_headers == {"Anthropic-Beta": "b1,b2"} and request.extra_headers == {"Anthropic-Beta": "b1"}
    assert seen[0].response_format == JsonSchema.from_dataclass(Point)
    # Nothing asked: the hook is not called and the request is the same value.
    plain = CompletionRequest(ModelId("p", "m"), [Message.user("hi")])
    assert apply_structured(plain, built, hook) == (built, plain) and len(seen) == 1


class _Recorder(Provider):
    """A third-party provider that takes the request value: it sees the client's coerced fields."""

    def __init__(self) -> None:
        self.requests: List[CompletionRequest] = []

    @property
    def name(self) -> str:
        return "recorder"

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        self.requests.append(request)
        return CompletionResponse([TextContent('{"x": 7, "y": 8}')])


def test_the_client_puts_the_checked_values_on_the_request() -> None:
    providers = ProviderRegistry.load([], discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env={}.get, provider_registry=providers)
    recorder = _Recorder()
    with Client(config, providers, ModelRegistry.load([], discover=False)) as client:
        client.insert_test_provider("anthropic", recorder)
        answer = client.complete(
            "anthropic/m",
            [Message.user("hi")],
            tools=[WEATHER],
            response_format=Point,
            tool_choice=ToolChoice.tool("get_weather"),
            parallel_tool_calls=False,
        )
        client.complete("anthropic/m", [Message.user("hi")])
    assert answer.parse(Point) == Point(7, 8)
    asked, plain = recorder.requests
    assert asked.response_format == JsonSchema.from_dataclass(Point)
    assert (asked.tool_choice, asked.parallel_tool_calls) == (ToolChoice.tool("get_weather"), False)
    assert (plain.response_format, plain.tool_choice, plain.parallel_tool_calls) == (None, None, None)
