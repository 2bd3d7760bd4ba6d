"""Structured output values without sockets: dataclass schemas, parsing, per-format adaptation and fields."""

from __future__ import annotations

import enum
import json
import pickle
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

import pytest

from steer_sync import (
    CompletionResponse,
    ConfigurationError,
    JsonSchema,
    StructuredOutputError,
    TextContent,
    ToolCall,
    ToolCallContent,
    ToolChoice,
    UnsupportedFeature,
)
from steer_sync._providers._structured import (
    adapt_schema,
    anthropic_fields,
    apply_fields,
    chat_fields,
    gemini_fields,
    responses_fields,
)
from steer_sync._types._structured import StructuredOptions, schema_for_type


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclass
class Point:
    """A point on the map."""

    x: int
    y: int


@dataclass
class Shape:
    #: What the shape is called.
    #: Unique per drawing.
    name: str
    points: List[Point]
    size: Size
    kind: Literal["open", "closed"]
    weight: float
    """Weight in grams."""
    tags: Dict[str, str] = field(default_factory=dict)
    label: Optional[str] = field(default=None, metadata={"description": "Shown on hover"})
    either: Union[int, str] = 0
    coords: Tuple[float, ...] = ()
    visible: bool = True


def test_a_dataclass_schema_covers_every_supported_type_and_reads_descriptions() -> None:
    schema = JsonSchema.from_dataclass(Shape)
    assert schema.name == "Shape" and schema.strict is True
    props = schema.schema["properties"]
    assert props["name"] == {"description": "What the shape is called. Unique per drawing.", "type": "string"}
    assert props["weight"] == {"description": "Weight in grams.", "type": "number"}
    assert props["label"] == {"description": "Shown on hover", "anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["points"]["items"] == {
        "type": "object",
        "description": "A point on the map.",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"],
        "additionalProperties": False,
    }
    assert props["size"] == {"type": "string", "enum": ["s", "l"]}
    assert props["kind"] == {"type": "string", "enum": ["open", "closed"]}
    assert props["tags"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["coords"] == {"type": "array", "items": {"type": "number"}}
    assert props["visible"] == {"type": "boolean"}
    assert schema.schema["required"] == ["name", "points", "size", "kind", "weight"]
    assert schema.schema["additionalProperties"] is False


def test_an_unsupported_field_type_names_the_dataclass_and_the_field() -> None:
    @dataclass
    class Bad:
        when: complex

    with pytest.raises(TypeError, match=r"Bad\.when: unsupported type"):
        JsonSchema.from_dataclass(Bad)


def test_a_recursive_dataclass_is_refused() -> None:
    with pytest.raises(TypeError, match="contains itself"):
        schema_for_type(_Node)


@dataclass
class _Node:
    children: List[_Node]


def test_descriptions_come_from_metadata_when_the_source_is_missing() -> None:
    namespace: Dict[str, Any] = {}
    exec(
        "from dataclasses import dataclass, field\n"
        "@dataclass\nclass Made:\n"
        "    #: invisible without source\n"
        "    a: int\n"
        "    b: str = field(default='', metadata={'description': 'from metadata'})\n",
        namespace,
    )
    props = JsonSchema.from_dataclass(namespace["Made"]).schema["properties"]
    assert props == {"a": {"type": "integer"}, "b": {"description": "from metadata", "type": "string"}}


def test_json_schema_checks_its_inputs_and_copies_the_schema() -> None:
    raw = {"type": "object", "properties": {}}
    schema = JsonSchema(raw, name="answer")
    raw["properties"] = {"changed": {}}
    assert schema.schema == {"type": "object", "properties": {}}
    with pytest.raises(ValueError, match="name"):
        JsonSchema(raw, name="has space")
    with pytest.raises(TypeError, match="mapping"):
        JsonSchema("not a schema")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dataclass"):
        JsonSchema.from_dataclass(dict)


def test_tool_choice_values() -> None:
    assert ToolChoice.tool("x") == ToolChoice("tool", "x")
    assert [ToolChoice.auto().kind, ToolChoice.none().kind, ToolChoice.required().kind] == ["auto", "none", "required"]
    with pytest.raises(ValueError):
        ToolChoice("sometimes")
    with pytest.raises(ValueError):
        ToolChoice.tool("")


def _text(text: str) -> CompletionResponse:
    return CompletionResponse([TextContent(text)])


SHAPE_JSON = (
    '{"name": "roof", "points": [{"x": 1, "y": 2}], "size": "l", "kind": "closed", "weight": 3,'
    ' "tags": {"a": "b"}, "label": null, "either": "x", "coords": [1, 2.5]}'
)


def test_parse_builds_nested_dataclasses_enums_literals_and_optionals() -> None:
    shape = _text(SHAPE_JSON).parse(Shape)
    assert shape == Shape(
        "roof", [Point(1, 2)], Size.LARGE, "closed", 3.0, {"a": "b"}, None, "x", (1.0, 2.5), visible=True
    )
    assert isinstance(shape.weight, float) and isinstance(shape.coords, tuple)
    assert _text(SHAPE_JSON).parse()["points"] == [{"x": 1, "y": 2}]


@pytest.mark.parametrize(
    ("change", "path", "problem"),
    [
        ({"points": [{"x": 1, "y": "2"}]}, "points[0].y", "expected int, got str"),
        ({"size": "m"}, "size", "expected one of 's', 'l' (Size), got 'm'"),
        ({"kind": "half"}, "kind", "expected one of 'open', 'closed', got 'half'"),
        ({"weight": True}, "weight", "expected float, got bool"),
        ({"points": {"x": 1}}, "points", "expected array, got object"),
        ({"either": [1]}, "either", "expected int or str, got array"),
        ({"tags": {"a": 1}}, "tags['a']", "expected str, got int"),
        ({"extra": 1}, "extra", "unexpected field for Shape"),
    ],
)
def test_parse_names_the_path_of_what_did_not_fit(change: Dict[str, Any], path: str, problem: str) -> None:
    text = json.dumps({**json.loads(SHAPE_JSON), **change})
    with pytest.raises(StructuredOutputError) as caught:
        _text(text).parse(Shape)
    assert (caught.value.path, caught.value.problem) == (path, problem)
    assert caught.value.text == text
    assert f"{path}: {problem}" in str(caught.value)


def test_a_missing_required_field_and_null_for_a_default() -> None:
    with pytest.raises(StructuredOutputError, match="points: missing required field of Shape"):
        _text('{"name": "a"}').parse(Shape)
    # OpenAI strict mode answers null for a property that has a default: the default is used.
    text = SHAPE_JSON.replace('"either": "x"', '"either": null')
    assert _text(text).parse(Shape).either == 0


def test_invalid_json_raises_with_the_text() -> None:
    with pytest.raises(StructuredOutputError, match="not valid JSON") as caught:
        _text("{oops").parse()
    assert caught.value.text == "{oops" and caught.value.path == ""


def test_the_error_rebuilds_from_its_args_and_pickles() -> None:
    error = StructuredOutputError('{"a": 1}', "expected str, got int", "a")
    assert type(error)(*error.args) == error
    assert pickle.loads(pickle.dumps(error)) == error
    assert isinstance(error, ValueError)


def test_parse_reads_the_forced_tool_input_when_there_is_no_text() -> None:
    response = CompletionResponse([ToolCallContent(ToolCall("c1", "Point", {"x": 1, "y": 2}))])
    assert response.parse(Point) == Point(1, 2)
    assert response.parse() == {"x": 1, "y": 2}
    broken = CompletionResponse([ToolCallContent(ToolCall("c1", "Point", '{"x": 1'))])
    with pytest.raises(StructuredOutputError, match="not valid JSON"):
        broken.parse(Point)


# --- adaptation ---------------------------------------------------------------------------------


def test_openai_strict_requires_everything_and_makes_optional_properties_nullable() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer", "description": "maybe"},
            "c": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "inner": {"type": "object", "properties": {"z": {"type": "string"}}},
        },
        "required": ["a"],
    }
    adapted = adapt_schema(schema, "openai", strict=True)
    assert adapted["required"] == ["a", "b", "c", "inner"]
    assert adapted["additionalProperties"] is False
    assert adapted["properties"]["b"] == {"description": "maybe", "anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert adapted["properties"]["c"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    inner = adapted["properties"]["inner"]["anyOf"][0]
    assert inner["required"] == ["z"] and inner["additionalProperties"] is False
    assert schema["required"] == ["a"], "the caller's schema is not changed"
    assert adapt_schema(schema, "openai", strict=False) == schema


def test_strict_and_anthropic_schemas_refuse_free_form_maps() -> None:
    schema = JsonSchema.from_dataclass(Shape).schema  # has tags: Dict[str, str]
    with pytest.raises(UnsupportedFeature, match="tags"):
        adapt_schema(schema, "openai", strict=True)
    with pytest.raises(UnsupportedFeature, match="tags"):
        adapt_schema(schema, "anthropic")


def test_anthropic_moves_unsupported_constraints_into_the_description() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 5}, "l": {"type": "array", "minItems": 2}},
    }
    adapted = adapt_schema(schema, "anthropic")
    assert adapted["additionalProperties"] is False
    assert adapted["properties"]["n"] == {"type": "integer", "description": "(minimum=1, maximum=5)"}
    assert adapted["properties"]["l"] == {"type": "array", "description": "(minItems=2)"}


def test_gemini_keeps_only_the_keywords_it_takes() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"k": {"const": "x", "pattern": "x", "default": "x"}, "n": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    }
    assert adapt_schema(schema, "gemini") == {
        "type": "object",
        "properties": {"k": {"enum": ["x"]}, "n": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    }


# --- fields per format --------------------------------------------------------------------------


def test_tool_choice_without_tools() -> None:
    options = StructuredOptions(tool_choice=ToolChoice.none())
    for fields in (anthropic_fields, responses_fields, chat_fields, gemini_fields):
        assert fields(options, {}, "p") == ({}, {}), "auto/none with no tools is already true"
        with pytest.raises(ConfigurationError, match="needs tools"):
            fields(StructuredOptions(tool_choice=ToolChoice.tool("x")), {}, "p")


def test_chat_sends_parallel_tool_calls_only_with_tools() -> None:
    options = StructuredOptions(parallel_tool_calls=False)
    assert chat_fields(options, {}, "p") == ({}, {})
    tools = {"tools": [{"type": "function", "function": {"name": "f"}}]}
    assert chat_fields(options, tools, "p") == ({"parallel_tool_calls": False}, {})


def test_apply_fields_merges_nested_objects_and_beta_headers() -> None:
    body: Dict[str, Any] = {"generationConfig": {"temperature": 1.0}}
    options = StructuredOptions(JsonSchema({"type": "object", "properties": {}}))
    headers = apply_fields(body, {"x": "1"}, gemini_fields(options, body, "google"))
    assert headers == {"x": "1"}
    assert body["generationConfig"] == {
        "temperature": 1.0,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {}},
    }
    merged = apply_fields({}, {"Anthropic-Beta": "a"}, ({}, {"anthropic-beta": "b"}))
    assert merged == {"Anthropic-Beta": "a,b"}


def test_the_forced_tool_rewrite() -> None:
    options = StructuredOptions(JsonSchema.from_dataclass(Point), parallel_tool_calls=False)
    tools, forced = options.with_forced_tool((), "anthropic")
    assert [t.name for t in tools] == ["Point"] and tools[0].input_schema == schema_for_type(Point)
    assert forced == StructuredOptions(None, ToolChoice.tool("Point"), False)
    with pytest.raises(ConfigurationError, match="already named"):
        options.with_forced_tool(tools, "anthropic")


def test_the_catalog_flag_parses_merges_and_serialises() -> None:
    from steer_sync._catalog import ModelConfig

    base = ModelConfig.from_dict({"provider": "anthropic", "id": "claude-3-haiku", "structured_output": False})
    assert base.structured_output is False and base.to_dict()["structured_output"] is False
    assert ModelConfig.from_dict({"provider": "anthropic", "id": "m"}).structured_output is None
    later = ModelConfig.from_dict({"provider": "anthropic", "id": "claude-3-haiku", "aliases": ["h"]})
    assert base.merge_with(later).structured_output is False, "an entry that does not set it keeps it"
    with pytest.raises(ConfigurationError, match="structured_output"):
        ModelConfig.from_dict({"provider": "anthropic", "id": "m", "structured_output": "no"})


def test_a_bare_import_loads_no_schema_machinery_until_a_name_is_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, steer_sync\n"
        "print('steer_sync._types._structured' in sys.modules)\n"
        "print(steer_sync.ToolChoice.required().kind, 'steer_sync._types._structured' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "required", "True"]


def test_a_dataclass_defined_outside_any_imported_module_still_works() -> None:
    # Code run with exec (a notebook tool, a test harness) has no entry in sys.modules;
    # Python 3.9's get_type_hints raises KeyError for it.
    namespace: Dict[str, Any] = {"__name__": "not_an_imported_module"}
    source = (
        "import dataclasses\nfrom typing import List, Optional\n"
        "@dataclasses.dataclass\nclass Recipe:\n    title: str\n    steps: List[str]\n    minutes: Optional[int] = None\n"
    )
    # dont_inherit: this file's `from __future__ import annotations` must not apply to the source.
    exec(compile(source, "<recipe>", "exec", dont_inherit=True), namespace)
    recipe_type = namespace["Recipe"]
    schema = JsonSchema.from_dataclass(recipe_type).schema
    assert schema["properties"]["steps"] == {"type": "array", "items": {"type": "string"}}
    response = CompletionResponse([TextContent('{"title": "Tea", "steps": ["boil"], "minutes": 3}')])
    assert response.parse(recipe_type) == recipe_type("Tea", ["boil"], 3)
