"""Gemini tool-schema conversion: summary, sanitiser and simplification (pure, no network)."""

from __future__ import annotations

from typing import Any, Dict

from steer_sync._providers.gemini._schema import function_declarations, sanitize, simplify, summarize
from steer_sync._types import ToolSchema


def declaration(schema: Dict[str, Any], name: str = "tool") -> Dict[str, Any]:
    (result,) = function_declarations([ToolSchema(name, "does things", schema)])
    return result


# --- ported from steer's gemini/client.rs tests ---------------------------------------------


def test_simplify_property_schema_removes_additional_properties() -> None:
    prop = {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": False}
    assert simplify(prop) == {"type": "object", "properties": {"name": {"type": "string"}}}


def test_simplify_property_schema_removes_unsupported_string_formats() -> None:
    prop = {"type": "string", "format": "uri", "minLength": 1, "maxLength": 100, "pattern": "^https://"}
    assert simplify(prop) == {"type": "string"}


def test_simplify_property_schema_keeps_supported_string_formats() -> None:
    assert simplify({"type": "string", "format": "date-time"}) == {"type": "string", "format": "date-time"}


def test_simplify_property_schema_handles_array_types() -> None:
    assert simplify({"type": ["string", "null"], "format": "email"}) == {"type": "string"}


def test_simplify_property_schema_recursively_handles_array_items() -> None:
    prop = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"url": {"type": "string", "format": "uri"}},
            "additionalProperties": False,
        },
    }
    assert simplify(prop) == {
        "type": "array",
        "items": {"type": "object", "properties": {"url": {"type": "string"}}},
    }


def test_simplify_property_schema_recursively_handles_nested_objects() -> None:
    prop = {
        "type": "object",
        "properties": {
            "nested": {
                "type": "object",
                "properties": {"field": {"type": "string", "format": "hostname"}},
                "additionalProperties": True,
            }
        },
        "additionalProperties": False,
    }
    assert simplify(prop) == {
        "type": "object",
        "properties": {"nested": {"type": "object", "properties": {"field": {"type": "string"}}}},
    }


def test_simplify_property_schema_fixes_uint64_format() -> None:
    assert simplify({"type": "integer", "format": "uint64"}) == {"type": "integer", "format": "int64"}


def test_convert_tools_integration() -> None:
    tool = ToolSchema(
        name="create_issue",
        description="Create an issue",
        input_schema={
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1},
                "links": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"url": {"type": "string", "format": "uri"}},
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["title"],
        },
        display_name="Create Issue",
    )
    assert function_declarations([tool]) == [
        {
            "name": "create_issue",
            "description": "Create an issue",
            "parameters": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "links": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"url": {"type": "string"}}},
                    },
                },
                "required": ["title"],
            },
        }
    ]


# --- G6: references ------------------------------------------------------------------------


def test_recursive_ref_stops_with_an_open_object() -> None:
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
    }
    tree = declaration(schema)["parameters"]["properties"]["tree"]
    assert tree["properties"]["value"] == {"type": "string"}
    assert tree["properties"]["children"] == {"type": "array", "items": {"type": "object", "properties": {}}}


def test_ref_pointer_segments_are_decoded() -> None:
    schema = {
        "type": "object",
        "properties": {"mode": {"$ref": "#/definitions/a~1b~0c"}},
        "definitions": {"a/b~c": {"type": "string", "enum": ["x", "y"]}},
    }
    assert declaration(schema)["parameters"]["properties"]["mode"] == {"type": "string", "enum": ["x", "y"]}


def test_a_root_ref_is_resolved_before_summarising() -> None:
    schema = {
        "$ref": "#/$defs/Args",
        "$defs": {"Args": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
    }
    assert declaration(schema)["parameters"] == {
        "type": "object",
        "properties": {"q": {"type": "string"}},
        "required": ["q"],
    }


def test_tuple_items_are_merged_into_one_schema() -> None:
    merged = sanitize({}, {"items": [{"type": "string"}, {"type": "null"}]})
    assert merged == {"items": {"type": "string"}, "type": "array"}


# --- the summary ---------------------------------------------------------------------------


def test_summary_merges_all_of_required_and_intersects_one_of_required() -> None:
    schema = {
        "allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}],
        "oneOf": [
            {"properties": {"b": {"type": "string"}, "c": {"type": "string"}}, "required": ["b", "c"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]},
        ],
    }
    schema_type, properties, required = summarize(schema)
    assert schema_type == "object"
    assert set(properties) == {"a", "b", "c"}
    assert required == ["a", "b"]


def test_summary_unions_enum_values_of_differing_duplicates() -> None:
    schema = {
        "oneOf": [
            {"properties": {"kind": {"const": "circle"}}},
            {"properties": {"kind": {"const": "square"}}},
        ]
    }
    _, properties, _ = summarize(schema)
    assert properties["kind"] == {"enum": ["circle", "square"]}
    assert declaration(schema)["parameters"]["properties"]["kind"] == {"type": "string", "enum": ["circle", "square"]}


def test_nullable_union_collapses_to_its_type() -> None:
    schema = {"type": "object", "properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
    assert declaration(schema)["parameters"]["properties"]["n"] == {"type": "integer"}


# --- what Gemini would reject ------------------------------------------------------------


def test_a_tool_without_parameters_has_no_parameters_field() -> None:
    assert declaration({"type": "object", "properties": {}}) == {"name": "tool", "description": "does things"}
    assert "parameters" not in declaration({})


def test_required_keeps_only_declared_properties() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "inner": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x", "ghost"]},
        },
        "required": ["a", "missing"],
    }
    params = declaration(schema)["parameters"]
    assert params["required"] == ["a"]
    assert params["properties"]["inner"]["required"] == ["x"]


def test_unknown_schema_fields_are_dropped() -> None:
    prop = {
        "type": "string",
        "description": "a path",
        "$schema": "http://json-schema.org/draft-07/schema#",
        "examples": ["a"],
        "readOnly": True,
        "nullable": True,
    }
    schema = {"type": "object", "properties": {"p": prop}}
    assert declaration(schema)["parameters"]["properties"]["p"] == {
        "type": "string",
        "description": "a path",
        "nullable": True,
    }


def test_unsigned_integer_formats_map_to_signed_ones() -> None:
    assert simplify({"type": "integer", "format": "uint32"}) == {"type": "integer", "format": "int32"}
    assert simplify({"type": "integer", "format": "uint"}) == {"type": "integer", "format": "int64"}
    assert simplify({"type": "integer", "format": "uint8"}) == {"type": "integer", "format": "int32"}
    assert simplify({"type": "integer", "format": "int64"}) == {"type": "integer", "format": "int64"}
    assert simplify({"type": "integer", "format": "bigint"}) == {"type": "integer"}


def test_number_formats_keep_float_and_double_only() -> None:
    assert simplify({"type": "number", "format": "double"}) == {"type": "number", "format": "double"}
    assert simplify({"type": "number", "format": "float"}) == {"type": "number", "format": "float"}
    assert simplify({"type": "number", "format": "decimal"}) == {"type": "number"}
    assert simplify({"type": "boolean", "format": "int32"}) == {"type": "boolean"}


def test_enums_stay_only_on_strings() -> None:
    assert simplify({"type": "integer", "enum": [1, 2]}) == {"type": "integer"}
    assert simplify({"type": "string", "enum": ["a", "b"]}) == {"type": "string", "enum": ["a", "b"]}


def test_properties_and_items_stay_only_on_their_types() -> None:
    assert simplify({"type": "string", "properties": {"a": {"type": "string"}}, "required": ["a"]}) == {
        "type": "string"
    }
    assert simplify({"type": "object", "items": {"type": "string"}, "properties": {}}) == {
        "type": "object",
        "properties": {},
    }


def test_the_input_schema_is_not_modified() -> None:
    schema = {"type": "object", "properties": {"u": {"type": "string", "format": "uri", "const": "x"}}}
    before = repr(schema)
    declaration(schema)
    assert repr(schema) == before
