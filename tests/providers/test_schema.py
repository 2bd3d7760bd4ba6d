"""The shared JSON Schema sanitiser and its helpers (pure, no network)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, List, Set

import pytest

from steer_sync._providers._schema import (
    SanitizeRules,
    enum_values,
    extend_unique,
    infer_type_from_enum,
    merge_property,
    normalize_type,
    plain,
    resolve_ref,
    same,
    sanitize,
)

RULES = SanitizeRules()


def test_plain_copies_mappings_and_tuples_into_dicts_and_lists() -> None:
    frozen = MappingProxyType({"a": (1, MappingProxyType({"b": 2}))})
    assert plain(frozen) == {"a": [1, {"b": 2}]}
    assert type(plain(frozen)) is dict


def test_same_uses_json_equality() -> None:
    assert same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not same(True, 1)
    assert not same(1, 1.0)


def test_extend_unique_appends_only_new_values_under_json_equality() -> None:
    values: List[Any] = [1, "a"]
    extend_unique(values, [True, 1, "a", 1.0, True])
    assert values == [1, "a", True, 1.0]


@pytest.mark.parametrize(
    ("reference", "index_arrays", "expected"),
    [
        ("#/$defs/A", False, {"type": "string"}),
        ("#/$defs/a~1b", False, {"type": "integer"}),
        ("#/$defs/t~0", False, {"type": "number"}),
        ("#/anyOf/1", False, None),
        ("#/anyOf/1", True, {"type": "boolean"}),
        ("#/anyOf/2", True, None),
        ("#/$defs/missing", False, None),
        ("https://example.com/schema", False, None),
    ],
)
def test_resolve_ref(reference: str, index_arrays: bool, expected: Any) -> None:
    root = {
        "$defs": {"A": {"type": "string"}, "a/b": {"type": "integer"}, "t~": {"type": "number"}},
        "anyOf": [{"type": "null"}, {"type": "boolean"}],
    }
    assert resolve_ref(root, reference, index_arrays=index_arrays) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", None], "string"),
        ([True, False], "boolean"),
        ([1, 2.5], "number"),
        ([{}], "object"),
        ([[]], "array"),
        (["a", 1], None),
        ([None], None),
    ],
)
def test_infer_type_from_enum(values: List[Any], expected: Any) -> None:
    assert infer_type_from_enum(values) == expected


def test_normalize_type_prefers_the_first_non_null_name() -> None:
    assert normalize_type("integer") == "integer"
    assert normalize_type(["null", "string"]) == "string"
    assert normalize_type([]) == "string"
    assert normalize_type(["null"]) == "string"
    assert normalize_type(["null"], keep_null=True) == "null"
    assert normalize_type(5, keep_null=True) == "string"


def test_enum_values_drop_nulls_and_read_const() -> None:
    assert enum_values({"enum": ["a", None]}) == ["a"]
    assert enum_values({"const": "x"}) == ["x"]
    assert enum_values({"const": None}) == []
    assert enum_values("not a schema") == []


def test_merge_property_unions_enum_values_into_the_existing_schema() -> None:
    properties: Dict[str, Any] = {"kind": {"const": "a"}}
    merge_property(properties, "kind", {"const": "b"})
    assert properties == {"kind": {"enum": ["a", "b"], "type": "string"}}


def test_merge_property_keeps_the_first_schema_when_there_are_no_enums() -> None:
    properties: Dict[str, Any] = {"n": {"type": "integer"}}
    merge_property(properties, "n", {"type": "string"})
    assert properties == {"n": {"type": "integer"}}


def test_sanitize_merges_unions_and_stops_on_recursive_refs() -> None:
    root = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "oneOf": [
            {"type": "object", "properties": {"a": {"const": 1}, "node": {"$ref": "#/$defs/Node"}}, "required": ["a"]},
            {"type": "object", "properties": {"a": {"const": 2}}, "required": ["a", "b"]},
        ],
    }
    seen: Set[str] = set()
    assert sanitize(root, root, seen, RULES) == {
        "type": "object",
        "properties": {
            "a": {"enum": [1, 2], "type": "number"},
            "node": {
                "type": "object",
                "properties": {"next": {"type": "object", "properties": {}}},
            },
        },
        "required": ["a"],
    }
    assert seen == set()


def test_sanitize_applies_the_rules() -> None:
    root = {"anyOf": [{"type": ["null"]}], "items": {"$ref": "#/anyOf/0"}}
    assert sanitize(root, root["items"], set(), RULES) == {}
    assert sanitize(root, root["items"], set(), SanitizeRules(index_arrays=True)) == {"type": "string"}
    both = SanitizeRules(index_arrays=True, keep_null_type=True)
    assert sanitize(root, root["items"], set(), both) == {"type": "null"}
