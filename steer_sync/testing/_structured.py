"""What the loopback server checks and scripts for structured output and tool choice (layer L4, no I/O).

:func:`request_problem` looks at the structured-output and tool-choice fields of a request the
way the real API would, and names the first thing it would reject (the server then answers
400 in the request's format), so a test catches a wrong request. :func:`resolve_json` turns a
``Turn(json=...)`` into what the provider would send: the JSON as the answer text, or, when the
request forced a tool instead of asking for native structured output, as that tool's input.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, List, Mapping, Optional

from steer_sync.testing._script import RecordedRequest, ToolCallSpec, Turn

__all__ = ["forced_tool", "request_problem", "resolve_json"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _tool_names(body: Mapping[str, Any], fmt: str) -> List[str]:
    names: List[str] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, Mapping):
            continue
        if fmt == "gemini":
            for decl in tool.get("functionDeclarations") or ():
                if isinstance(decl, Mapping) and isinstance(decl.get("name"), str):
                    names.append(decl["name"])
            continue
        if fmt in ("openai_chat", "xai") and isinstance(tool.get("function"), Mapping):
            tool = tool["function"]
        if isinstance(tool.get("name"), str):
            names.append(tool["name"])
    return names


def _object_problem(schema: Any, path: str, *, strict_openai: bool) -> Optional[str]:
    """Check every object of a schema: ``additionalProperties: false`` and (OpenAI strict) all required."""
    if not isinstance(schema, Mapping):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"'additionalProperties' must be explicitly set to false at {path or 'the root'}"
        if strict_openai:
            props = list((schema.get("properties") or {}).keys())
            missing = [p for p in props if p not in (schema.get("required") or ())]
            if missing:
                return f"'required' must list every property at {path or 'the root'}; missing {missing}"
    for name, sub in (schema.get("properties") or {}).items():
        problem = _object_problem(sub, f"{path}.{name}" if path else name, strict_openai=strict_openai)
        if problem:
            return problem
    subs: List[Any] = [schema.get("items")]
    for key in ("anyOf", "oneOf", "allOf"):
        subs.extend(schema.get(key) or ())
    for sub in subs:
        problem = _object_problem(sub, path, strict_openai=strict_openai)
        if problem:
            return problem
    return None


def _json_schema_problem(spec: Any, where: str, *, needs_name: bool) -> Optional[str]:
    if not isinstance(spec, Mapping):
        return f"{where} must be an object"
    if needs_name and not (isinstance(spec.get("name"), str) and _NAME_RE.match(spec["name"])):
        return f"{where}.name must match ^[a-zA-Z0-9_-]{{1,64}}$"
    if not isinstance(spec.get("schema"), Mapping):
        return f"{where}.schema must be a JSON Schema object"
    strict = spec.get("strict", False)
    if not isinstance(strict, bool):
        return f"{where}.strict must be a boolean"
    if strict:
        problem = _object_problem(spec["schema"], "", strict_openai=True)
        if problem:
            return f"Invalid schema for response_format '{spec.get('name')}': {problem}"
    return None


def _anthropic_problem(body: Mapping[str, Any], names: List[str]) -> Optional[str]:
    if "output_config" in body:
        config = body["output_config"]
        if not isinstance(config, Mapping) or not isinstance(config.get("format"), Mapping):
            return "output_config.format: Field required"
        fmt = config["format"]
        if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), Mapping):
            return "output_config.format: expected {type: 'json_schema', schema: {...}}"
        problem = _object_problem(fmt["schema"], "", strict_openai=False)
        if problem:
            return f"output_config.format.schema: {problem}"
    if "tool_choice" in body:
        choice = body["tool_choice"]
        if not isinstance(choice, Mapping) or choice.get("type") not in ("auto", "any", "tool", "none"):
            return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
        if not names:
            return "tool_choice may only be specified while providing tools"
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: no tool named {choice.get('name')!r} in tools"
        if "disable_parallel_tool_use" in choice and not isinstance(choice["disable_parallel_tool_use"], bool):
            return "tool_choice.disable_parallel_tool_use: Input should be a valid boolean"
        thinking = body.get("thinking")
        if choice["type"] in ("any", "tool") and isinstance(thinking, Mapping) and thinking.get("type") == "enabled":
            return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _openai_choice_problem(choice: Any, names: List[str], nested: bool) -> Optional[str]:
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            return f"tool_choice: invalid value {choice!r}; expected 'auto', 'none' or 'required'"
        if choice == "required" and not names:
            return "tool_choice 'required' is only allowed when tools are specified"
        return None
    if choice is None:
        return None
    if not isinstance(choice, Mapping) or choice.get("type") != "function":
        return "tool_choice: expected a string or {type: 'function', ...}"
    name = (choice.get("function") or {}).get("name") if nested else choice.get("name")
    if name not in names:
        return f"tool_choice: function {name!r} is not among the tools"
    return None


def _responses_problem(body: Mapping[str, Any], names: List[str]) -> Optional[str]:
    text = body.get("text")
    if isinstance(text, Mapping) and "format" in text:
        fmt = text["format"]
        if not isinstance(fmt, Mapping) or fmt.get("type") not in ("text", "json_object", "json_schema"):
            return "text.format.type: expected 'text', 'json_object' or 'json_schema'"
        if fmt["type"] == "json_schema":
            problem = _json_schema_problem(fmt, "text.format", needs_name=True)
            if problem:
                return problem
    if "tool_choice" in body:
        problem = _openai_choice_problem(body["tool_choice"], names, nested=False)
        if problem:
            return problem
    if "parallel_tool_calls" in body and not isinstance(body["parallel_tool_calls"], bool):
        return "parallel_tool_calls: expected a boolean"
    return None


def _chat_problem(body: Mapping[str, Any], names: List[str]) -> Optional[str]:
    if "response_format" in body:
        fmt = body["response_format"]
        if not isinstance(fmt, Mapping) or fmt.get("type") not in ("text", "json_object", "json_schema"):
            return "response_format.type: expected 'text', 'json_object' or 'json_schema'"
        if fmt["type"] == "json_schema":
            problem = _json_schema_problem(fmt.get("json_schema"), "response_format.json_schema", needs_name=True)
            if problem:
                return problem
    if "tool_choice" in body:
        if not names:
            return "tool_choice is only allowed when tools are specified"
        problem = _openai_choice_problem(body["tool_choice"], names, nested=True)
        if problem:
            return problem
    if "parallel_tool_calls" in body:
        if not isinstance(body["parallel_tool_calls"], bool):
            return "parallel_tool_calls: expected a boolean"
        if not names:
            return "parallel_tool_calls is only allowed when tools are specified"
    return None


def _gemini_problem(body: Mapping[str, Any], names: List[str]) -> Optional[str]:
    config = body.get("generationConfig")
    if isinstance(config, Mapping):
        if "responseJsonSchema" in config and "responseSchema" in config:
            return "generation_config: only one of responseSchema and responseJsonSchema may be set"
        if "responseJsonSchema" in config or "responseSchema" in config:
            if config.get("responseMimeType") != "application/json":
                return "generation_config.response_mime_type must be application/json to use a response schema"
            if not isinstance(config.get("responseJsonSchema", config.get("responseSchema")), Mapping):
                return "generation_config.response_json_schema must be an object"
    tool_config = body.get("toolConfig")
    if tool_config is not None:
        calling = tool_config.get("functionCallingConfig") if isinstance(tool_config, Mapping) else None
        if not isinstance(calling, Mapping) or calling.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            return "tool_config.function_calling_config.mode: expected AUTO, ANY, NONE or VALIDATED"
        allowed = calling.get("allowedFunctionNames")
        if allowed is not None:
            if calling["mode"] not in ("ANY", "VALIDATED"):
                return "allowed_function_names may only be set when mode is ANY"
            for name in allowed:
                if name not in names:
                    return f"allowed_function_names: {name!r} is not a declared function"
        if calling["mode"] == "ANY" and not names:
            return "function_calling_config mode ANY needs function declarations"
    return None


def request_problem(fmt: str, request: RecordedRequest) -> Optional[str]:
    """Name what the real API would reject in a request's structured-output or tool-choice fields.

    :param fmt: the request's wire format name.
    :param request: the request.
    :returns: the API-like error message, or ``None`` when the fields are well formed.
    """
    body = request.json_dict()
    names = _tool_names(body, fmt)
    if fmt == "anthropic":
        return _anthropic_problem(body, names)
    if fmt == "openai_responses":
        return _responses_problem(body, names)
    if fmt in ("openai_chat", "xai"):
        return _chat_problem(body, names)
    if fmt == "gemini":
        return _gemini_problem(body, names)
    return None


def forced_tool(fmt: str, request: RecordedRequest) -> Optional[str]:
    """Name the tool a request forces instead of asking for native structured output, if it does.

    :returns: the tool's name, or ``None`` when the request asks for native JSON or forces nothing.
    """
    body = request.json_dict()
    choice: Any = body.get("tool_choice")
    if fmt == "anthropic" and "output_config" not in body:
        if isinstance(choice, Mapping) and choice.get("type") == "tool":
            return str(choice.get("name"))
    elif fmt == "openai_responses" and "format" not in (body.get("text") or {}):
        if isinstance(choice, Mapping) and choice.get("type") == "function":
            return str(choice.get("name"))
    elif fmt in ("openai_chat", "xai") and "response_format" not in body:
        if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
            return str(choice["function"].get("name"))
    elif fmt == "gemini" and "responseJsonSchema" not in (body.get("generationConfig") or {}):
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        allowed: Any = calling.get("allowedFunctionNames") or ()
        if calling.get("mode") == "ANY" and len(allowed) == 1:
            return str(allowed[0])
    return None


def resolve_json(turn: Turn, fmt: str, request: RecordedRequest) -> Turn:
    """Render ``turn.json`` as the answer text, or as the forced tool's input.

    :returns: ``turn`` unchanged when it has no ``json``, else a copy with ``text`` or a tool call.
    """
    if turn.json is None:
        return turn
    name = forced_tool(fmt, request)
    if name is None:
        text = turn.json if isinstance(turn.json, str) else json.dumps(turn.json, ensure_ascii=False)
        return dataclasses.replace(turn, json=None, text=turn.text + text)
    arguments = turn.json if isinstance(turn.json, (Mapping, str)) else json.dumps(turn.json)
    call = ToolCallSpec(id="call_loopback_json", name=name, arguments=arguments)
    return dataclasses.replace(turn, json=None, tool_calls=(*turn.tool_calls, call))
