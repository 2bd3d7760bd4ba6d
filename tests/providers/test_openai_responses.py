"""Pure converters of the OpenAI Responses provider: request building, parsing, the stream machine.

The first part ports the unit tests of steer's ``openai/responses.rs`` (spec 9.1); the rest pins
the improvements listed in the module docstring. No sockets here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from steer_sync._auth._directive import (
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
    InstructionPolicy,
    OpenAiResponsesAuth,
)
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
    ApiStreamError,
    ConfigurationError,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    ServerError,
    SseParse,
    SseParseErrorKind,
    UnsupportedFeature,
    map_http_status,
)
from steer_sync._providers.openai_responses._request import _build_request, _input_items, _responses_url
from steer_sync._providers.openai_responses._response import (
    _describe_http_error,
    _error_message,
    _parse_output,
    _parse_response,
    _parse_usage,
)
from steer_sync._providers.openai_responses._stream import _convert_stream
from steer_sync._sse import SseEvent, decode_sse
from steer_sync._types import (
    CommandExecution,
    CompletionResponse,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    RedactedThought,
    SessionFileSource,
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolResult,
    ToolSchema,
)
from steer_sync.testing._openai_responses import render_error, render_stream_error, render_turn
from steer_sync.testing._script import ErrorReply, RecordedRequest, ToolCallSpec, Turn

MODEL = ModelId("openai", "gpt-4.1-2025-04-14")
USAGE_11_5 = {
    "input_tokens": 11,
    "output_tokens": 5,
    "total_tokens": 16,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 0},
}


class _NoHeaders(AuthHeaderProvider):
    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        return []


def _directive(**fields: Any) -> OpenAiResponsesAuth:
    return OpenAiResponsesAuth(headers=_NoHeaders(), **fields)


def _build(messages: Sequence[Message] = (), **kwargs: Any) -> Dict[str, Any]:
    return _build_request(
        kwargs.pop("model", MODEL),
        list(messages),
        kwargs.pop("system", None),
        kwargs.pop("tools", None),
        kwargs.pop("params", None),
        **kwargs,
    )


def _ev(event: Optional[str], data: Any) -> SseEvent:
    return SseEvent(event, data if isinstance(data, str) else json.dumps(data))


def _run(*events: SseEvent) -> List[StreamChunk]:
    return list(_convert_stream(iter(events)))


def _final(chunks: List[StreamChunk]) -> CompletionResponse:
    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    return chunks[-1].response


COMPLETED = _ev("response.completed", {})


# --- ported from responses.rs: request building ------------------------------------------------


def test_responses_api_message_conversion() -> None:
    items = _input_items([Message.user("Hello"), Message.assistant("Hi there!")], "openai")
    assert items == [
        {"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hi there!", "annotations": []}]},
    ]


def test_responses_api_message_conversion_with_data_url_image() -> None:
    image = ImageContent.from_base64("Zm9v", "image/png")
    items = _input_items([Message.user([TextContent("Look at this"), image])], "openai")
    assert items == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look at this"},
                {"type": "input_image", "image_url": "data:image/png;base64,Zm9v", "detail": "auto"},
            ],
        }
    ]


def test_responses_api_message_conversion_rejects_session_file_image() -> None:
    image = ImageContent("image/png", SessionFileSource("session-id/image.png"))
    with pytest.raises(UnsupportedFeature) as info:
        _input_items([Message.user([image])], "openai")
    assert info.value.provider == "openai"
    assert info.value.feature == "image input source"
    assert "session file" in str(info.value.details)


def test_responses_api_tool_conversion() -> None:
    schema = {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "City name"}},
        "required": ["location"],
    }
    tools = [ToolSchema("get_weather", "Get the weather", schema, display_name="Get Weather")]
    body = _build(
        [Message.user("What's the weather?")], system=SystemContext("You are a weather assistant"), tools=tools
    )
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get the weather",
            "parameters": schema,
            "strict": False,
        }
    ]
    assert body["tool_choice"] == "auto"  # Q1: steer sends null


def test_responses_api_dispatch_agent_schema_includes_target() -> None:
    schema = {
        "type": "object",
        "properties": {"prompt": {"type": "string"}, "target": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
        "required": ["prompt", "target"],
    }
    body = _build([Message.user("Launch an agent")], tools=[ToolSchema("dispatch_agent", "Dispatch agent", schema)])
    parameters = body["tools"][0]["parameters"]
    assert parameters == schema
    assert set(parameters["required"]) == {"prompt", "target"}


class _Env:
    def as_context(self) -> str:
        return (
            "Here is useful information about the environment you are running in:\n<env>\n"
            "Working directory: /tmp\nVCS: none\nPlatform: linux\nToday's date: 2025-01-01\n</env>\n"
        )


def test_override_appends_overlay_and_env() -> None:
    system = SystemContext("Custom prompt", environment=_Env())
    body = _build(
        [Message.user("hi")],
        system=system,
        directive=_directive(instruction_policy=InstructionPolicy.override("Override")),
    )
    assert body["instructions"] == (
        "Override\n\n## Operating Mode\nCustom prompt\n\nHere is useful information about the environment you are "
        "running in:\n<env>\nWorking directory: /tmp\nVCS: none\nPlatform: linux\nToday's date: 2025-01-01\n</env>"
    )


def test_responses_api_omits_max_output_tokens_for_directive_auth() -> None:
    params = ModelParameters(max_output_tokens=42)
    directive = _directive(base_url_override="https://chatgpt.com/backend-api/codex/responses", require_streaming=True)
    assert "max_output_tokens" not in _build([Message.user("hello")], params=params, directive=directive)
    assert _build([Message.user("hello")], params=params)["max_output_tokens"] == 42


def test_responses_api_reasoning_config() -> None:
    params = ModelParameters(thinking_config=ThinkingConfig(enabled=True))
    body = _build([Message.user("Solve a complex problem")], params=params)
    assert body["reasoning"] == {"effort": "medium", "summary": "detailed"}
    assert "reasoning" not in _build([Message.user("Solve a complex problem")])


def test_responses_api_tool_result_conversion() -> None:
    call = ToolCall("call_123", "ls", {"path": "."})
    messages = [
        Message.user("List files"),
        Message.assistant([ToolCallContent(call)]),
        Message.tool_result("call_123", ToolResult.external("ls", "file1.txt file2.txt")),
    ]
    assert _input_items(messages, "openai") == [
        {"role": "user", "content": [{"type": "input_text", "text": "List files"}]},
        {"type": "function_call", "call_id": "call_123", "name": "ls", "arguments": '{"path":"."}'},
        {"type": "function_call_output", "call_id": "call_123", "output": "file1.txt file2.txt"},
    ]


# --- ported from responses.rs: response parsing and errors ---------------------------------------


def test_responses_api_output_parsing() -> None:
    output = [
        {
            "type": "function_call",
            "id": "fc_123",
            "call_id": "call_456",
            "name": "get_weather",
            "arguments": '{"location":"Boston"}',
            "status": "completed",
        }
    ]
    assert _parse_output(output) == [ToolCallContent(ToolCall("call_456", "get_weather", {"location": "Boston"}))]


def test_responses_api_output_refusal_parsing() -> None:
    output = [
        {
            "type": "message",
            "id": "msg_123",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "refusal", "refusal": "I can't help with that."}],
        }
    ]
    assert _parse_output(output) == [TextContent("I can't help with that.")]


def test_responses_api_output_custom_tool_call_parsing() -> None:
    output = [
        {
            "type": "custom_tool_call",
            "id": "ctc_123",
            "call_id": "call_456",
            "name": "do_thing",
            "input": '{"value":42}',
            "status": "completed",
        }
    ]
    assert _parse_output(output) == [ToolCallContent(ToolCall("call_456", "do_thing", {"value": 42}))]


def test_responses_api_reasoning_extraction() -> None:
    body = {
        "id": "resp_123",
        "object": "response",
        "created_at": 1234567890,
        "status": "completed",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_123",
                "summary": [{"type": "summary_text", "text": "Let me think step by step..."}],
                "status": "completed",
            },
            {
                "type": "message",
                "id": "msg_123",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "The answer is 42.", "annotations": []}],
            },
        ],
        "model": "o3-mini",
    }
    response = _parse_response(body)
    assert response.content == (SimpleThought("Let me think step by step..."), TextContent("The answer is 42."))
    assert response.usage is None


def test_convert_response_maps_usage() -> None:
    body = {
        "id": "resp_usage",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "m",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done", "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 19,
            "output_tokens": 7,
            "total_tokens": 26,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }
    response = _parse_response(body)
    assert response.usage == TokenUsage(19, 7, 26)
    assert response.content[0] == TextContent("Done")


def test_parse_http_error_response_uses_typed_error_message() -> None:
    body = b'{"error":{"code":"server_error","message":"backend exploded","param":"model"}}'
    details = _describe_http_error(500, body)
    assert details == "backend exploded (param: model)"
    error = map_http_status("openai", 500, details)
    assert isinstance(error, ServerError) and error.status_code == 500


def test_parse_http_error_response_falls_back_to_raw_body() -> None:
    assert _describe_http_error(503, b"upstream unavailable") == "upstream unavailable"


def test_stream_error_message_uses_code_when_message_missing() -> None:
    assert (
        _error_message({"code": "rate_limit_exceeded", "message": " "}) == "OpenAI response error (rate_limit_exceeded)"
    )


def test_convert_responses_stream_error_event_is_classified_by_code() -> None:
    # steer classifies every error event as stream_error by its "type"; Q7 uses the code.
    data = {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Too many requests",
        "param": "model",
        "sequence_number": 4,
    }
    (chunk,) = _run(_ev("error", data))
    assert chunk == ErrorChunk(
        ProviderStreamError(
            "openai", ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED, "rate_limit_exceeded", "Too many requests"
        )
    )


def test_convert_responses_stream_error_event_without_code_uses_type() -> None:
    (chunk,) = _run(_ev("error", {"type": "error", "code": None, "message": "Too many requests", "param": None}))
    assert chunk == ErrorChunk(
        ProviderStreamError("openai", ProviderStreamErrorKind.STREAM_ERROR, "error", "Too many requests")
    )


def test_convert_responses_stream_failed_event_uses_response_error() -> None:
    data = {
        "type": "response.failed",
        "sequence_number": 9,
        "response": {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "status": "failed",
            "error": {"code": "invalid_prompt", "message": "Prompt blocked", "param": "input"},
        },
    }
    (chunk,) = _run(_ev("response.failed", data))
    assert isinstance(chunk, ErrorChunk) and isinstance(chunk.error, ProviderStreamError)
    assert chunk.error.kind == ProviderStreamErrorKind.from_provider_error_type("invalid_prompt")
    assert not chunk.error.kind.is_retryable()
    assert chunk.error.raw_error_type == "invalid_prompt"
    assert chunk.error.message == "Prompt blocked (param: input)"


def test_convert_responses_stream_failed_event_without_error_object() -> None:
    data = {"type": "response.failed", "sequence_number": 10, "response": {"id": "resp_2", "status": "failed"}}
    (chunk,) = _run(_ev("response.failed", data))
    assert chunk == ErrorChunk(
        ProviderStreamError(
            "openai",
            ProviderStreamErrorKind.RESPONSE_FAILED,
            "response_failed",
            "Response failed without an error object",
        )
    )


def test_convert_responses_stream_error_event_fallback_on_invalid_payload() -> None:
    (chunk,) = _run(_ev("error", "not-json"))
    assert chunk == ErrorChunk(
        ProviderStreamError("openai", ProviderStreamErrorKind.STREAM_ERROR, "stream_error", "not-json")
    )


def test_convert_responses_stream_failed_event_fallback_on_invalid_payload() -> None:
    (chunk,) = _run(_ev("response.failed", "not-json"))
    assert chunk == ErrorChunk(
        ProviderStreamError("openai", ProviderStreamErrorKind.RESPONSE_FAILED, "response_failed", "not-json")
    )


# --- ported from responses.rs: the stream -------------------------------------------------------------


def test_convert_responses_stream_text_deltas() -> None:
    chunks = _run(
        _ev("response.output_text.delta", {"delta": "Hello"}),
        _ev("response.output_text.delta", {"delta": " world"}),
        COMPLETED,
    )
    assert chunks[:2] == [TextDelta("Hello"), TextDelta(" world")]
    assert _final(chunks).content == (TextContent("Hello world"),)
    assert len(chunks) == 3


def test_convert_responses_stream_extracts_usage_from_response_completed() -> None:
    chunks = _run(
        _ev("response.output_text.delta", {"delta": "Hello"}),
        _ev("response.completed", {"response": {"usage": USAGE_11_5}}),
    )
    assert chunks[0] == TextDelta("Hello")
    assert _final(chunks).usage == TokenUsage(11, 5, 16)
    assert _final(chunks).content == (TextContent("Hello"),)


def test_convert_responses_stream_with_reasoning() -> None:
    chunks = _run(
        _ev("response.reasoning.delta", {"delta": "Thinking..."}),
        _ev("response.output_text.delta", {"delta": "Result"}),
        COMPLETED,
    )
    assert chunks[:2] == [ThinkingDelta("Thinking..."), TextDelta("Result")]
    assert _final(chunks).content == (SimpleThought("Thinking..."), TextContent("Result"))


def test_convert_responses_stream_with_function_call() -> None:
    chunks = _run(
        _ev("response.function_call.created", {"call_id": "call_123", "name": "get_weather"}),
        _ev("response.function_call_arguments.delta", {"call_id": "call_123", "delta": '{"city":'}),
        _ev("response.function_call_arguments.delta", {"call_id": "call_123", "delta": '"NYC"}'}),
        COMPLETED,
    )
    assert chunks[:3] == [
        ToolUseStart("call_123", "get_weather"),
        ToolUseInputDelta("call_123", '{"city":'),
        ToolUseInputDelta("call_123", '"NYC"}'),
    ]
    assert _final(chunks).content == (ToolCallContent(ToolCall("call_123", "get_weather", {"city": "NYC"})),)


def test_convert_responses_stream_with_custom_tool_call() -> None:
    chunks = _run(
        _ev(
            "response.output_item.added",
            {
                "item": {
                    "type": "custom_tool_call",
                    "id": "item_1",
                    "call_id": "call_123",
                    "name": "do_thing",
                    "input": "",
                }
            },
        ),
        _ev("response.custom_tool_call_input.delta", {"call_id": "call_123", "delta": '{"value":'}),
        _ev("response.custom_tool_call_input.delta", {"call_id": "call_123", "delta": "42}"}),
        COMPLETED,
    )
    assert chunks[:3] == [
        ToolUseStart("call_123", "do_thing"),
        ToolUseInputDelta("call_123", '{"value":'),
        ToolUseInputDelta("call_123", "42}"),
    ]
    assert _final(chunks).content == (ToolCallContent(ToolCall("call_123", "do_thing", {"value": 42})),)


def test_convert_responses_stream_with_output_item_call_id() -> None:
    chunks = _run(
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "item_1", "call_id": "call_123", "name": "get_weather"}},
        ),
        _ev("response.function_call_arguments.delta", {"item_id": "item_1", "delta": '{"city":'}),
        _ev("response.function_call_arguments.delta", {"item_id": "item_1", "delta": '"NYC"}'}),
        COMPLETED,
    )
    assert chunks[:3] == [
        ToolUseStart("call_123", "get_weather"),
        ToolUseInputDelta("call_123", '{"city":'),
        ToolUseInputDelta("call_123", '"NYC"}'),
    ]
    assert _final(chunks).content == (ToolCallContent(ToolCall("call_123", "get_weather", {"city": "NYC"})),)


def test_convert_responses_stream_buffers_deltas_until_output_item_added() -> None:
    chunks = _run(
        _ev("response.function_call_arguments.delta", {"item_id": "item_1", "delta": '{"city":'}),
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "item_1", "call_id": "call_123", "name": "get_weather"}},
        ),
        _ev("response.function_call_arguments.delta", {"item_id": "item_1", "delta": '"NYC"}'}),
        COMPLETED,
    )
    assert chunks[:3] == [
        ToolUseStart("call_123", "get_weather"),
        ToolUseInputDelta("call_123", '{"city":'),
        ToolUseInputDelta("call_123", '"NYC"}'),
    ]
    assert _final(chunks).content == (ToolCallContent(ToolCall("call_123", "get_weather", {"city": "NYC"})),)


def test_convert_responses_stream_buffers_deltas_until_tool_start() -> None:
    chunks = _run(
        _ev("response.function_call_arguments.delta", {"call_id": "call_123", "delta": '{"city":'}),
        _ev("response.function_call.created", {"call_id": "call_123", "name": "get_weather"}),
        COMPLETED,
    )
    assert chunks[:2] == [ToolUseStart("call_123", "get_weather"), ToolUseInputDelta("call_123", '{"city":')]
    assert isinstance(chunks[2], MessageComplete)


# The ported Rust cancellation tests for this converter live in tests/sockets/test_end_to_end.py:
# cancellation is the transport's job (it stops the events before any further one), not the converter's.


def test_convert_responses_stream_with_refusal_delta() -> None:
    chunks = _run(
        _ev("response.refusal.delta", {"delta": "No"}), _ev("response.refusal.delta", {"delta": " thanks"}), COMPLETED
    )
    assert chunks[:2] == [TextDelta("No"), TextDelta(" thanks")]
    assert _final(chunks).content == (TextContent("No thanks"),)


# --- URL normalisation (spec 2.1 and Q26; the Rust table for normalize_responses_url) ---------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (None, "https://api.openai.com/v1/responses"),
        ("", "https://api.openai.com/v1/responses"),
        ("https://api.example.com", "https://api.example.com/v1/responses"),
        ("https://api.example.com/", "https://api.example.com/v1/responses"),
        ("https://api.example.com/v1", "https://api.example.com/v1/responses"),
        ("https://api.example.com/v1/", "https://api.example.com/v1/responses"),
        ("https://api.example.com/v1/responses", "https://api.example.com/v1/responses"),
        ("https://api.example.com/responses", "https://api.example.com/responses"),
        ("https://chatgpt.com/backend-api/codex/responses", "https://chatgpt.com/backend-api/codex/responses"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/responses"),
        # A version segment anywhere counts: Gemini-style and Cloudflare-style gateway paths.
        ("https://host/v1beta/openai", "https://host/v1beta/openai/responses"),
        (
            "https://gateway.ai.cloudflare.com/v1/acct/gw/openai",
            "https://gateway.ai.cloudflare.com/v1/acct/gw/openai/responses",
        ),
        ("  https://api.example.com/v1  ", "https://api.example.com/v1/responses"),
        # Q26: the suffix tests read the path, so a query string survives ...
        ("https://host/v1/responses?x=1", "https://host/v1/responses?x=1"),
        (
            "https://res.openai.azure.com/openai/v1?api-version=preview",
            "https://res.openai.azure.com/openai/v1/responses?api-version=preview",
        ),
        ("https://host/api?key=a/b", "https://host/api/v1/responses?key=a/b"),
        # ... and any version segment counts, not only /v1.
        ("https://host/v2", "https://host/v2/responses"),
        ("https://host/api/v1beta/", "https://host/api/v1beta/responses"),
        ("https://gateway.example/team/openai", "https://gateway.example/team/openai/v1/responses"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/responses"),
        ("http://user:pw@127.0.0.1:8080/v1", "http://user:pw@127.0.0.1:8080/v1/responses"),
        ("HTTPS://API.example.com/V1", "https://API.example.com/V1/responses"),
        # A URL copied from a Chat Completions setup points at the sibling endpoint.
        ("https://host/v1/chat/completions", "https://host/v1/responses"),
    ],
)
def test_responses_url(base: Optional[str], expected: str) -> None:
    assert _responses_url(base) == expected


@pytest.mark.parametrize(
    "base", ["localhost:8000", "api.example.com/v1", "ftp://host/v1", "https://host:port/v1", "/v1"]
)
def test_responses_url_refuses_what_is_not_an_absolute_http_url(base: str) -> None:
    # steer appends to anything; a clear configuration error beats an obscure network one.
    with pytest.raises(ConfigurationError):
        _responses_url(base)


# --- request building beyond steer -----------------------------------------------------------------


def test_request_field_order_and_fixed_fields() -> None:
    params = ModelParameters(max_output_tokens=128000, thinking_config=ThinkingConfig(True, ThinkingEffort.XHIGH))
    tools = [ToolSchema("ls", "List a directory", {"type": "object", "properties": {"path": {"type": "string"}}})]
    body = _build(
        [Message.user("List files")],
        system=SystemContext("You are a helpful assistant."),
        tools=tools,
        params=params,
        stream=True,
    )
    assert list(body) == [
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "parallel_tool_calls",
        "store",
        "stream",
        "tools",
        "tool_choice",
        "reasoning",
        "include",
    ]
    assert body["model"] == "gpt-4.1-2025-04-14"
    assert body["instructions"] == "You are a helpful assistant."
    assert body["parallel_tool_calls"] is True and body["store"] is False and body["stream"] is True
    assert body["reasoning"] == {"effort": "xhigh", "summary": "detailed"}
    assert body["include"] == ["reasoning.encrypted_content"]


def test_request_without_messages_omits_input_and_without_stream_omits_stream() -> None:
    body = _build([])
    assert "input" not in body and "stream" not in body and "instructions" not in body
    assert body == {"model": MODEL.id, "parallel_tool_calls": True, "store": False}


def test_empty_tool_list_sends_neither_tools_nor_tool_choice() -> None:
    body = _build([Message.user("hi")], tools=[])
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize(
    ("effort", "wire"),
    [
        (ThinkingEffort.LOW, "low"),
        (ThinkingEffort.MEDIUM, "medium"),
        (ThinkingEffort.HIGH, "high"),
        (ThinkingEffort.XHIGH, "xhigh"),
    ],
)
def test_reasoning_effort_mapping(effort: ThinkingEffort, wire: str) -> None:
    body = _build([Message.user("hi")], params=ModelParameters(thinking_config=ThinkingConfig(True, effort)))
    assert body["reasoning"]["effort"] == wire


def test_disabled_thinking_sends_no_reasoning_and_no_include() -> None:
    body = _build(
        [Message.user("hi")], params=ModelParameters(thinking_config=ThinkingConfig(False, ThinkingEffort.HIGH))
    )
    assert "reasoning" not in body and "include" not in body


def test_sampling_parameters_are_sent_only_without_reasoning() -> None:
    plain = _build([Message.user("hi")], params=ModelParameters(temperature=0.2, top_p=0.9))
    assert (plain["temperature"], plain["top_p"]) == (0.2, 0.9)  # Q2: steer never sends top_p
    reasoning = _build(
        [Message.user("hi")], params=ModelParameters(temperature=0.2, top_p=0.9, thinking_config=ThinkingConfig(True))
    )
    assert "temperature" not in reasoning and "top_p" not in reasoning


def test_command_execution_becomes_xml_input_text() -> None:
    items = _input_items([Message.user([TextContent("ran"), CommandExecution("ls", "a\nb", "", 0)])], "openai")
    assert items[0]["content"][1] == {
        "type": "input_text",
        "text": "<executed_command>\n    <command>ls</command>\n    <stdout>a\nb</stdout>\n    <stderr></stderr>\n"
        "    <exit_code>0</exit_code>\n</executed_command>",
    }


def test_assistant_image_becomes_placeholder_text_and_url_images_pass_through() -> None:
    items = _input_items(
        [
            Message.user([ImageContent.from_url("https://x/cat.png", "image/png")]),
            Message.assistant([ImageContent.from_base64("R0lGODlh", "image/gif")]),
        ],
        "openai",
    )
    assert items[0]["content"] == [{"type": "input_image", "image_url": "https://x/cat.png", "detail": "auto"}]
    assert items[1]["content"] == [{"type": "output_text", "text": "[Image: image/gif]", "annotations": []}]


def test_empty_messages_produce_no_items_and_errors_are_sent_as_text() -> None:
    messages = [
        Message.user([]),
        Message.assistant([SimpleThought("private")]),
        Message.tool_result("call_1", ToolResult.error("boom", "ls")),
    ]
    assert _input_items(messages, "openai") == [
        {"type": "function_call_output", "call_id": "call_1", "output": "Error: ls failed: boom"}
    ]


def test_tool_arguments_are_compact_with_raw_unicode() -> None:
    call = ToolCall("c1", "write", {"text": "héllo ✓", "n": 1.0, "z": [1, 2]})
    (item,) = _input_items([Message.assistant([ToolCallContent(call)])], "openai")
    assert item["arguments"] == '{"text":"héllo ✓","n":1.0,"z":[1,2]}'


def test_instruction_policies_prefix_and_default_if_empty() -> None:
    system = SystemContext("  Be brief.  ")
    prefix = _directive(instruction_policy=InstructionPolicy.prefix("PRE"))
    default = _directive(instruction_policy=InstructionPolicy.default_if_empty("DEFAULT"))
    assert _build([], system=system, directive=prefix)["instructions"] == "PRE\nBe brief."
    assert _build([], system=None, directive=prefix)["instructions"] == "PRE"
    assert _build([], system=system, directive=default)["instructions"] == "Be brief."
    assert _build([], system=SystemContext("   "), directive=default)["instructions"] == "DEFAULT"
    # Without a policy the prompt is stripped on both ends (spec 1.2).
    assert _build([], system=system)["instructions"] == "Be brief."


def test_directive_include_is_copied_and_merged_with_encrypted_reasoning() -> None:
    directive = _directive(include=("reasoning.encrypted_content", "message.output_text.logprobs"))
    thinking = ModelParameters(thinking_config=ThinkingConfig(True))
    assert _build([], directive=directive)["include"] == ["reasoning.encrypted_content", "message.output_text.logprobs"]
    assert _build([], directive=directive, params=thinking)["include"] == [
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    ]
    assert _build([], directive=_directive(include=("file_search_call.results",)), params=thinking)["include"] == [
        "file_search_call.results",
        "reasoning.encrypted_content",
    ]


# --- Q4: encrypted reasoning kept and sent back ------------------------------------------------------


def test_encrypted_reasoning_is_kept_as_a_signed_thought_and_sent_back_in_place() -> None:
    body = {
        "status": "completed",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "encrypted_content": "gAAAA-secret",
                "summary": [{"type": "summary_text", "text": "Part one"}, {"type": "summary_text", "text": "Part two"}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "ls",
                "arguments": "{}",
                "status": "completed",
            },
        ],
    }
    response = _parse_response(body)
    thought = SignedThought("Part one\n\nPart two", "openai-responses:gAAAA-secret")
    assert response.content == (thought, ToolCallContent(ToolCall("call_1", "ls", {})))
    items = _input_items(
        [
            Message.user("go"),
            Message.assistant([*response.content, TextContent("after")]),
            Message.tool_result("call_1", "ok"),
        ],
        "openai",
    )
    assert items[1:] == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Part one\n\nPart two"}],
            "encrypted_content": "gAAAA-secret",
        },
        {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "after", "annotations": []}]},
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
    ]


def test_reasoning_without_summary_is_sent_back_with_an_empty_summary() -> None:
    response = _parse_response(
        {"output": [{"type": "reasoning", "id": "rs_1", "encrypted_content": "enc", "summary": []}]}
    )
    assert response.content == (SignedThought("", "openai-responses:enc"),)
    assert _input_items([Message.assistant(list(response.content))], "openai") == [
        {"type": "reasoning", "summary": [], "encrypted_content": "enc"}
    ]


def test_thoughts_of_other_providers_are_never_sent() -> None:
    content = [
        SignedThought("claude thinking", "EqQBCkYIBxgC"),
        RedactedThought("opaque"),
        SimpleThought("gemini"),
        TextContent("hi"),
    ]
    assert _input_items([Message.assistant(content)], "openai") == [
        {"role": "assistant", "content": [{"type": "output_text", "text": "hi", "annotations": []}]}
    ]


def test_consecutive_text_blocks_share_one_message_item() -> None:
    content = [
        TextContent("a"),
        ImageContent.from_url("https://x/i.png", "image/png"),
        TextContent("b"),
        ToolCallContent(ToolCall("c", "t", {})),
    ]
    items = _input_items([Message.assistant(content)], "openai")
    assert [item.get("type", item.get("role")) for item in items] == ["assistant", "function_call"]
    assert [part["text"] for part in items[0]["content"]] == ["a", "[Image: image/png]", "b"]


# --- non-streaming parsing beyond steer ----------------------------------------------------------------


def test_incomplete_response_reports_its_reason_and_partial_content() -> None:
    body = {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "status": "incomplete", "content": [{"type": "output_text", "text": "In the"}]}],
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
    }
    response = _parse_response(body)
    assert response == CompletionResponse((TextContent("In the"),), TokenUsage(0, 0, 0), "max_output_tokens")
    assert _parse_response({"status": "incomplete"}).stop_reason == "incomplete"
    assert _parse_response({"status": "completed"}).stop_reason == "completed"


def test_failed_response_body_raises_the_stream_error_collect_would() -> None:
    body = {
        "status": "failed",
        "error": {"code": "server_error", "message": "The model failed to generate a response."},
    }
    with pytest.raises(ApiStreamError) as info:
        _parse_response(body, "my-gw")
    error = info.value.stream_error  # type: ignore[attr-defined]
    assert error == ProviderStreamError(
        "my-gw", ProviderStreamErrorKind.RESPONSE_FAILED, "server_error", "The model failed to generate a response."
    )
    assert error.kind.is_retryable()


def test_non_object_body_is_a_parsing_error() -> None:
    with pytest.raises(ResponseParsingError) as info:
        _parse_response(["not", "an", "object"], "my-gw")
    assert info.value.provider == "my-gw"


def test_parsing_is_lenient() -> None:
    body = {
        "output": [
            {"type": "web_search_call", "id": "ws_1"},
            {"type": "brand_new_item", "whatever": True},
            "garbage",
            {"type": "function_call", "call_id": "", "id": "fc_9", "name": "t", "arguments": "{not json"},
            {"type": "function_call", "call_id": "c2", "arguments": "{}"},  # no name: dropped
            {"type": "mcp_call", "id": "mcp_1", "tool_name": "search", "arguments": '{"q":"x"}'},
            {"type": "message", "content": [{"type": "output_text", "text": ""}, {"type": "output_audio"}, None]},
            {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "raw thoughts"}]},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "surprise": {"nested": [1]},
    }
    response = _parse_response(body)
    assert response.content == (
        ToolCallContent(ToolCall("fc_9", "t", {})),
        ToolCallContent(ToolCall("mcp_1", "search", {"q": "x"})),
        SimpleThought("raw thoughts"),
    )
    assert response.usage == TokenUsage(3, 4, 7)


def test_usage_details_fill_cache_and_reasoning_counts() -> None:
    usage = {
        "input_tokens": 100,
        "output_tokens": 50,
        "total_tokens": 150,
        "input_tokens_details": {"cached_tokens": 80},
        "output_tokens_details": {"reasoning_tokens": 30},
    }
    assert _parse_usage(usage) == TokenUsage(100, 50, 150, cache_read_input_tokens=80, reasoning_tokens=30)
    assert _parse_usage({"input_tokens": "x", "output_tokens_details": None}) == TokenUsage(0, 0, 0)
    assert _parse_usage(None) is None


@pytest.mark.parametrize(
    ("body", "details"),
    [
        # Q9: code null (common on 4xx) still uses the message.
        (b'{"error":{"message":"Bad model","type":"invalid_request_error","param":null,"code":null}}', "Bad model"),
        (b'{"error":{"message":"","type":"x","param":"","code":"quota"}}', "OpenAI response error (quota)"),
        (b'{"error":"plain string error"}', "plain string error"),
        (b'{"error":null}', '{"error":null}'),
        (b'{"error":{"type":"x"}}', '{"error":{"type":"x"}}'),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b"", None),
        (b"x" * 2500, "x" * 2500),  # cut by the transport, after redaction
    ],
)
def test_describe_http_error(body: bytes, details: Optional[str]) -> None:
    assert _describe_http_error(400, body) == details


# --- the stream beyond steer ----------------------------------------------------------------------------


def test_events_without_a_name_dispatch_on_their_json_type() -> None:
    chunks = _run(
        _ev(None, {"type": "response.output_text.delta", "delta": "Hi"}),
        _ev("message", {"type": "response.output_text.delta", "delta": "!"}),
        _ev(None, {"type": "response.completed", "response": {"usage": USAGE_11_5}}),
    )
    assert chunks[:2] == [TextDelta("Hi"), TextDelta("!")]
    assert _final(chunks) == CompletionResponse((TextContent("Hi!"),), TokenUsage(11, 5, 16), "completed")


def test_stream_ending_before_a_terminal_event_is_a_transport_error() -> None:
    chunks = _run(_ev("response.output_text.delta", {"delta": "Hel"}))
    assert chunks == [
        TextDelta("Hel"),
        ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before response.completed")),
    ]
    assert _run() == [ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before response.completed"))]


def test_response_incomplete_completes_with_what_was_generated() -> None:
    zero = {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
    chunks = _run(
        _ev("response.output_text.delta", {"delta": "In the"}),
        _ev(
            "response.incomplete",
            {
                "response": {
                    "status": "incomplete",
                    "incomplete_details": {"reason": "max_output_tokens"},
                    "usage": zero,
                }
            },
        ),
    )
    assert _final(chunks) == CompletionResponse((TextContent("In the"),), TokenUsage(0, 0, 0), "max_output_tokens")


def test_nothing_after_the_terminal_event_is_read() -> None:
    def events() -> Any:
        yield COMPLETED
        raise AssertionError("read past response.completed")

    assert len(list(_convert_stream(events()))) == 1


def test_empty_deltas_and_unknown_or_broken_events_are_skipped() -> None:
    chunks = _run(
        _ev("response.output_text.delta", {"delta": ""}),
        _ev("response.reasoning_summary_text.delta", {"delta": ""}),
        _ev("response.output_text.delta", "{broken json"),
        _ev("response.audio.delta", {"delta": "zzz"}),
        _ev("response.output_text.annotation.added", {"annotation": {}}),
        _ev("response.output_text.delta", {"delta": 42}),
        _ev("response.output_text.delta", {"delta": "ok"}),
        COMPLETED,
    )
    assert chunks[:-1] == [TextDelta("ok")]
    assert _final(chunks).content == (TextContent("ok"),)


def _summary(kind: str, item: Optional[str], index: Optional[int], text: str) -> SseEvent:
    data: Dict[str, Any] = {"output_index": 0}
    if item is not None:
        data["item_id"] = item
    if index is not None:
        data["summary_index"] = index
    if kind == "delta":
        return _ev("response.reasoning_summary_text.delta", {**data, "delta": text})
    if kind == "text.done":
        return _ev("response.reasoning_summary_text.done", {**data, "text": text})
    return _ev("response.reasoning_summary_part.done", {**data, "part": {"type": "summary_text", "text": text}})


def test_summary_done_events_add_nothing_after_deltas() -> None:
    chunks = _run(
        _summary("delta", "rs_1", 0, "Plan"),
        _summary("delta", "rs_1", 0, "ning"),
        _summary("text.done", "rs_1", 0, "Planning"),
        _summary("part.done", "rs_1", 0, "Planning"),
        COMPLETED,
    )
    assert chunks[:-1] == [ThinkingDelta("Plan"), ThinkingDelta("ning")]
    assert _final(chunks).content == (SimpleThought("Planning"),)


def test_summary_done_supplies_text_once_when_no_deltas_came() -> None:
    chunks = _run(
        _summary("text.done", "rs_1", 0, "Only done"), _summary("part.done", "rs_1", 0, "Only done"), COMPLETED
    )
    assert chunks[:-1] == [ThinkingDelta("Only done")]


def test_summary_parts_are_separated_by_a_blank_line() -> None:
    chunks = _run(
        _summary("delta", "rs_1", 0, "First"),
        _summary("delta", "rs_1", 1, "Second"),
        _summary("text.done", "rs_1", 2, "Third"),
        _summary("part.done", "rs_1", 2, "Third"),
        COMPLETED,
    )
    assert chunks[:-1] == [ThinkingDelta("First"), ThinkingDelta("\n\nSecond"), ThinkingDelta("\n\nThird")]
    assert _final(chunks).content == (SimpleThought("First\n\nSecond\n\nThird"),)


def test_summary_index_may_be_a_string_or_inside_the_part() -> None:
    chunks = _run(
        _summary("delta", "rs_1", 0, "A"),
        _ev("response.reasoning_summary_text.delta", {"item_id": "rs_1", "summary_index": "1", "delta": "B"}),
        _ev(
            "response.reasoning_summary_part.done",
            {"item_id": "rs_1", "part": {"type": "summary_text", "text": "B", "summary_index": 1}},
        ),
        COMPLETED,
    )
    assert chunks[:-1] == [ThinkingDelta("A"), ThinkingDelta("\n\nB")]


def test_summary_done_without_index_is_deduplicated_by_item() -> None:
    # Q14: steer would repeat the text here.
    chunks = _run(_summary("delta", "rs_1", None, "Thought"), _summary("text.done", "rs_1", None, "Thought"), COMPLETED)
    assert chunks[:-1] == [ThinkingDelta("Thought")]


def test_summary_done_without_any_key_is_deduplicated_by_text() -> None:
    chunks = _run(
        _ev("response.reasoning_summary_text.done", {"text": "Same"}),
        _ev("response.reasoning_summary_part.done", {"part": {"type": "summary_text", "text": "Same"}}),
        COMPLETED,
    )
    assert chunks[:-1] == [ThinkingDelta("Same")]
    chunks = _run(
        _ev("response.reasoning_summary_text.delta", {"delta": "D"}),
        _ev("response.reasoning_summary_text.done", {"text": "D"}),
        COMPLETED,
    )
    assert chunks[:-1] == [ThinkingDelta("D")]


def test_encrypted_reasoning_in_a_stream_becomes_a_signed_thought() -> None:
    chunks = _run(
        _ev(
            "response.output_item.added",
            {
                "output_index": 0,
                "item": {"id": "rs_1", "type": "reasoning", "encrypted_content": "early", "summary": []},
            },
        ),
        _summary("delta", "rs_1", 0, "Why"),
        _ev(
            "response.output_item.done",
            {
                "output_index": 0,
                "item": {
                    "id": "rs_1",
                    "type": "reasoning",
                    "encrypted_content": "final",
                    "summary": [{"type": "summary_text", "text": "Why"}],
                },
            },
        ),
        _ev(
            "response.output_item.added",
            {
                "output_index": 1,
                "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "ls", "arguments": ""},
            },
        ),
        _ev("response.function_call_arguments.delta", {"item_id": "fc_1", "delta": "{}"}),
        COMPLETED,
    )
    assert chunks[:-1] == [ThinkingDelta("Why"), ToolUseStart("call_1", "ls"), ToolUseInputDelta("call_1", "{}")]
    assert _final(chunks).content == (
        SignedThought("Why", "openai-responses:final"),
        ToolCallContent(ToolCall("call_1", "ls", {})),
    )


def test_reasoning_item_without_summary_keeps_its_position() -> None:
    chunks = _run(
        _ev("response.output_item.added", {"item": {"id": "rs_1", "type": "reasoning", "summary": []}}),
        _ev(
            "response.output_item.done",
            {"item": {"id": "rs_1", "type": "reasoning", "encrypted_content": "enc", "summary": []}},
        ),
        _ev("response.output_text.delta", {"item_id": "msg_1", "delta": "Answer"}),
        COMPLETED,
    )
    assert chunks[:-1] == [TextDelta("Answer")]
    assert _final(chunks).content == (SignedThought("", "openai-responses:enc"), TextContent("Answer"))


def test_reasoning_without_text_or_encryption_is_dropped() -> None:
    chunks = _run(
        _ev("response.output_item.added", {"item": {"id": "rs_1", "type": "reasoning", "summary": []}}), COMPLETED
    )
    assert _final(chunks).content == ()


def test_completed_output_is_authoritative_when_present() -> None:
    # Q5: the deltas missed the call's name; response.output has the whole answer.
    output = [
        {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hello"}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": '{"p":1}'},
    ]
    chunks = _run(
        _ev("response.output_text.delta", {"item_id": "msg_1", "delta": "Hello"}),
        _ev("response.function_call_arguments.delta", {"item_id": "fc_1", "delta": '{"p":1}'}),
        _ev("response.completed", {"response": {"output": output, "usage": USAGE_11_5}}),
    )
    assert _final(chunks).content == (TextContent("Hello"), ToolCallContent(ToolCall("call_1", "ls", {"p": 1})))


def test_initial_arguments_and_done_only_arguments_are_emitted_as_deltas() -> None:
    # Q15: steer stores these without emitting them, so the deltas do not add up.
    chunks = _run(
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "a", "arguments": '{"x":'}},
        ),
        _ev("response.function_call_arguments.done", {"item_id": "fc_1", "arguments": '{"x":1}'}),
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "b", "arguments": ""}},
        ),
        _ev("response.function_call_arguments.done", {"item_id": "fc_2", "arguments": '{"y":2}'}),
        COMPLETED,
    )
    assert chunks[:-1] == [
        ToolUseStart("call_1", "a"),
        ToolUseInputDelta("call_1", '{"x":'),
        ToolUseInputDelta("call_1", "1}"),
        ToolUseStart("call_2", "b"),
        ToolUseInputDelta("call_2", '{"y":2}'),
    ]
    assert _final(chunks).extract_tool_calls() == [ToolCall("call_1", "a", {"x": 1}), ToolCall("call_2", "b", {"y": 2})]


def test_done_arguments_replace_buffered_ones_before_the_start() -> None:
    chunks = _run(
        _ev("response.function_call_arguments.delta", {"item_id": "fc_1", "delta": '{"wrong"'}),
        _ev("response.function_call_arguments.done", {"item_id": "fc_1", "arguments": '{"right":1}'}),
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "t"}},
        ),
        COMPLETED,
    )
    assert chunks[:-1] == [ToolUseStart("call_1", "t"), ToolUseInputDelta("call_1", '{"right":1}')]
    assert _final(chunks).extract_tool_calls() == [ToolCall("call_1", "t", {"right": 1})]


def test_promote_keeps_the_earlier_placeholder_when_both_exist() -> None:
    chunks = _run(
        _ev("response.output_text.delta", {"delta": "before"}),
        _ev("response.function_call_arguments.delta", {"item_id": "fc_1", "delta": '{"a":1}'}),
        _ev("response.output_text.delta", {"delta": "between"}),
        _ev("response.function_call_arguments.delta", {"call_id": "call_1", "delta": "{"}),
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "t"}},
        ),
        COMPLETED,
    )
    assert chunks[-2] == ToolUseInputDelta("call_1", '{"a":1}')
    content = _final(chunks).content
    # The call stays where its first delta put it, once; the longer arguments win.
    assert content == (
        TextContent("before"),
        ToolCallContent(ToolCall("call_1", "t", {"a": 1})),
        TextContent("between"),
    )


def test_parallel_calls_keep_their_own_arguments() -> None:
    events = []
    for n in (1, 2):
        events.append(
            _ev(
                "response.output_item.added",
                {
                    "item": {
                        "type": "function_call",
                        "id": f"fc_{n}",
                        "call_id": f"call_{n}",
                        "name": f"t{n}",
                        "arguments": "",
                    }
                },
            )
        )
    for piece_1, piece_2 in ((' {"a"', '{"b"'), (":1}", ":2}")):
        events.append(_ev("response.function_call_arguments.delta", {"item_id": "fc_1", "delta": piece_1}))
        events.append(_ev("response.function_call_arguments.delta", {"item_id": "fc_2", "delta": piece_2}))
    chunks = _run(*events, COMPLETED)
    assert _final(chunks).extract_tool_calls() == [
        ToolCall("call_1", "t1", {"a": 1}),
        ToolCall("call_2", "t2", {"b": 2}),
    ]
    assert [c.delta for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == "call_2"] == ['{"b"', ":2}"]


def test_calls_without_a_name_are_dropped_and_bad_arguments_become_empty() -> None:
    chunks = _run(
        _ev("response.function_call_arguments.delta", {"item_id": "fc_x", "delta": '{"lost":1}'}),
        _ev("response.function_call.created", {"call_id": "call_1", "name": "t", "arguments": "{oops"}),
        _ev("response.function_call_arguments.delta", {"delta": "no id"}),
        COMPLETED,
    )
    assert _final(chunks).content == (ToolCallContent(ToolCall("call_1", "t", {})),)


def test_items_sent_only_when_done_still_produce_deltas() -> None:
    chunks = _run(
        _ev(
            "response.output_item.done",
            {"item": {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hmm"}]}},
        ),
        _ev(
            "response.output_item.done",
            {"item": {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi"}]}},
        ),
        _ev(
            "response.output_item.done",
            {"item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "{}"}},
        ),
        COMPLETED,
    )
    assert chunks[:-1] == [
        ThinkingDelta("Hmm"),
        TextDelta("Hi"),
        ToolUseStart("call_1", "ls"),
        ToolUseInputDelta("call_1", "{}"),
    ]
    assert _final(chunks).content == (
        SimpleThought("Hmm"),
        TextContent("Hi"),
        ToolCallContent(ToolCall("call_1", "ls", {})),
    )


def test_done_items_do_not_repeat_streamed_content() -> None:
    chunks = _run(
        _ev("response.output_text.delta", {"item_id": "msg_1", "delta": "Hi"}),
        _ev(
            "response.output_item.done",
            {"item": {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi"}]}},
        ),
        _ev(
            "response.output_item.added",
            {"item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": ""}},
        ),
        _ev("response.function_call_arguments.delta", {"item_id": "fc_1", "delta": "{}"}),
        _ev(
            "response.output_item.done",
            {"item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "{}"}},
        ),
        COMPLETED,
    )
    assert chunks[:-1] == [TextDelta("Hi"), ToolUseStart("call_1", "ls"), ToolUseInputDelta("call_1", "{}")]


@pytest.mark.parametrize(
    ("event", "data", "kind", "raw"),
    [
        (
            "error",
            {"type": "error", "code": "server_error", "message": "m"},
            ProviderStreamErrorKind.STREAM_ERROR,
            "server_error",
        ),
        (
            "error",
            {"type": "error", "code": "server_is_overloaded", "message": "m"},
            ProviderStreamErrorKind.OVERLOADED,
            "server_is_overloaded",
        ),
        (
            "error",
            {"type": "error", "error": {"type": "rate_limit_error", "code": None, "message": "m"}},
            ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
            "rate_limit_error",
        ),
        (
            "error",
            {"type": "error", "code": "ERR_SOMETHING", "message": "m"},
            ProviderStreamErrorKind.from_provider_error_type("ERR_SOMETHING"),
            "ERR_SOMETHING",
        ),
        (
            "response.failed",
            {"response": {"error": {"code": "server_error", "message": "m"}}},
            ProviderStreamErrorKind.RESPONSE_FAILED,
            "server_error",
        ),
        (
            "response.failed",
            {"response": {"error": {"code": "rate_limit_exceeded", "message": "m"}}},
            ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
            "rate_limit_exceeded",
        ),
    ],
)
def test_in_stream_errors_are_classified_by_code(
    event: str, data: Dict[str, Any], kind: ProviderStreamErrorKind, raw: str
) -> None:
    (chunk,) = _run(_ev(event, data))
    assert isinstance(chunk, ErrorChunk) and isinstance(chunk.error, ProviderStreamError)
    assert (chunk.error.kind, chunk.error.raw_error_type, chunk.error.message) == (kind, raw, "m")
    assert chunk.error.kind.is_retryable() == (raw != "ERR_SOMETHING")


def test_stream_errors_carry_the_configured_provider_id() -> None:
    (chunk,) = list(_convert_stream(iter([_ev("error", "nope")]), "my-gateway"))
    assert isinstance(chunk, ErrorChunk) and isinstance(chunk.error, ProviderStreamError)
    assert chunk.error.provider == "my-gateway"


# --- the loopback renderer, read back through the converter ------------------------------------------


def _request(body: Dict[str, Any]) -> RecordedRequest:
    raw = json.dumps(body).encode()
    return RecordedRequest("POST", "/v1/responses", {}, {}, raw, body)


def _replay(turn: Turn, *, stream: bool = True) -> Tuple[List[StreamChunk], CompletionResponse]:
    reply = render_turn(turn, _request({"model": "gpt-5", "stream": stream}))
    if not stream:
        response = _parse_response(json.loads(b"".join(reply.body_parts())))
        return [], response
    chunks = list(_convert_stream(decode_sse(reply.body_parts())))
    return chunks, _final(chunks)


def test_rendered_turn_round_trips_through_both_paths() -> None:
    turn = Turn(
        text="Hello there",
        thinking="Step one.\n\nStep two.",
        thinking_signature="gAAAAB-enc",
        tool_calls=[
            ToolCallSpec("call_a", "ls", {"path": "."}, chunks=4),
            ToolCallSpec("call_b", "cat", {"f": "ü"}, chunks=2),
        ],
        usage=(30, 12),
    )
    expected = CompletionResponse(
        (
            SignedThought("Step one.\n\nStep two.", "openai-responses:gAAAAB-enc"),
            TextContent("Hello there"),
            ToolCallContent(ToolCall("call_a", "ls", {"path": "."})),
            ToolCallContent(ToolCall("call_b", "cat", {"f": "ü"})),
        ),
        TokenUsage(30, 12, 42),
        "completed",
    )
    chunks, streamed = _replay(turn)
    assert streamed == expected
    assert _replay(turn, stream=False)[1] == expected
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == "Step one.\n\nStep two."
    assert [c for c in chunks if isinstance(c, ToolUseStart)] == [
        ToolUseStart("call_a", "ls"),
        ToolUseStart("call_b", "cat"),
    ]
    assert len([c for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == "call_a"]) == 4


def test_rendered_incomplete_turn() -> None:
    _, streamed = _replay(Turn(text="In the", stop_reason="max_output_tokens", usage=(0, 0)))
    assert streamed == CompletionResponse((TextContent("In the"),), TokenUsage(0, 0, 0), "max_output_tokens")


def test_rendered_errors() -> None:
    request = _request({"model": "gpt-5", "stream": True})
    reply = render_error(ErrorReply(429, "Slow down", retry_after=1.5, headers=[("x-should-retry", "true")]), request)
    headers = dict(reply.headers)
    assert (headers["retry-after"], headers["retry-after-ms"], headers["x-should-retry"]) == ("2", "1500", "true")
    assert headers["x-request-id"].startswith("req_")
    body = json.loads(b"".join(reply.body_parts()))
    assert body == {"error": {"message": "Slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    assert _describe_http_error(429, b"".join(reply.body_parts())) == "Slow down"

    failed = list(_convert_stream(decode_sse([render_stream_error(ErrorReply(500, "boom"), request)])))
    assert failed == [
        ErrorChunk(ProviderStreamError("openai", ProviderStreamErrorKind.RESPONSE_FAILED, "server_error", "boom"))
    ]
    event = list(_convert_stream(decode_sse([render_stream_error(ErrorReply(429, "later"), request)])))
    assert event == [
        ErrorChunk(
            ProviderStreamError("openai", ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED, "rate_limit_exceeded", "later")
        )
    ]
    forced = list(
        _convert_stream(
            decode_sse(
                [
                    render_stream_error(
                        ErrorReply(400, "bad", error_type="response.failed", code="invalid_prompt"), request
                    )
                ]
            )
        )
    )
    assert isinstance(forced[0], ErrorChunk) and forced[0].error.raw_error_type == "invalid_prompt"  # type: ignore[attr-defined]


def test_invalid_request_status_maps_with_described_details() -> None:
    error = map_http_status("openai", 400, _describe_http_error(400, b'{"error":{"message":"m","code":null}}') or "")
    assert isinstance(error, InvalidRequest) and error.details == "m"
