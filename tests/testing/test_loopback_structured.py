"""The loopback server refuses malformed structured-output and tool-choice fields like the real APIs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Tuple

import pytest

from steer_sync.testing import LoopbackServer, Turn

TOOLS = {
    "anthropic": [{"name": "f", "input_schema": {"type": "object"}}],
    "openai_responses": [{"type": "function", "name": "f", "parameters": {}}],
    "openai_chat": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "gemini": [{"functionDeclarations": [{"name": "f"}]}],
}
PATHS = {
    "anthropic": "/v1/messages",
    "openai_responses": "/v1/responses",
    "openai_chat": "/v1/chat/completions",
    "gemini": "/v1beta/models/gemini-3-flash-preview:generateContent",
}
LOOSE = {"type": "object", "properties": {"a": {"type": "string"}}}

#: (format, extra body fields, a piece of the API-like message)
BAD = [
    ("anthropic", {"output_config": {"format": {"type": "json", "schema": {}}}}, "json_schema"),
    ("anthropic", {"output_config": {"format": {"type": "json_schema", "schema": LOOSE}}}, "additionalProperties"),
    ("anthropic", {"tools": TOOLS["anthropic"], "tool_choice": {"type": "required"}}, "tool_choice.type"),
    ("anthropic", {"tools": TOOLS["anthropic"], "tool_choice": {"type": "tool", "name": "g"}}, "no tool named"),
    (
        "anthropic",
        {
            "tools": TOOLS["anthropic"],
            "tool_choice": {"type": "any"},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
        "Thinking may not be enabled",
    ),
    ("openai_responses", {"text": {"format": {"type": "json_schema", "schema": LOOSE}}}, "name"),
    (
        "openai_responses",
        {"text": {"format": {"type": "json_schema", "name": "r", "schema": LOOSE, "strict": True}}},
        "additionalProperties",
    ),
    ("openai_responses", {"tools": TOOLS["openai_responses"], "tool_choice": "any"}, "tool_choice"),
    (
        "openai_responses",
        {"tools": TOOLS["openai_responses"], "tool_choice": {"type": "function", "name": "g"}},
        "not among the tools",
    ),
    ("openai_chat", {"response_format": {"type": "json_schema"}}, "json_schema must be an object"),
    ("openai_chat", {"tool_choice": "auto"}, "only allowed when tools are specified"),
    ("openai_chat", {"parallel_tool_calls": False}, "only allowed when tools are specified"),
    (
        "openai_chat",
        {"tools": TOOLS["openai_chat"], "tool_choice": {"type": "function", "name": "f"}},
        "not among the tools",
    ),
    ("gemini", {"generationConfig": {"responseJsonSchema": LOOSE}}, "response_mime_type"),
    ("gemini", {"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}, "mode"),
    (
        "gemini",
        {
            "tools": TOOLS["gemini"],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}},
        },
        "only be set when mode is ANY",
    ),
]


def _post(server: LoopbackServer, fmt: str, body: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
    base: Dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    if fmt == "gemini":
        base = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    request = urllib.request.Request(
        server.url + PATHS[fmt],
        data=json.dumps({**base, **body}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.mark.parametrize(("fmt", "fields", "message"), BAD, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_a_malformed_request_gets_a_400_in_its_format(fmt: str, fields: Dict[str, Any], message: str) -> None:
    with LoopbackServer() as server:
        server.queue(Turn(json={"a": "b"}))
        status, body = _post(server, fmt, fields)
    assert status == 400
    error = body["error"]
    assert message in error["message"]
    if fmt == "gemini":
        assert error["status"] == "INVALID_ARGUMENT"


def test_a_well_formed_request_gets_the_scripted_json_as_text() -> None:
    strict = dict(LOOSE, required=["a"], additionalProperties=False)
    fields = {"text": {"format": {"type": "json_schema", "name": "r", "schema": strict, "strict": True}}}
    with LoopbackServer() as server:
        server.queue(Turn(json={"a": "b"}))
        status, body = _post(server, "openai_responses", fields)
    assert status == 200
    assert body["output"][-1]["content"][0]["text"] == '{"a": "b"}'
