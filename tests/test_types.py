"""JSON round trips of every value type, in the shapes the Rust reference writes."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

from steer_sync import (
    CommandExecution,
    CompletionResponse,
    ConfigurationError,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    ProviderId,
    RedactedThought,
    Role,
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
from steer_sync._types import AssistantMessage, DataUrlSource, SessionFileSource, ToolMessage, UrlSource, UserMessage

# A conversation exactly as steer's serde derives write it (field order as Rust emits it).
RUST_CONVERSATION = json.loads(
    """
[
  {"timestamp": 1700000000, "id": "user_0190", "parent_message_id": null,
   "data": {"role": "user", "content": [
      {"type": "text", "text": "What is in this picture? Also run ls."},
      {"type": "image", "image": {"mime_type": "image/png",
                                  "source": {"source": "data_url", "data_url": "data:image/png;base64,iVBO"},
                                  "width": 10, "height": 20}},
      {"type": "command_execution", "command": "ls", "stdout": "a\\nb", "stderr": "", "exit_code": 0}]}},
  {"timestamp": 1700000001, "id": "assistant_0191", "parent_message_id": "user_0190",
   "data": {"role": "assistant", "content": [
      {"type": "thought", "thought": {"thought_type": "signed", "text": "Let me look", "signature": "sig=="}},
      {"type": "thought", "thought": {"thought_type": "redacted", "data": "Enc"}},
      {"type": "thought", "thought": {"thought_type": "simple", "text": "plain"}},
      {"type": "text", "text": "A cat."},
      {"type": "tool_call", "tool_call": {"name": "get_weather", "parameters": {"city": "Paris"}, "id": "toolu_1"},
       "thought_signature": "gem-sig"},
      {"type": "tool_call", "tool_call": {"name": "ls", "parameters": {}, "id": "toolu_2"}}]}},
  {"timestamp": 1700000002, "id": "tool_0192", "parent_message_id": "assistant_0191",
   "data": {"role": "tool", "tool_use_id": "toolu_1",
            "result": {"External": {"tool_name": "get_weather", "payload": "22C"}}}},
  {"timestamp": 1700000003, "id": "tool_0193", "parent_message_id": "tool_0192",
   "data": {"role": "tool", "tool_use_id": "toolu_2",
            "result": {"Error": {"Execution": {"tool": "external", "error": {"tool_name": "ls", "message": "denied"}}}}}},
  {"timestamp": 1700000004, "id": "tool_0194", "parent_message_id": null,
   "data": {"role": "tool", "tool_use_id": "toolu_3",
            "result": {"FileContent": {"content": "hello", "file_path": "a.txt", "line_count": 1, "truncated": false}}}}
]
"""
)


def test_rust_conversation_round_trips_unchanged() -> None:
    messages = [Message.from_dict(item) for item in RUST_CONVERSATION]
    assert [m.to_dict() for m in messages] == RUST_CONVERSATION


def test_rust_conversation_is_read_into_typed_blocks() -> None:
    user, assistant, tool_ok, tool_err, tool_file = (Message.from_dict(item) for item in RUST_CONVERSATION)
    assert user.role() is Role.USER and isinstance(user.data, UserMessage)
    text, image, command = user.data.content
    assert text == TextContent("What is in this picture? Also run ls.")
    assert isinstance(image, ImageContent) and image.source == DataUrlSource("data:image/png;base64,iVBO")
    assert image.width == 10 and image.bytes is None
    assert command == CommandExecution("ls", "a\nb", "", 0)
    assert isinstance(assistant.data, AssistantMessage)
    signed, redacted, simple, answer, call, bare_call = assistant.data.content
    assert signed == SignedThought("Let me look", "sig==")
    assert redacted == RedactedThought("Enc") and redacted.display_text() == "[Redacted Thinking]"
    assert simple == SimpleThought("plain")
    assert answer == TextContent("A cat.")
    assert call == ToolCallContent(ToolCall("toolu_1", "get_weather", {"city": "Paris"}), "gem-sig")
    assert bare_call == ToolCallContent(ToolCall("toolu_2", "ls", {}))
    assert isinstance(tool_ok.data, ToolMessage) and tool_ok.data.result.llm_format() == "22C"
    assert isinstance(tool_err.data, ToolMessage) and tool_err.data.result.is_error
    assert tool_err.data.result.llm_format() == "Error: ls failed: denied"
    assert isinstance(tool_file.data, ToolMessage) and tool_file.data.result.llm_format() == "hello"
    assert user.extract_text() == "What is in this picture? Also run ls.\n[Image]\na\nb"
    assert assistant.extract_text() == "A cat."


def test_message_constructors_build_the_expected_shapes() -> None:
    user = Message.user("hi")
    assert user.to_dict()["data"] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    assert user.id.startswith("user_") and len(user.id) == len("user_") + 36
    assert user.id[len("user_") + 14] == "7"  # uuid version 7
    assistant = Message.assistant([TextContent("a"), ToolCallContent(ToolCall("c1", "f", {"x": 1}))])
    assert assistant.role() is Role.ASSISTANT
    result = Message.tool_result("c1", "done")
    assert result.to_dict()["data"] == {
        "role": "tool",
        "tool_use_id": "c1",
        "result": {"External": {"tool_name": "", "payload": "done"}},
    }
    error = Message.tool_result("c1", ToolResult.error("boom"))
    assert isinstance(error.data, ToolMessage)
    assert error.data.result.is_error and error.data.result.llm_format() == "Error: boom"


def test_generated_ids_are_unique_and_time_ordered() -> None:
    ids = [Message.generate_id("user") for _ in range(200)]
    assert len(set(ids)) == 200
    # uuid7 starts with a millisecond timestamp, so ids sort by creation time (ties aside).
    prefixes = [i[5:18] for i in ids]
    assert prefixes == sorted(prefixes)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Message.user([TextContent("a"), ToolCallContent(ToolCall("1", "f"))]),  # type: ignore[list-item]
        lambda: Message.assistant([CommandExecution("ls", "", "", 0)]),  # type: ignore[list-item]
        lambda: Message.tool_result("id", 42),  # type: ignore[arg-type]
    ],
)
def test_wrong_content_types_are_rejected_with_a_clear_error(bad: object) -> None:
    with pytest.raises(TypeError, match="must be"):
        bad()  # type: ignore[operator]


def test_tool_result_needs_a_call_id() -> None:
    with pytest.raises(ValueError, match="tool_use_id"):
        Message.tool_result("", "x")


def test_image_sources_round_trip() -> None:
    for source in (DataUrlSource("data:x"), UrlSource("https://e/x.png"), SessionFileSource("img/a.png")):
        block = ImageContent("image/png", source, sha256="ab")
        message = Message.user([block])
        assert Message.from_dict(json.loads(json.dumps(message.to_dict()))) == message
    assert ImageContent.from_base64("AAAA", "image/png").source == DataUrlSource("data:image/png;base64,AAAA")


def test_unknown_tags_raise_value_error_naming_the_tag() -> None:
    with pytest.raises(ValueError, match="'video'"):
        Message.from_dict(
            {
                "timestamp": 1,
                "id": "x",
                "parent_message_id": None,
                "data": {"role": "user", "content": [{"type": "video"}]},
            }
        )
    with pytest.raises(ValueError, match="'system'"):
        Message.from_dict({"timestamp": 1, "id": "x", "parent_message_id": None, "data": {"role": "system"}})


def test_completion_response_round_trip_and_helpers() -> None:
    response = CompletionResponse(
        [
            SimpleThought("hmm"),
            TextContent("Hello"),
            ToolCallContent(ToolCall("t1", "f", {"a": [1]})),
            TextContent(" world"),
        ],
        TokenUsage.from_input_output(10, 5, cache_read_input_tokens=3),
        stop_reason="tool_use",
    )
    data = json.loads(json.dumps(response.to_dict()))
    assert CompletionResponse.from_dict(data) == response
    assert response.extract_text() == "Hello world"
    assert response.extract_tool_calls() == [ToolCall("t1", "f", {"a": [1]})]
    assert response.has_tool_calls()
    assert response.usage is not None and response.usage.total_tokens == 15


def test_completion_response_reads_rust_json_without_optional_fields() -> None:
    rust = {
        "content": [{"type": "text", "text": "ok"}],
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }
    response = CompletionResponse.from_dict(rust)
    assert response.usage == TokenUsage(1, 2, 3)
    assert response.stop_reason is None
    assert "usage" not in CompletionResponse([TextContent("x")]).to_dict()


def test_tool_schema_and_call_round_trip() -> None:
    schema = ToolSchema(
        "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    assert ToolSchema.from_dict(schema.to_dict()) == schema
    call = ToolCall("id1", "get_weather", {"city": "Paris"})
    assert call.to_dict() == {"id": "id1", "name": "get_weather", "parameters": {"city": "Paris"}}
    assert ToolCall.from_dict({"name": "f", "parameters": {}, "id": "z"}) == ToolCall("z", "f", {})


def test_tool_schema_rejects_a_non_dict_schema() -> None:
    with pytest.raises(TypeError, match="input_schema"):
        ToolSchema("f", "d", "not a schema")  # type: ignore[arg-type]


def test_model_parameters_merge_other_wins() -> None:
    base = ModelParameters(
        temperature=0.5,
        max_output_tokens=100,
        thinking_config=ThinkingConfig(True, ThinkingEffort.HIGH, budget_tokens=2000),
    )
    other = ModelParameters(max_output_tokens=50, thinking_config=ThinkingConfig(False, include_thoughts=True))
    merged = base.merge(other)
    assert merged == ModelParameters(
        temperature=0.5,
        max_output_tokens=50,
        thinking_config=ThinkingConfig(False, ThinkingEffort.HIGH, 2000, True),
    )
    assert base.merge(None) is base
    assert ModelParameters.from_dict(merged.to_dict()) == merged
    assert ModelParameters().to_dict() == {}
    assert ThinkingConfig(True, "x-high").effort is ThinkingEffort.XHIGH  # type: ignore[arg-type]


def test_ids() -> None:
    model = ModelId("openai", "org/model")
    assert isinstance(model.provider, ProviderId)
    assert str(model) == "openai/org/model" and model == ModelId(ProviderId("openai"), "org/model")
    assert repr(ProviderId("xai")) == "ProviderId('xai')" and ProviderId("xai") == "xai"
    assert ModelId.parse("google/gemini-3-pro") == ModelId("google", "gemini-3-pro")
    with pytest.raises(ValueError):
        ModelId.parse("nope")


def test_system_context_rendering() -> None:
    class Env:
        def as_context(self) -> str:
            return "  <env>cwd</env>\n"

    assert SystemContext("  Be terse.  ").render() == "  Be terse."
    assert SystemContext("   ").render() is None
    assert SystemContext("Hi", Env()).render() == "Hi\n\n<env>cwd</env>"
    assert SystemContext.coerce("x") == SystemContext("x")
    with pytest.raises(TypeError):
        SystemContext.coerce(3)


# --- bad input is refused where the value is built (issue 18, items 4 and 10) ----------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": float("nan")}, r"ModelParameters.temperature must be a finite number >= 0 .*got nan"),
        ({"temperature": float("inf")}, r"ModelParameters.temperature .*got inf"),
        ({"top_p": float("-inf")}, r"ModelParameters.top_p must be a finite number between 0 and 1"),
        ({"top_p": 1.5}, r"ModelParameters.top_p must be a finite number between 0 and 1 .*got 1.5"),
        ({"temperature": -0.1}, r"ModelParameters.temperature must be a finite number >= 0"),
        ({"temperature": "hot"}, r"ModelParameters.temperature .*got 'hot' \(str\)"),
        ({"temperature": True}, r"ModelParameters.temperature .*got True \(bool\)"),
        ({"max_output_tokens": -5}, r"ModelParameters.max_output_tokens must be an integer >= 1 .*got -5"),
        ({"max_output_tokens": 0}, r"ModelParameters.max_output_tokens must be an integer >= 1"),
        ({"max_output_tokens": "100"}, r"ModelParameters.max_output_tokens .*got '100' \(str\)"),
        ({"max_output_tokens": 100.0}, r"ModelParameters.max_output_tokens .*\(float\)"),
        ({"max_output_tokens": False}, r"ModelParameters.max_output_tokens .*\(bool\)"),
        ({"thinking_config": {"enabled": True}}, r"ModelParameters.thinking_config must be a ThinkingConfig"),
    ],
)
def test_model_parameters_refuse_bad_values_naming_the_field(kwargs: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        ModelParameters(**kwargs)
    assert isinstance(info.value, ValueError)


def test_model_parameters_accept_valid_values() -> None:
    params = ModelParameters(temperature=0, max_output_tokens=1, top_p=1, thinking_config=ThinkingConfig(True))
    assert params.temperature == 0 and params.top_p == 1
    assert ModelParameters.from_dict(params.to_dict()) == params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"enabled": "yes"}, r"ThinkingConfig.enabled must be True or False"),
        ({"enabled": True, "budget_tokens": -1}, r"ThinkingConfig.budget_tokens must be an integer >= 0"),
        ({"enabled": True, "budget_tokens": "1k"}, r"ThinkingConfig.budget_tokens .*\(str\)"),
        ({"enabled": True, "include_thoughts": 1}, r"ThinkingConfig.include_thoughts must be True or False"),
        ({"enabled": True, "effort": "extreme"}, r"ThinkingConfig.effort must be one of 'low', 'medium'"),
        ({"enabled": True, "effort": 3}, r"ThinkingConfig.effort must be a ThinkingEffort"),
    ],
)
def test_thinking_config_refuses_bad_values_naming_the_field(kwargs: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ThinkingConfig(**kwargs)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_tool_schema_refuses_nan_and_infinity_naming_tool_and_path(value: float) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number", "maximum": value}}}
    with pytest.raises(ConfigurationError, match=r"input_schema of tool 'clamp' holds .* at properties.x.maximum"):
        ToolSchema("clamp", "Clamp a value", schema)


def test_tool_schema_refuses_values_json_cannot_encode_naming_the_tool() -> None:
    schema = {"type": "object", "properties": {"unit": {"enum": {"c", "f"}}}}
    with pytest.raises(
        TypeError, match=r"input_schema of tool 'weather' holds a value of type set at properties.unit.enum"
    ):
        ToolSchema("weather", "Get the weather", schema)
    with pytest.raises(TypeError, match=r"tool 'weather' has a non-string key 1 at properties"):
        ToolSchema("weather", "Get the weather", {"type": "object", "properties": {1: {}}})


def test_tool_schema_refuses_runaway_nesting_with_a_clear_error() -> None:
    schema: Dict[str, Any] = {}
    node = schema
    for _ in range(5000):
        node["items"] = {}
        node = node["items"]
    with pytest.raises(ConfigurationError, match=r"input_schema of tool 'deep' nests deeper than"):
        ToolSchema("deep", "d", schema)


def test_tool_schema_refuses_a_lone_surrogate_in_its_description() -> None:
    with pytest.raises(ConfigurationError, match=r"description of tool 't' holds a lone surrogate"):
        ToolSchema("t", "bad \ud800 text")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"user content must be str or TextContent, .* got NoneType"),
        (b"hi", r"got bytes; decode it first"),
        (bytearray(b"hi"), r"got bytes; decode it first"),
        (42, r"got int"),
    ],
)
def test_message_user_refuses_non_text_with_a_clear_type_error(content: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Message.user(content)


def test_message_user_refuses_a_lone_surrogate_naming_where() -> None:
    broken = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    with pytest.raises(
        ConfigurationError, match=r"user message content\[0\].text holds a lone surrogate '\\udce9' at character 3"
    ):
        Message.user(broken)
    with pytest.raises(ConfigurationError, match=r"content\[1\].stdout holds a lone surrogate"):
        Message.user([TextContent("ok"), CommandExecution("ls", broken, "", 0)])
