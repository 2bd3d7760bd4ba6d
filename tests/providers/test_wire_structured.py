"""Structured output and tool choice on all five wire formats, through a Client over loopback sockets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from steer_sync import (
    Client,
    ConfigurationError,
    JsonSchema,
    Message,
    ModelParameters,
    StructuredOutputError,
    ThinkingConfig,
    ToolChoice,
    ToolSchema,
    UnsupportedFeature,
)
from steer_sync.testing import LoopbackServer, RecordedRequest, ToolCallSpec, Turn
from steer_sync.testing._client import client_for

FORMATS = ["anthropic", "openai_responses", "openai_chat", "xai", "gemini"]

#: A model per wire format with native structured output.
NATIVE = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai_responses": "openai/gpt-5-mini-2025-08-07",
    "openai_chat": "chatgw/gpt-4o",
    "xai": "xai/grok-4-1-fast-reasoning",
    "gemini": "google/gemini-3-flash-preview",
}
#: A model per wire format that the test catalog marks ``structured_output = false``.
LEGACY = {
    "anthropic": "anthropic/claude-3-haiku-20240307",
    "openai_responses": "openai/legacy-model",
    "openai_chat": "chatgw/legacy-model",
    "xai": "xai/grok-legacy",
    "gemini": "google/gemini-legacy",
}
#: Anthropic refuses a forced tool while thinking is on (and the catalog turns it on).
NO_THINKING = ModelParameters(thinking_config=ThinkingConfig(enabled=False))

WEATHER = ToolSchema(
    "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}
)
TIME = ToolSchema("get_time", "Time in a city", {"type": "object", "properties": {"city": {"type": "string"}}})


class Unit(enum.Enum):
    GRAM = "g"
    MILLILITRE = "ml"


@dataclass
class Ingredient:
    name: str
    amount: float
    unit: Unit = Unit.GRAM


@dataclass
class Recipe:
    #: The dish's name.
    title: str
    ingredients: List[Ingredient]
    vegetarian: bool
    note: Optional[str] = field(default=None, metadata={"description": "Anything else worth knowing"})


ANSWER: Dict[str, Any] = {
    "title": "Pancakes",
    "ingredients": [{"name": "flour", "amount": 125, "unit": "g"}, {"name": "milk", "amount": 250.0, "unit": "ml"}],
    "vegetarian": True,
    "note": None,
}
EXPECTED = Recipe("Pancakes", [Ingredient("flour", 125.0), Ingredient("milk", 250.0, Unit.MILLILITRE)], True)


def _catalog(tmp_path: Path, url: str) -> str:
    path = tmp_path / "structured.toml"
    models = "".join(
        f'[[models]]\nprovider = "{model.split("/")[0]}"\nid = "{model.split("/")[1]}"\n'
        "structured_output = false\n[models.parameters]\nmax_output_tokens = 4096\n\n"
        for model in LEGACY.values()
    )
    path.write_text(
        '[[providers]]\nid = "chatgw"\nname = "Chat gateway"\napi_format = "openai-chat"\n'
        f'auth_schemes = []\nbase_url = "{url}/v1"\n\n{models}'
    )
    return str(path)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer, tmp_path: Path) -> Iterator[Client]:
    with client_for(server.url, catalogs=[_catalog(tmp_path, server.url)]) as built:
        yield built


def _native_format(fmt: str, body: Dict[str, Any]) -> Dict[str, Any]:
    """The schema the request carries, after checking the format's own envelope."""
    if fmt == "anthropic":
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert "tools" not in body and "tool_choice" not in body
        schema: Dict[str, Any] = body["output_config"]["format"]["schema"]
    elif fmt == "openai_responses":
        spec = body["text"]["format"]
        assert (spec["type"], spec["name"], spec["strict"]) == ("json_schema", "Recipe", True)
        schema = spec["schema"]
    elif fmt in ("openai_chat", "xai"):
        assert body["response_format"]["type"] == "json_schema"
        spec = body["response_format"]["json_schema"]
        assert (spec["name"], spec["strict"]) == ("Recipe", True)
        schema = spec["schema"]
    else:
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        schema = body["generationConfig"]["responseJsonSchema"]
    return schema


@pytest.mark.parametrize("fmt", FORMATS)
def test_response_format_goes_out_natively_and_parses_into_nested_dataclasses(
    fmt: str, server: LoopbackServer, client: Client
) -> None:
    server.queue(Turn(json=ANSWER))
    response = client.complete(NATIVE[fmt], [Message.user("A pancake recipe")], response_format=Recipe)
    assert response.parse(Recipe) == EXPECTED
    assert response.parse() == ANSWER
    schema = _native_format(fmt, server.requests[-1].json)
    assert schema["properties"]["title"]["description"] == "The dish's name."
    item = schema["properties"]["ingredients"]["items"]
    assert item["properties"]["unit"]["anyOf" if fmt in ("openai_responses", "openai_chat", "xai") else "enum"]
    if fmt in ("openai_responses", "openai_chat", "xai"):  # strict: all required, optional ones nullable
        assert schema["required"] == ["title", "ingredients", "vegetarian", "note"]
        assert item["required"] == ["name", "amount", "unit"]
    else:
        assert schema["required"] == ["title", "ingredients", "vegetarian"]
    if fmt != "gemini":
        assert schema["additionalProperties"] is False and item["additionalProperties"] is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_streamed_answer_collects_and_parses(fmt: str, server: LoopbackServer, client: Client) -> None:
    server.queue(Turn(json=ANSWER))
    schema = JsonSchema.from_dataclass(Recipe)
    with client.stream_complete(NATIVE[fmt], [Message.user("A pancake recipe")], response_format=schema) as stream:
        assert stream.collect().parse(Recipe) == EXPECTED
    _native_format(fmt, server.requests[-1].json)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_answer_that_is_not_json_raises_structured_output_error(
    fmt: str, server: LoopbackServer, client: Client
) -> None:
    server.queue(Turn(text="Sure! Here is your recipe: pancakes."))
    response = client.complete(NATIVE[fmt], [Message.user("A pancake recipe")], response_format=Recipe)
    with pytest.raises(StructuredOutputError, match="not valid JSON") as caught:
        response.parse(Recipe)
    assert caught.value.text == "Sure! Here is your recipe: pancakes."


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_answer_of_the_wrong_type_names_the_path(fmt: str, server: LoopbackServer, client: Client) -> None:
    wrong = dict(ANSWER, ingredients=[ANSWER["ingredients"][0], {"name": "milk", "amount": "a cup"}])
    server.queue(Turn(json=wrong))
    response = client.complete(NATIVE[fmt], [Message.user("A pancake recipe")], response_format=Recipe)
    with pytest.raises(StructuredOutputError) as caught:
        response.parse(Recipe)
    assert caught.value.path == "ingredients[1].amount"
    assert caught.value.problem == "expected float, got str"


#: What each choice looks like on each format's wire (Gemini: ``toolConfig``).
CHOICES: Dict[str, Dict[str, Any]] = {
    "auto": {
        "anthropic": {"type": "auto"},
        "openai_responses": "auto",
        "openai_chat": "auto",
        "gemini": {"functionCallingConfig": {"mode": "AUTO"}},
    },
    "none": {
        "anthropic": {"type": "none"},
        "openai_responses": "none",
        "openai_chat": "none",
        "gemini": {"functionCallingConfig": {"mode": "NONE"}},
    },
    "required": {
        "anthropic": {"type": "any"},
        "openai_responses": "required",
        "openai_chat": "required",
        "gemini": {"functionCallingConfig": {"mode": "ANY"}},
    },
    "tool": {
        "anthropic": {"type": "tool", "name": "get_time"},
        "openai_responses": {"type": "function", "name": "get_time"},
        "openai_chat": {"type": "function", "function": {"name": "get_time"}},
        "gemini": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
    },
}


def _choice_on_wire(fmt: str, request: RecordedRequest) -> Any:
    body = request.json
    return body["toolConfig"] if fmt == "gemini" else body["tool_choice"]


@pytest.mark.parametrize("kind", sorted(CHOICES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_tool_choice_goes_out_in_the_format_s_own_shape(
    fmt: str, kind: str, server: LoopbackServer, client: Client
) -> None:
    choice = ToolChoice.tool("get_time") if kind == "tool" else getattr(ToolChoice, kind)()
    server.queue(Turn(tool_calls=[ToolCallSpec("call_1", "get_time", {"city": "Oslo"})]))
    response = client.complete(
        NATIVE[fmt], [Message.user("time?")], tools=[WEATHER, TIME], call_options=NO_THINKING, tool_choice=choice
    )
    assert response.extract_tool_calls()[0].name == "get_time"
    expected = CHOICES[kind]["openai_chat" if fmt == "xai" else fmt]
    assert _choice_on_wire(fmt, server.requests[-1]) == expected


@pytest.mark.parametrize("fmt", ["anthropic", "openai_responses", "openai_chat", "xai"])
def test_parallel_tool_calls_false_goes_out(fmt: str, server: LoopbackServer, client: Client) -> None:
    server.queue(Turn(text="ok"), Turn(text="ok"))
    client.complete(NATIVE[fmt], [Message.user("hi")], tools=[WEATHER], parallel_tool_calls=False)
    body = server.requests[-1].json
    if fmt == "anthropic":
        assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    else:
        assert body["parallel_tool_calls"] is False
    forced = ToolChoice.tool("get_weather")
    client.complete(
        NATIVE[fmt],
        [Message.user("hi")],
        tools=[WEATHER],
        call_options=NO_THINKING,
        tool_choice=forced,
        parallel_tool_calls=False,
    )
    body = server.requests[-1].json
    if fmt == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    else:
        assert body["parallel_tool_calls"] is False


def test_gemini_cannot_limit_parallel_calls_and_says_so_before_sending(server: LoopbackServer, client: Client) -> None:
    with pytest.raises(UnsupportedFeature, match="parallel_tool_calls"):
        client.complete(NATIVE["gemini"], [Message.user("hi")], tools=[WEATHER], parallel_tool_calls=False)
    assert server.requests == []


def test_anthropic_refuses_a_forced_tool_with_thinking_before_sending(server: LoopbackServer, client: Client) -> None:
    # The catalog turns thinking on for sonnet; the API would answer 400.
    with pytest.raises(UnsupportedFeature, match="thinking"):
        client.complete(NATIVE["anthropic"], [Message.user("hi")], tools=[WEATHER], tool_choice=ToolChoice.required())
    assert server.requests == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_choice_the_call_cannot_satisfy_fails_before_sending(
    fmt: str, server: LoopbackServer, client: Client
) -> None:
    with pytest.raises(ConfigurationError, match="names no tool"):
        client.complete(NATIVE[fmt], [Message.user("hi")], tools=[WEATHER], tool_choice=ToolChoice.tool("get_time"))
    with pytest.raises(ConfigurationError, match="needs tools"):
        client.complete(NATIVE[fmt], [Message.user("hi")], tool_choice=ToolChoice.required())
    assert server.requests == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_model_without_native_support_gets_a_forced_tool_and_parse_reads_its_input(
    fmt: str, server: LoopbackServer, client: Client
) -> None:
    server.queue(Turn(json=ANSWER), Turn(json=ANSWER))
    response = client.complete(LEGACY[fmt], [Message.user("A pancake recipe")], tools=[WEATHER], response_format=Recipe)
    assert response.extract_text() == ""
    assert response.parse(Recipe) == EXPECTED
    body = server.requests[-1].json
    names = {
        "anthropic": lambda: [t["name"] for t in body["tools"]],
        "openai_responses": lambda: [t["name"] for t in body["tools"]],
        "openai_chat": lambda: [t["function"]["name"] for t in body["tools"]],
        "xai": lambda: [t["function"]["name"] for t in body["tools"]],
        "gemini": lambda: [d["name"] for d in body["tools"][0]["functionDeclarations"]],
    }[fmt]()
    assert names == ["get_weather", "Recipe"]
    for key in ("output_config", "response_format", "text"):
        assert key not in body or "format" not in body.get(key, {})
    assert "responseJsonSchema" not in body.get("generationConfig", {})
    with client.stream_complete(
        LEGACY[fmt], [Message.user("A pancake recipe")], tools=[WEATHER], response_format=Recipe
    ) as stream:
        assert stream.collect().parse(Recipe) == EXPECTED


def test_the_fallback_refuses_a_second_tool_choice(server: LoopbackServer, client: Client) -> None:
    with pytest.raises(UnsupportedFeature, match="forced tool"):
        client.complete(
            LEGACY["openai_chat"],
            [Message.user("hi")],
            tools=[WEATHER],
            response_format=Recipe,
            tool_choice=ToolChoice.required(),
        )
    assert server.requests == []


def test_complete_with_retry_takes_the_same_options(server: LoopbackServer, client: Client) -> None:
    server.queue(Turn(json=ANSWER))
    response = client.complete_with_retry(
        NATIVE["openai_chat"],
        [Message.user("A pancake recipe")],
        tools=[WEATHER],
        response_format=Recipe,
        tool_choice=ToolChoice.none(),
        parallel_tool_calls=False,
    )
    assert response.parse(Recipe) == EXPECTED
    body = server.requests[-1].json
    assert body["response_format"]["json_schema"]["name"] == "Recipe"
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("none", False)


def test_bad_arguments_are_refused_before_sending(server: LoopbackServer, client: Client) -> None:
    with pytest.raises(TypeError, match="response_format"):
        client.complete(NATIVE["openai_chat"], [Message.user("hi")], response_format=dict)
    with pytest.raises(TypeError, match="tool_choice"):
        client.complete(NATIVE["openai_chat"], [Message.user("hi")], tool_choice="required")  # type: ignore[arg-type]
    assert server.requests == []
