"""Anthropic Messages converters: request building, response parsing, stream conversion (no network)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import pytest

from steer_sync._auth._directive import AnthropicAuth, AuthHeaderProvider, HeaderPair, InstructionPolicy
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
    ConfigurationError,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    UnsupportedFeature,
)
from steer_sync._providers.anthropic._request import _build_headers, _build_request, _endpoint_url, _image_block
from steer_sync._providers.anthropic._response import _describe_error, _map_usage, _parse_response
from steer_sync._providers.anthropic._schema import _sanitize, sanitize_tool_schema
from steer_sync._providers.anthropic._stream import _convert_stream, _is_keepalive
from steer_sync._sse import SseEvent
from steer_sync._types import (
    CommandExecution,
    CompletionResponse,
    DataUrlSource,
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
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolResult,
    ToolSchema,
)

MODEL = ModelId("anthropic", "claude-sonnet-4-5")
EPHEMERAL = {"type": "ephemeral"}
THINKING = ModelParameters(max_output_tokens=32000, thinking_config=ThinkingConfig(enabled=True, budget_tokens=16000))


def sanitize(schema: Dict[str, Any]) -> Any:
    """steer's ``sanitize_for_claude(schema, schema)``: no root forcing."""
    return _sanitize(schema, schema, set())


def build(messages: List[Message], **kwargs: Any) -> Dict[str, Any]:
    kwargs.setdefault("stream", False)
    return _build_request(
        MODEL,
        messages,
        kwargs.pop("system", None),
        kwargs.pop("tools", None),
        kwargs.pop("params", None),
        **kwargs,
    )


def events(*payloads: Any) -> List[SseEvent]:
    out = []
    for payload in payloads:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        out.append(SseEvent(event=None, data=data))
    return out


def convert(*payloads: Any) -> List[StreamChunk]:
    return list(_convert_stream(events(*payloads), "anthropic"))


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    return chunks[-1].response


# --- ported from steer's claude/client.rs tests (spec 1.11) ------------------------------


def test_sanitize_handles_recursive_ref() -> None:
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node",
    }
    sanitized = sanitize(schema)
    assert sanitized["properties"]["next"]["type"] == "object"
    assert sanitized["properties"]["next"] == {"type": "object", "properties": {}}


def test_sanitize_collapses_tuple_items() -> None:
    schema = {"type": "array", "items": [{"type": "string"}, {"type": "number"}]}
    assert isinstance(sanitize(schema)["items"], dict)
    assert sanitize(schema)["items"] == {"type": "string"}


def test_sanitize_removes_unsupported_keywords() -> None:
    schema = {
        "type": "object",
        "title": "ignored",
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "pattern": "^[a-z]+$", "default": "x"}},
    }
    assert sanitize(schema) == {"type": "object", "properties": {"name": {"type": "string"}}}


def test_sanitize_converts_const_to_enum_with_type() -> None:
    assert sanitize({"const": "fixed"}) == {"enum": ["fixed"], "type": "string"}


def test_sanitize_filters_null_enum_values() -> None:
    assert sanitize({"enum": ["a", None, "b"]}) == {"enum": ["a", "b"], "type": "string"}


def test_sanitize_decodes_json_pointer_refs() -> None:
    schema = {"$defs": {"a/b": {"type": "string"}}, "$ref": "#/$defs/a~1b"}
    assert sanitize(schema) == {"type": "string"}


def test_sanitize_merges_union_properties_and_required() -> None:
    schema = {
        "oneOf": [
            {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]},
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "c": {"type": "string"}},
                "required": ["a", "c"],
            },
        ]
    }
    assert sanitize(schema) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}},
        "required": ["a"],
    }


def test_sanitize_infers_array_type_from_items() -> None:
    assert sanitize({"items": {"type": "string"}}) == {"type": "array", "items": {"type": "string"}}


def test_user_image_data_url_to_claude_block() -> None:
    image = ImageContent("image/png", DataUrlSource("data:image/png;base64,Zm9v"))
    block = _image_block(image, "anthropic")
    assert block == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "Zm9v"}}


def test_user_image_session_file_source_is_unsupported() -> None:
    image = ImageContent("image/png", SessionFileSource("session-1/image.png"))
    with pytest.raises(UnsupportedFeature) as info:
        _image_block(image, "anthropic")
    assert info.value.provider == "anthropic"
    assert info.value.feature == "image input source"
    assert "session file" in (info.value.details or "")


def test_map_claude_usage_computes_total_when_missing() -> None:
    assert _map_usage({"input_tokens": 11, "output_tokens": 7}) == TokenUsage(11, 7, 18)


def test_convert_claude_completion_includes_usage() -> None:
    body = {
        "id": "msg_1",
        "content": [{"type": "text", "text": "hi"}],
        "model": "claude-test",
        "role": "assistant",
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 4, "total_tokens": 22},
    }
    response = _parse_response(body)
    assert response.usage == TokenUsage(12, 4, 22)
    assert response.content[0] == TextContent("hi")


def test_convert_claude_stream_attaches_latest_usage_on_message_stop() -> None:
    chunks = convert(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hello"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " world"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"input_tokens": 9, "output_tokens": 3}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
        {"type": "message_stop"},
    )
    assert all(isinstance(c, (TextDelta, ContentBlockStop, MessageComplete)) for c in chunks)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Hello world"
    response = final(chunks)
    assert response.usage == TokenUsage(10, 5, 15)
    assert response.content[0] == TextContent("Hello world")


# --- endpoint and headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "url"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("", "https://api.anthropic.com/v1/messages"),
        ("https://gw.example/anthropic", "https://gw.example/anthropic/v1/messages"),
        ("https://gw.example/anthropic/", "https://gw.example/anthropic/v1/messages"),
        ("https://gw.example/v1", "https://gw.example/v1/messages"),
        ("https://gw.example/v1/", "https://gw.example/v1/messages"),
        ("http://127.0.0.1:8080/v1/messages", "http://127.0.0.1:8080/v1/messages"),
    ],
)
def test_endpoint_url_appends_the_messages_path_once(base: Optional[str], url: str) -> None:
    assert _endpoint_url(base) == url


def test_endpoint_url_rejects_a_base_without_scheme() -> None:
    with pytest.raises(ConfigurationError):
        _endpoint_url("api.anthropic.com")


def test_headers_for_an_api_key() -> None:
    headers = _build_headers([("x-api-key", "sk-ant-test")], thinking=False)
    assert headers == {
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "x-api-key": "sk-ant-test",
    }


def test_headers_add_the_interleaved_thinking_beta_when_thinking() -> None:
    headers = _build_headers([("x-api-key", "k")], thinking=True)
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


def test_directive_beta_header_is_merged_not_duplicated() -> None:
    directive_headers = [
        ("Authorization", "Bearer t"),
        ("anthropic-beta", "oauth-2025-04-20,interleaved-thinking-2025-05-14"),
    ]
    headers = _build_headers(directive_headers, thinking=True)
    assert headers["authorization"] == "Bearer t"
    assert headers["anthropic-beta"] == "oauth-2025-04-20,interleaved-thinking-2025-05-14"
    assert "x-api-key" not in headers
    merged = _build_headers([("anthropic-beta", "oauth-2025-04-20")], thinking=True)
    assert merged["anthropic-beta"] == "oauth-2025-04-20,interleaved-thinking-2025-05-14"


def test_extra_headers_come_last_and_win_except_beta_which_merges() -> None:
    headers = _build_headers(
        [("x-api-key", "k")],
        thinking=True,
        static={"X-Gateway": "static", "x-trace": "a"},
        extra={"x-trace": "b", "Anthropic-Beta": "files-api-2025-04-14"},
    )
    assert list(headers)[-2:] == ["x-gateway", "x-trace"]
    assert headers["x-trace"] == "b"
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,files-api-2025-04-14"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            "overloaded_error: Overloaded",
        ),
        (
            b'{"error": {"message": "model: x", "type": "not_found_error"}, "request_id": "req_1", "type": "error"}',
            "not_found_error: model: x (request id: req_1)",
        ),
        (b'{"type":"error","error":{"type":"api_error"}}', "api_error"),
        (b"<html>Bad gateway</html>", None),
        (b'{"message": "no error object"}', None),
        (b"\xff\xfe", None),
    ],
)
def test_describe_error_reads_anthropic_error_bodies(body: bytes, expected: Optional[str]) -> None:
    assert _describe_error(400, body) == expected


# --- request body ------------------------------------------------------------------------


def test_request_matches_the_spec_example() -> None:
    messages = [
        Message.user("Weather in Paris?"),
        Message.assistant(
            [
                SignedThought("Need the weather tool.", "EqQB..."),
                ToolCallContent(ToolCall("toolu_01", "get_weather", {"city": "Paris"})),
            ]
        ),
        Message.tool_result("toolu_01", "Sunny, 20C"),
    ]
    tools = [
        ToolSchema(
            "get_weather",
            "Gets the weather",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            display_name="Weather",
        )
    ]
    body = build(messages, system=SystemContext("You are a coding agent."), tools=tools, params=THINKING, stream=True)
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Need the weather tool.", "signature": "EqQB..."},
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
                        "cache_control": EPHEMERAL,
                    }
                ],
            },
        ],
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": EPHEMERAL}],
        "tools": [
            {
                "name": "get_weather",
                "description": "Gets the weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            }
        ],
        "temperature": 1.0,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 16000},
    }


def test_defaults_without_parameters() -> None:
    body = build([Message.user("hi")])
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 8000,
        "temperature": 0.7,
    }


def test_thinking_without_budget_uses_steer_defaults() -> None:
    body = build([Message.user("hi")], params=ModelParameters(thinking_config=ThinkingConfig(enabled=True)))
    assert body["max_tokens"] == 32000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4000}
    assert body["temperature"] == 1.0


def test_disabled_thinking_config_sends_no_thinking() -> None:
    body = build(
        [Message.user("hi")], params=ModelParameters(thinking_config=ThinkingConfig(enabled=False, budget_tokens=5000))
    )
    assert "thinking" not in body and body["max_tokens"] == 8000 and body["temperature"] == 0.7


def test_thinking_budget_is_raised_to_the_minimum() -> None:
    params = ModelParameters(thinking_config=ThinkingConfig(enabled=True, budget_tokens=100))
    assert build([Message.user("hi")], params=params)["thinking"]["budget_tokens"] == 1024


def test_thinking_budget_is_kept_below_max_tokens() -> None:
    params = ModelParameters(max_output_tokens=2000, thinking_config=ThinkingConfig(enabled=True, budget_tokens=16000))
    body = build([Message.user("hi")], params=params)
    assert body["max_tokens"] == 2000
    assert body["thinking"]["budget_tokens"] == 1999


def test_thinking_is_turned_off_when_max_tokens_cannot_hold_a_budget() -> None:
    params = ModelParameters(max_output_tokens=16, thinking_config=ThinkingConfig(enabled=True, budget_tokens=16000))
    body = build([Message.user("hi")], params=params)
    assert "thinking" not in body
    assert body["max_tokens"] == 16
    assert body["temperature"] == 0.7


def test_thinking_forces_temperature_one_and_drops_top_p_out_of_range() -> None:
    params = ModelParameters(temperature=0.2, top_p=0.5, thinking_config=ThinkingConfig(enabled=True))
    body = build([Message.user("hi")], params=params)
    assert body["temperature"] == 1.0
    assert "top_p" not in body and "top_k" not in body


def test_thinking_keeps_top_p_in_range_and_then_omits_temperature() -> None:
    params = ModelParameters(temperature=0.2, top_p=0.97, thinking_config=ThinkingConfig(enabled=True))
    body = build([Message.user("hi")], params=params)
    assert body["top_p"] == 0.97
    assert "temperature" not in body


def test_without_thinking_caller_sampling_is_sent_as_given() -> None:
    assert build([Message.user("hi")], params=ModelParameters(temperature=0.3))["temperature"] == 0.3
    only_top_p = build([Message.user("hi")], params=ModelParameters(top_p=0.5))
    assert only_top_p["top_p"] == 0.5 and "temperature" not in only_top_p
    both = build([Message.user("hi")], params=ModelParameters(temperature=0.3, top_p=0.5, max_output_tokens=10))
    assert (both["temperature"], both["top_p"], both["max_tokens"]) == (0.3, 0.5, 10)


def test_consecutive_tool_results_and_following_user_text_share_one_user_turn() -> None:
    messages = [
        Message.user("go"),
        Message.assistant(
            [
                ToolCallContent(ToolCall("t1", "a", {})),
                ToolCallContent(ToolCall("t2", "b", {"x": 1})),
            ]
        ),
        Message.tool_result("t1", "one"),
        Message.tool_result("t2", ToolResult.error("boom")),
        Message.user("and now?"),
    ]
    body = build(messages)
    assert len(body["messages"]) == 3
    last = body["messages"][-1]
    assert last["role"] == "user"
    assert last["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "one"}]},
        {
            "type": "tool_result",
            "tool_use_id": "t2",
            "content": [{"type": "text", "text": "boom"}],
            "is_error": True,
            "cache_control": EPHEMERAL,
        },
        {"type": "text", "text": "and now?"},
    ]


def test_only_the_last_tool_result_of_the_final_turn_is_a_cache_breakpoint() -> None:
    messages = [
        Message.user("go"),
        Message.assistant([ToolCallContent(ToolCall("t1", "a", {})), ToolCallContent(ToolCall("t2", "a", {}))]),
        Message.tool_result("t1", "one"),
        Message.tool_result("t2", "two"),
    ]
    results = build(messages)["messages"][-1]["content"]
    assert ["cache_control" in block for block in results] == [False, True]


def test_tool_result_error_text_and_blank_output() -> None:
    body = build(
        [
            Message.user("go"),
            Message.assistant([ToolCallContent(ToolCall("t1", "bash", {}))]),
            Message.tool_result("t1", ToolResult.external("bash", "   ")),
        ]
    )
    block = body["messages"][-1]["content"][0]
    assert block["content"] == [{"type": "text", "text": "(No output)"}]
    assert "is_error" not in block


def test_a_final_plain_user_turn_has_no_message_breakpoint() -> None:
    body = build([Message.user("hi")], system=SystemContext("sys"))
    assert "cache_control" not in json.dumps(body["messages"])
    assert body["system"][0]["cache_control"] == EPHEMERAL


def test_a_final_single_text_assistant_turn_becomes_a_cached_block() -> None:
    body = build([Message.user("hi"), Message.assistant("prefill")])
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "prefill", "cache_control": EPHEMERAL}],
    }


def test_single_text_assistant_turn_is_a_plain_string_when_not_last() -> None:
    body = build([Message.user("hi"), Message.assistant("hello"), Message.user("again")])
    assert body["messages"][1] == {"role": "assistant", "content": "hello"}


def test_thinking_blocks_keep_their_received_order_when_they_lead() -> None:
    content = [
        SignedThought("a", "s1"),
        TextContent("text"),
        RedactedThought("r"),
        ToolCallContent(ToolCall("t", "n", {})),
    ]
    body = build([Message.user("hi"), Message.assistant(content), Message.user("next")])
    assert [b["type"] for b in body["messages"][1]["content"]] == ["thinking", "text", "redacted_thinking", "tool_use"]


def test_thinking_blocks_are_moved_first_when_they_do_not_lead() -> None:
    content = [TextContent("text"), RedactedThought("r"), SignedThought("a", "s1")]
    body = build([Message.user("hi"), Message.assistant(content), Message.user("next")])
    blocks = body["messages"][1]["content"]
    assert blocks == [
        {"type": "redacted_thinking", "data": "r"},
        {"type": "thinking", "thinking": "a", "signature": "s1"},
        {"type": "text", "text": "text"},
    ]


def test_unsigned_thought_is_text_without_thinking_and_dropped_with_it() -> None:
    content = [SimpleThought("hmm"), TextContent("answer")]
    without = build([Message.user("hi"), Message.assistant(content), Message.user("x")])
    assert without["messages"][1]["content"] == [
        {"type": "text", "text": "[Thought: hmm]"},
        {"type": "text", "text": "answer"},
    ]
    with_thinking = build([Message.user("hi"), Message.assistant(content), Message.user("x")], params=THINKING)
    assert with_thinking["messages"][1]["content"] == "answer"


def test_assistant_images_are_dropped_and_blank_text_skipped() -> None:
    image = ImageContent.from_base64("Zm9v", "image/png")
    body = build(
        [Message.user("hi"), Message.assistant([image, TextContent("  "), TextContent("ok")]), Message.user("x")]
    )
    assert body["messages"][1]["content"] == "ok"


def test_an_assistant_turn_of_only_droppable_blocks_is_left_out() -> None:
    image = ImageContent.from_base64("Zm9v", "image/png")
    body = build([Message.user("hi"), Message.assistant([image]), Message.user("again")])
    assert [m["role"] for m in body["messages"]] == ["user", "user"]
    thought_only = build(
        [Message.user("hi"), Message.assistant([SimpleThought("from gemini")]), Message.user("x")], params=THINKING
    )
    assert [m["role"] for m in thought_only["messages"]] == ["user", "user"]


def test_user_content_blocks() -> None:
    command = CommandExecution("ls", "a.txt", "", 0)
    url_image = ImageContent.from_url("https://example.com/cat.png")
    body = build([Message.user([TextContent("  "), TextContent(" look "), url_image, command])])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": " look "},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": command.as_xml()},
    ]


@pytest.mark.parametrize(
    ("data_url", "error", "text"),
    [
        ("data:image/png;base64Zm9v", InvalidRequest, "missing ','"),
        ("image/png;base64,Zm9v", InvalidRequest, "must start with 'data:'"),
        ("data:image/png,Zm9v", InvalidRequest, "base64"),
        ("data:text/plain;base64,Zm9v", UnsupportedFeature, "text/plain"),
        ("data:;base64,Zm9v", UnsupportedFeature, "application/octet-stream"),
    ],
)
def test_bad_image_data_urls_fail_before_sending(data_url: str, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        build([Message.user([ImageContent("image/png", DataUrlSource(data_url))])])
    assert text in str(info.value)


def test_data_url_base64_flag_is_case_insensitive() -> None:
    block = _image_block(ImageContent("image/jpeg", DataUrlSource("data:image/jpeg;name=a;BASE64,QUJD")), "p")
    assert block["source"] == {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}


def test_empty_messages_are_rejected() -> None:
    with pytest.raises(InvalidRequest, match="No messages provided"):
        build([])
    with pytest.raises(InvalidRequest, match="resulted in no valid content blocks"):
        build([Message.user("   ")])
    with pytest.raises(InvalidRequest, match="Assistant message ID"):
        build([Message.user("hi"), Message.assistant([TextContent("")])])


def test_tools_none_and_empty_are_omitted() -> None:
    assert "tools" not in build([Message.user("hi")], tools=None)
    assert "tools" not in build([Message.user("hi")], tools=[])


def test_tool_root_schema_is_forced_to_an_object() -> None:
    assert sanitize_tool_schema({"type": "string"}) == {"type": "object", "properties": {}}
    assert sanitize_tool_schema({}) == {"type": "object", "properties": {}}
    assert sanitize_tool_schema({"properties": {"a": {"type": "integer"}}, "required": ["a"]}) == {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    }
    assert sanitize_tool_schema({"type": "object"}) == {"type": "object", "properties": {}}


def test_tool_schema_from_a_generated_model_is_cleaned() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "$defs": {"Mode": {"enum": ["fast", "slow"], "title": "Mode", "type": "string"}},
        "properties": {
            "mode": {"$ref": "#/$defs/Mode", "default": "fast"},
            "path": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "description": "lost"},
            "kind": {"const": "x"},
            "count": {"type": ["integer", "null"], "minimum": 0},
            "later": {"type": ["null", "string"]},
        },
        "required": ["mode"],
        "additionalProperties": False,
    }
    assert sanitize_tool_schema(schema) == {
        "type": "object",
        "properties": {
            "mode": {"enum": ["fast", "slow"], "type": "string"},
            "path": {"type": "string"},
            "kind": {"enum": ["x"], "type": "string"},
            "count": {"type": "integer"},
            "later": {"type": "string"},
        },
        "required": ["mode"],
    }


def test_tool_schema_is_not_modified() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "title": "A"}}}
    before = json.dumps(schema)
    sanitize_tool_schema(schema)
    assert json.dumps(schema) == before


def test_union_merges_enum_values_of_clashing_properties() -> None:
    schema = {
        "oneOf": [
            {"properties": {"kind": {"const": "a"}}, "required": ["kind"]},
            {"properties": {"kind": {"const": "b"}, "x": {"type": "integer"}}},
        ]
    }
    assert sanitize(schema) == {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"], "type": "string"}, "x": {"type": "integer"}},
        "required": ["kind"],
    }


def test_union_of_scalar_enums_keeps_true_and_one_apart() -> None:
    assert sanitize({"anyOf": [{"enum": [1]}, {"enum": [True]}]}) == {"type": "number", "enum": [1, True]}


def test_system_prompt_with_instruction_policy() -> None:
    class Headers(AuthHeaderProvider):
        def headers(self, context: Any) -> List[HeaderPair]:
            return []

    directive = AnthropicAuth(Headers(), InstructionPolicy.prefix("Identity."))
    body = build([Message.user("hi")], system=SystemContext("  Be brief.  "), directive=directive)
    assert body["system"] == [{"type": "text", "text": "Identity.\nBe brief.", "cache_control": EPHEMERAL}]
    assert build([Message.user("hi")], directive=directive)["system"][0]["text"] == "Identity."
    assert "system" not in build([Message.user("hi")], system=SystemContext("   "))


# --- non-streaming response ---------------------------------------------------------------


def test_parse_response_keeps_every_supported_block_and_the_stop_reason() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": ""},
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
            {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"q": 1}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "Zm9v"}},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "output_tokens": 7,
            "cache_creation": {"ephemeral_5m_input_tokens": 20},
        },
    }
    response = _parse_response(body)
    assert response.content == (
        SignedThought("hmm", "sig"),
        RedactedThought("opaque"),
        TextContent(""),
        ToolCallContent(ToolCall("toolu_1", "get", {"q": 1})),
        ImageContent("image/png", DataUrlSource("data:image/png;base64,Zm9v")),
    )
    assert response.stop_reason == "tool_use"
    assert response.usage == TokenUsage(125, 7, 132, cache_read_input_tokens=100, cache_creation_input_tokens=20)


def test_parse_response_without_usage_has_none() -> None:
    assert _parse_response({"content": []}).usage is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"type": "message"},
        {"content": "text"},
        {"content": [{"type": "text"}]},
        {"content": [{"type": "tool_use", "id": "x"}]},
        {"content": ["text"]},
    ],
)
def test_parse_response_rejects_bodies_that_are_not_messages(body: Any) -> None:
    with pytest.raises(ResponseParsingError) as info:
        _parse_response(body, "my-gateway")
    assert info.value.provider == "my-gateway"


# --- streaming ---------------------------------------------------------------------------


SPEC_STREAM = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 25, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Need the weather tool."},
    },
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB..."}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 25, "output_tokens": 60},
    },
    {"type": "message_stop"},
]


def test_stream_matches_the_spec_example() -> None:
    chunks = convert(*SPEC_STREAM)
    assert chunks == [
        ThinkingDelta("Need the weather tool."),
        ContentBlockStop(0),
        ToolUseStart("toolu_01", "get_weather"),
        ToolUseInputDelta("toolu_01", '{"city": "Pa'),
        ToolUseInputDelta("toolu_01", 'ris"}'),
        ContentBlockStop(1),
        MessageComplete(
            CompletionResponse(
                (
                    SignedThought("Need the weather tool.", "EqQB..."),
                    ToolCallContent(ToolCall("toolu_01", "get_weather", {"city": "Paris"})),
                ),
                TokenUsage(25, 60, 85),
                "tool_use",
            )
        ),
    ]


def test_stream_usage_starts_at_message_start_when_message_delta_has_only_output_tokens() -> None:
    start = dict(SPEC_STREAM[0])
    start["message"] = dict(
        start["message"],
        usage={
            "input_tokens": 3,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 40,
            "output_tokens": 1,
        },
    )
    chunks = convert(
        start,
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )
    assert final(chunks).usage == TokenUsage(
        1043, 9, 1052, cache_read_input_tokens=1000, cache_creation_input_tokens=40
    )
    assert final(chunks).stop_reason == "end_turn"


def test_stream_without_any_usage_reports_none() -> None:
    assert final(convert({"type": "message_stop"})).usage is None


def test_stream_keeps_redacted_thinking() -> None:
    chunks = convert(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "redacted_thinking", "data": "EtgB"}},
        {"type": "ping"},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_stop"},
    )
    assert chunks[:3] == [ContentBlockStop(0), TextDelta("Hi"), ContentBlockStop(1)]
    assert final(chunks).content == (RedactedThought("EtgB"), TextContent("Hi"))


def test_stream_thinking_with_only_a_signature_is_kept_and_unsigned_thinking_is_simple() -> None:
    chunks = convert(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "plain"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_stop"},
    )
    assert final(chunks).content == (SignedThought("", "sig"), SimpleThought("plain"))


def test_stream_tool_call_with_bad_or_no_json() -> None:
    chunks = convert(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "a", "name": "x", "input": {}},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"trunc'}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "b", "name": "y", "input": {}},
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "", "name": "z"}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    )
    # Empty fragments are not emitted; an id-less call starts nothing and is dropped.
    assert chunks[:3] == [ToolUseStart("a", "x"), ToolUseInputDelta("a", '{"trunc'), ContentBlockStop(0)]
    assert [c for c in chunks if isinstance(c, ToolUseStart)] == [ToolUseStart("a", "x"), ToolUseStart("b", "y")]
    response = final(chunks)
    assert response.extract_tool_calls() == [ToolCall("a", "x", {}), ToolCall("b", "y", {})]
    assert response.stop_reason == "max_tokens"


def test_stream_parallel_tool_calls_interleaved_by_index() -> None:
    chunks = convert(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "a", "name": "x", "input": {}},
        },
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "b", "name": "y", "input": {}},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"n":'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"m":1}'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "2}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    )
    assert ToolUseInputDelta("b", '{"n":') in chunks and ToolUseInputDelta("a", '{"m":1}') in chunks
    # Content order is the order the blocks finished (spec 1.9).
    assert final(chunks).extract_tool_calls() == [ToolCall("b", "y", {"n": 2}), ToolCall("a", "x", {"m": 1})]


def test_stream_delta_without_start_creates_the_block() -> None:
    chunks = convert(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_stop", "index": 7},
        {"type": "message_stop"},
    )
    assert chunks[:3] == [TextDelta("a"), ContentBlockStop(0), ContentBlockStop(7)]
    assert final(chunks).content == (TextContent("a"),)


def test_stream_skips_unparseable_and_unknown_events() -> None:
    chunks = convert(
        "not json",
        "[1, 2]",
        {"type": "ping"},
        {"type": "future_event", "x": 1},
        {"type": "content_block_start", "index": "0", "content_block": {"type": "text"}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    )
    assert chunks == [ContentBlockStop(0), MessageComplete(CompletionResponse((), None, None))]


def test_stream_closes_unfinished_blocks_at_message_stop() -> None:
    # Issue 18 item 2: steer drops them (spec 1.9); the streamed text is the answer, so keep it.
    chunks = convert(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "cut"}},
        {"type": "message_stop"},
        {"type": "content_block_stop", "index": 0},
    )
    assert chunks == [
        TextDelta("cut"),
        ContentBlockStop(0),
        MessageComplete(CompletionResponse((TextContent("cut"),))),
    ]


@pytest.mark.parametrize(
    ("error", "kind", "raw", "retryable"),
    [
        (
            {"type": "overloaded_error", "message": "Overloaded"},
            ProviderStreamErrorKind.OVERLOADED,
            "overloaded_error",
            True,
        ),
        ({"type": "api_error", "message": "Internal"}, ProviderStreamErrorKind.STREAM_ERROR, "api_error", True),
        (
            {"type": "rate_limit_error", "message": "slow"},
            ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
            "rate_limit_error",
            True,
        ),
        (
            {"type": "invalid_request_error", "message": "no"},
            ProviderStreamErrorKind("invalid_request_error"),
            "invalid_request_error",
            False,
        ),
        ({"message": "untyped"}, ProviderStreamErrorKind.STREAM_ERROR, None, True),
    ],
)
def test_stream_error_event_ends_the_stream_with_a_typed_error(
    error: Dict[str, Any], kind: ProviderStreamErrorKind, raw: Optional[str], retryable: bool
) -> None:
    chunks = convert(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "par"}},
        {"type": "error", "error": error},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "never"}},
        {"type": "message_stop"},
    )
    assert chunks[0] == TextDelta("par")
    assert len(chunks) == 2
    assert isinstance(chunks[1], ErrorChunk)
    value = chunks[1].error
    assert isinstance(value, ProviderStreamError)
    assert (value.provider, value.kind, value.raw_error_type, value.message) == (
        "anthropic",
        kind,
        raw,
        error["message"],
    )
    assert value.kind.is_retryable() is retryable


def test_stream_that_ends_before_message_stop_is_a_transport_error() -> None:
    chunks = convert(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "half"}},
    )
    assert chunks == [
        TextDelta("half"),
        ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before message_stop")),
    ]
    assert convert() == [ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before message_stop"))]


# The ported Rust cancellation tests for this converter live in tests/sockets/test_end_to_end.py:
# cancellation is the transport's job (it stops the events before any further one), not the converter's.


def test_ping_events_are_keepalives() -> None:
    assert _is_keepalive(SseEvent(event="ping", data='{"type": "ping"}'))
    assert _is_keepalive(SseEvent(event=None, data='{"type": "ping"}'))
    assert not _is_keepalive(SseEvent(event=None, data='{"type": "content_block_delta", "text": "ping"}'))
    assert not _is_keepalive(SseEvent(event="message_stop", data='{"type":"message_stop"}'))
