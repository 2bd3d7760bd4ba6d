"""Structured output and tool choice on each wire format, in one place (layer L2, pure).

Each ``*_fields(options, body, provider)`` function reads the call's
:class:`~steer_sync._types._structured.StructuredOptions` and the request body the format's
builder made (for its tool names and, on Anthropic, whether thinking is on), and returns
``(body_updates, extra_headers)``; :func:`apply_fields` deep-merges them into the body and the
call's headers. Nothing here sends anything: an impossible combination raises before the
request exists. The shared shell (:class:`~steer_sync._providers._base.HttpProvider`) runs
:func:`apply_structured` once per request, right after the format built its body, with the
provider's ``_structured_fields`` hook (which calls its format's function below).

What each format gets:

========================  ===================================================================
Anthropic Messages        ``output_config.format = {type: json_schema, schema}`` (GA, no beta
                          header); ``tool_choice = {type: auto|any|tool|none, name?,
                          disable_parallel_tool_use?}``. A forced tool (``any``/``tool``) with
                          thinking on is refused by the API, so it raises here.
OpenAI Responses          ``text.format = {type: json_schema, name, schema, strict}``;
                          ``tool_choice = "auto"|"none"|"required"|{type: function, name}``;
                          ``parallel_tool_calls``.
Chat Completions, xAI     ``response_format = {type: json_schema, json_schema: {name, schema,
                          strict}}``; ``tool_choice`` (``{type: function, function: {name}}``
                          for a named tool); ``parallel_tool_calls`` (only with tools: the API
                          rejects it without).
Gemini                    ``generationConfig.responseMimeType = "application/json"`` and
                          ``responseJsonSchema``; ``toolConfig.functionCallingConfig = {mode:
                          AUTO|NONE|ANY, allowedFunctionNames?}``. It cannot limit parallel
                          calls: ``parallel_tool_calls=False`` raises ``UnsupportedFeature``.
========================  ===================================================================

Schema adaptation (:func:`adapt_schema`), per format:

* ``openai`` strict (Responses, Chat, xAI with ``strict=True``): every object lists all its
  properties in ``required``; a property that was optional becomes nullable (``anyOf`` with
  ``null``) so the model can still leave it out by sending ``null``; ``additionalProperties:
  false`` on every object. A free-form map (``Dict[str, T]``) cannot be strict: it raises
  ``UnsupportedFeature`` (use ``strict=False``). Non-strict schemas go out unchanged.
* ``anthropic``: ``additionalProperties: false`` on every object (required by the API); the
  constraints it rejects (numeric bounds, string lengths, ``maxItems``, ``minItems`` above 1,
  ``uniqueItems``...) are removed and appended to the description so the model still sees
  them; a free-form map raises ``UnsupportedFeature``.
* ``gemini``: only the keywords ``responseJsonSchema`` takes are kept (``type``,
  ``properties``, ``required``, ``items``, ``enum``, ``anyOf``, ``description``, bounds...);
  ``const`` becomes a one-value ``enum``; everything else is dropped.

A tool choice that needs tools (``required`` or a named tool) with no tools, or a named tool
that is not among the call's tools, raises ``ConfigurationError``; ``auto`` and ``none``
without tools are already true and send nothing.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple

from steer_sync._errors import ConfigurationError, UnsupportedFeature
from steer_sync._types._structured import JsonSchema, StructuredOptions, ToolChoice

if TYPE_CHECKING:
    from steer_sync._provider import CompletionRequest

__all__ = [
    "adapt_schema",
    "anthropic_fields",
    "apply_fields",
    "apply_structured",
    "chat_fields",
    "gemini_fields",
    "responses_fields",
    "structured_options",
]

Fields = Tuple[Dict[str, Any], Dict[str, str]]
#: A provider's fields hook: ``(options, body) -> (body_updates, headers)``.
FieldsHook = Callable[[StructuredOptions, Mapping[str, Any]], Fields]

_NUMERIC_AND_LENGTH = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)

#: The keywords Gemini's ``responseJsonSchema`` accepts.
_GEMINI_KEYWORDS = frozenset(
    {
        "$id",
        "$defs",
        "$ref",
        "$anchor",
        "type",
        "format",
        "title",
        "description",
        "enum",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "anyOf",
        "oneOf",
        "properties",
        "additionalProperties",
        "required",
        "propertyOrdering",
    }
)


# --- schema adaptation ------------------------------------------------------------------------


def adapt_schema(schema: Mapping[str, Any], fmt: str, *, strict: bool = True, provider: str = "") -> Dict[str, Any]:
    """Return a copy of ``schema`` shaped for ``fmt`` (``openai``, ``anthropic`` or ``gemini``).

    See the module docstring for what changes per format.

    :raises UnsupportedFeature: for a schema the format cannot take.
    """
    out = copy.deepcopy(dict(schema))
    if fmt == "openai":
        return _openai_strict(out, "", provider) if strict else out
    if fmt == "anthropic":
        return _anthropic(out, "", provider)
    if fmt == "gemini":
        return _gemini(out)
    raise ValueError(f"unknown schema format {fmt!r}")


def _is_object(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def _children(node: Dict[str, Any], path: str, visit: Any) -> None:
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            node[key] = [visit(item, f"{path}[{key}]") if isinstance(item, dict) else item for item in node[key]]
    if isinstance(node.get("items"), dict):
        node["items"] = visit(node["items"], f"{path}[]")
    for key in ("$defs", "definitions"):
        if isinstance(node.get(key), dict):
            node[key] = {name: visit(sub, f"{key}.{name}") for name, sub in node[key].items()}


def _free_map(node: Mapping[str, Any]) -> bool:
    extra = node.get("additionalProperties")
    return extra is True or isinstance(extra, dict) or ("properties" not in node and extra is not False)


def _nullable(node: Dict[str, Any]) -> Dict[str, Any]:
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return node
    if isinstance(node.get("anyOf"), list):
        if not any(isinstance(o, dict) and o.get("type") == "null" for o in node["anyOf"]):
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
        return node
    description = node.pop("description", None)
    out: Dict[str, Any] = {"anyOf": [node, {"type": "null"}]}
    if description is not None:
        out = {"description": description, **out}
    return out


def _openai_strict(node: Dict[str, Any], path: str, provider: str) -> Dict[str, Any]:
    if _is_object(node):
        if _free_map(node):
            raise UnsupportedFeature(
                provider,
                "strict structured output",
                f"the object at {path or 'the root'} has free-form keys (a Dict); strict mode needs "
                "fixed properties: use a dataclass, or JsonSchema(..., strict=False)",
            )
        properties = node.get("properties") or {}
        required = set(node.get("required") or ())
        new_props: Dict[str, Any] = {}
        for name, sub in properties.items():
            adapted = (
                _openai_strict(sub, f"{path}.{name}" if path else name, provider) if isinstance(sub, dict) else sub
            )
            if name not in required and isinstance(adapted, dict):
                adapted = _nullable(adapted)
            new_props[name] = adapted
        node["properties"] = new_props
        node["required"] = list(new_props)
        node["additionalProperties"] = False
    _children(node, path, lambda sub, where: _openai_strict(sub, where, provider))
    return node


def _anthropic(node: Dict[str, Any], path: str, provider: str) -> Dict[str, Any]:
    dropped: List[str] = []
    for key in _NUMERIC_AND_LENGTH:
        if key in node:
            dropped.append(f"{key}={node.pop(key)!r}")
    if isinstance(node.get("minItems"), int) and node["minItems"] > 1:
        dropped.append(f"minItems={node.pop('minItems')!r}")
    if dropped:
        note = f"({', '.join(dropped)})"
        node["description"] = f"{node['description']} {note}" if node.get("description") else note
    if _is_object(node):
        if _free_map(node):
            raise UnsupportedFeature(
                provider,
                "structured output",
                f"the object at {path or 'the root'} has free-form keys (a Dict); Anthropic needs "
                "fixed properties: use a dataclass",
            )
        node["properties"] = {
            name: _anthropic(sub, f"{path}.{name}" if path else name, provider) if isinstance(sub, dict) else sub
            for name, sub in (node.get("properties") or {}).items()
        }
        node["additionalProperties"] = False
    _children(node, path, lambda sub, where: _anthropic(sub, where, provider))
    return node


def _gemini(node: Dict[str, Any]) -> Dict[str, Any]:
    if "const" in node and "enum" not in node:
        node["enum"] = [node["const"]]
    for key in [k for k in node if k not in _GEMINI_KEYWORDS]:
        del node[key]
    if isinstance(node.get("properties"), dict):
        node["properties"] = {
            name: _gemini(sub) if isinstance(sub, dict) else sub for name, sub in node["properties"].items()
        }
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _gemini(node["additionalProperties"])
    _children(node, "", lambda sub, where: _gemini(sub))
    return node


# --- shared checks ----------------------------------------------------------------------------


def _check_choice(choice: Optional[ToolChoice], names: List[str], provider: str) -> Optional[ToolChoice]:
    """Validate a tool choice against the call's tools; ``None`` when nothing must be sent."""
    if choice is None:
        return None
    if not names:
        if choice.kind in ("required", "tool"):
            what = "ToolChoice.required()" if choice.kind == "required" else f"ToolChoice.tool({choice.name!r})"
            raise ConfigurationError(provider, f"{what} needs tools, but the call has none; pass tools=[...]")
        return None
    if choice.kind == "tool" and choice.name not in names:
        raise ConfigurationError(
            provider,
            f"ToolChoice.tool({choice.name!r}) names no tool of this call; the tools are: {', '.join(names)}",
        )
    return choice


def _names(tools: Any, key: Optional[str] = None) -> List[str]:
    out: List[str] = []
    for tool in tools or ():
        if isinstance(tool, Mapping):
            if key is not None and isinstance(tool.get(key), Mapping):
                tool = tool[key]
            if isinstance(tool.get("name"), str):
                out.append(tool["name"])
    return out


def _format(options: Optional[StructuredOptions]) -> Optional[JsonSchema]:
    return options.response_format if options is not None else None


# --- per format -------------------------------------------------------------------------------


def anthropic_fields(options: Optional[StructuredOptions], body: Mapping[str, Any], provider: str) -> Fields:
    """The Anthropic Messages fields for ``options`` (see the module docstring).

    :param body: the Messages body built so far (tools, thinking).
    :raises UnsupportedFeature: a forced tool with thinking on, or an unsupported schema.
    :raises ConfigurationError: a tool choice that names no tool of the call.
    """
    updates: Dict[str, Any] = {}
    if options is None:
        return updates, {}
    schema = _format(options)
    if schema is not None:
        updates["output_config"] = {
            "format": {"type": "json_schema", "schema": adapt_schema(schema.schema, "anthropic", provider=provider)}
        }
    names = _names(body.get("tools"))
    choice = _check_choice(options.tool_choice, names, provider)
    if names and (choice is not None or options.parallel_tool_calls is False):
        kind = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[choice.kind if choice else "auto"]
        if kind in ("any", "tool") and "thinking" in body:
            raise UnsupportedFeature(
                provider,
                "forcing a tool with thinking on",
                "Anthropic refuses tool_choice any/tool while extended thinking is enabled; pass "
                "call_options=ModelParameters(thinking_config=ThinkingConfig(enabled=False))",
            )
        wire: Dict[str, Any] = {"type": kind}
        if choice is not None and choice.kind == "tool":
            wire["name"] = choice.name
        if options.parallel_tool_calls is False and kind != "none":
            wire["disable_parallel_tool_use"] = True
        updates["tool_choice"] = wire
    return updates, {}


def _openai_choice(choice: ToolChoice, nested: bool) -> Any:
    if choice.kind != "tool":
        return choice.kind
    if nested:
        return {"type": "function", "function": {"name": choice.name}}
    return {"type": "function", "name": choice.name}


def responses_fields(options: Optional[StructuredOptions], body: Mapping[str, Any], provider: str) -> Fields:
    """The OpenAI Responses fields for ``options`` (see the module docstring).

    :raises UnsupportedFeature: a strict schema with free-form maps.
    :raises ConfigurationError: a tool choice that names no tool of the call.
    """
    updates: Dict[str, Any] = {}
    if options is None:
        return updates, {}
    schema = _format(options)
    if schema is not None:
        updates["text"] = {
            "format": {
                "type": "json_schema",
                "name": schema.name,
                "schema": adapt_schema(schema.schema, "openai", strict=schema.strict, provider=provider),
                "strict": schema.strict,
            }
        }
    choice = _check_choice(options.tool_choice, _names(body.get("tools")), provider)
    if choice is not None:
        updates["tool_choice"] = _openai_choice(choice, nested=False)
    if options.parallel_tool_calls is not None:
        updates["parallel_tool_calls"] = options.parallel_tool_calls
    return updates, {}


def chat_fields(options: Optional[StructuredOptions], body: Mapping[str, Any], provider: str) -> Fields:
    """The Chat Completions (and xAI) fields for ``options`` (see the module docstring).

    :raises UnsupportedFeature: a strict schema with free-form maps.
    :raises ConfigurationError: a tool choice that names no tool of the call.
    """
    updates: Dict[str, Any] = {}
    if options is None:
        return updates, {}
    schema = _format(options)
    if schema is not None:
        updates["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": schema.name,
                "schema": adapt_schema(schema.schema, "openai", strict=schema.strict, provider=provider),
                "strict": schema.strict,
            },
        }
    names = _names(body.get("tools"), "function")
    choice = _check_choice(options.tool_choice, names, provider)
    if choice is not None:
        updates["tool_choice"] = _openai_choice(choice, nested=True)
    if options.parallel_tool_calls is not None and names:
        updates["parallel_tool_calls"] = options.parallel_tool_calls
    return updates, {}


def gemini_fields(options: Optional[StructuredOptions], body: Mapping[str, Any], provider: str) -> Fields:
    """The Gemini ``generateContent`` fields for ``options`` (see the module docstring).

    :raises UnsupportedFeature: ``parallel_tool_calls=False`` (Gemini cannot limit them).
    :raises ConfigurationError: a tool choice that names no tool of the call.
    """
    updates: Dict[str, Any] = {}
    if options is None:
        return updates, {}
    if options.parallel_tool_calls is False:
        raise UnsupportedFeature(
            provider,
            "parallel_tool_calls=False",
            "Gemini has no switch for one tool call at a time; leave parallel_tool_calls unset",
        )
    schema = _format(options)
    if schema is not None:
        updates["generationConfig"] = {
            "responseMimeType": "application/json",
            "responseJsonSchema": adapt_schema(schema.schema, "gemini", provider=provider),
        }
    names: List[str] = []
    for group in body.get("tools") or ():
        if isinstance(group, Mapping):
            names.extend(_names(group.get("functionDeclarations")))
    choice = _check_choice(options.tool_choice, names, provider)
    if choice is not None:
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}[choice.kind]
        config: Dict[str, Any] = {"mode": mode}
        if choice.kind == "tool":
            config["allowedFunctionNames"] = [choice.name]
        updates["toolConfig"] = {"functionCallingConfig": config}
    return updates, {}


def _deep_merge(target: Dict[str, Any], updates: Mapping[str, Any]) -> None:
    for key, value in updates.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            # A copy: the builder's nested objects (generationConfig...) stay as they were built.
            current = dict(current)
            target[key] = current
            _deep_merge(current, value)
        else:
            target[key] = value


def apply_fields(
    body: Dict[str, Any], extra_headers: Optional[Mapping[str, str]], fields: Fields
) -> Optional[Mapping[str, str]]:
    """Merge ``fields`` into ``body`` (in place, nested objects merged) and return the headers to send.

    :param body: the request body, changed in place.
    :param extra_headers: the call's own extra headers.
    :param fields: what a ``*_fields`` function returned.
    :returns: ``extra_headers`` with the fields' headers added (``anthropic-beta`` values joined).
    """
    updates, headers = fields
    _deep_merge(body, updates)
    if not headers:
        return extra_headers
    merged: Dict[str, str] = dict(extra_headers or {})
    for name, value in headers.items():
        existing = next((k for k in merged if k.lower() == name.lower()), None)
        if existing is not None and name.lower() == "anthropic-beta":
            merged[existing] = f"{merged[existing]},{value}"
        else:
            merged[name] = value
    return merged


def structured_options(request: CompletionRequest) -> Optional[StructuredOptions]:
    """The checked structured-output and tool-choice options of ``request``; ``None`` when it sets none.

    :param request: the call (its ``response_format`` may still be a dataclass type when the
        request was built by hand rather than by the client).
    :raises TypeError: for a value of the wrong type, naming what is accepted.
    """
    if request.response_format is None and request.tool_choice is None and request.parallel_tool_calls is None:
        return None
    return StructuredOptions.build(request.response_format, request.tool_choice, request.parallel_tool_calls)


def apply_structured(
    request: CompletionRequest, body: Mapping[str, Any], fields: FieldsHook
) -> Tuple[Dict[str, Any], CompletionRequest]:
    """Add the structured-output and tool-choice fields of ``request`` to a built ``body``.

    :param request: the call.
    :param body: the body the format's builder made (not changed).
    :param fields: the provider's hook (its format's ``*_fields`` function).
    :returns: the new body, and the request carrying any headers the fields need.
    :raises UnsupportedFeature: for a combination the format cannot express (before sending).
    :raises ConfigurationError: for a tool choice that names no tool of the call.
    """
    options = structured_options(request)
    out = dict(body)
    if options is None:
        return out, request
    headers = apply_fields(out, request.extra_headers, fields(options, out))
    return out, request if headers is request.extra_headers else replace(request, extra_headers=headers)
