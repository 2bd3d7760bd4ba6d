"""JSON Schema sanitising shared by the tool-schema converters (layer L2, pure).

Tool schemas are usually generated (pydantic, schemars, zod) and carry ``$ref``/``$defs``,
``oneOf``/``anyOf``/``allOf``, ``const`` and validation keywords that model APIs reject or
handle badly. :func:`sanitize` rewrites such a schema into a plain, finite one, following
steer's ``sanitize_for_*`` helpers (spec/anthropic-gemini.md sections 1.6 and 2.4):

* a local ``$ref`` is inlined; a ``$ref`` already being resolved further up (a recursive
  type) becomes ``{"type": "object", "properties": {}}`` so the output is finite;
* a union (``oneOf``, else ``anyOf``, else ``allOf``) is merged into one schema: all
  properties, the intersection of the ``required`` lists, the union of enum values;
* :data:`DROPPED_KEYWORDS` are removed, ``const`` becomes a one-value ``enum``, a ``type``
  array becomes one type, and a missing ``type`` is inferred from ``properties``, ``items``
  or the enum values.

The few points where callers differ are a :class:`SanitizeRules` value; anything a caller
does before or after sanitising (forcing an object root, trimming to an API's own schema
message) stays in the caller's module. Every function here returns new values and leaves
its input alone unless it says otherwise.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set

__all__ = [
    "DROPPED_KEYWORDS",
    "SanitizeRules",
    "contains",
    "enum_values",
    "extend_unique",
    "infer_type_from_enum",
    "merge_property",
    "merge_union",
    "normalize_type",
    "plain",
    "resolve_ref",
    "same",
    "sanitize",
]

#: Keywords the sanitised schema never carries (steer's list).
DROPPED_KEYWORDS = frozenset(
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


class SanitizeRules:
    """The choices on which callers of :func:`sanitize` differ.

    Immutable, so one instance is safely shared between threads. A plain class, not a
    dataclass: creating a dataclass costs the import about half a millisecond.

    :param index_arrays: whether a ``$ref`` pointer segment may index into an array
        (``#/anyOf/0``).
    :param keep_null_type: whether a ``type`` array naming only ``"null"`` becomes ``"null"``
        rather than ``"string"``.
    """

    __slots__ = ("index_arrays", "keep_null_type")

    index_arrays: bool
    keep_null_type: bool

    def __init__(self, index_arrays: bool = False, keep_null_type: bool = False) -> None:
        object.__setattr__(self, "index_arrays", index_arrays)
        object.__setattr__(self, "keep_null_type", keep_null_type)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SanitizeRules is immutable; cannot set {name!r}")

    def __repr__(self) -> str:
        return f"SanitizeRules(index_arrays={self.index_arrays!r}, keep_null_type={self.keep_null_type!r})"


def plain(value: Any) -> Any:
    """Copy a schema into plain dicts and lists.

    Tool schemas arrive as ``Mapping`` values, possibly read-only; the rewriting works on
    (and mutates) plain copies.

    :param value: any JSON-like value.
    :returns: a deep copy with every mapping a ``dict`` with string keys and every tuple a ``list``.
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Compare two JSON values the way JSON does.

    Python's ``==`` says ``True == 1`` and ``1 == 1.0``; JSON (and serde) do not.

    :returns: whether the values serialise identically.
    """
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def contains(values: List[Any], item: Any) -> bool:
    """Say whether ``item`` is in ``values`` under JSON equality (:func:`same`)."""
    return any(same(v, item) for v in values)


def extend_unique(values: List[Any], items: Iterable[Any]) -> None:
    """Append to ``values`` (in place) each of ``items`` not already in it under JSON equality."""
    for item in items:
        if not contains(values, item):
            values.append(item)


def resolve_ref(root: Any, reference: str, *, index_arrays: bool = False) -> Optional[Any]:
    """Follow a local JSON pointer (``#/$defs/Name``) from the root schema.

    Segments are decoded (``~1`` -> ``/``, ``~0`` -> ``~``).

    :param root: the whole schema.
    :param reference: the ``$ref`` value.
    :param index_arrays: whether a numeric segment may index into a list.
    :returns: the target, or ``None`` for a non-local or dangling reference.
    """
    if not reference.startswith("#/"):
        return None
    current = root
    for segment in reference[2:].split("/"):
        key = segment.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif index_arrays and isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return None
    return current


def infer_type_from_enum(values: List[Any]) -> Optional[str]:
    """Infer a JSON Schema ``type`` from enum values.

    :param values: the enum values; ``None`` entries are ignored.
    :returns: the one type all the values share, or ``None`` when they are of mixed (or no) types.
    """
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


def normalize_type(value: Any, *, keep_null: bool = False) -> str:
    """Reduce a ``type`` value to one type name.

    A ``type`` array such as ``["null", "string"]`` gives its first name other than ``"null"``.

    :param value: the ``type`` value, a string or a list.
    :param keep_null: whether an array naming only ``"null"`` gives ``"null"``.
    :returns: the type name; ``"string"`` when there is none to take.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        names = [v for v in value if isinstance(v, str)]
        for name in names:
            if name != "null":
                return name
        if keep_null and names:
            return names[0]
    return "string"


def enum_values(schema: Any, *, keep_nulls: bool = False) -> List[Any]:
    """Return a schema's enum values, or its ``const`` as one value.

    :param schema: the schema; anything but a dict has none.
    :param keep_nulls: keep ``None`` values (Gemini's parameter summary does, as steer's).
    """
    if not isinstance(schema, dict):
        return []
    values = schema.get("enum")
    if isinstance(values, list):
        return list(values) if keep_nulls else [v for v in values if v is not None]
    if "const" in schema and (keep_nulls or schema["const"] is not None):
        return [schema["const"]]
    return []


def merge_property(properties: Dict[str, Any], key: str, value: Any, *, summary: bool = False) -> None:
    """Merge one union variant's property into ``properties``.

    A new key is added as is. When the key is already there with a different schema, only
    the enum values (or ``const``) are merged into the existing schema, which becomes an
    ``enum`` schema and gets a ``type`` inferred from the values if it had none.

    :param summary: merge as Gemini's root summary does (steer's ``summarize``): ``None``
        values are kept, no ``type`` is inferred, and the merged schema is a new dict put in
        ``properties`` (the summary holds the caller's own schemas, which must not change);
        otherwise the existing schema, a sanitised copy, is changed in place.
    """
    if key not in properties:
        properties[key] = value
        return
    existing = properties[key]
    if same(existing, value):
        return
    combined = enum_values(existing, keep_nulls=summary)
    extend_unique(combined, enum_values(value, keep_nulls=summary))
    if not combined or not isinstance(existing, dict):
        return
    if summary:
        existing = properties[key] = dict(existing)
    existing.pop("const", None)
    existing["enum"] = combined
    if not summary and "type" not in existing:
        inferred = infer_type_from_enum(combined)
        if inferred is not None:
            existing["type"] = inferred


def merge_union(root: Any, variants: List[Any], seen: Set[str], rules: SanitizeRules) -> Dict[str, Any]:
    """Sanitise the variants of a union and merge them into one schema.

    :param root: the whole schema, for resolving references.
    :param variants: the ``oneOf``/``anyOf``/``allOf`` list (or tuple ``items``).
    :param seen: references being resolved further up.
    :param rules: the caller's :class:`SanitizeRules`.
    :returns: an object schema with all variants' properties when any has properties, else a
        schema typed from the merged enum values or the first variant's type.
    """
    properties: Dict[str, Any] = {}
    required: Optional[Set[str]] = None
    merged_enum: List[Any] = []
    type_candidates: List[str] = []
    for variant in variants:
        sanitized = sanitize(root, variant, seen, rules)
        if not isinstance(sanitized, dict):
            continue
        if isinstance(sanitized.get("type"), str):
            type_candidates.append(sanitized["type"])
        if isinstance(sanitized.get("properties"), dict):
            for key, value in sanitized["properties"].items():
                merge_property(properties, key, value)
        if isinstance(sanitized.get("required"), list):
            names = {r for r in sanitized["required"] if isinstance(r, str)}
            # Variants without ``required`` do not narrow the intersection (steer).
            required = names if required is None else required & names
        if isinstance(sanitized.get("enum"), list):
            extend_unique(merged_enum, (v for v in sanitized["enum"] if v is not None))

    if properties:
        schema_type = "object"
    else:
        schema_type = infer_type_from_enum(merged_enum) or (type_candidates[0] if type_candidates else "string")
    merged: Dict[str, Any] = {"type": schema_type}
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = sorted(required)
    if merged_enum:
        merged["enum"] = merged_enum
    return merged


def sanitize(root: Any, schema: Any, seen: Set[str], rules: SanitizeRules) -> Any:
    """Inline references, merge unions and drop unsupported keywords.

    :param root: the whole schema, for resolving ``#/...`` references.
    :param schema: the node to sanitise (not modified).
    :param seen: references being resolved further up, used to stop on recursive types;
        left as it was found on return.
    :param rules: the caller's :class:`SanitizeRules`.
    :returns: a new, finite schema (a non-dict node is returned as is).
    """
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        reference = schema["$ref"]
        if reference in seen:
            # A recursive type: stop here with an open object rather than recurse forever.
            return {"type": "object", "properties": {}}
        target = resolve_ref(root, reference, index_arrays=rules.index_arrays)
        if target is not None:
            seen.add(reference)
            try:
                return sanitize(root, target, seen, rules)
            finally:
                seen.discard(reference)

    if not isinstance(schema, dict):
        return schema

    for keyword in ("oneOf", "anyOf", "allOf"):
        if keyword in schema:
            if isinstance(schema[keyword], list):
                return merge_union(root, schema[keyword], seen, rules)
            break  # only the first union keyword present counts, as in steer

    out: Dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED_KEYWORDS:
            continue
        if key == "type":
            out["type"] = normalize_type(value, keep_null=rules.keep_null_type)
        elif key == "properties":
            if isinstance(value, dict):
                out["properties"] = {name: sanitize(root, prop, seen, rules) for name, prop in value.items()}
        elif key == "items":
            if isinstance(value, list):
                out["items"] = merge_union(root, value, seen, rules)
            else:
                out["items"] = sanitize(root, value, seen, rules)
        elif key == "enum":
            out["enum"] = [v for v in value if v is not None] if isinstance(value, list) else []
        else:
            out[key] = sanitize(root, value, seen, rules)

    const = schema.get("const")
    if const is not None:
        out["enum"] = [const]
        if "type" not in out:
            inferred = infer_type_from_enum([const])
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
            inferred = infer_type_from_enum(out["enum"])
            if inferred is not None:
                out["type"] = inferred
    return out
