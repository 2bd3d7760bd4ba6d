"""Tool input schemas rewritten into the JSON Schema subset Anthropic accepts (layer L2, pure).

Tool schemas are usually generated (pydantic, schemars) and carry ``$ref``/``$defs``,
``oneOf``/``anyOf``/``allOf``, ``const`` and validation keywords. The Messages API rejects
some of these and handles others badly, so every ``input_schema`` is passed through
:func:`sanitize_tool_schema` before it is sent. The rules are those of steer's
``sanitize_for_claude`` (spec/anthropic-gemini.md section 1.6), implemented in
:mod:`steer_sync._providers._schema`:

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

import logging
from typing import Any, Dict, Mapping, Set

from steer_sync._providers._schema import SanitizeRules, plain, sanitize

__all__ = ["sanitize_tool_schema"]

_log = logging.getLogger("steer_sync.providers.anthropic")

#: As in steer, a ``type`` array naming only ``"null"`` stays ``"null"`` (there is no other type
#: to prefer) and ``$ref`` pointers do not index into arrays.
_RULES = SanitizeRules(index_arrays=False, keep_null_type=True)


def sanitize_tool_schema(schema: Mapping[str, Any]) -> Dict[str, Any]:
    """Rewrite a tool's ``input_schema`` for the Messages API.

    :param schema: the tool's JSON Schema (not modified).
    :returns: a new schema whose root is always an object schema.
    """
    root: Any = plain(schema)
    sanitized = _sanitize(root, root, set())
    return _force_object_root(sanitized)


def _sanitize(root: Any, schema: Any, seen: Set[str]) -> Any:
    return sanitize(root, schema, seen, _RULES)


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
