"""Tool schemas rewritten into Gemini ``functionDeclarations`` (layer L2, pure).

Gemini reads function parameters as its own ``Schema`` message, a small subset of OpenAPI 3.0,
and rejects the whole request when a schema carries a field it does not know (``$schema``,
``additionalProperties``, ``const``...), a ``required`` name that is not a property, an empty
root object, or an unsupported ``format``. Generated schemas (pydantic, schemars, zod) hit all
of these, so every tool goes through :func:`function_declarations`.

The pipeline is steer's (spec/anthropic-gemini.md sections 0.2 and 2.4):

1. the root is *summarised*: its ``properties`` and those of ``allOf`` / ``oneOf`` / ``anyOf``
   branches are merged (``required``: all of ``allOf``'s, the intersection of a ``oneOf``'s);
2. each property is *sanitised*: local ``$ref`` inlined, unions merged into one schema,
   ``const`` turned into a one-value ``enum``, validation keywords dropped, ``type`` inferred;
3. each property is *simplified* for Gemini: one ``type`` string, no ``additionalProperties``,
   string formats other than ``enum``/``date-time`` dropped.

Where this deliberately differs from steer, always to avoid a request Gemini rejects:

* G6: a ``$ref`` already being resolved further up (a recursive type) becomes
  ``{"type": "object", "properties": {}}`` instead of recursing forever, and JSON-pointer
  segments are decoded (``~1`` -> ``/``, ``~0`` -> ``~``). A ``$ref`` on the root is resolved
  before summarising. Tuple ``items`` (an array) are merged into one schema and a missing
  ``type`` is inferred as ``"array"`` from ``items`` (steer left the raw array).
* G16: ``format`` is kept only where Gemini accepts it: ``int32``/``int64`` on integers
  (``uint64``/``uint``/``usize`` become ``int64``; ``uint32``, ``uint16``, ``uint8``, ``int16``
  and ``int8`` become ``int32``), ``float``/``double`` on numbers, ``enum``/``date-time`` on
  strings. Any other format is dropped.
* Only the fields of Gemini's ``Schema`` survive (``type``, ``format``, ``description``,
  ``nullable``, ``enum``, ``properties``, ``required``, ``items``); ``properties``/``required``
  stay only on objects and ``items`` only on arrays; ``required`` keeps only names that are
  properties; ``enum`` stays only on strings whose values are all strings (Gemini's ``enum``
  is a list of strings).
* A tool without parameters is declared without ``parameters`` (Gemini rejects an object with
  no properties: "properties: should be non-empty for OBJECT type"), and an empty tool list
  sends no ``tools`` at all.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from steer_sync._types import ToolSchema

__all__ = ["function_declarations", "sanitize", "simplify", "summarize"]

#: Keywords the sanitiser drops (steer's list).
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

#: The fields of Gemini's ``Schema`` message this module emits.
_SCHEMA_FIELDS = frozenset({"type", "format", "description", "nullable", "enum", "properties", "required", "items"})

#: Integer formats Gemini lacks, mapped to the one it has of at least the same range (G16).
_INTEGER_FORMATS = {
    "int32": "int32",
    "int64": "int64",
    "uint64": "int64",
    "uint": "int64",
    "usize": "int64",
    "uint32": "int32",
    "uint16": "int32",
    "uint8": "int32",
    "int16": "int32",
    "int8": "int32",
}
_NUMBER_FORMATS = frozenset({"float", "double"})
_STRING_FORMATS = frozenset({"enum", "date-time"})


def function_declarations(tools: Sequence[ToolSchema]) -> List[Dict[str, Any]]:
    """Convert tools to Gemini function declarations.

    :param tools: the tools offered to the model.
    :returns: one ``{"name", "description", "parameters"?}`` object per tool, in order.
    """
    return [_declaration(tool) for tool in tools]


def _declaration(tool: ToolSchema) -> Dict[str, Any]:
    root: Any = _plain(tool.input_schema)
    node = root
    if isinstance(root, dict) and isinstance(root.get("$ref"), str):
        target = _resolve_ref(root, root["$ref"])
        if target is not None:
            node = target
    schema_type, properties, required = summarize(node)
    declaration: Dict[str, Any] = {"name": tool.name, "description": tool.description}
    simplified = {key: simplify(sanitize(root, value)) for key, value in properties.items()}
    if simplified:
        declaration["parameters"] = {
            "type": schema_type or "object",
            "properties": simplified,
            "required": [name for name in required if name in simplified],
        }
    return declaration


def _plain(value: Any) -> Any:
    # ToolSchema.input_schema is a Mapping, possibly read-only; work on plain dicts and lists.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    # JSON equality: Python says True == 1 and 1 == 1.0; JSON (and serde) do not.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _contains(values: List[Any], item: Any) -> bool:
    return any(_same(v, item) for v in values)


# --- 1. the root summary (steer's InputSchemaSummary) -------------------------------------


def summarize(schema: Any) -> Tuple[str, Dict[str, Any], List[str]]:
    """Flatten a root schema into ``(type, properties, required)`` (spec 0.2).

    :param schema: the root schema.
    :returns: the type (``""`` when unknown and there is nothing to describe), the merged
        properties, and the required names sorted and de-duplicated.
    """
    properties: Dict[str, Any] = {}
    required: Set[str] = set()
    _summarize_into(schema, properties, required)
    schema_type = schema.get("type") if isinstance(schema, dict) else None
    if not isinstance(schema_type, str):
        schema_type = ""
    if not schema_type and (properties or required):
        schema_type = "object"
    return schema_type, properties, sorted(required)


def _summarize_into(schema: Any, properties: Dict[str, Any], required: Set[str]) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("properties"), dict):
        for key, value in schema["properties"].items():
            _merge_summary_property(properties, key, value)
    if isinstance(schema.get("required"), list):
        required.update(name for name in schema["required"] if isinstance(name, str))
    if isinstance(schema.get("allOf"), list):
        for sub in schema["allOf"]:
            _, sub_properties, sub_required = summarize(sub)
            for key, value in sub_properties.items():
                _merge_summary_property(properties, key, value)
            required.update(sub_required)
    for keyword in ("oneOf", "anyOf"):
        if isinstance(schema.get(keyword), list):
            common: Optional[Set[str]] = None
            for sub in schema[keyword]:
                _, sub_properties, sub_required = summarize(sub)
                for key, value in sub_properties.items():
                    _merge_summary_property(properties, key, value)
                common = set(sub_required) if common is None else common & set(sub_required)
            required.update(common or ())


def _summary_enum_values(value: Any) -> List[Any]:
    # The summary's version keeps nulls (unlike the sanitiser's), as steer does.
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("enum"), list):
        return list(value["enum"])
    if "const" in value:
        return [value["const"]]
    return []


def _merge_summary_property(properties: Dict[str, Any], key: str, value: Any) -> None:
    if key not in properties:
        properties[key] = value
        return
    existing = properties[key]
    if _same(existing, value):
        return
    combined = _summary_enum_values(existing)
    incoming = _summary_enum_values(value)
    if not combined and not incoming:
        return
    for item in incoming:
        if not _contains(combined, item):
            combined.append(item)
    if combined and isinstance(existing, dict):
        merged = dict(existing)
        merged.pop("const", None)
        merged["enum"] = combined
        properties[key] = merged


# --- 2. the sanitiser (steer's sanitize_for_gemini, with the G6 guard) ---------------------


def sanitize(root: Any, schema: Any, seen: Optional[Set[str]] = None) -> Any:
    """Inline references, merge unions and drop unsupported keywords (spec 1.6 / 2.4).

    :param root: the whole tool schema, for resolving ``#/...`` references.
    :param schema: the node to sanitise (not modified).
    :param seen: references being resolved further up; used to stop on recursive types.
    :returns: a new, finite schema.
    """
    seen = set() if seen is None else seen
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        reference = schema["$ref"]
        if reference in seen:
            return {"type": "object", "properties": {}}
        target = _resolve_ref(root, reference)
        if target is not None:
            seen.add(reference)
            try:
                return sanitize(root, target, seen)
            finally:
                seen.discard(reference)

    if not isinstance(schema, dict):
        return schema

    for keyword in ("oneOf", "anyOf", "allOf"):
        if keyword in schema:
            if isinstance(schema[keyword], list):
                return _merge_union(root, schema[keyword], seen)
            break  # only the first union keyword present counts, as in steer

    out: Dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "type":
            out["type"] = _normalize_type(value)
        elif key == "properties":
            if isinstance(value, dict):
                out["properties"] = {name: sanitize(root, prop, seen) for name, prop in value.items()}
        elif key == "items":
            out["items"] = _merge_union(root, value, seen) if isinstance(value, list) else sanitize(root, value, seen)
        elif key == "enum":
            out["enum"] = [v for v in value if v is not None] if isinstance(value, list) else []
        else:
            out[key] = sanitize(root, value, seen)

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


def _resolve_ref(root: Any, reference: str) -> Optional[Any]:
    if not reference.startswith("#/"):
        return None
    current = root
    for segment in reference[2:].split("/"):
        key = segment.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return None
    return current


def _normalize_type(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item != "null":
                return item
    return "string"


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


def _enum_values(schema: Any) -> List[Any]:
    if not isinstance(schema, dict):
        return []
    if isinstance(schema.get("enum"), list):
        return [v for v in schema["enum"] if v is not None]
    if schema.get("const") is not None:
        return [schema["const"]]
    return []


def _merge_property(properties: Dict[str, Any], key: str, value: Any) -> None:
    if key not in properties:
        properties[key] = value
        return
    existing = properties[key]
    if _same(existing, value):
        return
    combined = _enum_values(existing)
    incoming = _enum_values(value)
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
        sanitized = sanitize(root, variant, seen)
        if not isinstance(sanitized, dict):
            continue
        if isinstance(sanitized.get("type"), str):
            type_candidates.append(sanitized["type"])
        if isinstance(sanitized.get("properties"), dict):
            for key, value in sanitized["properties"].items():
                _merge_property(properties, key, value)
        if isinstance(sanitized.get("required"), list):
            names = {r for r in sanitized["required"] if isinstance(r, str)}
            # Variants without ``required`` do not narrow the intersection (steer).
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


# --- 3. Gemini's own trimming (steer's simplify_property_schema, plus G16) -----------------


def simplify(value: Any) -> Any:
    """Trim a sanitised property schema to what Gemini's ``Schema`` accepts.

    :param value: a property schema; anything but a dict is returned unchanged.
    :returns: a new schema with one ``type`` string and only supported fields and formats.
    """
    if not isinstance(value, dict):
        return value
    out: Dict[str, Any] = {}
    for key, item in value.items():
        if key in _SCHEMA_FIELDS:
            out[key] = item
    if "type" in out:
        out["type"] = _normalize_type(out["type"])
    schema_type = out.get("type")

    fmt = out.pop("format", None)
    if isinstance(fmt, str):
        if schema_type == "integer" and fmt in _INTEGER_FORMATS:
            out["format"] = _INTEGER_FORMATS[fmt]
        elif (schema_type == "number" and fmt in _NUMBER_FORMATS) or (
            schema_type == "string" and fmt in _STRING_FORMATS
        ):
            out["format"] = fmt

    enum = out.pop("enum", None)
    if schema_type == "string" and isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        out["enum"] = enum

    if not isinstance(out.get("description"), str):
        out.pop("description", None)
    if not isinstance(out.get("nullable"), bool):
        out.pop("nullable", None)

    if schema_type == "array" and "items" in out:
        out["items"] = simplify(out["items"])
    else:
        out.pop("items", None)

    if schema_type == "object" and isinstance(out.get("properties"), dict):
        properties = {name: simplify(prop) for name, prop in out["properties"].items()}
        out["properties"] = properties
        required = out.pop("required", None)
        if isinstance(required, list):
            names = [name for name in required if isinstance(name, str) and name in properties]
            if names:
                out["required"] = names
    else:
        out.pop("properties", None)
        out.pop("required", None)
    return out
