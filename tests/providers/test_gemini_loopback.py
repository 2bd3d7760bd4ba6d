"""GeminiProvider end to end over the loopback server: real sockets, the real transport."""

from __future__ import annotations

import threading
from typing import Iterator, List, Optional

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
    RequestBlocked,
    ServerError,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
    UnsupportedFeature,
)
from steer_sync._providers.gemini._provider import GeminiProvider
from steer_sync._stream import CompletionStream
from steer_sync._types import (
    CompletionResponse,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    SessionFileSource,
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    TokenUsage,
    ToolCallContent,
    ToolResult,
    ToolSchema,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Reply, ToolCallSpec, Turn
from steer_sync.testing._gemini import prompt_blocked

MODEL = ModelId("google", "gemini-2.5-flash")
KEY = "AIza-loopback-test-key-0123456789"
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
def provider(server: LoopbackServer) -> Iterator[GeminiProvider]:
    instance = GeminiProvider(api_key=KEY, base_url=f"{server.url}/v1beta")
    try:
        yield instance
    finally:
        instance.close()


def complete(
    provider: GeminiProvider,
    messages: Optional[List[Message]] = None,
    *,
    model: ModelId = MODEL,
    system: Optional[SystemContext] = None,
    tools: Optional[List[ToolSchema]] = None,
    params: Optional[ModelParameters] = None,
    token: Optional[CancellationToken] = None,
) -> CompletionResponse:
    return provider.complete(
        model, messages or [Message.user("hi")], system, tools, params, token or CancellationToken()
    )


def open_stream(
    provider: GeminiProvider,
    messages: Optional[List[Message]] = None,
    *,
    model: ModelId = MODEL,
    system: Optional[SystemContext] = None,
    tools: Optional[List[ToolSchema]] = None,
    params: Optional[ModelParameters] = None,
    token: Optional[CancellationToken] = None,
) -> CompletionStream:
    return provider.stream_complete(
        model, messages or [Message.user("hi")], system, tools, params, token or CancellationToken()
    )


def stream(
    provider: GeminiProvider,
    messages: Optional[List[Message]] = None,
    *,
    system: Optional[SystemContext] = None,
    tools: Optional[List[ToolSchema]] = None,
    params: Optional[ModelParameters] = None,
) -> List[StreamChunk]:
    with open_stream(provider, messages, system=system, tools=tools, params=params) as chunks:
        return list(chunks)


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    last = chunks[-1]
    assert isinstance(last, MessageComplete), last
    return last.response


def sse(*events: bytes) -> Reply:
    return Reply(status=200, headers=[("content-type", "text/event-stream")], body=list(events))


# --- endpoints, auth, base URL -------------------------------------------------------------


def test_the_key_travels_in_a_header_and_never_in_the_url(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="Hi"), Turn(text="Hi"))
    complete(provider)
    stream(provider)
    plain, streamed = server.requests
    assert plain.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert plain.query == {}
    assert streamed.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert streamed.query == {"alt": "sse"}
    for request in (plain, streamed):
        assert request.headers["x-goog-api-key"] == KEY
        assert KEY not in request.path and KEY not in str(request.query)
        assert request.json["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_model_ids_are_encoded_as_one_path_segment(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="a"), Turn(text="b"))
    complete(provider, model=ModelId("google", "tuned model/v1?x#y%"))
    complete(provider, model=ModelId("google", "models/gemini-2.5-pro"))
    odd, prefixed = server.requests
    assert odd.path == "/v1beta/models/tuned%20model%2Fv1%3Fx%23y%25:generateContent"
    assert prefixed.path == "/v1beta/models/gemini-2.5-pro:generateContent"


def test_base_url_static_and_extra_headers_are_honoured(server: LoopbackServer) -> None:
    provider = GeminiProvider(api_key=None, base_url=f"{server.url}/gateway/v1/", headers={"x-team": "blue"})
    server.queue(Turn(text="ok"))
    try:
        provider.complete(
            MODEL, [Message.user("hi")], None, None, None, CancellationToken(), extra_headers={"x-trace": "t-1"}
        )
    finally:
        provider.close()
    (request,) = server.requests
    assert request.path == "/gateway/v1/models/gemini-2.5-flash:generateContent"
    assert "x-goog-api-key" not in request.headers
    assert (request.headers["x-team"], request.headers["x-trace"]) == ("blue", "t-1")


def test_a_directive_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        GeminiProvider(api_key="k", directive=object())


def test_the_provider_is_named_google(provider: GeminiProvider) -> None:
    assert provider.name == "google"
    assert KEY not in repr(provider)


# --- text, thoughts, usage ---------------------------------------------------------------


def test_text_streams_and_completes(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="The capital of France is Paris.", usage=(13, 8)), Turn(text="Paris.", usage=(13, 2)))
    chunks = stream(provider, system=SystemContext("Be brief."))
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "The capital of France is Paris."
    response = final(chunks)
    assert response.content == (TextContent("The capital of France is Paris."),)
    assert response.usage == TokenUsage(13, 8, 21)
    assert response.stop_reason == "STOP"
    assert server.requests[0].json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    whole = complete(provider)
    assert whole.content == (TextContent("Paris."),)
    assert whole.usage == TokenUsage(13, 2, 15)


def test_thoughts_with_signatures_stream_and_complete_alike(server: LoopbackServer, provider: GeminiProvider) -> None:
    turn = Turn(thinking="Weighing the options", thinking_signature="c2lnLXRoaW5r", text="Take the bus.", usage=(20, 9))
    server.queue(turn, turn)
    params = ModelParameters(thinking_config=ThinkingConfig(True, budget_tokens=1024, include_thoughts=True))
    chunks = stream(provider, params=params)
    thinking = [c.text for c in chunks if isinstance(c, ThinkingDelta)]
    assert "".join(thinking) == "Weighing the options"
    expected = (SimpleThought("Weighing the options"), SignedThought("", "c2lnLXRoaW5r"), TextContent("Take the bus."))
    assert final(chunks).content == expected
    assert final(chunks).usage == TokenUsage(20, 9, 29, reasoning_tokens=3)
    assert complete(provider, params=params).content == expected
    config = server.requests[0].json["generationConfig"]["thinkingConfig"]
    assert config == {"includeThoughts": True, "thinkingBudget": 1024}


@pytest.mark.parametrize("call_id", ["call-7", ""])
def test_a_function_call_round_trip_sends_signature_name_and_id(
    server: LoopbackServer, provider: GeminiProvider, call_id: str
) -> None:
    spec = ToolCallSpec(call_id, "get_weather", {"city": "Paris"})
    server.queue(Turn(thinking_signature="c2lnLWNhbGw=", tool_calls=(spec,)), Turn(text="Sunny."))
    question = Message.user("Weather in Paris?")
    chunks = stream(provider, [question], tools=[WEATHER])
    (start,) = [c for c in chunks if isinstance(c, ToolUseStart)]
    (delta,) = [c for c in chunks if isinstance(c, ToolUseInputDelta)]
    assert start.name == "get_weather" and delta.delta == '{"city":"Paris"}' and delta.id == start.id
    assert start.id == call_id if call_id else start.id.startswith("gcall_")
    answer = final(chunks)
    (call,) = answer.extract_tool_calls()
    assert answer.content == (ToolCallContent(call, "c2lnLWNhbGw="),)

    followup = [
        question,
        Message.assistant(answer.content),
        Message.tool_result(call.id, ToolResult.text("Sunny, 20C")),
    ]
    assert complete(provider, followup, tools=[WEATHER]).extract_text() == "Sunny."
    sent = server.requests[1].json
    function_call = {"name": "get_weather", "args": {"city": "Paris"}}
    function_response = {
        "name": "get_weather",
        "response": {"content": {"External": {"tool_name": "", "payload": "Sunny, 20C"}}},
    }
    if call_id:
        function_call["id"] = call_id
        function_response["id"] = call_id
    assert sent["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": function_call, "thoughtSignature": "c2lnLWNhbGw="}]},
        {"role": "user", "parts": [{"functionResponse": function_response}]},
    ]
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def test_parallel_calls_come_whole_and_their_results_go_back_together(
    server: LoopbackServer, provider: GeminiProvider
) -> None:
    specs = tuple(
        ToolCallSpec(f"c{i}", "get_weather", {"city": city}) for i, city in enumerate(["Paris", "Rome", "Oslo"])
    )
    server.queue(Turn(tool_calls=specs, usage=(30, 12)), Turn(text="done"))
    chunks = stream(provider, tools=[WEATHER])
    starts = [c for c in chunks if isinstance(c, ToolUseStart)]
    assert [s.id for s in starts] == ["c0", "c1", "c2"]
    answer = final(chunks)
    assert [c.parameters["city"] for c in answer.extract_tool_calls()] == ["Paris", "Rome", "Oslo"]
    results = [
        Message.tool_result(c.id, f"{c.parameters['city']}: sunny") for c in reversed(answer.extract_tool_calls())
    ]
    complete(provider, [Message.user("go"), Message.assistant(answer.content), *results])
    last = server.requests[1].json["contents"][-1]
    assert last["role"] == "user"
    assert [p["functionResponse"]["id"] for p in last["parts"]] == ["c0", "c1", "c2"]


@pytest.mark.parametrize("reason", ["MAX_TOKENS", "MALFORMED_FUNCTION_CALL", "SOMETHING_NEW"])
def test_finish_reasons_become_the_stop_reason(server: LoopbackServer, provider: GeminiProvider, reason: str) -> None:
    server.queue(Turn(text="cut", stop_reason=reason), Turn(text="cut", stop_reason=reason))
    assert final(stream(provider)).stop_reason == reason
    assert complete(provider).stop_reason == reason


# --- safety blocks -------------------------------------------------------------------------


def test_a_blocked_prompt_raises_or_ends_the_stream(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(
        prompt_blocked("PROHIBITED_CONTENT", "not allowed"), prompt_blocked("SAFETY"), prompt_blocked("SAFETY")
    )
    with pytest.raises(RequestBlocked) as caught:
        complete(provider)
    assert caught.value.details == "Prompt blocked due to PROHIBITED_CONTENT: not allowed"
    (only,) = stream(provider)
    assert isinstance(only, ErrorChunk) and isinstance(only.error, ProviderStreamError)
    assert only.error.raw_error_type == "request_blocked"
    assert not only.error.kind.is_retryable()
    with pytest.raises(RequestBlocked) as collected:
        open_stream(provider).collect()
    assert "Prompt blocked due to SAFETY" in str(collected.value)


def test_a_blocked_answer_raises_or_ends_the_stream(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="Here is how", stop_reason="SAFETY"), Turn(text="Here is how", stop_reason="SAFETY"))
    with pytest.raises(RequestBlocked) as caught:
        complete(provider)
    assert caught.value.details is not None and caught.value.details.startswith("Response blocked due to SAFETY")
    chunks = stream(provider)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Here is how"
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, ProviderStreamError)
    assert last.error.raw_error_type == "request_blocked"
    assert "HARM_CATEGORY_DANGEROUS_CONTENT=HIGH (blocked)" in last.error.message


# --- HTTP errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (ErrorReply(400, "Invalid JSON payload received."), InvalidRequest, 400),
        (
            ErrorReply(400, "API key not valid. Please pass a valid API key.", code="API_KEY_INVALID"),
            AuthenticationFailed,
            400,
        ),
        (ErrorReply(401, "Request had invalid authentication credentials."), AuthenticationFailed, 401),
        (ErrorReply(403, "Permission denied."), AuthenticationFailed, 403),
        (ErrorReply(404, "models/x is not found"), InvalidRequest, 404),
        (ErrorReply(408, "Request timed out."), ApiTimeout, 408),
        (ErrorReply(409, "Aborted."), ServerError, 409),
        (ErrorReply(429, "Quota exceeded."), RateLimited, 429),
        (ErrorReply(500, "Internal error."), ServerError, 500),
        (ErrorReply(503, "The model is overloaded."), ServerError, 503),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
def test_http_errors_raise_their_class(
    server: LoopbackServer, provider: GeminiProvider, error: ErrorReply, expected: type, status: int, streaming: bool
) -> None:
    server.queue(error)
    with pytest.raises(ApiError) as caught:
        if streaming:
            open_stream(provider)
        else:
            complete(provider)
    assert type(caught.value) is expected
    assert caught.value.status_code == status
    assert caught.value.provider == "google"
    if expected is not ApiTimeout:
        assert error.message in str(caught.value)


def test_a_bad_key_says_so(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(ErrorReply(400, "API key not valid. Please pass a valid API key.", code="API_KEY_INVALID"))
    with pytest.raises(AuthenticationFailed) as caught:
        complete(provider)
    assert "API key not valid" in str(caught.value) and "API_KEY_INVALID" in str(caught.value)
    assert KEY not in str(caught.value)
    assert isinstance(caught.value.__cause__, InvalidRequest)


@pytest.mark.parametrize("streaming", [False, True])
def test_a_429_delay_given_only_in_the_body_lands_on_rate_limited(
    server: LoopbackServer, provider: GeminiProvider, streaming: bool
) -> None:
    server.queue(ErrorReply(429, "You exceeded your current quota.", retry_after=26))
    with pytest.raises(RateLimited) as caught:
        if streaming:
            open_stream(provider)
        else:
            complete(provider)
    assert caught.value.retry_after == 26.0
    assert "RESOURCE_EXHAUSTED" in str(caught.value)


# --- stream faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ErrorReply(429, "Quota exceeded.", retry_after=12), ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED),
        (ErrorReply(503, "The model is overloaded."), ProviderStreamErrorKind.SERVICE_UNAVAILABLE),
        (ErrorReply(500, "Internal error."), ProviderStreamErrorKind.STREAM_ERROR),
        (ErrorReply(400, "Bad part."), ProviderStreamErrorKind("INVALID_ARGUMENT")),
    ],
)
def test_an_in_stream_error_object_is_typed(
    server: LoopbackServer, provider: GeminiProvider, error: ErrorReply, kind: ProviderStreamErrorKind
) -> None:
    server.queue(Turn(text="one two three", error_after=1, error=error))
    chunks = stream(provider)
    assert chunks[0] == TextDelta("one")
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, ProviderStreamError)
    assert last.error.kind == kind
    assert last.error.message.startswith(error.message)
    assert len(chunks) == 2


def test_a_dropped_connection_is_a_retryable_transport_error(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="one two three", drop_after=1))
    chunks = stream(provider)
    assert chunks[0] == TextDelta("one")
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, SseParse)
    assert last.error.kind is SseParseErrorKind.TRANSPORT


def test_a_body_that_ends_without_a_finish_reason_is_a_retryable_transport_error(
    server: LoopbackServer, provider: GeminiProvider
) -> None:
    event = b'data: {"candidates": [{"content": {"parts": [{"text": "Hal"}],"role": "model"}}]}\r\n\r\n'
    server.queue(sse(event))
    chunks = stream(provider)
    assert chunks[0] == TextDelta("Hal")
    assert chunks[-1] == ErrorChunk(
        SseParse(SseParseErrorKind.TRANSPORT, "stream ended before a candidate's finishReason")
    )
    server.queue(sse(event))
    with pytest.raises(ApiStreamError):
        open_stream(provider).collect()


def test_cancel_from_another_thread_unblocks_a_stalled_stream(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="one two three", stall_after=1))
    token = CancellationToken()
    with open_stream(provider, token=token) as chunks:
        assert next(chunks) == TextDelta("one")

        def cancel_once_stalled() -> None:
            server.wait_for_stalls(1)
            token.cancel()

        canceller = threading.Thread(target=cancel_once_stalled)
        canceller.start()
        rest = list(chunks)
        canceller.join()
    assert rest == [ErrorChunk(StreamCancelled())]


def test_closing_a_stalled_stream_from_another_thread_ends_it(server: LoopbackServer, provider: GeminiProvider) -> None:
    server.queue(Turn(text="one two three", stall_after=1))
    chunks = open_stream(provider)
    assert next(chunks) == TextDelta("one")

    def close_once_stalled() -> None:
        server.wait_for_stalls(1)
        chunks.close()

    closer = threading.Thread(target=close_once_stalled)
    closer.start()
    rest = list(chunks)
    closer.join()
    # Either the close won before the read started, or it woke the blocked read.
    assert rest in ([], [ErrorChunk(StreamCancelled())])
    assert chunks.closed
    assert server.wait_connections_closed()


def test_a_cancelled_token_stops_the_call_before_it_is_sent(server: LoopbackServer, provider: GeminiProvider) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        complete(provider, token=token)
    with pytest.raises(Cancelled):
        open_stream(provider, token=token)
    assert server.requests == []


def test_an_image_gemini_cannot_take_fails_before_any_request(server: LoopbackServer, provider: GeminiProvider) -> None:
    image = ImageContent("image/png", SessionFileSource("session/cat.png"))
    with pytest.raises(UnsupportedFeature):
        complete(provider, [Message.user([image])])
    with pytest.raises(UnsupportedFeature):
        open_stream(provider, [Message.user([image])])
    assert server.requests == []
