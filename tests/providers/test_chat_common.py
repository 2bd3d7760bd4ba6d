"""Shared Chat Completions helpers: URL normalisation, usage, errors, stream accumulation (no network)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

import pytest

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
    AuthenticationFailed,
    ConfigurationError,
    InvalidRequest,
    NoChoices,
    ProviderStreamErrorKind,
    RateLimited,
    ResponseParsingError,
    ServerError,
    SseParse,
    SseParseErrorKind,
    UnknownApiError,
    UnsupportedFeature,
)
from steer_sync._providers.openai_chat._provider import auth_headers, check_no_directive
from steer_sync._providers.openai_chat._request import _normalize_chat_url, build_messages, build_tools
from steer_sync._providers.openai_chat._response import (
    describe_http_error,
    map_usage,
    parse_arguments,
    parse_completion,
    refine_http_error,
)
from steer_sync._providers.openai_chat._stream import convert_chat_stream
from steer_sync._providers.openai_chat._wire import ChatDialect
from steer_sync._sse import SseEvent
from steer_sync._types import (
    CommandExecution,
    DataUrlSource,
    ImageContent,
    Message,
    SessionFileSource,
    SimpleThought,
    SystemContext,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolResult,
    ToolSchema,
    UrlSource,
)

OPENAI = ChatDialect("openai")
XAI = ChatDialect(
    "xai",
    reject_empty_user=False,
    blank_tool_result="(No output)",
    completion_includes_reasoning=False,
    no_choices_error=True,
    label="xAI chat",
)
DEFAULT = "https://api.openai.com/v1/chat/completions"


def events(*payloads: Any) -> List[SseEvent]:
    return [SseEvent(None, p if isinstance(p, str) else json.dumps(p)) for p in payloads]


def chunk(delta: Dict[str, Any], finish: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def run(items: Sequence[SseEvent], dialect: ChatDialect = OPENAI) -> List[StreamChunk]:
    return list(convert_chat_stream(iter(items), dialect))


def final(chunks: List[StreamChunk]) -> MessageComplete:
    last = chunks[-1]
    assert isinstance(last, MessageComplete), last
    return last


# --- URL normalisation (spec 2.1, util.rs test_normalize_chat_url, Q26) -------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (None, DEFAULT),
        ("", DEFAULT),
        ("https://api.example.com", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/v1", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/v1/", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/chat/completions", "https://api.example.com/chat/completions"),
        ("https://api.example.com/v1/chat/completions", "https://api.example.com/v1/chat/completions"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/chat/completions"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434/v1/chat/completions"),
        ("https://api.x.ai/v1", "https://api.x.ai/v1/chat/completions"),
    ],
)
def test_normalize_chat_url_mirrors_steer_cases(base: Optional[str], expected: str) -> None:
    assert _normalize_chat_url(base, DEFAULT) == expected


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        # Query strings survive and never confuse the suffix test (steer doubled the path here).
        ("https://host/v1/chat/completions?x=1", "https://host/v1/chat/completions?x=1"),
        ("https://host/v1?api-version=2024-10", "https://host/v1/chat/completions?api-version=2024-10"),
        (
            "https://host/openai/deployments/d1/chat/completions?api-version=1",
            "https://host/openai/deployments/d1/chat/completions?api-version=1",
        ),
        ("https://host?key=a", "https://host/v1/chat/completions?key=a"),
        # Any version segment, anywhere in the path.
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
        ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions"),
        ("https://host/v2", "https://host/v2/chat/completions"),
        ("https://host/proxy", "https://host/proxy/v1/chat/completions"),
        ("https://host/v1/chat/completions/", "https://host/v1/chat/completions"),
        ("  https://host/v1  ", "https://host/v1/chat/completions"),
    ],
)
def test_normalize_chat_url_works_on_the_path(base: str, expected: str) -> None:
    assert _normalize_chat_url(base, DEFAULT) == expected


@pytest.mark.parametrize("base", ["localhost:8080/v1", "ftp://host/v1", "not a url", "http://host:notaport/v1"])
def test_normalize_chat_url_rejects_what_is_not_an_http_url(base: str) -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        _normalize_chat_url(base, DEFAULT)


# --- request building -------------------------------------------------------------------------------


def test_system_context_becomes_a_leading_system_message_with_the_end_stripped() -> None:
    wire = build_messages([Message.user("hi")], SystemContext("Be terse.  \n"), OPENAI)
    assert wire == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]


def test_blank_system_prompt_sends_no_system_message() -> None:
    assert build_messages([Message.user("hi")], SystemContext("  "), OPENAI) == [{"role": "user", "content": "hi"}]


def test_a_lone_image_stays_a_parts_array() -> None:
    image = ImageContent("image/png", UrlSource("https://example.com/a.png"))
    wire = build_messages([Message.user([image])], None, OPENAI)
    assert wire == [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
    ]


def test_a_lone_command_execution_is_sent_as_plain_text() -> None:
    run_ = CommandExecution("ls", "a.txt", "", 0)
    wire = build_messages([Message.user([run_])], None, OPENAI)
    assert wire[0]["content"] == run_.as_xml()


def test_empty_user_message_raises_for_openai_and_is_skipped_for_xai() -> None:
    empty = Message.user([])
    with pytest.raises(InvalidRequest, match="no content"):
        build_messages([empty], None, OPENAI)
    assert build_messages([empty, Message.user("x")], None, XAI) == [{"role": "user", "content": "x"}]


def test_session_file_images_are_unsupported_and_name_the_configured_provider() -> None:
    image = ImageContent("image/png", SessionFileSource("s/img.png"))
    with pytest.raises(UnsupportedFeature) as caught:
        build_messages([Message.user([image])], None, ChatDialect("my-gateway"))
    assert caught.value.provider == "my-gateway"
    assert caught.value.feature == "image input source"
    assert "session file" in str(caught.value.details)


def test_assistant_message_joins_text_marks_images_and_sends_compact_arguments() -> None:
    message = Message.assistant(
        [
            SimpleThought("private"),
            TextContent("Looking."),
            ImageContent("image/png", DataUrlSource("data:image/png;base64," + "A" * 1000)),
            TextContent("Done."),
            ToolCallContent(ToolCall("call_1", "ls", {"path": "ä/b", "deep": [1, 2.0]})),
        ]
    )
    wire = build_messages([message], None, XAI)
    assert wire == [
        {
            "role": "assistant",
            # Q23: the data URL is never inlined as text; thoughts are never sent.
            "content": "Looking.\n[Image: image/png]\nDone.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "ls", "arguments": '{"path":"ä/b","deep":[1,2.0]}'},
                }
            ],
        }
    ]


def test_assistant_message_with_only_tool_calls_has_no_content_key() -> None:
    message = Message.assistant([ToolCallContent(ToolCall("c", "f", {}))])
    assert build_messages([message], None, OPENAI)[0].keys() == {"role", "tool_calls"}


def test_assistant_message_with_only_thoughts_is_skipped() -> None:
    wire = build_messages(
        [Message.user("q"), Message.assistant([SimpleThought("hmm")]), Message.user("again")], None, OPENAI
    )
    assert [m["role"] for m in wire] == ["user", "user"]


def test_tool_results_use_llm_format_and_xai_fills_blank_output() -> None:
    blank = Message.tool_result("call_1", "   ")
    failed = Message.tool_result("call_2", ToolResult.error("boom"))
    assert build_messages([blank], None, OPENAI) == [{"role": "tool", "content": "   ", "tool_call_id": "call_1"}]
    assert build_messages([blank, failed], None, XAI) == [
        {"role": "tool", "content": "(No output)", "tool_call_id": "call_1"},
        {"role": "tool", "content": "Error: boom", "tool_call_id": "call_2"},
    ]


def test_tools_become_function_tools_and_an_empty_list_is_omitted() -> None:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    tools = build_tools([ToolSchema("ls", "List a directory", schema, display_name="List")])
    assert tools == [
        {"type": "function", "function": {"name": "ls", "description": "List a directory", "parameters": schema}}
    ]
    assert build_tools([]) is None
    assert build_tools(None) is None


# --- usage ------------------------------------------------------------------------------------------


def test_usage_maps_the_three_counts() -> None:
    assert map_usage({"prompt_tokens": 15, "completion_tokens": 9, "total_tokens": 24}, XAI) == TokenUsage(15, 9, 24)


def test_missing_usage_details_default_to_zero_and_unknown_fields_are_ignored() -> None:
    usage = map_usage(
        {"prompt_tokens": 5, "cost": 0.1, "is_byok": False, "prompt_tokens_details": {"audio_tokens": 1}}, OPENAI
    )
    assert usage == TokenUsage(5, 0, 5)


def test_openai_completion_tokens_already_include_reasoning() -> None:
    usage = map_usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 50,
            "total_tokens": 60,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 30},
        },
        OPENAI,
    )
    assert usage == TokenUsage(10, 50, 60, cache_read_input_tokens=4, reasoning_tokens=30)


def test_xai_completion_tokens_exclude_reasoning_so_output_adds_them() -> None:
    usage = map_usage(
        {
            "prompt_tokens": 12,
            "completion_tokens": 1,
            "total_tokens": 303,
            "prompt_tokens_details": {"cached_tokens": 11},
            "completion_tokens_details": {"reasoning_tokens": 290},
        },
        XAI,
    )
    assert usage == TokenUsage(12, 291, 303, cache_read_input_tokens=11, reasoning_tokens=290)


def test_without_a_total_the_dialect_decides_how_reasoning_is_counted() -> None:
    raw = {"prompt_tokens": 2, "completion_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 4}}
    assert map_usage(raw, OPENAI) == TokenUsage(2, 3, 5, reasoning_tokens=4)
    assert map_usage(raw, XAI) == TokenUsage(2, 7, 9, reasoning_tokens=4)


@pytest.mark.parametrize("bad", [None, "x", -3, True, [1]])
def test_odd_counts_read_as_zero(bad: Any) -> None:
    assert map_usage({"prompt_tokens": bad, "completion_tokens": 2, "total_tokens": 2}, OPENAI) == TokenUsage(0, 2, 2)


def test_huge_counts_are_clamped_to_u32() -> None:
    usage = map_usage({"prompt_tokens": 2**40, "completion_tokens": 1, "total_tokens": 2**41}, XAI)
    assert usage is not None
    assert (usage.input_tokens, usage.total_tokens) == (2**32 - 1, 2**32 - 1)


def test_usage_that_is_not_an_object_is_none() -> None:
    assert map_usage(None, OPENAI) is None
    assert map_usage([1, 2], OPENAI) is None


# --- arguments ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", {}), ("  ", {}), ('{"a":1}', {"a": 1}), ("[1]", [1]), ("{not json", {}), (None, {}), ({"a": 2}, {"a": 2})],
)
def test_arguments_parse_to_json_or_an_empty_object(raw: Any, expected: Any) -> None:
    assert parse_arguments(raw) == expected


# --- non-stream parsing -------------------------------------------------------------------------------


def completion(message: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        **extra,
    }


def test_parse_orders_thought_text_then_tool_calls_and_keeps_the_finish_reason() -> None:
    body = completion(
        {
            "role": "assistant",
            "content": "Answer",
            "reasoning_content": "Think",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}],
        },
        usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    )
    response = parse_completion(body, OPENAI)
    assert response.content == (
        SimpleThought("Think"),
        TextContent("Answer"),
        ToolCallContent(ToolCall("c1", "f", {"x": 1})),
    )
    assert response.usage == TokenUsage(1, 2, 3)
    assert response.stop_reason == "stop"


def test_parse_maps_a_refusal_to_text() -> None:
    response = parse_completion(completion({"role": "assistant", "content": None, "refusal": "I can't."}), OPENAI)
    assert response.content == (TextContent("I can't."),)


def test_parse_reads_content_parts_and_openrouter_reasoning() -> None:
    message = {
        "content": [
            {"type": "text", "text": "a"},
            {"type": "image_url", "image_url": {"url": "https://i/x.png"}},
            {"type": "refusal", "refusal": "no"},
            {"type": "audio"},
        ],
        "reasoning": "R",
    }
    response = parse_completion(completion(message), OPENAI)
    assert response.content == (
        SimpleThought("R"),
        TextContent("a"),
        ImageContent("image/*", UrlSource("https://i/x.png")),
        TextContent("no"),
    )


def test_parse_is_lenient_about_missing_fields_and_bad_tool_calls() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "content": "  ",
                    "tool_calls": [
                        {"function": {"name": "f", "arguments": "{oops"}},
                        {"id": "c2", "function": {"arguments": "{}"}},
                        "junk",
                    ],
                }
            }
        ],
        "new_field": {"x": 1},
    }
    response = parse_completion(body, XAI)
    # Blank text is dropped, a call without id gets one, a call without name is dropped (Q22: {}).
    assert response.content == (ToolCallContent(ToolCall("call_0", "f", {})),)
    assert response.usage is None and response.stop_reason is None


def test_empty_choices_is_a_parsing_error_for_openai_and_no_choices_for_xai() -> None:
    with pytest.raises(ResponseParsingError, match="No choices"):
        parse_completion({"choices": []}, OPENAI)
    with pytest.raises(NoChoices):
        parse_completion({"choices": []}, XAI)


@pytest.mark.parametrize("body", [[1, 2], "text", {"id": "x"}, {"choices": "nope"}])
def test_a_body_without_a_choices_list_is_a_parsing_error(body: Any) -> None:
    with pytest.raises(ResponseParsingError):
        parse_completion(body, OPENAI)


def test_an_error_object_with_a_2xx_status_raises_the_mapped_error() -> None:
    with pytest.raises(RateLimited, match="slow down"):
        parse_completion({"error": {"code": 429, "message": "slow down"}}, OPENAI)
    with pytest.raises(UnknownApiError, match="weird"):
        parse_completion({"error": {"message": "weird", "type": "odd"}}, OPENAI)


# --- HTTP error details ---------------------------------------------------------------------------


def test_openai_error_details_are_the_message_and_code() -> None:
    body = b'{"error": {"message": "Incorrect API key provided: sk-***.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}'
    assert describe_http_error(401, body) == "Incorrect API key provided: sk-***. (invalid_api_key)"


def test_openai_error_with_null_code_uses_the_type() -> None:
    body = b'{"error": {"message": "Bad thing", "type": "invalid_request_error", "param": null, "code": null}}'
    assert describe_http_error(400, body) == "Bad thing (invalid_request_error)"


def test_xai_error_details_decode_the_percent_encoded_message() -> None:
    body = b'{"code":"Client specified an invalid argument","error":"Incorrect%20API%20key%20provided:%20ba***na."}'
    assert (
        describe_http_error(400, body) == "Incorrect API key provided: ba***na. (Client specified an invalid argument)"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b"upstream exploded", "upstream exploded"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (
            b'{"object": "error", "message": "model x missing", "type": "NotFoundError", "code": 404}',
            "model x missing (NotFoundError)",
        ),
        (b"[1]", "[1]"),
        (b'{"unrelated": true}', '{"unrelated": true}'),
    ],
)
def test_other_error_bodies(body: bytes, expected: Optional[str]) -> None:
    assert describe_http_error(500, body) == expected


def test_a_400_that_says_the_key_is_wrong_becomes_authentication_failed() -> None:
    error = InvalidRequest(
        "xai", "Incorrect API key provided: ba***na. (Client specified an invalid argument)", status_code=400
    )
    refined = refine_http_error(error, XAI)
    assert isinstance(refined, AuthenticationFailed)
    assert refined.status_code == 400
    assert refined.provider == "xai"
    assert "check the API key" in str(refined)


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest("xai", "max_tokens is too large", status_code=400),
        InvalidRequest("xai", "API key format mentioned in docs", status_code=400),
        InvalidRequest("xai", "Incorrect API key provided", status_code=404),
        ServerError("xai", 500, "Invalid API key store"),
    ],
)
def test_other_errors_are_left_alone(error: Any) -> None:
    assert refine_http_error(error, XAI) is error


# --- stream conversion: the algorithm of spec 5.4 ---------------------------------------------------


def test_text_and_reasoning_deltas_accumulate_into_blocks() -> None:
    chunks = run(
        events(
            chunk({"reasoning_content": "Let me "}),
            chunk({"reasoning_content": "think"}),
            chunk({"content": "The answer"}),
            chunk({"content": " is 42"}),
            "[DONE]",
        )
    )
    assert chunks[:-1] == [
        ThinkingDelta("Let me "),
        ThinkingDelta("think"),
        TextDelta("The answer"),
        TextDelta(" is 42"),
    ]
    assert final(chunks).response.content == (SimpleThought("Let me think"), TextContent("The answer is 42"))


def test_empty_deltas_emit_nothing_and_create_no_block() -> None:
    chunks = run(
        events(
            chunk({"role": "assistant", "content": "", "refusal": None}),
            chunk({"content": ""}),
            chunk({"reasoning_content": ""}),
            chunk({}, "stop"),
            "[DONE]",
        )
    )
    assert len(chunks) == 1
    assert final(chunks).response.content == ()
    assert final(chunks).response.stop_reason == "stop"


def test_refusal_deltas_stream_as_text() -> None:
    chunks = run(
        events(
            chunk({"role": "assistant", "content": None, "refusal": ""}),
            chunk({"refusal": "I'm"}),
            chunk({"refusal": " sorry"}),
            "[DONE]",
        )
    )
    assert chunks[:-1] == [TextDelta("I'm"), TextDelta(" sorry")]
    assert final(chunks).response.extract_text() == "I'm sorry"


def test_reasoning_content_wins_over_a_duplicate_reasoning_field() -> None:
    chunks = run(events(chunk({"reasoning_content": "a", "reasoning": "a"}), chunk({"reasoning": "b"}), "[DONE]"))
    assert chunks[:-1] == [ThinkingDelta("a"), ThinkingDelta("b")]


def test_usage_takes_the_last_cumulative_value_and_never_sums() -> None:
    chunks = run(
        events(
            chunk({"content": "a"}, usage={"prompt_tokens": 38, "completion_tokens": 1, "total_tokens": 39}),
            chunk({"content": "b"}, usage={"prompt_tokens": 38, "completion_tokens": 2, "total_tokens": 40}),
            chunk({}, "length"),
            "[DONE]",
        )
    )
    assert final(chunks).response.usage == TokenUsage(38, 2, 40)
    assert final(chunks).response.stop_reason == "length"


def test_a_chunk_whose_usage_is_malformed_still_delivers_its_text() -> None:
    chunks = run(events(chunk({"content": "a"}, usage={"prompt_tokens": "lots"}), "[DONE]"))
    assert chunks[0] == TextDelta("a")


def test_unparseable_and_foreign_events_are_skipped() -> None:
    chunks = run(events("not json", "[1,2]", '{"id":"x"}', chunk({"content": "ok"}), "", "[DONE]"))
    assert chunks == [TextDelta("ok"), chunks[-1]]
    assert final(chunks).response.extract_text() == "ok"


def test_tool_arguments_before_id_and_name_are_buffered_then_flushed_at_start() -> None:
    chunks = run(
        events(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"index": 0, "id": "call_1"}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ":1"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
            "[DONE]",
        )
    )
    assert chunks[:-1] == [
        ToolUseStart("call_1", "f"),
        ToolUseInputDelta("call_1", '{"a":1'),
        ToolUseInputDelta("call_1", "}"),
    ]
    assert final(chunks).response.extract_tool_calls() == [ToolCall("call_1", "f", {"a": 1})]


def test_interleaved_parallel_calls_are_accumulated_by_index() -> None:
    chunks = run(
        events(
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "a", "function": {"name": "fa", "arguments": ""}},
                        {"index": 1, "id": "b", "function": {"name": "fb", "arguments": '{"y"'}},
                    ]
                }
            ),
            chunk(
                {
                    "tool_calls": [
                        {"index": 1, "function": {"arguments": ":2}"}},
                        {"index": 0, "function": {"arguments": '{"x":1}'}},
                    ]
                }
            ),
            "[DONE]",
        )
    )
    assert chunks[:-1] == [
        ToolUseStart("a", "fa"),
        ToolUseStart("b", "fb"),
        ToolUseInputDelta("b", '{"y"'),
        ToolUseInputDelta("b", ":2}"),
        ToolUseInputDelta("a", '{"x":1}'),
    ]
    assert final(chunks).response.extract_tool_calls() == [ToolCall("a", "fa", {"x": 1}), ToolCall("b", "fb", {"y": 2})]


def test_a_name_is_not_concatenated_when_repeated() -> None:
    chunks = run(
        events(
            chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}),
            "[DONE]",
        )
    )
    assert final(chunks).response.extract_tool_calls() == [ToolCall("a", "f", {})]


def test_a_new_id_at_a_used_index_is_a_new_call() -> None:
    chunks = run(
        events(
            chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": '{"z":0}'}}]}),
            "[DONE]",
        )
    )
    assert final(chunks).response.extract_tool_calls() == [ToolCall("a", "f", {}), ToolCall("b", "g", {"z": 0})]


def test_calls_without_an_index_follow_their_id() -> None:
    chunks = run(
        events(
            chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"k"'}}]}),
            chunk({"tool_calls": [{"function": {"arguments": ":1}"}}]}),
            chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
            "[DONE]",
        )
    )
    assert final(chunks).response.extract_tool_calls() == [ToolCall("a", "f", {"k": 1}), ToolCall("b", "g", {})]


def test_a_call_with_no_id_gets_one_and_a_call_with_no_name_is_dropped() -> None:
    chunks = run(
        events(
            chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"a":1}'}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "orphan", "function": {"arguments": "{}"}}]}),
            "[DONE]",
        )
    )
    # The nameless call never started; the id-less one starts (with its buffered args) at the end.
    assert chunks[:-1] == [ToolUseStart("call_0", "f"), ToolUseInputDelta("call_0", '{"a":1}')]
    assert final(chunks).response.extract_tool_calls() == [ToolCall("call_0", "f", {"a": 1})]


def test_invalid_streamed_arguments_become_an_empty_object() -> None:
    chunks = run(
        events(
            chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{bad"}}]}), "[DONE]"
        )
    )
    assert final(chunks).response.extract_tool_calls() == [ToolCall("a", "f", {})]


def test_text_then_tool_call_then_text_keeps_the_order() -> None:
    chunks = run(
        events(
            chunk({"content": "Before"}),
            chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({"content": "After"}),
            "[DONE]",
        )
    )
    assert final(chunks).response.content == (
        TextContent("Before"),
        ToolCallContent(ToolCall("a", "f", {})),
        TextContent("After"),
    )


# --- stream conversion: endings and errors (Q18) --------------------------------------------------


def test_end_without_done_or_finish_reason_is_a_retryable_transport_error() -> None:
    chunks = run(events(chunk({"content": "partial"})))
    assert chunks == [
        TextDelta("partial"),
        ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before [DONE]")),
    ]


def test_an_empty_stream_is_a_transport_error() -> None:
    assert run([]) == [ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before [DONE]"))]


def test_end_after_a_finish_reason_without_done_completes() -> None:
    chunks = run(events(chunk({"content": "all"}), chunk({}, "stop")))
    assert final(chunks).response.extract_text() == "all"
    assert final(chunks).response.usage is None


def test_nothing_after_done_is_read() -> None:
    def source() -> Any:
        yield from events(chunk({"content": "a"}), "[DONE]")
        raise AssertionError("read past [DONE]")

    chunks = list(convert_chat_stream(source(), OPENAI))
    assert isinstance(chunks[-1], MessageComplete)


@pytest.mark.parametrize(
    ("payload", "kind", "raw"),
    [
        (
            {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}},
            ProviderStreamErrorKind.STREAM_ERROR,
            "server_error",
        ),
        (
            {"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}},
            ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
            "rate_limit_exceeded",
        ),
        (
            {"error": {"message": "Token limit reached", "code": 400}},
            ProviderStreamErrorKind.from_provider_error_type("400"),
            "400",
        ),
        ({"error": {"message": "busy", "code": 503}}, ProviderStreamErrorKind.SERVICE_UNAVAILABLE, "503"),
        ({"error": {"message": "busy", "code": 502}}, ProviderStreamErrorKind.SERVICE_UNAVAILABLE, "502"),
        ({"error": {"message": "slow", "code": 429}}, ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED, "429"),
        ({"error": {"message": "late", "code": "504"}}, ProviderStreamErrorKind.TIMEOUT, "504"),
        ({"error": {"message": "boom", "code": 500}}, ProviderStreamErrorKind.STREAM_ERROR, "500"),
        (
            {"error": {"message": "odd", "code": "content_policy"}},
            ProviderStreamErrorKind.from_provider_error_type("content_policy"),
            "content_policy",
        ),
        ({"error": {"message": "plain"}}, ProviderStreamErrorKind.STREAM_ERROR, None),
        (
            {"code": "Some resource has been exhausted", "error": "Too many requests"},
            ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
            "Some resource has been exhausted",
        ),
        ({"code": "Internal error", "error": "oops"}, ProviderStreamErrorKind.STREAM_ERROR, "Internal error"),
        (
            {"code": "Client specified an invalid argument", "error": "bad"},
            ProviderStreamErrorKind.from_provider_error_type("Client specified an invalid argument"),
            "Client specified an invalid argument",
        ),
        (
            {"object": "error", "message": "vllm failed", "type": "InternalServerError", "code": 500},
            ProviderStreamErrorKind.STREAM_ERROR,
            "500",
        ),
    ],
)
def test_in_stream_error_objects_end_the_stream_with_the_right_kind(
    payload: Dict[str, Any], kind: ProviderStreamErrorKind, raw: Optional[str]
) -> None:
    chunks = run(
        events(chunk({"content": "before"}), payload, chunk({"content": "never"}), "[DONE]"), ChatDialect("gw")
    )
    assert chunks[0] == TextDelta("before")
    assert len(chunks) == 2
    error = chunks[1]
    assert isinstance(error, ErrorChunk)
    assert error.error.provider == "gw"  # type: ignore[attr-defined]
    assert error.error.kind == kind  # type: ignore[attr-defined]
    assert error.error.raw_error_type == raw  # type: ignore[attr-defined]


def test_an_error_object_inside_an_ordinary_chunk_wins_over_its_content() -> None:
    payload = chunk({"content": "x"}, error={"code": 400, "message": "Token limit reached"})
    chunks = run(events(payload, "[DONE]"))
    assert len(chunks) == 1
    assert isinstance(chunks[0], ErrorChunk)
    assert chunks[0].error.message == "Token limit reached"  # type: ignore[attr-defined]


def test_an_error_event_name_is_an_error_even_with_plain_text_data() -> None:
    chunks = run([SseEvent("error", "upstream disconnected")])
    assert isinstance(chunks[0], ErrorChunk)
    assert chunks[0].error.message == "upstream disconnected"  # type: ignore[attr-defined]
    assert chunks[0].error.kind.is_retryable()  # type: ignore[attr-defined]


@pytest.mark.parametrize("empty", [None, {}, ""])
def test_an_empty_error_field_is_not_an_error(empty: Any) -> None:
    chunks = run(events(chunk({"content": "a"}, error=empty), "[DONE]"))
    assert isinstance(chunks[-1], MessageComplete)


# The ported Rust cancellation tests for this converter live in tests/sockets/test_end_to_end.py:
# cancellation is the transport's job (it stops the events before any further one), not the converter's.


def test_directive_is_refused_and_keys_that_cannot_be_headers_fail_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError, match="not available"):
        check_no_directive(object(), "openai", "OpenAI chat")
    check_no_directive(None, "openai", "OpenAI chat")
    assert auth_headers(None, "openai") == {}
    assert auth_headers("sk-1", "openai") == {"Authorization": "Bearer sk-1"}
    with pytest.raises(ConfigurationError) as caught:
        auth_headers("sk-secret\n", "openai")
    assert "sk-secret" not in str(caught.value)
