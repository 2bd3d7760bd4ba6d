"""Gemini converters: request building, response parsing and stream conversion (pure, no network)."""

from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Dict, List, Optional

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
    InvalidRequest,
    NoChoices,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    RequestBlocked,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    UnsupportedFeature,
)
from steer_sync._providers.gemini._request import _build_request
from steer_sync._providers.gemini._response import (
    _describe_error_object,
    _error_body,
    _is_bad_key,
    _parse_response,
    _parse_usage,
)
from steer_sync._providers.gemini._retry_info import error_retry_delay
from steer_sync._providers.gemini._stream import _convert_stream
from steer_sync._sse import SseEvent
from steer_sync._types import (
    AssistantContent,
    CommandExecution,
    CompletionResponse,
    DataUrlSource,
    ImageContent,
    Message,
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
    UrlSource,
)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"gcall_{next(counter)}"


def build(messages: List[Message], model: str = "gemini-2.5-flash", **kw: Any) -> Dict[str, Any]:
    return _build_request(model, messages, kw.get("system"), kw.get("tools"), kw.get("params"), provider="google")


def contents(messages: List[Message], model: str = "gemini-2.5-flash") -> List[Dict[str, Any]]:
    result: List[Dict[str, Any]] = build(messages, model)["contents"]
    return result


def event(obj: Any) -> SseEvent:
    return SseEvent(event=None, data=obj if isinstance(obj, str) else json.dumps(obj))


def chunk(
    parts: List[Dict[str, Any]], finish: Optional[str] = None, usage: Optional[Dict[str, int]] = None
) -> SseEvent:
    candidate: Dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish is not None:
        candidate["finishReason"] = finish
    body: Dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage
    return event(body)


def run(events: List[SseEvent]) -> List[StreamChunk]:
    return list(_convert_stream(iter(events), "google", new_id=ids()))


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    last = chunks[-1]
    assert isinstance(last, MessageComplete), last
    return last.response


# --- ported from steer's gemini/client.rs tests ---------------------------------------------


def test_convert_messages_includes_data_url_image_as_inline_data() -> None:
    image = ImageContent("image/png", DataUrlSource("data:image/png;base64,Zm9v"))
    assert contents([Message.user([image])]) == [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "Zm9v"}}]}
    ]


def test_convert_messages_rejects_session_file_image_source() -> None:
    image = ImageContent("image/png", SessionFileSource("session-1/image.png"))
    with pytest.raises(UnsupportedFeature) as caught:
        contents([Message.user([image])])
    assert caught.value.provider == "google"
    assert caught.value.feature == "image input source"
    assert "session file" in (caught.value.details or "")


def test_map_gemini_usage_derives_missing_counter() -> None:
    assert _parse_usage({"candidatesTokenCount": 7, "totalTokenCount": 19}) == TokenUsage(12, 7, 19)


def test_map_gemini_usage_returns_none_when_counters_not_derivable() -> None:
    assert _parse_usage({"promptTokenCount": 9}) is None


def test_convert_response_maps_usage_metadata() -> None:
    body = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 5, "totalTokenCount": 16},
    }
    response = _parse_response(body)
    assert response.usage == TokenUsage(11, 5, 16)
    assert response.content[0] == TextContent("Hello")


def test_convert_gemini_stream_text_deltas() -> None:
    # steer ends on EOF alone; here the last chunk carries the finishReason real streams send.
    chunks = run([chunk([{"text": "Hello"}]), chunk([{"text": " world"}], "STOP")])
    assert chunks[:2] == [TextDelta("Hello"), TextDelta(" world")]
    assert final(chunks).content == (TextContent("Hello world"),)
    assert len(chunks) == 3


def test_convert_gemini_stream_captures_final_usage() -> None:
    usage_only = event({"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "totalTokenCount": 14}})
    chunks = run([chunk([{"text": "Hello"}], "STOP"), usage_only])
    assert chunks[0] == TextDelta("Hello")
    response = final(chunks)
    assert response.usage == TokenUsage(10, 4, 14)
    assert response.content == (TextContent("Hello"),)


def test_convert_gemini_stream_with_thinking() -> None:
    chunks = run([chunk([{"thought": True, "text": "Let me think..."}]), chunk([{"text": "The answer"}], "STOP")])
    assert chunks[:2] == [ThinkingDelta("Let me think..."), TextDelta("The answer")]
    assert final(chunks).content == (SimpleThought("Let me think..."), TextContent("The answer"))


def test_convert_gemini_stream_with_function_call() -> None:
    part = {"functionCall": {"name": "get_weather", "args": {"city": "NYC"}}, "thoughtSignature": "sig_123"}
    chunks = run([chunk([part], "STOP")])
    assert chunks[0] == ToolUseStart("gcall_1", "get_weather")
    assert chunks[1] == ToolUseInputDelta("gcall_1", '{"city":"NYC"}')
    (block,) = final(chunks).content
    assert block == ToolCallContent(ToolCall("gcall_1", "get_weather", {"city": "NYC"}), "sig_123")


# The ported Rust cancellation tests for this converter live in tests/sockets/test_end_to_end.py:
# cancellation is the transport's job (it stops the events before any further one), not the converter's.


# --- request building ----------------------------------------------------------------------


def test_body_has_system_instruction_and_steer_generation_defaults() -> None:
    body = build([Message.user("hi")], system=SystemContext("  Be brief.  "))
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "  Be brief."}]},
        "generationConfig": {"maxOutputTokens": 65536, "temperature": 1.0, "topP": 0.95},
    }


def test_call_options_override_the_defaults() -> None:
    params = ModelParameters(temperature=0.2, max_output_tokens=100, top_p=0.5)
    config = build([Message.user("hi")], params=params)["generationConfig"]
    assert config == {"maxOutputTokens": 100, "temperature": 0.2, "topP": 0.5}


def test_tools_become_function_declarations_and_an_empty_list_sends_none() -> None:
    tool = ToolSchema("ls", "List files", {"type": "object", "properties": {"path": {"type": "string"}}})
    body = build([Message.user("hi")], tools=[tool])
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "ls",
                    "description": "List files",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": []},
                }
            ]
        }
    ]
    assert "tools" not in build([Message.user("hi")], tools=[])


def test_blank_text_parts_and_empty_contents_are_not_sent() -> None:
    messages = [
        Message.user([TextContent("   "), TextContent("real")]),
        Message.user("  \n"),
        Message.assistant([TextContent(""), SimpleThought("hmm")]),
        Message.assistant("answer"),
    ]
    assert contents(messages) == [
        {"role": "user", "parts": [{"text": "real"}]},
        {"role": "model", "parts": [{"text": "answer"}]},
    ]


def test_command_execution_and_url_images_are_converted() -> None:
    execution = CommandExecution("ls", "a.txt", "", 0)
    image = ImageContent("image/jpeg", UrlSource("https://example.com/cat.jpg"))
    assert contents([Message.user([execution, image])])[0]["parts"] == [
        {"text": execution.as_xml()},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("data:image/png;base64", InvalidRequest),
        ("image/png;base64,Zm9v", InvalidRequest),
        ("data:image/png,Zm9v", InvalidRequest),
        ("data:text/plain;base64,Zm9v", UnsupportedFeature),
    ],
)
def test_bad_user_image_data_urls_are_refused(url: str, error: type) -> None:
    with pytest.raises(error):
        contents([Message.user([ImageContent("image/png", DataUrlSource(url))])])


def test_assistant_images_gemini_cannot_take_are_skipped() -> None:
    image = ImageContent("image/png", SessionFileSource("x.png"))
    assert contents([Message.assistant([image, TextContent("ok")])]) == [{"role": "model", "parts": [{"text": "ok"}]}]


def test_tool_round_trip_uses_user_role_function_name_and_call_id() -> None:
    call = ToolCallContent(ToolCall("call_9", "get_weather", {"city": "Paris"}), "sig-1")
    messages = [
        Message.user("Weather in Paris?"),
        Message.assistant([call]),
        Message.tool_result("call_9", ToolResult.external("get_weather", "Sunny, 20C")),
    ]
    assert contents(messages) == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_9"},
                    "thoughtSignature": "sig-1",
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"content": {"External": {"tool_name": "get_weather", "payload": "Sunny, 20C"}}},
                        "id": "call_9",
                    }
                }
            ],
        },
    ]


def test_generated_call_ids_are_not_sent_back() -> None:
    messages = [
        Message.assistant([ToolCallContent(ToolCall("gcall_abc", "ls", {}))]),
        Message.tool_result("gcall_abc", "a.txt"),
    ]
    model, results = contents(messages)
    assert model["parts"] == [{"functionCall": {"name": "ls", "args": {}}}]
    assert results["parts"][0]["functionResponse"] == {
        "name": "ls",
        "response": {"content": {"External": {"tool_name": "", "payload": "a.txt"}}},
    }


def test_parallel_results_are_grouped_in_call_order() -> None:
    calls = [ToolCallContent(ToolCall(f"c{i}", f"tool_{i}", {"i": i})) for i in range(3)]
    messages = [
        Message.user("go"),
        Message.assistant(calls),
        Message.tool_result("c2", "two"),
        Message.tool_result("c0", "zero"),
        Message.tool_result("c1", ToolResult.error("boom")),
        Message.user("thanks"),
    ]
    converted = contents(messages)
    assert [c["role"] for c in converted] == ["user", "model", "user", "user"]
    responses = [p["functionResponse"] for p in converted[2]["parts"]]
    assert [(r["name"], r["id"]) for r in responses] == [("tool_0", "c0"), ("tool_1", "c1"), ("tool_2", "c2")]
    assert responses[1]["response"] == {"content": "Error: boom"}


def test_a_result_for_an_unknown_call_uses_the_results_tool_name() -> None:
    converted = contents([Message.tool_result("orphan", ToolResult.external("grep", "hit"))])
    assert converted[0]["parts"][0]["functionResponse"]["name"] == "grep"
    converted = contents([Message.tool_result("orphan", "hit")])
    assert converted[0]["parts"][0]["functionResponse"]["name"] == "orphan"


def test_thoughts_from_other_providers_are_not_sent() -> None:
    messages = [
        Message.assistant(
            [
                SignedThought("claude thinking", "anthropic-sig"),
                RedactedThought("opaque"),
                SimpleThought("plain"),
                TextContent("hi"),
            ]
        )
    ]
    assert contents(messages) == [{"role": "model", "parts": [{"text": "hi"}]}]


def test_signature_carriers_sign_the_next_part_of_any_type() -> None:
    image = ImageContent("image/png", DataUrlSource("data:image/png;base64,AAAA"))
    blocks: List[AssistantContent] = [
        SignedThought("", "s-thought"),
        SimpleThought("thinking"),
        SignedThought("", "s-text"),
        TextContent("answer"),
        SignedThought("", "s-image"),
        image,
    ]
    assert contents([Message.assistant(blocks)])[0]["parts"] == [
        {"text": "thinking", "thought": True, "thoughtSignature": "s-thought"},
        {"text": "answer", "thoughtSignature": "s-text"},
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}, "thoughtSignature": "s-image"},
    ]


def test_a_trailing_signature_goes_on_the_previous_unsigned_part() -> None:
    call = ToolCallContent(ToolCall("c1", "ls", {}), "call-sig")
    parts = contents([Message.assistant([TextContent("Let me look."), call, SignedThought("", "tail")])])[0]["parts"]
    assert parts[0] == {"text": "Let me look.", "thoughtSignature": "tail"}
    assert parts[1]["thoughtSignature"] == "call-sig"
    alone = contents([Message.assistant([ToolCallContent(ToolCall("c1", "ls", {}), "s"), SignedThought("", "t")])])
    assert alone[0]["parts"][-1] == {"text": "", "thoughtSignature": "t"}


def test_unsigned_replayed_calls_get_the_gemini_3_sentinel_on_the_first_call_only() -> None:
    calls = [ToolCallContent(ToolCall("c1", "a", {})), ToolCallContent(ToolCall("c2", "b", {}))]
    parts = contents([Message.assistant(calls)], model="gemini-3-pro-preview")[0]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]
    older = contents([Message.assistant(calls)], model="gemini-2.5-flash")[0]["parts"]
    assert all("thoughtSignature" not in p for p in older)
    signed = [ToolCallContent(ToolCall("c1", "a", {}), "real"), calls[1]]
    parts = contents([Message.assistant(signed)], model="gemini-3-flash-preview")[0]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == ["real", None]


def test_a_parsed_response_round_trips_its_signatures() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "plan", "thought": True},
                        {"text": "I will call it.", "thoughtSignature": "t-sig"},
                        {"functionCall": {"name": "ls", "args": {"p": "."}, "id": "fc-1"}, "thoughtSignature": "c-sig"},
                        {"text": "", "thoughtSignature": "tail-sig"},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    response = _parse_response(body)
    assert response.content == (
        SimpleThought("plan"),
        SignedThought("", "t-sig"),
        TextContent("I will call it."),
        ToolCallContent(ToolCall("fc-1", "ls", {"p": "."}), "c-sig"),
        SignedThought("", "tail-sig"),
    )
    parts = contents([Message.user("go"), Message.assistant(response.content)])[1]["parts"]
    assert parts == [
        {"text": "I will call it.", "thoughtSignature": "t-sig"},
        {"functionCall": {"name": "ls", "args": {"p": "."}, "id": "fc-1"}, "thoughtSignature": "c-sig"},
        {"text": "", "thoughtSignature": "tail-sig"},
    ]


# --- thinking configuration (G12) ----------------------------------------------------------


def thinking(model: str, config: ThinkingConfig) -> Optional[Dict[str, Any]]:
    body = build([Message.user("hi")], model, params=ModelParameters(thinking_config=config))
    result: Optional[Dict[str, Any]] = body["generationConfig"].get("thinkingConfig")
    return result


def test_thinking_budget_on_gemini_2_5() -> None:
    config = ThinkingConfig(True, budget_tokens=2048, include_thoughts=True)
    assert thinking("gemini-2.5-flash", config) == {"includeThoughts": True, "thinkingBudget": 2048}
    assert thinking("gemini-2.5-pro", ThinkingConfig(True)) == {}


def test_disabled_thinking_sends_budget_zero_only_where_it_can_be_turned_off() -> None:
    assert thinking("gemini-2.5-flash", ThinkingConfig(False)) == {"thinkingBudget": 0}
    assert thinking("gemini-2.5-flash-lite", ThinkingConfig(False, include_thoughts=True)) == {"thinkingBudget": 0}
    assert thinking("gemini-2.5-pro", ThinkingConfig(False)) is None
    assert thinking("gemini-2.0-flash", ThinkingConfig(False)) is None


def test_gemini_3_takes_a_thinking_level() -> None:
    assert thinking("gemini-3-pro-preview", ThinkingConfig(True, effort=ThinkingEffort.LOW)) == {"thinkingLevel": "low"}
    assert thinking("gemini-3-pro-preview", ThinkingConfig(True, effort=ThinkingEffort.MEDIUM)) == {
        "thinkingLevel": "high"
    }
    assert thinking("gemini-3-flash-preview", ThinkingConfig(True, effort=ThinkingEffort.MEDIUM)) == {
        "thinkingLevel": "medium"
    }
    assert thinking("gemini-3-flash-preview", ThinkingConfig(True, effort=ThinkingEffort.XHIGH, budget_tokens=9)) == {
        "thinkingLevel": "high"
    }
    assert thinking("gemini-3-flash-preview", ThinkingConfig(False)) == {"thinkingLevel": "minimal"}
    assert thinking("gemini-3-pro-preview", ThinkingConfig(False)) == {"thinkingLevel": "low"}


def test_the_catalogs_gemini_3_pro_budget_is_still_sent() -> None:
    config = ThinkingConfig(True, budget_tokens=8192, include_thoughts=True)
    assert thinking("gemini-3-pro-preview", config) == {"includeThoughts": True, "thinkingBudget": 8192}


def test_no_thinking_config_leaves_the_model_default() -> None:
    assert "thinkingConfig" not in build([Message.user("hi")], "gemini-3-flash-preview")["generationConfig"]


# --- response parsing ----------------------------------------------------------------------


def test_a_blocked_prompt_raises_request_blocked() -> None:
    body = {
        "promptFeedback": {"blockReason": "MODEL_ARMOR", "blockReasonMessage": "The prompt violated filters."},
        "usageMetadata": {"trafficType": "ON_DEMAND"},
    }
    with pytest.raises(RequestBlocked) as caught:
        _parse_response(body)
    assert caught.value.details == "Prompt blocked due to MODEL_ARMOR: The prompt violated filters."


def test_a_blocked_answer_raises_request_blocked() -> None:
    body = {
        "candidates": [
            {
                "content": {},
                "finishReason": "SAFETY",
                "safetyRatings": [{"blocked": True, "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW"}],
            }
        ]
    }
    with pytest.raises(RequestBlocked) as caught:
        _parse_response(body)
    assert (
        caught.value.details
        == "Response blocked due to SAFETY. Safety ratings: HARM_CATEGORY_HATE_SPEECH=LOW (blocked)"
    )


@pytest.mark.parametrize("body", [{}, {"candidates": []}, {"candidates": None}])
def test_no_candidates_raises_no_choices(body: Dict[str, Any]) -> None:
    with pytest.raises(NoChoices):
        _parse_response(body)


def test_a_body_that_is_not_an_object_is_a_parsing_error() -> None:
    with pytest.raises(ResponseParsingError):
        _parse_response("nope")


def test_an_error_object_in_a_success_body_is_raised_as_its_status() -> None:
    error = {
        "code": 429,
        "message": "slow down",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}],
    }
    with pytest.raises(RateLimited) as caught:
        _parse_response({"error": error})
    assert caught.value.retry_after == 1.5
    assert caught.value.details == "slow down [RESOURCE_EXHAUSTED]"


def test_parsing_is_lenient_about_enums_and_missing_fields() -> None:
    body = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "ping"}}, {"unknownPart": {}}, {"text": "ok"}]},
                "finishReason": "SOMETHING_NEW",
                "safetyRatings": [{"category": "HARM_CATEGORY_FUTURE", "probability": "WHO_KNOWS"}],
            }
        ],
        "promptFeedback": {"safetyRatings": []},
    }
    response = _parse_response(body, new_id=ids())
    assert response.content == (ToolCallContent(ToolCall("gcall_1", "ping", {})), TextContent("ok"))
    assert response.stop_reason == "SOMETHING_NEW"
    assert response.usage is None


def test_a_candidate_without_content_is_an_empty_answer() -> None:
    response = _parse_response({"candidates": [{"finishReason": "MAX_TOKENS"}]})
    assert response.content == ()
    assert response.stop_reason == "MAX_TOKENS"


def test_code_execution_and_data_parts_are_readable() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Computing:\n"},
                        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
                        {"text": "Done."},
                        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                        {"inlineData": {"mimeType": "audio/wav", "data": "BBBB"}},
                        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/f.pdf"}},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    assert _parse_response(body).content == (
        TextContent("Computing:\n"),
        TextContent("```python\nprint(1)\n```"),
        TextContent("```output\n1\n\n```"),
        TextContent("Done."),
        ImageContent("image/png", DataUrlSource("data:image/png;base64,AAAA")),
        TextContent("[Inline Data: audio/wav]"),
        TextContent("[File Data: gs://b/f.pdf]"),
    )


def test_usage_counts_thoughts_as_output_and_breaks_out_reasoning_and_cache() -> None:
    meta = {
        "promptTokenCount": 32,
        "candidatesTokenCount": 575,
        "totalTokenCount": 1425,
        "toolUsePromptTokenCount": 619,
        "thoughtsTokenCount": 199,
        "cachedContentTokenCount": 12,
    }
    assert _parse_usage(meta) == TokenUsage(651, 774, 1425, cache_read_input_tokens=12, reasoning_tokens=199)


def test_usage_derives_output_from_the_total_while_only_thinking() -> None:
    meta = {"promptTokenCount": 34, "totalTokenCount": 102, "thoughtsTokenCount": 68}
    assert _parse_usage(meta) == TokenUsage(34, 68, 102, reasoning_tokens=68)


# --- stream conversion ---------------------------------------------------------------------


def test_stream_and_non_stream_read_the_same_parts_the_same_way() -> None:
    parts: List[Dict[str, Any]] = [
        {"text": "a", "thought": True},
        {"text": "b", "thought": True},
        {"text": "Hello", "thoughtSignature": "s1"},
        {"text": " there"},
        {"executableCode": {"language": "PYTHON", "code": "x"}},
        {"functionCall": {"name": "f", "args": {"k": [1, "é"]}}},
        {"functionCall": {"name": "g", "args": {}, "id": "given"}},
    ]
    whole = _parse_response({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}, new_id=ids())
    chunks = run([chunk([p]) for p in parts] + [chunk([], "STOP")])
    assert final(chunks).content == whole.content
    assert chunks[:-1] == [
        ThinkingDelta("a"),
        ThinkingDelta("b"),
        TextDelta("Hello"),
        TextDelta(" there"),
        TextDelta("```python\nx\n```"),
        ToolUseStart("gcall_1", "f"),
        ToolUseInputDelta("gcall_1", '{"k":[1,"é"]}'),
        ToolUseStart("given", "g"),
        ToolUseInputDelta("given", "{}"),
    ]


def test_parallel_calls_in_one_chunk_keep_their_order() -> None:
    calls = [{"functionCall": {"name": n, "args": {"n": n}}} for n in ("a", "b", "c")]
    response = final(run([chunk(calls, "STOP")]))
    assert [c.name for c in response.extract_tool_calls()] == ["a", "b", "c"]
    assert [c.id for c in response.extract_tool_calls()] == ["gcall_1", "gcall_2", "gcall_3"]


def test_the_last_usage_wins_even_when_the_prompt_count_changes() -> None:
    chunks = run(
        [
            chunk([{"text": "The"}], usage={"promptTokenCount": 169, "totalTokenCount": 169}),
            chunk(
                [{"text": " end"}],
                "STOP",
                usage={"promptTokenCount": 79, "candidatesTokenCount": 12, "totalTokenCount": 91},
            ),
        ]
    )
    assert final(chunks).usage == TokenUsage(79, 12, 91)
    assert final(chunks).stop_reason == "STOP"


def test_a_stream_without_a_finish_reason_is_a_retryable_transport_error() -> None:
    chunks = run([chunk([{"text": "Hello"}])])
    assert chunks[0] == TextDelta("Hello")
    assert isinstance(chunks[-1], ErrorChunk)
    error = chunks[-1].error
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT
    assert run([]) == [
        ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before a candidate's finishReason"))
    ]


def test_unparseable_events_are_skipped() -> None:
    chunks = run([event("not json"), event("[1, 2]"), chunk([{"text": "ok"}], "STOP")])
    assert chunks == [TextDelta("ok"), MessageComplete(CompletionResponse((TextContent("ok"),), None, "STOP"))]


@pytest.mark.parametrize(
    ("status", "code", "kind", "retryable"),
    [
        ("RESOURCE_EXHAUSTED", 429, ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED, True),
        ("UNAVAILABLE", 503, ProviderStreamErrorKind.SERVICE_UNAVAILABLE, True),
        ("INTERNAL", 500, ProviderStreamErrorKind.STREAM_ERROR, True),
        ("DEADLINE_EXCEEDED", 504, ProviderStreamErrorKind.TIMEOUT, True),
        ("INVALID_ARGUMENT", 400, ProviderStreamErrorKind("INVALID_ARGUMENT"), False),
    ],
)
def test_an_in_stream_error_object_ends_the_stream_typed(
    status: str, code: int, kind: ProviderStreamErrorKind, retryable: bool
) -> None:
    error = {"error": {"code": code, "message": "went wrong", "status": status}}
    chunks = run([chunk([{"text": "partial"}]), event(error), chunk([{"text": "never"}], "STOP")])
    assert chunks[0] == TextDelta("partial")
    assert chunks[1:] == [ErrorChunk(ProviderStreamError("google", kind, status, f"went wrong [{status}]"))]
    assert kind.is_retryable() is retryable


def test_an_in_stream_error_without_status_is_classified_by_code() -> None:
    (only,) = run([event({"error": {"code": 503, "message": "busy"}})])
    assert isinstance(only, ErrorChunk) and isinstance(only.error, ProviderStreamError)
    assert only.error.kind == ProviderStreamErrorKind.SERVICE_UNAVAILABLE
    assert only.error.raw_error_type == "503"


def test_a_blocked_prompt_ends_the_stream_with_request_blocked() -> None:
    (only,) = run([event({"promptFeedback": {"blockReason": "SAFETY"}})])
    assert only == ErrorChunk(
        ProviderStreamError(
            "google", ProviderStreamErrorKind("request_blocked"), "request_blocked", "Prompt blocked due to SAFETY"
        )
    )
    assert isinstance(only.error, ProviderStreamError) and not only.error.kind.is_retryable()


def test_a_blocked_answer_ends_the_stream_after_what_was_streamed() -> None:
    blocked = event({"candidates": [{"finishReason": "PROHIBITED_CONTENT"}]})
    chunks = run([chunk([{"text": "Sure, here"}]), blocked])
    assert chunks[0] == TextDelta("Sure, here")
    last = chunks[1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, ProviderStreamError)
    assert last.error.raw_error_type == "request_blocked"
    assert last.error.message == "Response blocked due to PROHIBITED_CONTENT"
    assert len(chunks) == 2


def test_a_stream_signature_on_text_starts_a_new_signed_block() -> None:
    chunks = run(
        [
            chunk([{"text": "Hel"}]),
            chunk([{"text": "lo", "thoughtSignature": "sig"}]),
            chunk([{"text": "!"}]),
            chunk([{"text": "", "thoughtSignature": "tail"}], "STOP"),
        ]
    )
    assert [c for c in chunks if isinstance(c, TextDelta)] == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!")]
    assert final(chunks).content == (
        TextContent("Hel"),
        SignedThought("", "sig"),
        TextContent("lo!"),
        SignedThought("", "tail"),
    )


# --- HTTP error bodies ---------------------------------------------------------------------


def test_error_bodies_are_summarised_with_status_and_reason() -> None:
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            }
        }
    ).encode()
    error = _error_body(body)
    assert error is not None
    assert _describe_error_object(error) == (
        "API key not valid. Please pass a valid API key. [INVALID_ARGUMENT, API_KEY_INVALID]"
    )
    assert _is_bad_key(error)
    assert _error_body(b"<html>502</html>") is None
    assert not _is_bad_key({"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"})


@pytest.mark.parametrize(("text", "seconds"), [("26s", 26.0), ("0.250s", 0.25), ("12", None), ("xs", None)])
def test_retry_info_delays_are_read(text: str, seconds: Optional[float]) -> None:
    error = {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": text}]}
    assert error_retry_delay(error) == seconds
