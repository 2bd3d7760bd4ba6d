"""OpenAI Responses end to end over loopback: the real provider class, transport and sockets.

The loopback server renders each scripted :class:`Turn` in the Responses format (see
``steer_sync/testing/_openai_responses.py``); raw :class:`Reply` items cover what a Turn cannot say.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, List, Optional, Sequence

import pytest

from steer_sync._auth._directive import (
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
    InstructionPolicy,
    OpenAiResponsesAuth,
    RequestKind,
)
from steer_sync._cancellation import CancellationToken
from steer_sync._catalog import ProviderConfig
from steer_sync._chunks import (
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
    ApiStreamError,
    ApiTimeout,
    AuthenticationFailed,
    Cancelled,
    ConfigurationError,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    ServerError,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
    UnknownApiError,
)
from steer_sync._factory import create_provider
from steer_sync._providers.openai_responses._provider import OpenAIResponsesProvider
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    SignedThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    TokenUsage,
    ToolCall,
    ToolSchema,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Reply, ToolCallSpec, Turn, sse_event

MODEL = ModelId("openai", "gpt-5.4")
LS = ToolSchema(
    "ls", "List a directory", {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running
        errors = running.errors
    assert not errors, errors


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[OpenAIResponsesProvider]:
    made = OpenAIResponsesProvider(api_key="sk-test-key-123456789", base_url=server.url)
    yield made
    made.close()


def stream(provider: OpenAIResponsesProvider, messages: Sequence[Message] = (), **kw: Any) -> List[StreamChunk]:
    chunks = provider.stream_complete(
        kw.pop("model", MODEL),
        list(messages) or [Message.user("hi")],
        kw.pop("system", None),
        kw.pop("tools", None),
        kw.pop("params", None),
        kw.pop("token", None) or CancellationToken(),
        **kw,
    )
    with chunks:
        return list(chunks)


def complete(provider: OpenAIResponsesProvider, messages: Sequence[Message] = (), **kw: Any) -> CompletionResponse:
    return provider.complete(
        kw.pop("model", MODEL),
        list(messages) or [Message.user("hi")],
        kw.pop("system", None),
        kw.pop("tools", None),
        kw.pop("params", None),
        kw.pop("token", None) or CancellationToken(),
        **kw,
    )


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    return chunks[-1].response


# --- text, reasoning, usage ---------------------------------------------------------------------------------


def test_streams_text_and_usage(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(Turn(text="Hello there, friend", usage=(21, 4)))
    chunks = stream(provider, system=SystemContext("Be kind."))
    assert chunks[:-1] == [TextDelta("Hello"), TextDelta(" there,"), TextDelta(" friend")]
    assert final(chunks) == CompletionResponse(
        (TextContent("Hello there, friend"),), TokenUsage(21, 4, 25), "completed"
    )
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/v1/responses"
    assert request.headers["authorization"] == "Bearer sk-test-key-123456789"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "model": "gpt-5.4",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "instructions": "Be kind.",
        "parallel_tool_calls": True,
        "store": False,
        "stream": True,
    }


def test_complete_uses_the_non_streaming_endpoint(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(Turn(text="Hi!", usage=(3, 2)))
    assert complete(provider) == CompletionResponse((TextContent("Hi!"),), TokenUsage(3, 2, 5), "completed")
    assert "stream" not in server.requests[0].json


def test_streams_reasoning_summaries_and_asks_for_encrypted_reasoning(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    server.queue(Turn(thinking="Consider the question.\n\nThen answer it.", thinking_signature="gAAAAB-enc", text="42"))
    params = ModelParameters(max_output_tokens=1000, thinking_config=ThinkingConfig(True, ThinkingEffort.HIGH))
    chunks = stream(provider, params=params)
    thinking = [c.text for c in chunks if isinstance(c, ThinkingDelta)]
    assert "".join(thinking) == "Consider the question.\n\nThen answer it."
    assert final(chunks).content == (
        SignedThought("Consider the question.\n\nThen answer it.", "openai-responses:gAAAAB-enc"),
        TextContent("42"),
    )
    body = server.requests[0].json
    assert body["reasoning"] == {"effort": "high", "summary": "detailed"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["max_output_tokens"] == 1000


def test_function_call_round_trip(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(
        Turn(
            thinking="Need the listing.",
            thinking_signature="gAAAAB-first",
            tool_calls=[ToolCallSpec("call_1", "ls", {"path": "."}, chunks=3)],
            usage=(40, 9),
        ),
        Turn(text="Two files."),
    )
    question = Message.user("What is here?")
    chunks = stream(provider, [question], tools=[LS], params=ModelParameters(thinking_config=ThinkingConfig(True)))
    assert [c for c in chunks if isinstance(c, ToolUseStart)] == [ToolUseStart("call_1", "ls")]
    assert "".join(c.delta for c in chunks if isinstance(c, ToolUseInputDelta)) == '{"path":"."}'
    first = final(chunks)
    assert first.extract_tool_calls() == [ToolCall("call_1", "ls", {"path": "."})]

    history = [question, Message.assistant(list(first.content)), Message.tool_result("call_1", "a.txt b.txt")]
    second = complete(provider, history, tools=[LS], params=ModelParameters(thinking_config=ThinkingConfig(True)))
    assert second.extract_text() == "Two files."
    body = server.requests[1].json
    assert body["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "What is here?"}]},
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Need the listing."}],
            "encrypted_content": "gAAAAB-first",
        },
        {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": '{"path":"."}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt b.txt"},
    ]
    assert body["tools"][0]["name"] == "ls" and body["tool_choice"] == "auto"


@pytest.mark.parametrize("seed", range(4))
def test_parallel_tool_calls_split_across_chunks(
    provider: OpenAIResponsesProvider, server: LoopbackServer, seed: int
) -> None:
    calls = [
        ToolCallSpec("call_a", "ls", {"path": "src/ü"}, chunks=5),
        ToolCallSpec("call_b", "cat", {"file": "README.md", "lines": [1, 2, 3]}, chunks=7),
    ]
    server.queue(Turn(text="Looking.", tool_calls=calls, split="random", seed=seed, usage=(50, 30)))
    chunks = stream(provider, tools=[LS])
    assert [c for c in chunks if isinstance(c, ToolUseStart)] == [
        ToolUseStart("call_a", "ls"),
        ToolUseStart("call_b", "cat"),
    ]
    for spec in calls:
        deltas = [c.delta for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == spec.id]
        assert len(deltas) == spec.chunks and "".join(deltas) == spec.arguments_json()
    response = final(chunks)
    assert response.extract_tool_calls() == [ToolCall(s.id, s.name, dict(s.arguments)) for s in calls]  # type: ignore[arg-type]
    assert response.usage == TokenUsage(50, 30, 80)


def test_incomplete_response_completes_with_its_reason(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    server.queue(
        Turn(text="In the bustling", stop_reason="max_output_tokens", usage=(0, 0)),
        Turn(text="cut", stop_reason="content_filter"),
    )
    assert final(stream(provider)) == CompletionResponse(
        (TextContent("In the bustling"),), TokenUsage(0, 0, 0), "max_output_tokens"
    )
    assert complete(provider).stop_reason == "content_filter"


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, InvalidRequest),
        (408, ApiTimeout),
        (409, ServerError),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
@pytest.mark.parametrize("streaming", [True, False])
def test_http_errors_map_to_their_class(
    provider: OpenAIResponsesProvider, server: LoopbackServer, status: int, error_class: type, streaming: bool
) -> None:
    server.queue(ErrorReply(status, f"problem {status}"))
    with pytest.raises(error_class) as info:
        stream(provider) if streaming else complete(provider)
    error = info.value
    assert isinstance(error, ApiError) and error.provider == "openai"
    if status != 408:
        assert error.details == f"problem {status}"
    if status >= 500 or status == 409:
        assert error.status_code == status


def test_rate_limit_carries_the_server_hints(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(ErrorReply(429, "Rate limit reached", retry_after=1.5, headers=[("x-should-retry", "false")]))
    with pytest.raises(RateLimited) as info:
        stream(provider)
    assert info.value.retry_after == 1.5
    assert info.value.should_retry is False
    assert "Rate limit reached" in str(info.value)


def test_http_error_with_code_null_and_param_uses_message(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    body = b'{\n  "error": {\n    "message": "Unsupported parameter: temperature",\n    "type": "invalid_request_error",\n    "param": "temperature",\n    "code": null\n  }\n}'
    server.queue(
        Reply(status=400, headers=[("content-type", "application/json"), ("x-request-id", "req_1")], body=body)
    )
    with pytest.raises(InvalidRequest) as info:
        complete(provider)
    assert info.value.details == "Unsupported parameter: temperature (param: temperature)"


def test_non_json_error_body_is_passed_raw(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(Reply(status=502, headers=[("content-type", "text/html")], body=b"<html>Bad Gateway</html>"))
    with pytest.raises(ServerError) as info:
        stream(provider)
    assert info.value.details == "<html>Bad Gateway</html>"


def test_unexpected_status_is_unknown(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(Reply(status=302, headers=[("location", "/elsewhere"), ("content-type", "text/plain")], body=b"moved"))
    with pytest.raises(UnknownApiError):
        complete(provider)


def test_invalid_json_success_body_is_a_parsing_error(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    server.queue(Reply(headers=[("content-type", "application/json")], body=b"{not json"))
    with pytest.raises(ApiError) as info:
        complete(provider)
    assert type(info.value).__name__ == "ResponseParsingError"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ErrorReply(429, "Too many"),
            ProviderStreamError(
                "openai", ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED, "rate_limit_exceeded", "Too many"
            ),
        ),
        (
            ErrorReply(500, "The model failed"),
            ProviderStreamError("openai", ProviderStreamErrorKind.RESPONSE_FAILED, "server_error", "The model failed"),
        ),
        (
            ErrorReply(400, "Prompt blocked", error_type="response.failed", code="invalid_prompt"),
            ProviderStreamError(
                "openai",
                ProviderStreamErrorKind.from_provider_error_type("invalid_prompt"),
                "invalid_prompt",
                "Prompt blocked",
            ),
        ),
    ],
)
def test_in_stream_errors(
    provider: OpenAIResponsesProvider, server: LoopbackServer, error: ErrorReply, expected: ProviderStreamError
) -> None:
    server.queue(Turn(text="one two three", error_after=5, error=error))
    chunks = stream(provider)
    assert chunks[0] == TextDelta("one")
    assert chunks[-1] == ErrorChunk(expected)
    assert not any(isinstance(c, MessageComplete) for c in chunks)


def test_failed_stream_raises_from_collect_with_the_stream_error(server: LoopbackServer) -> None:
    # A require_streaming provider completes through the stream, so a failure raises.
    server.queue(Turn(text="x", error_after=2, error=ErrorReply(503, "overloaded")))
    provider = OpenAIResponsesProvider(api_key=None, base_url=server.url, directive=_directive(require_streaming=True))
    with pytest.raises(ApiStreamError) as info:
        complete(provider)
    assert info.value.stream_error.kind.is_retryable()  # type: ignore[attr-defined]
    provider.close()


def test_dropped_connection_is_a_transport_error(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(Turn(text="one two three", drop_after=5))
    chunks = stream(provider)
    assert chunks[0] == TextDelta("one")
    assert isinstance(chunks[-1], ErrorChunk)
    assert isinstance(chunks[-1].error, SseParse) and chunks[-1].error.kind is SseParseErrorKind.TRANSPORT


def test_body_ending_before_the_terminal_event_is_a_transport_error(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    events = [sse_event({"type": "response.output_text.delta", "delta": "partial"}, "response.output_text.delta")]
    server.queue(Reply.event_stream(events))
    chunks = stream(provider)
    assert chunks == [
        TextDelta("partial"),
        ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before response.completed")),
    ]


def test_events_without_event_lines_dispatch_on_their_type(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    events = [
        sse_event({"type": "response.output_text.delta", "delta": "no names"}),
        sse_event({"type": "response.completed", "response": {"usage": {"input_tokens": 1, "output_tokens": 2}}}),
    ]
    server.queue(Reply.event_stream(events))
    assert final(stream(provider)) == CompletionResponse((TextContent("no names"),), TokenUsage(1, 2, 3), "completed")


# --- cancellation ----------------------------------------------------------------------------------------------


def _when_stalled(server: LoopbackServer, action: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        server.wait_for_stalls(1)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_cancel_unblocks_a_stalled_stream(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    # created, in_progress, item added, part added, first delta: then silence.
    server.queue(Turn(text="one two three", stall_after=5))
    token = CancellationToken()
    chunks = provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, token)
    assert next(chunks) == TextDelta("one")
    thread = _when_stalled(server, token.cancel)
    rest = list(chunks)
    thread.join()
    assert rest == [ErrorChunk(StreamCancelled())]


def test_closing_a_stalled_stream_from_another_thread_ends_it(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    server.queue(Turn(text="one two three", stall_after=5))
    chunks = provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    assert next(chunks) == TextDelta("one")
    thread = _when_stalled(server, chunks.close)
    rest = list(chunks)
    thread.join()
    assert all(isinstance(c, ErrorChunk) for c in rest)
    assert chunks.closed
    assert server.wait_connections_closed()


def test_cancel_unblocks_complete_waiting_for_headers(
    provider: OpenAIResponsesProvider, server: LoopbackServer
) -> None:
    server.queue(Turn(text="never", stall_after=-1))
    token = CancellationToken()
    thread = _when_stalled(server, token.cancel)
    with pytest.raises(Cancelled):
        complete(provider, token=token)
    thread.join()


def test_an_already_cancelled_token_raises_cancelled(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        stream(provider, token=token)
    assert server.requests == []


# --- directive (ChatGPT login) ---------------------------------------------------------------------------------


class _Headers(AuthHeaderProvider):
    """Counts its calls: each attempt gets a fresh token; answers 401s as told."""

    def __init__(self, action: AuthErrorAction = AuthErrorAction.NO_ACTION, fail: Optional[Exception] = None) -> None:
        self.calls: List[AuthHeaderContext] = []
        self.errors: List[AuthErrorContext] = []
        self.action = action
        self.fail = fail

    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        if self.fail is not None:
            raise self.fail
        self.calls.append(context)
        return [
            HeaderPair("authorization", f"Bearer access-{len(self.calls)}"),
            HeaderPair("chatgpt-account-id", "acct_1"),
            HeaderPair("originator", "codex_cli_rs"),
        ]

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        self.errors.append(context)
        return self.action


def _directive(headers: Optional[AuthHeaderProvider] = None, **fields: Any) -> OpenAiResponsesAuth:
    return OpenAiResponsesAuth(headers=headers or _Headers(), **fields)


def test_directive_request_shape(server: LoopbackServer) -> None:
    headers = _Headers()
    directive = _directive(
        headers,
        base_url_override=server.url + "/backend-api/codex/responses",
        require_streaming=True,
        instruction_policy=InstructionPolicy.override("You are Codex."),
        include=("reasoning.encrypted_content",),
    )
    provider = OpenAIResponsesProvider(
        api_key="sk-ignored-key-123456789", base_url="https://ignored.example/v1", directive=directive
    )
    assert provider.requires_streaming
    assert provider.name == "openai"
    server.queue(Turn(text="done"), Turn(text="again"))
    params = ModelParameters(max_output_tokens=42, thinking_config=ThinkingConfig(True, ThinkingEffort.XHIGH))
    # complete() goes through the stream because the endpoint requires it.
    assert complete(provider, system=SystemContext("Work carefully."), params=params).extract_text() == "done"
    stream(provider)
    first, second = server.requests
    assert first.path == "/backend-api/codex/responses"
    assert first.headers["authorization"] == "Bearer access-1" and second.headers["authorization"] == "Bearer access-2"
    assert first.headers["chatgpt-account-id"] == "acct_1"
    assert first.json["stream"] is True
    assert first.json["instructions"] == "You are Codex.\n\n## Operating Mode\nWork carefully."
    assert first.json["include"] == ["reasoning.encrypted_content"]
    assert "max_output_tokens" not in first.json
    assert [c.request_kind for c in headers.calls] == [RequestKind.STREAM, RequestKind.STREAM]
    assert headers.calls[0].model_id == "gpt-5.4"
    provider.close()


def test_directive_without_streaming_requirement_completes_without_stream(server: LoopbackServer) -> None:
    headers = _Headers()
    provider = OpenAIResponsesProvider(api_key=None, base_url=server.url, directive=_directive(headers))
    assert not provider.requires_streaming
    server.queue(Turn(text="plain"))
    assert complete(provider).extract_text() == "plain"
    assert "stream" not in server.requests[0].json
    assert headers.calls[0].request_kind is RequestKind.COMPLETE
    provider.close()


def test_directive_retries_once_after_a_401_with_fresh_headers(server: LoopbackServer) -> None:
    headers = _Headers(AuthErrorAction.RETRY_ONCE)
    provider = OpenAIResponsesProvider(api_key=None, base_url=server.url, directive=_directive(headers))
    server.queue(ErrorReply(401, "token expired"), Turn(text="after refresh"))
    assert final(stream(provider)).extract_text() == "after refresh"
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer access-1", "Bearer access-2"]
    (refused,) = headers.errors
    assert refused.status == 401 and refused.request_kind is RequestKind.STREAM
    assert "token expired" in (refused.body_snippet or "")
    provider.close()


def test_directive_gives_up_after_the_second_401(server: LoopbackServer) -> None:
    headers = _Headers(AuthErrorAction.RETRY_ONCE)
    provider = OpenAIResponsesProvider(api_key=None, base_url=server.url, directive=_directive(headers))
    server.queue(ErrorReply(401, "nope"), ErrorReply(403, "still nope"), Turn(text="unused"))
    with pytest.raises(AuthenticationFailed):
        complete(provider)
    assert len(server.requests) == 2
    # The second refusal is raised without asking the hook again (the package docstring says so).
    assert [e.status for e in headers.errors] == [401]
    provider.close()


def test_directive_header_failure_is_an_auth_error(server: LoopbackServer) -> None:
    provider = OpenAIResponsesProvider(
        api_key=None,
        base_url=server.url,
        directive=_directive(_Headers(fail=RuntimeError("Re-authentication required"))),
    )
    with pytest.raises(ApiAuthError) as info:
        stream(provider)
    assert "Re-authentication required" in str(info.value)
    assert server.requests == []
    provider.close()


def test_api_key_mode_does_not_retry_a_401(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(ErrorReply(401, "Incorrect API key provided"), Turn(text="unused"))
    with pytest.raises(AuthenticationFailed):
        complete(provider)
    assert len(server.requests) == 1


# --- headers, URLs, construction ------------------------------------------------------------------------------


def test_headers_are_layered_auth_then_catalog_then_extra(server: LoopbackServer) -> None:
    provider = OpenAIResponsesProvider(
        api_key="sk-test-key-123456789", base_url=server.url, headers={"X-Gateway": "team-a", "X-Trace": "static"}
    )
    server.queue(Turn(text="ok"))
    stream(provider, extra_headers={"x-trace": "per-call", "OpenAI-Beta": "x"})
    request = server.requests[0]
    assert request.headers["x-gateway"] == "team-a"
    assert request.headers["x-trace"] == "per-call"
    assert request.headers["openai-beta"] == "x"
    assert request.headers["authorization"] == "Bearer sk-test-key-123456789"
    provider.close()


def test_keyless_server_gets_no_authorization(server: LoopbackServer) -> None:
    provider = OpenAIResponsesProvider(api_key=None, base_url=server.url + "/v1/", provider_id="local")
    server.queue(Turn(text="ok"))
    complete(provider)
    assert "authorization" not in server.requests[0].headers
    provider.close()


def test_gateway_base_url_with_path_and_query(server: LoopbackServer) -> None:
    provider = OpenAIResponsesProvider(
        api_key="sk-test-key-123456789", base_url=server.url + "/openai/v1?api-version=preview", provider_id="azure"
    )
    assert provider.url == server.url + "/openai/v1/responses?api-version=preview"
    server.queue(Turn(text="ok"))
    assert final(stream(provider)).extract_text() == "ok"
    request = server.requests[0]
    assert request.path == "/openai/v1/responses"
    assert request.query == {"api-version": "preview"}
    provider.close()


def test_errors_carry_the_configured_provider_id(server: LoopbackServer) -> None:
    provider = OpenAIResponsesProvider(api_key="sk-test-key-123456789", base_url=server.url, provider_id="my-gw")
    assert provider.name == "openai"
    server.queue(ErrorReply(400, "bad"), Turn(text="x", error_after=1, error=ErrorReply(429, "slow")))
    with pytest.raises(InvalidRequest) as info:
        complete(provider)
    assert info.value.provider == "my-gw"
    chunks = stream(provider)
    assert isinstance(chunks[-1], ErrorChunk) and chunks[-1].error.provider == "my-gw"  # type: ignore[attr-defined]
    provider.close()


def test_default_url_and_bad_configuration() -> None:
    assert OpenAIResponsesProvider(api_key="sk-test-key-123456789").url == "https://api.openai.com/v1/responses"
    with pytest.raises(ConfigurationError):
        OpenAIResponsesProvider(api_key="k", base_url="not a url")
    with pytest.raises(ConfigurationError) as info:
        OpenAIResponsesProvider(api_key="sk-abc\n")
    assert "sk-abc" not in str(info.value)
    with pytest.raises(ConfigurationError):
        OpenAIResponsesProvider(api_key=None, directive=object())  # type: ignore[arg-type]


def test_factory_creates_the_openai_provider() -> None:
    # Ported from steer's factory.rs: the Responses format with an API key gives "openai".
    config = ProviderConfig("openai", "OpenAI", "openai-responses", ("api-key",))
    provider = create_provider(config, api_key="sk-test-key-123456789")
    assert isinstance(provider, OpenAIResponsesProvider) and provider.name == "openai"
    provider.close()


def test_factory_creates_a_custom_openai_compatible_provider(server: LoopbackServer) -> None:
    config = ProviderConfig(
        "my-gw",
        "My gateway",
        "openai-responses",
        ("api-key",),
        base_url=server.url + "/api/v1",
        headers={"x-team": "t"},
    )
    provider = create_provider(config, api_key="gw-key", base_url=config.base_url)
    assert provider.name == "openai"
    server.queue(Turn(text="via gateway"))
    response = provider.complete(
        ModelId("my-gw", "some-model"), [Message.user("hi")], None, None, None, CancellationToken()
    )
    assert response.extract_text() == "via gateway"
    request = server.requests[0]
    assert request.path == "/api/v1/responses" and request.json["model"] == "some-model"
    assert request.headers["x-team"] == "t" and request.headers["authorization"] == "Bearer gw-key"
    provider.close()


def test_connection_is_reused_across_calls(provider: OpenAIResponsesProvider, server: LoopbackServer) -> None:
    server.queue(Turn(text="a"), Turn(text="b"), Turn(text="c"))
    stream(provider)
    complete(provider)
    stream(provider)
    assert server.connection_count == 1
