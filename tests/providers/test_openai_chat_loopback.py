"""Chat Completions end to end over loopback, for both providers that speak it (OpenAI Chat and xAI).

Every test runs against :class:`OpenAIChatProvider` and :class:`XaiProvider` through the real
transport and the loopback server's ``openai_chat`` / ``xai`` formats. xAI-only behaviour is in
``test_xai_loopback.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Type

import pytest

from steer_sync._cancellation import CancellationToken
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
)
from steer_sync._provider import Provider
from steer_sync._providers.openai_chat._openai import OpenAIChatProvider
from steer_sync._providers.openai_chat._xai import XaiProvider
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    SimpleThought,
    SystemContext,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolSchema,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Reply, ToolCallSpec, Turn, sse_event
from steer_sync.testing._openai_chat import refusal


@dataclass(frozen=True)
class Case:
    name: str
    cls: Type[Any]
    model: ModelId

    def make(self, server: LoopbackServer, **kw: Any) -> Provider:
        kw.setdefault("api_key", "sk-test-key")
        provider: Provider = self.cls(base_url=server.url, **kw)
        return provider


CASES = [
    Case("openai", OpenAIChatProvider, ModelId("openai", "gpt-4o")),
    Case("xai", XaiProvider, ModelId("xai", "grok-3-mini")),
]

WEATHER = ToolSchema(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: Any) -> Case:
    result: Case = request.param
    return result


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def provider(case: Case, server: LoopbackServer) -> Iterator[Provider]:
    made = case.make(server)
    yield made
    made.close()


def ask(provider: Provider, case: Case, text: str = "hi", **kw: Any) -> CompletionResponse:
    token = kw.pop("token", None) or CancellationToken()
    return provider.complete(
        case.model,
        [Message.user(text)],
        kw.pop("system", None),
        kw.pop("tools", None),
        kw.pop("params", None),
        token,
        **kw,
    )


def stream(provider: Provider, case: Case, messages: Optional[List[Message]] = None, **kw: Any) -> List[StreamChunk]:
    token = kw.pop("token", None) or CancellationToken()
    with provider.stream_complete(
        case.model, messages or [Message.user("hi")], None, kw.pop("tools", None), kw.pop("params", None), token, **kw
    ) as chunks:
        return list(chunks)


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    last = chunks[-1]
    assert isinstance(last, MessageComplete), chunks
    return last.response


# --- text ---------------------------------------------------------------------------------------------


def test_complete_returns_text_and_usage(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(Turn(text="Hello there, friend.", usage=(14, 5)))
    response = ask(provider, case, system=SystemContext("Be brief."))
    assert response.content == (TextContent("Hello there, friend."),)
    assert response.usage == TokenUsage(14, 5, 19)
    assert response.stop_reason == "stop"
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert request.headers["content-type"].startswith("application/json")
    assert request.json["model"] == case.model.id
    assert request.json["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert request.json.get("stream") in (None, False)


def test_stream_yields_text_deltas_then_the_complete_message(
    case: Case, provider: Provider, server: LoopbackServer
) -> None:
    server.queue(Turn(text="Hello there, friend.", usage=(14, 5)))
    chunks = stream(provider, case)
    assert [c for c in chunks[:-1]] == [TextDelta("Hello"), TextDelta(" there,"), TextDelta(" friend.")]
    response = final(chunks)
    assert response.content == (TextContent("Hello there, friend."),)
    assert response.usage == TokenUsage(14, 5, 19)
    body = server.requests[0].json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_stream_survives_any_byte_split(case: Case, provider: Provider, server: LoopbackServer) -> None:
    for seed in range(4):
        server.queue(
            Turn(
                text="Grüße aus Köln 🌍, wie geht's?",
                thinking="Ponder ünïcode",
                usage=(3, 9),
                split="random",
                seed=seed,
            )
        )
        response = final(stream(provider, case))
        assert response.extract_text() == "Grüße aus Köln 🌍, wie geht's?"
        assert response.content[0] == SimpleThought("Ponder ünïcode")


def test_reasoning_content_streams_as_thinking(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(Turn(thinking="Let me think", text="42", usage=(5, 4)))
    chunks = stream(provider, case)
    assert chunks[:-1] == [ThinkingDelta("Let"), ThinkingDelta(" me"), ThinkingDelta(" think"), TextDelta("42")]
    response = final(chunks)
    assert response.content == (SimpleThought("Let me think"), TextContent("42"))
    # Both dialects report output including the 3 reasoning tokens, whatever completion_tokens said.
    assert response.usage == TokenUsage(5, 4, 9, reasoning_tokens=3)


def test_non_stream_reasoning_comes_first(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(Turn(thinking="Let me think", text="42", usage=(5, 4)))
    response = ask(provider, case)
    assert response.content == (SimpleThought("Let me think"), TextContent("42"))
    assert response.usage == TokenUsage(5, 4, 9, reasoning_tokens=3)


def test_refusal_becomes_text(case: Case, provider: Provider, server: LoopbackServer) -> None:
    xai = case.name == "xai"
    server.queue(refusal("I can't help with that.", xai=xai), refusal("No.", xai=xai))
    chunks = stream(provider, case)
    assert all(isinstance(c, TextDelta) for c in chunks[:-1])
    assert final(chunks).extract_text() == "I can't help with that."
    assert ask(provider, case).extract_text() == "No."


# --- tools --------------------------------------------------------------------------------------------


def test_function_call_round_trip(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(
        Turn(tool_calls=[ToolCallSpec("call_1", "get_weather", {"city": "Paris"}, chunks=3)], usage=(20, 8)),
        Turn(text="It is sunny in Paris.", usage=(40, 7)),
    )
    messages = [Message.user("Weather in Paris?")]
    first = stream(provider, case, messages, tools=[WEATHER])
    assert first[0] == ToolUseStart("call_1", "get_weather")
    assert "".join(c.delta for c in first if isinstance(c, ToolUseInputDelta)) == '{"city":"Paris"}'
    response = final(first)
    assert response.extract_tool_calls() == [ToolCall("call_1", "get_weather", {"city": "Paris"})]
    assert response.stop_reason == "tool_calls"
    messages += [Message.assistant(response.content), Message.tool_result("call_1", "sunny, 24C")]
    second = final(stream(provider, case, messages, tools=[WEATHER]))
    assert second.extract_text() == "It is sunny in Paris."

    tools = server.requests[0].json["tools"]
    assert tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER.input_schema,
            },
        }
    ]
    sent = server.requests[1].json["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    assert sent[2] == {"role": "tool", "content": "sunny, 24C", "tool_call_id": "call_1"}


def test_parallel_tool_calls_split_across_chunks(case: Case, provider: Provider, server: LoopbackServer) -> None:
    calls = [
        ToolCallSpec("call_a", "get_weather", {"city": "Edinburgh", "units": "c"}, chunks=5),
        ToolCallSpec("call_b", "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}, chunks=4),
    ]
    server.queue(Turn(text="Checking both.", tool_calls=calls, usage=(149, 60), split="random", seed=7))
    chunks = stream(provider, case, tools=[WEATHER])
    starts = [c for c in chunks if isinstance(c, ToolUseStart)]
    assert starts == [ToolUseStart("call_a", "get_weather"), ToolUseStart("call_b", "get_stock_price")]
    for call in calls:
        pieces = [c.delta for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == call.id]
        assert "".join(pieces) == call.arguments_json()
    response = final(chunks)
    assert response.extract_text() == "Checking both."
    assert response.extract_tool_calls() == [ToolCall(c.id, c.name, dict(c.arguments)) for c in calls]  # type: ignore[arg-type]
    assert response.usage == TokenUsage(149, 60, 209)


def test_non_stream_tool_calls(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(Turn(tool_calls=[ToolCallSpec("c1", "a", {"x": 1}), ToolCallSpec("c2", "b", "{not json")]))
    response = ask(provider, case, tools=[WEATHER])
    assert response.extract_tool_calls() == [ToolCall("c1", "a", {"x": 1}), ToolCall("c2", "b", {})]


# --- HTTP errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, InvalidRequest),
        (408, ApiTimeout),
        (409, ServerError),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
    ],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_http_errors_raise_the_mapped_error(
    case: Case, provider: Provider, server: LoopbackServer, status: int, expected: Type[ApiError], streaming: bool
) -> None:
    server.queue(ErrorReply(status, f"failure {status}", retry_after=2 if status in (429, 503) else None))
    with pytest.raises(expected) as caught:
        if streaming:
            provider.stream_complete(case.model, [Message.user("hi")], None, None, None, CancellationToken())
        else:
            ask(provider, case)
    error = caught.value
    assert error.provider == case.name
    if expected is not ApiTimeout:
        assert f"failure {status}" in str(error.details)
    if status in (409, 500, 503):
        assert error.status_code == status
    if status in (429, 503):
        assert error.retry_after == 2.0
    if status == 429:
        assert error.retry_after == 2.0 and "Rate limited" in str(error)


def test_errors_name_the_configured_provider_id(case: Case, server: LoopbackServer) -> None:
    provider = case.make(server, provider_id="my-gateway")
    try:
        server.queue(ErrorReply(500, "boom", format="openai_chat" if case.name == "openai" else "xai"))
        with pytest.raises(ServerError) as caught:
            ask(provider, case)
        assert caught.value.provider == "my-gateway"
        assert provider.name == case.name
    finally:
        provider.close()


# --- in-stream errors and premature ends -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [(None, True), (ErrorReply(429, "slow down"), True), (ErrorReply(400, "bad things"), False)],
    ids=["overloaded", "rate-limited", "invalid"],
)
@pytest.mark.parametrize("after", [0, 3], ids=["before-output", "after-output"])
def test_in_stream_error_yields_a_provider_stream_error(
    case: Case, provider: Provider, server: LoopbackServer, error: Optional[ErrorReply], retryable: bool, after: int
) -> None:
    server.queue(Turn(text="one two three four five", error_after=after, error=error))
    chunks = stream(provider, case)
    last = chunks[-1]
    assert isinstance(last, ErrorChunk)
    assert isinstance(last.error, ProviderStreamError)
    assert last.error.provider == case.name
    assert last.error.kind.is_retryable() is retryable
    assert last.error.message == (error.message if error is not None else "Overloaded")
    if error is not None and error.status == 429:
        assert last.error.kind == ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED
    deltas = chunks[:-1]
    assert all(isinstance(c, TextDelta) for c in deltas)
    assert (len(deltas) > 0) is (after == 3)


def test_in_stream_error_through_collect_raises_api_stream_error(
    case: Case, provider: Provider, server: LoopbackServer
) -> None:
    server.queue(Turn(text="one two", error_after=1))
    token = CancellationToken()
    with pytest.raises(ApiStreamError, match="Overloaded"):
        provider.stream_complete(case.model, [Message.user("hi")], None, None, None, token).collect()


def test_a_dropped_connection_is_a_retryable_transport_error(
    case: Case, provider: Provider, server: LoopbackServer
) -> None:
    server.queue(Turn(text="one two three four", drop_after=2))
    chunks = stream(provider, case)
    last = chunks[-1]
    assert isinstance(last, ErrorChunk)
    assert isinstance(last.error, SseParse) and last.error.kind is SseParseErrorKind.TRANSPORT


def test_a_body_that_ends_cleanly_without_done_is_a_transport_error(
    case: Case, provider: Provider, server: LoopbackServer
) -> None:
    events = [sse_event({"id": "x", "choices": [{"index": 0, "delta": {"content": "partial"}}]})]
    server.queue(Reply.event_stream(events))
    chunks = stream(provider, case)
    assert chunks == [
        TextDelta("partial"),
        ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before [DONE]")),
    ]


def test_a_body_that_ends_after_a_finish_reason_completes(
    case: Case, provider: Provider, server: LoopbackServer
) -> None:
    events = [
        sse_event({"id": "x", "choices": [{"index": 0, "delta": {"content": "whole"}}]}),
        sse_event({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]
    server.queue(Reply.event_stream(events))
    assert final(stream(provider, case)).extract_text() == "whole"


def test_sse_comments_are_ignored(case: Case, provider: Provider, server: LoopbackServer) -> None:
    events = [b": OPENROUTER PROCESSING\n\n"] * 3 + [
        sse_event({"id": "x", "choices": [{"index": 0, "delta": {"content": "hi"}}]}),
        b": keep-alive\n\n",
        sse_event("[DONE]"),
    ]
    server.queue(Reply.event_stream(events))
    assert final(stream(provider, case)).extract_text() == "hi"


# --- cancellation ----------------------------------------------------------------------------------------


def _cancel_after_stall(server: LoopbackServer, cancel: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        server.wait_for_stalls(1)
        cancel()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_cancel_unblocks_a_stalled_stream(case: Case, provider: Provider, server: LoopbackServer) -> None:
    # OpenAI sends a role opener first, xAI does not: stall right after the first text delta.
    server.queue(Turn(text="one two three", stall_after=2 if case.name == "openai" else 1))
    token = CancellationToken()
    chunks = provider.stream_complete(case.model, [Message.user("hi")], None, None, None, token)
    assert next(chunks) == TextDelta("one")
    thread = _cancel_after_stall(server, token.cancel)
    rest = list(chunks)
    thread.join()
    assert rest == [ErrorChunk(StreamCancelled())]


def test_closing_a_stalled_stream_from_another_thread_ends_it(
    case: Case, provider: Provider, server: LoopbackServer
) -> None:
    server.queue(Turn(text="one two three", stall_after=2 if case.name == "openai" else 1))
    chunks = provider.stream_complete(case.model, [Message.user("hi")], None, None, None, CancellationToken())
    assert next(chunks) == TextDelta("one")
    thread = _cancel_after_stall(server, chunks.close)
    rest = list(chunks)
    thread.join()
    assert all(isinstance(c, ErrorChunk) for c in rest)
    assert chunks.closed


def test_cancel_unblocks_complete_waiting_for_headers(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(Turn(text="never", stall_after=-1))
    token = CancellationToken()
    thread = _cancel_after_stall(server, token.cancel)
    with pytest.raises(Cancelled):
        ask(provider, case, token=token)
    thread.join()


def test_cancel_unblocks_complete_reading_the_body(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(
        Reply(headers=[("content-type", "application/json")], body=[b'{"id": "x", ', b'"choices": []}'], stall_after=1)
    )
    token = CancellationToken()
    thread = _cancel_after_stall(server, token.cancel)
    with pytest.raises(Cancelled):
        ask(provider, case, token=token)
    thread.join()


def test_an_already_cancelled_token_raises_cancelled(case: Case, provider: Provider, server: LoopbackServer) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        ask(provider, case, token=token)


# --- headers, URLs, configuration ---------------------------------------------------------------------------


def test_static_then_extra_headers_are_sent(case: Case, server: LoopbackServer) -> None:
    provider = case.make(server, headers={"X-Gateway": "static", "X-Route": "a"})
    try:
        server.queue(Turn(text="ok"), Turn(text="ok"))
        ask(provider, case, extra_headers={"X-Route": "b", "X-Trace": "t1"})
        stream(provider, case, extra_headers={"X-Trace": "t2"})
    finally:
        provider.close()
    first, second = server.requests
    assert (first.headers["x-gateway"], first.headers["x-route"], first.headers["x-trace"]) == ("static", "b", "t1")
    assert (second.headers["x-route"], second.headers["x-trace"]) == ("a", "t2")


def test_a_keyless_provider_sends_no_authorization(case: Case, server: LoopbackServer) -> None:
    provider = case.make(server, api_key=None)
    try:
        server.queue(Turn(text="ok"))
        ask(provider, case)
    finally:
        provider.close()
    assert "authorization" not in server.requests[0].headers


def test_base_url_with_a_path_and_query_string(case: Case, server: LoopbackServer) -> None:
    provider = case.cls(api_key="k", base_url=f"{server.url}/api/v1?api-version=2024-10")
    try:
        server.queue(Turn(text="ok"))
        assert ask(provider, case).extract_text() == "ok"
    finally:
        provider.close()
    assert server.requests[0].path == "/api/v1/chat/completions"
    assert server.requests[0].query == {"api-version": "2024-10"}


def test_parameters_reach_the_wire(case: Case, provider: Provider, server: LoopbackServer) -> None:
    server.queue(Turn(text="ok"))
    ask(provider, case, params=ModelParameters(temperature=0.25, max_output_tokens=321, top_p=0.5))
    body = server.requests[0].json
    assert (body["temperature"], body["max_completion_tokens"], body["top_p"]) == (0.25, 321, 0.5)
    assert "max_tokens" not in body


def test_a_directive_is_refused(case: Case) -> None:
    with pytest.raises(ConfigurationError):
        case.cls(api_key=None, directive=object())


def test_a_key_that_cannot_be_a_header_is_refused(case: Case) -> None:
    with pytest.raises(ConfigurationError):
        case.cls(api_key="sk-abc\r\nX-Evil: 1")


def test_the_provider_is_safe_to_share_between_threads(case: Case, provider: Provider, server: LoopbackServer) -> None:
    count = 8
    server.queue(*[Turn(text=f"answer {i}") for i in range(count)])
    results: List[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def worker() -> None:
        barrier.wait()
        text = final(stream(provider, case)).extract_text()
        with lock:
            results.append(text)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(f"answer {i}" for i in range(count))
