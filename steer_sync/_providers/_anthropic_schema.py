"""Tool input schemas rewritten into the JSON Schema subset Anthropic accepts (layer L2, pure).

Tool schemas are usually generated (pydantic, schemars) and carry ``$ref``/``$defs``,
``oneOf``/``anyOf``/``allOf``, ``const`` and validation keywords. The Messages API rejects
some of these and handles others badly, so every ``input_schema`` is passed through
:func:`sanitize_tool_schema` before it is sent. The rules are those of steer's
``sanitize_for_claude`` (spec/anthropic-gemini.md section 1.6):

* a local ``$ref`` is inlined; a ``$ref`` already being resolved further up (a recursive
  type) becomes ``{"type": "object", "properties": {}}`` so the output is finite;
* a union (``oneOf``, else ``anyOf``, else ``allOf``) is merged into one schema: all
  properties, the intersection of the ``required`` lists, the union of enum values;
* unsupported keywords are dropped, ``const`` becomes a one-value ``enum``, a missing
  ``type`` is inferred from ``properties``, ``items`` or the enum values.

Two deliberate differences from steer, both about things the API would reject:

* the root is forced to ``{"type": "object", ...}`` (recommendation A18), because the
  API requires an object schema for ``input_schema``;
* a ``type`` array such as ``["null", "string"]`` picks its first type other than
  ``"null"`` (steer takes the first string, which makes that example a ``"null"`` field).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Mapping, Optional, Set

__all__ = ["sanitize_tool_schema"]

_log = logging.getLogger("steer_sync.providers.anthropic")

#: Keywords the sanitised schema never carries.
_DROPPED_KEYWORDS = frozenset(
    {
        "$ref",
        "$defs",
        "oneOf",
        "anyOf",
        "allOf",
        "const",
        "additionalProperties",
        "default",
        "examples",
        "title",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "uniqueItems",
        "deprecated",
    }
)


def sanitize_tool_schema(schema: Mapping[str, Any]) -> Dict[str, Any]:
    """Rewrite a tool's ``input_schema`` for the Messages API.

    :param schema: the tool's JSON Schema (not modified).
    :returns: a new schema whose root is always an object schema.
    """
    root: Any = _plain(schema)
    sanitized = _sanitize(root, root, set())
    return _force_object_root(sanitized)


def _plain(value: Any) -> Any:
    # ToolSchema.input_schema is a Mapping, possibly read-only; work on plain dicts/lists.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _force_object_root(schema: Any) -> Dict[str, Any]:
    if isinstance(schema, dict) and schema.get("type") == "object":
        if not isinstance(schema.get("properties"), dict):
            schema["properties"] = {}
        return schema
    _log.debug("tool input_schema root is not an object schema; sending an object schema instead")
    forced: Dict[str, Any] = {"type": "object", "properties": {}}
    if isinstance(schema, dict):
        if isinstance(schema.get("description"), str):
            forced["description"] = schema["description"]
        if isinstance(schema.get("properties"), dict):
            forced["properties"] = schema["properties"]
            if isinstance(schema.get("required"), list):
                forced["required"] = schema["required"]
    return forced


def _same(a: Any, b: Any) -> bool:
    # JSON equality: Python's == says True == 1 and 1 == 1.0, JSON (and serde) do not.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _contains(values: List[Any], item: Any) -> bool:
    return any(_same(v, item) for v in values)


def _resolve_ref(root: Any, reference: str) -> Optional[Any]:
    if not reference.startswith("#/"):
        return None
    current = root
    for segment in reference[2:].split("/"):
        key = segment.replace("~1", "/").replace("~0", "~")
        if not isinstance(current, dict) or key not in current:
            return None
        current = current[key]
    return current


def _infer_type_from_enum(values: List[Any]) -> Optional[str]:
    kinds = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):  # before int: bool is an int subclass
            kinds.add("boolean")
        elif isinstance(value, (int, float)):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        elif isinstance(value, dict):
            kinds.add("object")
        elif isinstance(value, list):
            kinds.add("array")
    return kinds.pop() if len(kinds) == 1 else None


def _normalize_type(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        names = [v for v in value if isinstance(v, str)]
        for name in names:
            if name != "null":
                return name
        if names:
            return names[0]
    return "string"


def _enum_values(schema: Any) -> List[Any]:
    if not isinstance(schema, dict):
        return []
    values = schema.get("enum")
    if isinstance(values, list):
        return [v for v in values if v is not None]
    if "const" in schema and schema["const"] is not None:
        return [schema["const"]]
    return []


def _merge_property(properties: Dict[str, Any], key: str, value: Any) -> None:
    existing = properties.get(key)
    if key not in properties:
        properties[key] = value
        return
    if _same(existing, value):
        return
    combined = _enum_values(existing)
    incoming = _enum_values(value)
    if not combined and not incoming:
        return
    for item in incoming:
        if not _contains(combined, item):
            combined.append(item)
    if not combined or not isinstance(existing, dict):
        return
    existing.pop("const", None)
    existing["enum"] = combined
    if "type" not in existing:
        inferred = _infer_type_from_enum(combined)
        if inferred is not None:
            existing["type"] = inferred


def _merge_union(root: Any, variants: List[Any], seen: Set[str]) -> Dict[str, Any]:
    properties: Dict[str, Any] = {}
    required: Optional[Set[str]] = None
    enum_values: List[Any] = []
    type_candidates: List[str] = []
    for variant in variants:
        sanitized = _sanitize(root, variant, seen)
        if not isinstance(sanitized, dict):
            continue
        if isinstance(sanitized.get("type"), str):
            type_candidates.append(sanitized["type"])
        if isinstance(sanitized.get("properties"), dict):
            for key, value in sanitized["properties"].items():
                _merge_property(properties, key, value)
        if isinstance(sanitized.get("required"), list):
            names = {r for r in sanitized["required"] if isinstance(r, str)}
            # Variants without ``required`` do not narrow the intersection.
            required = names if required is None else required & names
        if isinstance(sanitized.get("enum"), list):
            for value in sanitized["enum"]:
                if value is not None and not _contains(enum_values, value):
                    enum_values.append(value)

    if properties:
        schema_type = "object"
    else:
        schema_type = _infer_type_from_enum(enum_values) or (type_candidates[0] if type_candidates else "string")
    merged: Dict[str, Any] = {"type": schema_type}
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = sorted(required)
    if enum_values:
        merged["enum"] = enum_values
    return merged


def _sanitize(root: Any, schema: Any, seen: Set[str]) -> Any:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        reference = schema["$ref"]
        if reference in seen:
            # A recursive type: stop here with an open object rather than recurse forever.
            return {"type": "object", "properties": {}}
        seen.add(reference)
        target = _resolve_ref(root, reference)
        if target is not None:
            resolved = _sanitize(root, target, seen)
            seen.discard(reference)
            return resolved
        seen.discard(reference)

    if not isinstance(schema, dict):
        return schema

    for keyword in ("oneOf", "anyOf", "allOf"):
        if keyword in schema:
            if isinstance(schema[keyword], list):
                return _merge_union(root, schema[keyword], seen)
            break  # only the first union keyword present is considered

    out: Dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "type":
            out["type"] = _normalize_type(value)
        elif key == "properties":
            if isinstance(value, dict):
                out["properties"] = {name: _sanitize(root, prop, seen) for name, prop in value.items()}
        elif key == "items":
            out["items"] = _merge_union(root, value, seen) if isinstance(value, list) else _sanitize(root, value, seen)
        elif key == "enum":
            out["enum"] = [v for v in value if v is not None] if isinstance(value, list) else []
        else:
            out[key] = _sanitize(root, value, seen)

    const = schema.get("const")
    if const is not None:
        out["enum"] = [const]
        if "type" not in out:
            inferred = _infer_type_from_enum([const])
            if inferred is not None:
                out["type"] = inferred

    if out.get("type") == "object" and "properties" not in out:
        out["properties"] = {}

    if "type" not in out:
        if "properties" in out:
            out["type"] = "object"
        elif "items" in out:
            out["type"] = "array"
        elif isinstance(out.get("enum"), list):
            inferred = _infer_type_from_enum(out["enum"])
            if inferred is not None:
                out["type"] = inferred
    return out
