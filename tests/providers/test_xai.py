"""xAI converters: request building, response parsing, stream conversion (no network).

Ports the compiled tests of steer's ``xai/client.rs`` (spec openai-xai.md section 9.3), the
intent of the orphaned ``xai/tests.rs`` (section 9.4, Q29) and the untested areas the spec
lists: the reasoning-effort rules (Q21), ``(No output)``, and xAI's usage accounting.
"""

from __future__ import annotations

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
from steer_sync._errors import NoChoices, ResponseParsingError, UnsupportedFeature
from steer_sync._providers.openai_chat._xai import _build_request, _convert_stream, _parse_response
from steer_sync._sse import SseEvent
from steer_sync._types import (
    DataUrlSource,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    SessionFileSource,
    SimpleThought,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolResult,
    ToolSchema,
    UrlSource,
)


def sse(*data: str) -> List[SseEvent]:
    return [SseEvent(None, d) for d in data]


def convert(events: List[SseEvent]) -> List[StreamChunk]:
    return list(_convert_stream(iter(events), "xai"))


def build(
    model: str = "grok-3-mini",
    messages: Optional[List[Message]] = None,
    params: Optional[ModelParameters] = None,
    stream: bool = False,
    tools: Optional[List[ToolSchema]] = None,
) -> Dict[str, Any]:
    return _build_request(ModelId("xai", model), messages or [Message.user("hi")], None, tools, params, stream=stream)


# --- xai/client.rs tests --------------------------------------------------------------------------


def test_convert_messages_includes_data_url_image_part() -> None:
    image = ImageContent("image/png", DataUrlSource("data:image/png;base64,Zm9v"))
    messages = build(messages=[Message.user([TextContent("describe"), image])])["messages"]
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,Zm9v"}},
            ],
        }
    ]


def test_convert_messages_rejects_session_file_image_source() -> None:
    image = ImageContent("image/png", SessionFileSource("session-1/image.png"))
    with pytest.raises(UnsupportedFeature) as caught:
        build(messages=[Message.user([image])])
    assert caught.value.provider == "xai"
    assert caught.value.feature == "image input source"
    assert "session file" in str(caught.value.details)


def test_map_xai_usage() -> None:
    response = _parse_response(
        {
            "choices": [{"index": 0, "message": {"content": "x"}}],
            "usage": {"prompt_tokens": 15, "completion_tokens": 9, "total_tokens": 24},
        }
    )
    assert response.usage == TokenUsage(15, 9, 24)


def test_non_stream_completion_maps_usage() -> None:
    response = _parse_response(
        {
            "id": "resp_1",
            "object": "chat.completion",
            "created": 1,
            "model": "grok-test",
            "choices": [{"index": 0, "message": {"content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10},
        }
    )
    assert response.usage == TokenUsage(6, 4, 10)
    assert response.content[0] == TextContent("hello")


def test_convert_xai_stream_captures_final_usage() -> None:
    # xAI chunks have no "object" field.
    chunks = convert(
        sse(
            '{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}',
            '{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}',
            "[DONE]",
        )
    )
    assert chunks[0] == TextDelta("Hello")
    complete = chunks[1]
    assert isinstance(complete, MessageComplete)
    assert complete.response.usage == TokenUsage(12, 5, 17)
    assert complete.response.content[0] == TextContent("Hello")


# --- xai/tests.rs (orphaned in steer; its intent as real tests) -------------------------------------


def test_convert_xai_stream_text_deltas() -> None:
    chunks = convert(
        sse(
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}',
            "[DONE]",
        )
    )
    assert chunks[:2] == [TextDelta("Hello"), TextDelta(" world")]
    assert isinstance(chunks[2], MessageComplete)


def test_convert_xai_stream_with_tool_calls() -> None:
    chunks = convert(
        sse(
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc","function":{"name":"search","arguments":""}}]},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"query\\":"}}]},"finish_reason":null}]}',
            '{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"test\\"}"}}]},"finish_reason":null}]}',
            "[DONE]",
        )
    )
    assert chunks[:3] == [
        ToolUseStart("call_abc", "search"),
        ToolUseInputDelta("call_abc", '{"query":'),
        ToolUseInputDelta("call_abc", '"test"}'),
    ]
    complete = chunks[3]
    assert isinstance(complete, MessageComplete)
    assert complete.response.content == (ToolCallContent(ToolCall("call_abc", "search", {"query": "test"})),)


# The ported Rust cancellation tests for this converter live in tests/sockets/test_end_to_end.py:
# cancellation is the transport's job (it stops the events before any further one), not the converter's.


def test_reasoning_content_streams_as_thinking_and_ends_as_a_simple_thought() -> None:
    chunks = convert(
        sse(
            '{"id":"a","choices":[{"index":0,"delta":{"reasoning_content":"First","role":"assistant"}}]}',
            '{"id":"a","choices":[{"index":0,"delta":{"reasoning_content":", hm"}}]}',
            '{"id":"a","choices":[{"index":0,"delta":{"content":"Hello"}}]}',
            '{"id":"a","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
            '{"id":"a","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":303,"completion_tokens_details":{"reasoning_tokens":290}}}',
            "[DONE]",
        )
    )
    assert chunks[:3] == [ThinkingDelta("First"), ThinkingDelta(", hm"), TextDelta("Hello")]
    complete = chunks[3]
    assert isinstance(complete, MessageComplete)
    assert complete.response.content == (SimpleThought("First, hm"), TextContent("Hello"))
    # completion_tokens (1) excludes the 290 reasoning tokens; output counts both.
    assert complete.response.usage == TokenUsage(12, 291, 303, reasoning_tokens=290)


# --- request body (spec 6.2, Q20, Q21) ------------------------------------------------------------------


def test_defaults_and_field_order() -> None:
    streamed = build(stream=True, tools=[ToolSchema("f", "d", {"type": "object"})], params=ModelParameters(top_p=0.5))
    assert list(streamed) == [
        "model",
        "messages",
        "max_completion_tokens",
        "stream",
        "stream_options",
        "temperature",
        "tools",
        "top_p",
    ]
    assert (streamed["max_completion_tokens"], streamed["temperature"], streamed["top_p"]) == (32768, 1.0, 0.5)
    assert streamed["stream_options"] == {"include_usage": True}
    assert "max_tokens" not in streamed


def test_non_stream_request_omits_stream_and_uses_configured_values() -> None:
    built = build(params=ModelParameters(temperature=0.3, max_output_tokens=1000))
    assert built == {
        "model": "grok-3-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 1000,
        "temperature": 0.3,
    }


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("grok-3-mini", None, "high"),
        ("grok-3-mini", ThinkingEffort.LOW, "low"),
        ("grok-3-mini", ThinkingEffort.MEDIUM, "high"),
        ("grok-3-mini", ThinkingEffort.HIGH, "high"),
        ("grok-3-mini", ThinkingEffort.XHIGH, "high"),
        ("grok-3-mini-fast", ThinkingEffort.LOW, "low"),
        ("grok-3-mini-beta", None, "high"),
        ("xai/Grok-3-Mini-latest", ThinkingEffort.LOW, "low"),
        # Grok 4 models reject the parameter (steer only exempted grok-4-0709).
        ("grok-4-0709", ThinkingEffort.HIGH, None),
        ("grok-4-1-fast-reasoning", ThinkingEffort.HIGH, None),
        ("grok-4", None, None),
        ("grok-3", ThinkingEffort.LOW, None),
        ("grok-code-fast-1", ThinkingEffort.LOW, None),
    ],
)
def test_reasoning_effort_is_capability_based(
    model: str, effort: Optional[ThinkingEffort], expected: Optional[str]
) -> None:
    built = build(model=model, params=ModelParameters(thinking_config=ThinkingConfig(True, effort)))
    assert built.get("reasoning_effort") == expected


def test_reasoning_effort_needs_thinking_enabled() -> None:
    assert "reasoning_effort" not in build(
        params=ModelParameters(thinking_config=ThinkingConfig(False, ThinkingEffort.LOW))
    )
    assert "reasoning_effort" not in build()


def test_reasoning_effort_sits_after_the_token_limit() -> None:
    built = build(params=ModelParameters(thinking_config=ThinkingConfig(True)), stream=True)
    assert list(built)[:5] == ["model", "messages", "max_completion_tokens", "reasoning_effort", "stream"]


def test_messages_skip_empty_users_fill_blank_tool_output_and_never_inline_assistant_images() -> None:
    messages = [
        Message.user([]),
        Message.user("run it"),
        Message.assistant(
            [
                TextContent("ok"),
                ImageContent("image/png", UrlSource("https://x/y.png")),
                ToolCallContent(ToolCall("c1", "run", {})),
            ]
        ),
        Message.tool_result("c1", ""),
        Message.tool_result("c2", ToolResult.error("denied")),
    ]
    assert build(messages=messages)["messages"] == [
        {"role": "user", "content": "run it"},
        {
            "role": "assistant",
            "content": "ok\n[Image: image/png]",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "run", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "(No output)", "tool_call_id": "c1"},
        {"role": "tool", "content": "Error: denied", "tool_call_id": "c2"},
    ]


# --- non-stream parsing (spec 6.3, Q10, Q22) ---------------------------------------------------------


def test_non_stream_puts_the_thought_first_and_bad_arguments_become_an_empty_object() -> None:
    response = _parse_response(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "grok-3-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hi",
                        "reasoning_content": "thinking",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "not json"}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 4,
                "total_tokens": 12,
                "prompt_tokens_details": {"text_tokens": 3},  # partial details no longer break parsing
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
            "citations": [],
            "debug_output": {"anything": True},
        }
    )
    assert response.content == (SimpleThought("thinking"), TextContent("Hi"), ToolCallContent(ToolCall("c", "f", {})))
    assert response.usage == TokenUsage(3, 9, 12, reasoning_tokens=5)
    assert response.stop_reason == "tool_calls"


def test_blank_reasoning_and_blank_text_are_dropped() -> None:
    response = _parse_response({"choices": [{"message": {"content": "  ", "reasoning_content": "\n"}}]})
    assert response.content == ()


def test_no_choices_raises_no_choices() -> None:
    with pytest.raises(NoChoices) as caught:
        _parse_response({"id": "x", "choices": []}, "xai-eu")
    assert caught.value.provider == "xai-eu"


def test_a_body_that_is_not_a_completion_is_a_parsing_error() -> None:
    with pytest.raises(ResponseParsingError):
        _parse_response("nope")


def test_without_a_total_xai_counts_reasoning_outside_completion_tokens() -> None:
    response = _parse_response(
        {
            "choices": [{"message": {"content": "x"}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 4}},
        }
    )
    assert response.usage == TokenUsage(2, 7, 9, reasoning_tokens=4)
