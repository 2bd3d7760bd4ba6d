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

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from steer_sync._providers import _schema
from steer_sync._providers._schema import SanitizeRules, normalize_type, plain, resolve_ref
from steer_sync._types import ToolSchema

__all__ = ["function_declarations", "sanitize", "simplify", "summarize"]

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

#: G6: ``$ref`` pointers may index into arrays; a ``type`` array naming only ``"null"`` becomes
#: ``"string"``, since Gemini has no null type.
_RULES = SanitizeRules(index_arrays=True, keep_null_type=False)


def function_declarations(tools: Sequence[ToolSchema]) -> List[Dict[str, Any]]:
    """Convert tools to Gemini function declarations.

    :param tools: the tools offered to the model.
    :returns: one ``{"name", "description", "parameters"?}`` object per tool, in order.
    """
    return [_declaration(tool) for tool in tools]


def _declaration(tool: ToolSchema) -> Dict[str, Any]:
    root: Any = plain(tool.input_schema)
    node = root
    if isinstance(root, dict) and isinstance(root.get("$ref"), str):
        target = resolve_ref(root, root["$ref"], index_arrays=_RULES.index_arrays)
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
            _schema.merge_property(properties, key, value, summary=True)
    if isinstance(schema.get("required"), list):
        required.update(name for name in schema["required"] if isinstance(name, str))
    if isinstance(schema.get("allOf"), list):
        for sub in schema["allOf"]:
            _, sub_properties, sub_required = summarize(sub)
            for key, value in sub_properties.items():
                _schema.merge_property(properties, key, value, summary=True)
            required.update(sub_required)
    for keyword in ("oneOf", "anyOf"):
        if isinstance(schema.get(keyword), list):
            common: Optional[Set[str]] = None
            for sub in schema[keyword]:
                _, sub_properties, sub_required = summarize(sub)
                for key, value in sub_properties.items():
                    _schema.merge_property(properties, key, value, summary=True)
                common = set(sub_required) if common is None else common & set(sub_required)
            required.update(common or ())


# --- 2. the sanitiser (steer's sanitize_for_gemini, with the G6 guard) ---------------------


def sanitize(root: Any, schema: Any, seen: Optional[Set[str]] = None) -> Any:
    """Inline references, merge unions and drop unsupported keywords (spec 1.6 / 2.4).

    :param root: the whole tool schema, for resolving ``#/...`` references.
    :param schema: the node to sanitise (not modified).
    :param seen: references being resolved further up; used to stop on recursive types.
    :returns: a new, finite schema.
    """
    return _schema.sanitize(root, schema, set() if seen is None else seen, _RULES)


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
        out["type"] = normalize_type(out["type"], keep_null=_RULES.keep_null_type)
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
