"""OpenAI Chat Completions converters: request building, response parsing, stream conversion (no network).

Ports the tests of steer's ``openai/chat.rs`` (spec openai-xai.md section 9.2) and covers the
Q16 request changes.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import pytest

from steer_sync._chunks import (
    MessageComplete,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import ResponseParsingError, UnsupportedFeature
from steer_sync._providers.openai_chat._openai import (
    OpenAIChatProvider,
    _build_request,
    _convert_stream,
    _parse_response,
)
from steer_sync._sse import SseEvent
from steer_sync._types import (
    CommandExecution,
    DataUrlSource,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    SessionFileSource,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolSchema,
)

MODEL = ModelId("openai", "gpt-4.1")


def sse(*data: str) -> List[SseEvent]:
    return [SseEvent(None, d) for d in data]


def convert(events: List[SseEvent]) -> List[StreamChunk]:
    return list(_convert_stream(iter(events), "openai"))


def body(**kw: Any) -> Dict[str, Any]:
    defaults: Dict[str, Any] = {
        "messages": [Message.user("hi")],
        "system": None,
        "tools": None,
        "params": None,
        "stream": False,
    }
    defaults.update(kw)
    return _build_request(
        MODEL,
        defaults["messages"],
        defaults["system"],
        defaults["tools"],
        defaults["params"],
        stream=defaults["stream"],
    )


# --- steer chat.rs tests --------------------------------------------------------------------------


def test_convert_openai_stream_text_deltas() -> None:
    chunks = convert(
        sse(
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}',
            "[DONE]",
        )
    )
    assert chunks[:2] == [TextDelta("Hello"), TextDelta(" world")]
    assert isinstance(chunks[2], MessageComplete)
    assert len(chunks) == 3


def test_convert_openai_stream_with_reasoning() -> None:
    chunks = convert(
        sse(
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":"Let me think..."},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"The answer is 42"},"finish_reason":null}]}',
            "[DONE]",
        )
    )
    assert chunks[:2] == [ThinkingDelta("Let me think..."), TextDelta("The answer is 42")]
    complete = chunks[2]
    assert isinstance(complete, MessageComplete)
    assert complete.response.content == (SimpleThought("Let me think..."), TextContent("The answer is 42"))


def test_convert_response_message_maps_usage() -> None:
    response = _parse_response(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4.1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
        }
    )
    assert response.usage == TokenUsage(12, 8, 20)
    assert response.content == (TextContent("Hello"),)


def test_convert_openai_stream_captures_final_usage() -> None:
    chunks = convert(
        sse(
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}',
            "[DONE]",
        )
    )
    assert chunks[0] == TextDelta("Hello")
    complete = chunks[1]
    assert isinstance(complete, MessageComplete)
    assert complete.response.usage == TokenUsage(11, 7, 18)
    assert complete.response.content == (TextContent("Hello"),)


def test_convert_openai_stream_with_tool_calls() -> None:
    chunks = convert(
        sse(
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"loc"}}]},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ation\\":\\"NYC\\"}"}}]},"finish_reason":null}]}',
            "[DONE]",
        )
    )
    # The start carries no empty argument delta; each fragment is forwarded as it arrives.
    assert chunks[:3] == [
        ToolUseStart("call_abc", "get_weather"),
        ToolUseInputDelta("call_abc", '{"loc'),
        ToolUseInputDelta("call_abc", 'ation":"NYC"}'),
    ]
    complete = chunks[3]
    assert isinstance(complete, MessageComplete)
    assert complete.response.content == (ToolCallContent(ToolCall("call_abc", "get_weather", {"location": "NYC"})),)


# The ported Rust cancellation tests for this converter live in tests/sockets/test_end_to_end.py:
# cancellation is the transport's job (it stops the events before any further one), not the converter's.


def test_convert_message_with_command_execution() -> None:
    message = Message.user(
        [
            TextContent("Here's the result:"),
            CommandExecution("ls -la", "total 24\ndrwxr-xr-x  3 user  staff   96 Jan  1 12:00 .", "", 0),
        ]
    )
    wire_messages = body(messages=[message])["messages"]
    assert len(wire_messages) == 1
    parts = wire_messages[0]["content"]
    assert isinstance(parts, list) and len(parts) == 2
    assert parts[0] == {"type": "text", "text": "Here's the result:"}
    assert parts[1]["type"] == "text"
    assert "<executed_command>" in parts[1]["text"] and "ls -la" in parts[1]["text"] and "total 24" in parts[1]["text"]


def test_convert_message_with_data_url_image() -> None:
    image = ImageContent("image/png", DataUrlSource("data:image/png;base64,Zm9v"), width=1, height=1, bytes=3)
    wire_messages = body(messages=[Message.user([TextContent("Describe this"), image])])["messages"]
    assert wire_messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,Zm9v"}},
            ],
        }
    ]


def test_convert_message_rejects_session_file_image_source() -> None:
    image = ImageContent("image/png", SessionFileSource("session-123/image.png"))
    with pytest.raises(UnsupportedFeature) as caught:
        body(messages=[Message.user([image])])
    assert caught.value.provider == "openai"
    assert caught.value.feature == "image input source"
    assert "session file" in str(caught.value.details)


# --- request body (spec 5.2 with Q16) ----------------------------------------------------------------


def test_minimal_request_sends_no_sampling_defaults() -> None:
    assert body() == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def test_streaming_request_asks_for_the_final_usage_chunk() -> None:
    streamed = body(stream=True)
    assert streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}


def test_full_request_field_order_and_max_completion_tokens() -> None:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}}
    params = ModelParameters(
        temperature=0.2, max_output_tokens=4096, top_p=0.9, thinking_config=ThinkingConfig(True, ThinkingEffort.HIGH)
    )
    built = body(
        system=SystemContext("You are a helpful assistant."),
        tools=[ToolSchema("ls", "List a directory", schema)],
        params=params,
        stream=True,
    )
    assert list(built) == [
        "model",
        "messages",
        "temperature",
        "max_completion_tokens",
        "top_p",
        "stream",
        "tools",
        "reasoning_effort",
        "stream_options",
    ]
    assert "max_tokens" not in built
    assert (built["temperature"], built["max_completion_tokens"], built["top_p"]) == (0.2, 4096, 0.9)
    assert built["reasoning_effort"] == "high"
    assert built["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert built["tools"] == [
        {"type": "function", "function": {"name": "ls", "description": "List a directory", "parameters": schema}}
    ]


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        (None, None),
        (ThinkingConfig(False, ThinkingEffort.HIGH), None),
        (ThinkingConfig(True), "medium"),
        (ThinkingConfig(True, ThinkingEffort.LOW), "low"),
        (ThinkingConfig(True, ThinkingEffort.MEDIUM), "medium"),
        (ThinkingConfig(True, ThinkingEffort.HIGH), "high"),
        (ThinkingConfig(True, ThinkingEffort.XHIGH), "xhigh"),
    ],
)
def test_reasoning_effort_follows_the_thinking_config(
    thinking: Optional[ThinkingConfig], expected: Optional[str]
) -> None:
    assert body(params=ModelParameters(thinking_config=thinking)).get("reasoning_effort") == expected


def test_request_body_round_trips_through_compact_json_with_raw_unicode() -> None:
    message = Message.assistant([ToolCallContent(ToolCall("c1", "say", {"text": "héllo", "n": 1.0}))])
    built = body(messages=[Message.user("q"), message, Message.tool_result("c1", "done")])
    assert built["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"text":"héllo","n":1.0}'
    assert built["messages"][2] == {"role": "tool", "content": "done", "tool_call_id": "c1"}
    json.dumps(built)  # everything in the body is plain JSON


def test_empty_choices_is_a_parsing_error() -> None:
    with pytest.raises(ResponseParsingError, match="No choices"):
        _parse_response({"id": "x", "object": "chat.completion", "choices": []})


def test_errors_carry_the_configured_provider_id() -> None:
    with pytest.raises(ResponseParsingError) as caught:
        _parse_response({"choices": []}, "my-gateway")
    assert caught.value.provider == "my-gateway"


def test_without_a_total_openai_counts_reasoning_inside_completion_tokens() -> None:
    response = _parse_response(
        {
            "choices": [{"message": {"content": "x"}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 7, "completion_tokens_details": {"reasoning_tokens": 4}},
        }
    )
    assert response.usage == TokenUsage(2, 7, 9, reasoning_tokens=4)


def test_provider_defaults_to_the_openai_endpoint_and_is_named_openai() -> None:
    provider = OpenAIChatProvider(api_key="sk-test")
    try:
        assert provider.url == "https://api.openai.com/v1/chat/completions"
        assert provider.name == "openai"
        assert provider.requires_streaming is False
    finally:
        provider.close()
