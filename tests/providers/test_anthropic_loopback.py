"""AnthropicProvider end to end over real loopback sockets, scripted with steer_sync.testing."""

from __future__ import annotations

import json
import threading
from typing import Any, Iterator, List, Optional, Sequence

import pytest

from steer_sync._auth._directive import (
    AnthropicAuth,
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
    InstructionPolicy,
    QueryParam,
    RequestKind,
)
from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import (
    ContentBlockStop,
    ErrorChunk,
    MessageComplete,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import (
    ApiAuthError,
    ApiError,
    ApiTimeout,
    AuthenticationFailed,
    AuthError,
    Cancelled,
    ConfigurationError,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    ResponseParsingError,
    ServerError,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
    UnsupportedFeature,
)
from steer_sync._providers import anthropic as anthropic_module
from steer_sync._providers.anthropic._provider import AnthropicProvider
from steer_sync._types import (
    CompletionResponse,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    RedactedThought,
    SessionFileSource,
    SignedThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    TokenUsage,
    ToolCall,
    ToolResult,
    ToolSchema,
)
from steer_sync.testing import ErrorReply, LoopbackServer, RecordedRequest, Reply, ToolCallSpec, Turn, sse_event
from steer_sync.testing import _anthropic as anthropic_format

MODEL = ModelId("anthropic", "claude-sonnet-4-5")
HI = [Message.user("hi")]
THINKING = ModelParameters(thinking_config=ThinkingConfig(enabled=True, budget_tokens=2048))
WEATHER = ToolSchema(
    "get_weather",
    "Gets the weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[AnthropicProvider]:
    made = AnthropicProvider(api_key="sk-ant-test", base_url=server.url)
    yield made
    made.close()


def stream(
    provider: AnthropicProvider,
    messages: Sequence[Message] = HI,
    *,
    tools: Optional[Sequence[ToolSchema]] = None,
    params: Optional[ModelParameters] = None,
    system: Optional[SystemContext] = None,
    token: Optional[CancellationToken] = None,
) -> List[StreamChunk]:
    with provider.stream_complete(MODEL, list(messages), system, tools, params, token or CancellationToken()) as chunks:
        return list(chunks)


def completed(chunks: List[StreamChunk]) -> CompletionResponse:
    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    return chunks[-1].response


def complete(provider: AnthropicProvider, messages: Sequence[Message] = HI, **kwargs: Any) -> CompletionResponse:
    return provider.complete(
        MODEL, list(messages), kwargs.get("system"), kwargs.get("tools"), kwargs.get("params"), CancellationToken()
    )


# --- request shape ------------------------------------------------------------------------


def test_stream_sends_the_api_key_headers_and_a_streaming_body(
    server: LoopbackServer, provider: AnthropicProvider
) -> None:
    server.queue(Turn(text="Hello there, friend."))
    chunks = stream(provider, system=SystemContext("Be brief."))
    request = server.requests[0]
    assert (request.method, request.path, request.query) == ("POST", "/v1/messages", {})
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"].startswith("application/json")
    assert "anthropic-beta" not in request.headers and "authorization" not in request.headers
    assert request.json == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 8000,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "temperature": 0.7,
        "stream": True,
    }
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Hello there, friend."
    assert ContentBlockStop(0) in chunks
    response = completed(chunks)
    assert response.content == (TextContent("Hello there, friend."),)
    assert response.usage == TokenUsage(10, 5, 15)
    assert response.stop_reason == "end_turn"


def test_complete_uses_the_non_streaming_endpoint(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(Turn(text="Plain answer.", usage=(4, 2), stop_reason="max_tokens"))
    response = complete(provider)
    assert "stream" not in server.requests[0].json
    assert response == CompletionResponse((TextContent("Plain answer."),), TokenUsage(4, 2, 6), "max_tokens")


@pytest.mark.parametrize(
    ("suffix", "path"),
    [
        ("", "/v1/messages"),
        ("/v1", "/v1/messages"),
        ("/v1/", "/v1/messages"),
        ("/proxy/anthropic", "/proxy/anthropic/v1/messages"),
    ],
)
def test_base_url_is_honoured_without_doubling_v1(server: LoopbackServer, suffix: str, path: str) -> None:
    provider = AnthropicProvider(api_key="k", base_url=server.url + suffix)
    try:
        complete(provider)
    finally:
        provider.close()
    assert server.requests[0].path == path


def test_configured_and_extra_headers_are_sent(server: LoopbackServer) -> None:
    provider = AnthropicProvider(api_key="k", base_url=server.url, headers={"X-Gateway-Route": "eu"})
    try:
        provider.complete(
            MODEL,
            HI,
            None,
            None,
            THINKING,
            CancellationToken(),
            extra_headers={"x-trace-id": "t-1", "anthropic-beta": "files-api-2025-04-14"},
        )
    finally:
        provider.close()
    headers = server.requests[0].headers
    assert headers["x-gateway-route"] == "eu"
    assert headers["x-trace-id"] == "t-1"
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,files-api-2025-04-14"


def test_a_keyless_provider_sends_no_key(server: LoopbackServer) -> None:
    provider = AnthropicProvider(api_key=None, base_url=server.url)
    try:
        complete(provider)
    finally:
        provider.close()
    assert "x-api-key" not in server.requests[0].headers


def test_a_bad_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        AnthropicProvider(api_key="k", base_url="localhost:8080", provider_id="my-gw")
    assert info.value.provider == "my-gw"


def test_session_file_images_fail_before_anything_is_sent(server: LoopbackServer, provider: AnthropicProvider) -> None:
    image = ImageContent("image/png", SessionFileSource("session-1/image.png"))
    for call in (provider.complete, provider.stream_complete):
        with pytest.raises(UnsupportedFeature):
            call(MODEL, [Message.user([TextContent("look"), image])], None, None, None, CancellationToken())
    assert server.requests == []


def test_images_go_out_as_base64_and_url_sources(server: LoopbackServer, provider: AnthropicProvider) -> None:
    images = [ImageContent.from_base64("Zm9v", "image/png"), ImageContent.from_url("https://example.com/a.jpg")]
    complete(provider, [Message.user([TextContent("compare"), *images])])
    content = server.requests[0].json["messages"][0]["content"]
    assert content[1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "Zm9v"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
    ]


# --- thinking -----------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [True, False])
def test_thinking_with_signature(server: LoopbackServer, provider: AnthropicProvider, streaming: bool) -> None:
    server.queue(Turn(thinking="Let me think about it.", thinking_signature="EqQBsig==", text="Answer."))
    if streaming:
        chunks = stream(provider, params=THINKING)
        assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == "Let me think about it."
        response = completed(chunks)
    else:
        response = complete(provider, params=THINKING)
    assert response.content == (SignedThought("Let me think about it.", "EqQBsig=="), TextContent("Answer."))
    request = server.requests[0]
    assert request.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert request.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert request.json["temperature"] == 1.0 and request.json["max_tokens"] == 32000


def test_thinking_is_sent_back_unmodified_and_in_order(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(
        Turn(
            thinking="Need a tool.",
            thinking_signature="SIG1",
            redacted_thinking="REDACTED==",
            tool_calls=[ToolCallSpec("toolu_1", "get_weather", {"city": "Paris"}, chunks=3)],
        ),
        Turn(text="Sunny."),
    )
    first = completed(stream(provider, tools=[WEATHER], params=THINKING))
    assert first.content[:2] == (SignedThought("Need a tool.", "SIG1"), RedactedThought("REDACTED=="))
    history = [*HI, Message.assistant(first.content), Message.tool_result("toolu_1", "Sunny, 20C")]
    stream(provider, history, tools=[WEATHER], params=THINKING)
    assistant = server.requests[1].json["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Need a tool.", "signature": "SIG1"},
            {"type": "redacted_thinking", "data": "REDACTED=="},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }


@pytest.mark.parametrize("streaming", [True, False])
def test_redacted_thinking_is_kept(server: LoopbackServer, provider: AnthropicProvider, streaming: bool) -> None:
    server.queue(Turn(redacted_thinking="EtgBCkYIBxgCKkDQ", text="Hi."))
    response = completed(stream(provider)) if streaming else complete(provider)
    assert response.content == (RedactedThought("EtgBCkYIBxgCKkDQ"), TextContent("Hi."))


# --- tools --------------------------------------------------------------------------------


def test_tool_use_round_trip(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(
        Turn(text="Checking.", tool_calls=[ToolCallSpec("toolu_01", "get_weather", {"city": "Paris"}, chunks=4)]),
        Turn(text="It is sunny in Paris."),
    )
    chunks = stream(provider, tools=[WEATHER])
    assert ToolUseStart("toolu_01", "get_weather") in chunks
    deltas = [c.delta for c in chunks if isinstance(c, ToolUseInputDelta)]
    assert len(deltas) == 4 and json.loads("".join(deltas)) == {"city": "Paris"}
    first = completed(chunks)
    assert first.stop_reason == "tool_use"
    assert first.extract_tool_calls() == [ToolCall("toolu_01", "get_weather", {"city": "Paris"})]

    history = [*HI, Message.assistant(first.content), Message.tool_result("toolu_01", "Sunny, 20C")]
    second = completed(stream(provider, history, tools=[WEATHER]))
    assert second.extract_text() == "It is sunny in Paris."

    body = server.requests[1].json
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Gets the weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "Sunny, 20C"}],
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ]


def test_parallel_tool_calls_and_their_results_in_one_turn(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(
        Turn(
            tool_calls=[
                ToolCallSpec("toolu_a", "get_weather", {"city": "Paris"}, chunks=2),
                ToolCallSpec("toolu_b", "get_weather", {"city": "Oslo"}, chunks=5),
            ]
        ),
        Turn(text="Done."),
    )
    first = completed(stream(provider, tools=[WEATHER]))
    calls = first.extract_tool_calls()
    assert [(c.id, c.parameters) for c in calls] == [("toolu_a", {"city": "Paris"}), ("toolu_b", {"city": "Oslo"})]
    history = [
        *HI,
        Message.assistant(first.content),
        Message.tool_result("toolu_a", "Sunny"),
        Message.tool_result("toolu_b", ToolResult.error("station offline")),
    ]
    complete(provider, history, tools=[WEATHER])
    body = server.requests[1].json
    assert "stream" not in body
    results = body["messages"][-1]
    assert results["role"] == "user" and len(body["messages"]) == 3
    assert [(b["tool_use_id"], b.get("is_error")) for b in results["content"]] == [("toolu_a", None), ("toolu_b", True)]
    assert results["content"][1]["content"] == [{"type": "text", "text": "station offline"}]


def test_malformed_tool_arguments_become_an_empty_object(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(
        Turn(tool_calls=[ToolCallSpec("toolu_x", "get_weather", '{"city": "Pa', chunks=2)], stop_reason="max_tokens")
    )
    response = completed(stream(provider, tools=[WEATHER]))
    assert response.extract_tool_calls() == [ToolCall("toolu_x", "get_weather", {})]
    assert response.stop_reason == "max_tokens"


# --- usage --------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [True, False])
def test_usage_counts_cached_prompt_tokens(
    server: LoopbackServer, provider: AnthropicProvider, streaming: bool
) -> None:
    def cached(request: RecordedRequest) -> Reply:
        turn = Turn(text="From cache.", usage=(12, 30))
        return anthropic_format.render_turn(
            turn, request, cache_read_input_tokens=2000, cache_creation_input_tokens=150
        )

    server.queue(cached)
    response = completed(stream(provider)) if streaming else complete(provider)
    assert response.usage == TokenUsage(2162, 30, 2192, cache_read_input_tokens=2000, cache_creation_input_tokens=150)


def test_unknown_usage_is_rendered_as_zero_counts_like_the_api(
    server: LoopbackServer, provider: AnthropicProvider
) -> None:
    # The real API never leaves usage out (the official SDK fails without it); the loopback
    # server sends zeros for Turn(usage=None). Usage that is truly absent is None (unit tests).
    server.queue(Turn(text="x", usage=None), Turn(text="y", usage=None))
    assert completed(stream(provider)).usage == TokenUsage(0, 0, 0)
    assert complete(provider).usage == TokenUsage(0, 0, 0)


# --- errors -------------------------------------------------------------------------------


ERROR_CASES = [
    (400, InvalidRequest, "invalid_request_error"),
    (401, AuthenticationFailed, "authentication_error"),
    (403, AuthenticationFailed, "permission_error"),
    (404, InvalidRequest, "not_found_error"),
    (408, ApiTimeout, None),
    (409, ServerError, "invalid_request_error"),
    (413, InvalidRequest, "request_too_large"),
    (429, RateLimited, "rate_limit_error"),
    (500, ServerError, "api_error"),
    (529, ServerError, "overloaded_error"),
]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("status", "error_class", "error_type"), ERROR_CASES)
def test_http_errors_map_to_api_errors(
    server: LoopbackServer,
    provider: AnthropicProvider,
    status: int,
    error_class: type,
    error_type: Optional[str],
    streaming: bool,
) -> None:
    server.queue(ErrorReply(status, f"failure {status}"))
    call = provider.stream_complete if streaming else provider.complete
    with pytest.raises(ApiError) as info:
        call(MODEL, HI, None, None, None, CancellationToken())
    error = info.value
    assert type(error) is error_class
    assert error.provider == "anthropic"
    assert error.status_code == status
    assert len(server.requests) == 1
    if error_type is not None:
        assert error.details is not None
        assert error.details.startswith(f"{error_type}: failure {status} (request id: req_")
        assert f"failure {status}" in str(error)


def test_rate_limit_carries_retry_after(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(ErrorReply(429, "slow down", retry_after=7), ErrorReply(429, "slow", retry_after=1.5))
    with pytest.raises(RateLimited) as info:
        complete(provider)
    assert info.value.retry_after == 7
    with pytest.raises(RateLimited) as second:
        stream(provider)
    assert second.value.retry_after == 1.5


def test_overloaded_529_is_a_server_error_with_its_status(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(ErrorReply(529, "Overloaded"))
    with pytest.raises(ServerError) as info:
        complete(provider)
    assert info.value.status_code == 529
    assert info.value.details is not None and info.value.details.startswith("overloaded_error: Overloaded")


def test_errors_use_the_configured_provider_id(server: LoopbackServer) -> None:
    provider = AnthropicProvider(api_key="k", base_url=server.url, provider_id="my-gateway")
    server.queue(ErrorReply(400, "bad"))
    try:
        with pytest.raises(InvalidRequest) as info:
            complete(provider)
    finally:
        provider.close()
    assert info.value.provider == "my-gateway"
    assert "my-gateway" in str(info.value)


def test_a_body_that_is_not_a_message_is_a_parsing_error(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(
        Reply.from_json({"unexpected": True}), Reply(body=b"not json", headers=[("content-type", "application/json")])
    )
    with pytest.raises(ResponseParsingError):
        complete(provider)
    with pytest.raises(ResponseParsingError):
        complete(provider)


def test_in_stream_overloaded_error_ends_the_stream(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(Turn(text="one two three four", error_after=4))
    chunks = stream(provider)
    assert isinstance(chunks[-1], ErrorChunk)
    error = chunks[-1].error
    assert isinstance(error, ProviderStreamError)
    assert (error.provider, error.kind, error.raw_error_type, error.message) == (
        "anthropic",
        ProviderStreamErrorKind.OVERLOADED,
        "overloaded_error",
        "Overloaded",
    )
    assert error.kind.is_retryable()
    assert not any(isinstance(c, MessageComplete) for c in chunks)
    assert TextDelta("one") in chunks


def test_in_stream_api_error_is_retryable(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(Turn(text="x", error_after=1, error=ErrorReply(500, "Internal server error")))
    chunks = stream(provider)
    assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
    error = chunks[0].error
    assert isinstance(error, ProviderStreamError)
    assert error.raw_error_type == "api_error" and error.kind.is_retryable()


def test_in_stream_invalid_request_error_is_not_retryable(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(Turn(text="x", error_after=1, error=ErrorReply(400, "bad")))
    error = stream(provider)[-1]
    assert isinstance(error, ErrorChunk) and isinstance(error.error, ProviderStreamError)
    assert not error.error.kind.is_retryable()


def test_a_stream_cut_mid_body_is_a_retryable_transport_error(
    server: LoopbackServer, provider: AnthropicProvider
) -> None:
    server.queue(Turn(text="alpha beta gamma delta", drop_after=5))
    chunks = stream(provider)
    assert isinstance(chunks[-1], ErrorChunk)
    error = chunks[-1].error
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT
    assert not any(isinstance(c, MessageComplete) for c in chunks)


def test_a_stream_that_ends_cleanly_before_message_stop_is_a_transport_error(
    server: LoopbackServer, provider: AnthropicProvider
) -> None:
    def truncated(request: RecordedRequest) -> Reply:
        events = anthropic_format.render_turn(Turn(text="partial answer"), request).body_parts()
        return Reply.event_stream(events[:-2])  # no message_delta, no message_stop

    server.queue(truncated)
    chunks = stream(provider)
    assert chunks[-1] == ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before message_stop"))
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "partial answer"


def test_ping_events_are_not_chunks(server: LoopbackServer, provider: AnthropicProvider) -> None:
    def pings(request: RecordedRequest) -> Reply:
        events = anthropic_format.render_turn(Turn(text="a b"), request).body_parts()
        ping = sse_event('{"type": "ping"}', "ping")
        return Reply.event_stream(
            [
                events[0],
                ping,
                ping,
                *events[1:],
            ]
        )

    server.queue(pings)
    chunks = stream(provider)
    assert [type(c) for c in chunks] == [TextDelta, TextDelta, ContentBlockStop, MessageComplete]


# --- cancellation -------------------------------------------------------------------------


def test_cancel_from_another_thread_unblocks_a_stalled_stream(
    server: LoopbackServer, provider: AnthropicProvider
) -> None:
    server.queue(Turn(text="first second third fourth fifth", stall_after=4))
    token = CancellationToken()
    received: List[StreamChunk] = []
    first_chunk = threading.Event()
    finished = threading.Event()

    def read() -> None:
        with provider.stream_complete(MODEL, HI, None, None, None, token) as chunks:
            for chunk in chunks:
                received.append(chunk)
                first_chunk.set()
        finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    server.wait_for_stalls(1)
    assert first_chunk.wait(10)
    token.cancel()
    reader.join(30)
    assert finished.is_set()
    assert received[-1] == ErrorChunk(StreamCancelled())
    assert TextDelta("first") in received


def test_a_token_cancelled_before_the_call_sends_nothing(server: LoopbackServer, provider: AnthropicProvider) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        provider.complete(MODEL, HI, None, None, None, token)
    with pytest.raises(Cancelled):
        provider.stream_complete(MODEL, HI, None, None, None, token)
    assert server.requests == []


def test_closing_a_stream_early_releases_it(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(Turn(text="one two three four five six"), Turn(text="again"))
    chunks = provider.stream_complete(MODEL, HI, None, None, None, CancellationToken())
    assert isinstance(next(chunks), TextDelta)
    chunks.close()
    assert list(chunks) == []
    assert completed(stream(provider)).extract_text() == "again"


# --- the directive path -------------------------------------------------------------------


class ScriptedHeaders(AuthHeaderProvider):
    """A header provider that hands out numbered tokens and scripts its 401 answer."""

    def __init__(self, action: AuthErrorAction = AuthErrorAction.RETRY_ONCE, fail: bool = False) -> None:
        self.action = action
        self.fail = fail
        self.contexts: List[AuthHeaderContext] = []
        self.errors: List[AuthErrorContext] = []

    def headers(self, context: AuthHeaderContext) -> List[HeaderPair]:
        if self.fail:
            raise AuthError("stored login is gone")
        self.contexts.append(context)
        return [
            HeaderPair("authorization", f"Bearer token-{len(self.contexts)}"),
            HeaderPair("anthropic-beta", "oauth-2025-04-20"),
        ]

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        self.errors.append(context)
        return self.action


def directive_provider(server: LoopbackServer, headers: ScriptedHeaders) -> AnthropicProvider:
    directive = AnthropicAuth(
        headers, InstructionPolicy.prefix("You are a helpful agent."), (QueryParam("beta", "true"),)
    )
    return AnthropicProvider(api_key="sk-ant-unused", base_url=server.url, directive=directive)


@pytest.mark.parametrize("streaming", [False, True])
def test_directive_headers_query_and_instruction_policy(server: LoopbackServer, streaming: bool) -> None:
    headers = ScriptedHeaders()
    provider = directive_provider(server, headers)
    try:
        if streaming:
            completed(stream(provider, system=SystemContext("Be terse."), params=THINKING))
        else:
            complete(provider, system=SystemContext("Be terse."), params=THINKING)
    finally:
        provider.close()
    request = server.requests[0]
    assert request.query == {"beta": "true"}
    assert request.headers["authorization"] == "Bearer token-1"
    assert "x-api-key" not in request.headers
    assert request.headers["anthropic-beta"] == "oauth-2025-04-20,interleaved-thinking-2025-05-14"
    assert request.json["system"][0]["text"] == "You are a helpful agent.\nBe terse."
    expected_kind = RequestKind.STREAM if streaming else RequestKind.COMPLETE
    assert [(c.model_id, c.request_kind) for c in headers.contexts] == [("claude-sonnet-4-5", expected_kind)]


@pytest.mark.parametrize("streaming", [False, True])
def test_directive_refreshes_and_retries_once_on_401(server: LoopbackServer, streaming: bool) -> None:
    headers = ScriptedHeaders(AuthErrorAction.RETRY_ONCE)
    provider = directive_provider(server, headers)
    server.queue(ErrorReply(401, "token expired"), Turn(text="after refresh"))
    try:
        response = completed(stream(provider)) if streaming else complete(provider)
    finally:
        provider.close()
    assert response.extract_text() == "after refresh"
    first, second = server.requests
    assert first.body == second.body
    assert (first.headers["authorization"], second.headers["authorization"]) == ("Bearer token-1", "Bearer token-2")
    assert headers.errors[0].status == 401
    assert "token expired" in (headers.errors[0].body_snippet or "")


def test_directive_retries_only_once(server: LoopbackServer) -> None:
    headers = ScriptedHeaders(AuthErrorAction.RETRY_ONCE)
    provider = directive_provider(server, headers)
    server.queue(ErrorReply(403, "nope"), ErrorReply(401, "still nope"), Turn(text="never"))
    try:
        with pytest.raises(AuthenticationFailed):
            complete(provider)
    finally:
        provider.close()
    assert len(server.requests) == 2


def test_directive_without_retry_fails_at_once(server: LoopbackServer) -> None:
    headers = ScriptedHeaders(AuthErrorAction.NO_ACTION)
    provider = directive_provider(server, headers)
    server.queue(ErrorReply(401, "nope"), Turn(text="never"))
    try:
        with pytest.raises(AuthenticationFailed):
            stream(provider)
    finally:
        provider.close()
    assert len(server.requests) == 1


def test_directive_header_failure_is_an_auth_error_before_sending(server: LoopbackServer) -> None:
    provider = directive_provider(server, ScriptedHeaders(fail=True))
    try:
        with pytest.raises(ApiAuthError):
            complete(provider)
    finally:
        provider.close()
    assert server.requests == []


def test_api_key_mode_does_not_retry_401(server: LoopbackServer, provider: AnthropicProvider) -> None:
    server.queue(ErrorReply(401, "invalid x-api-key"), Turn(text="never"))
    with pytest.raises(AuthenticationFailed):
        complete(provider)
    assert len(server.requests) == 1


def test_module_exports_only_the_provider() -> None:
    assert anthropic_module.__all__ == ["AnthropicProvider"]
    provider = AnthropicProvider(api_key="k")
    try:
        assert provider.name == "anthropic"
        assert provider.requires_streaming is False
    finally:
        provider.close()


def test_turn_cache_counts_reach_the_usage_through_the_client() -> None:
    from steer_sync import Message
    from steer_sync.testing import LoopbackServer, Turn

    with LoopbackServer() as server, server.client() as client:
        server.queue(Turn(text="cached", usage=(10, 2), cache_read_input_tokens=100, cache_creation_input_tokens=5))
        usage = client.complete("sonnet", [Message.user("hi")]).usage
    assert usage is not None
    assert usage.cache_read_input_tokens == 100 and usage.cache_creation_input_tokens == 5
    assert usage.input_tokens == 115
