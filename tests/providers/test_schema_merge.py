"""The two modes of the shared ``merge_property``: the sanitiser's and Gemini's summary (pure)."""

from __future__ import annotations

import copy
from typing import Any, Dict

from steer_sync._providers._schema import enum_values, merge_property
from steer_sync._providers.gemini._schema import summarize


def test_the_summary_mode_keeps_nulls_and_leaves_the_given_schemas_unchanged() -> None:
    first = {"const": "a", "description": "kind"}
    second = {"enum": ["b", None]}
    properties: Dict[str, Any] = {"kind": first}
    merge_property(properties, "kind", second, summary=True)
    assert properties == {"kind": {"enum": ["a", "b", None], "description": "kind"}}  # no type inferred
    assert first == {"const": "a", "description": "kind"} and properties["kind"] is not first


def test_the_sanitiser_mode_drops_nulls_and_infers_the_type_in_place() -> None:
    first: Dict[str, Any] = {"const": "a"}
    properties: Dict[str, Any] = {"kind": first}
    merge_property(properties, "kind", {"enum": ["b", None]})
    assert properties["kind"] is first and first == {"enum": ["a", "b"], "type": "string"}


def test_a_null_const_counts_only_where_nulls_are_kept() -> None:
    assert enum_values({"const": None}, keep_nulls=True) == [None]
    assert enum_values({"const": None}) == []


def test_summarizing_a_union_root_does_not_change_the_tool_schema() -> None:
    root = {
        "oneOf": [
            {"type": "object", "properties": {"mode": {"const": "fast"}}, "required": ["mode"]},
            {"type": "object", "properties": {"mode": {"const": None}}, "required": ["mode"]},
        ]
    }
    before = copy.deepcopy(root)
    _, properties, required = summarize(root)
    assert properties == {"mode": {"enum": ["fast", None]}}
    assert required == ["mode"]
    assert root == before
