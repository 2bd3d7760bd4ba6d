"""Tool schemas, tool calls and tool results (layer L0)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping

from steer_sync._types._checks import check_json_value
from steer_sync._types._json import record_from_dict, record_to_dict

__all__ = ["ToolCall", "ToolResult", "ToolSchema"]


@dataclass(frozen=True)
class ToolSchema:
    """A tool the model may call.

    :param name: the name the model uses to call it.
    :param description: what it does, for the model.
    :param input_schema: a JSON Schema object for its arguments.
    :raises TypeError: if the schema is not a dict or holds a value JSON cannot encode
        (the message names the tool and the path inside the schema).
    :raises ConfigurationError: if the schema holds ``NaN``/``Infinity`` or a lone surrogate.
    """

    #: The name the model calls the tool by.
    name: str
    #: What the tool does, written for the model.
    description: str
    #: JSON Schema of the arguments (an object schema).
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    #: A human-readable name (not sent to providers).
    display_name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("ToolSchema.name must be a non-empty string")
        if not isinstance(self.input_schema, Mapping):
            raise TypeError(
                f"ToolSchema.input_schema for {self.name!r} must be a JSON Schema dict, "
                f"got {type(self.input_schema).__name__}"
            )
        if not isinstance(self.description, str):
            raise TypeError(
                f"ToolSchema.description for {self.name!r} must be a str, got {type(self.description).__name__}"
            )
        check_json_value(self.name, "ToolSchema.name")
        check_json_value(self.description, f"ToolSchema.description of tool {self.name!r}")
        check_json_value(self.input_schema, f"input_schema of tool {self.name!r}")

    def to_dict(self) -> Dict[str, Any]:
        """Serialise like the Rust ``ToolSchema``."""
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolSchema:
        """Inverse of :meth:`to_dict`."""
        return record_from_dict(cls, data)


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for: the tool's ``name`` and its ``parameters``."""

    #: The provider's id for this call; echo it in the tool result.
    id: str
    #: The tool's name.
    name: str
    #: The parsed arguments.
    parameters: Any = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """Serialise like the Rust ``ToolCall`` (``name``, ``parameters``, ``id``)."""
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """Inverse of :meth:`to_dict`."""
        return record_from_dict(cls, data)


def _tool_error_text(error: Any) -> str:
    """Render a serialised ``ToolError`` the way the Rust ``Display`` does."""
    if isinstance(error, str):
        return error
    if not isinstance(error, Mapping) or len(error) != 1:
        return json.dumps(error, ensure_ascii=False)
    ((variant, value),) = error.items()
    templates = {
        "UnknownTool": "Unknown tool: {}",
        "Cancelled": "{} was cancelled",
        "Timeout": "{} timed out",
        "DeniedByUser": "{} requires approval to run",
        "DeniedByPolicy": "{} denied by approval policy",
        "InternalError": "Unexpected error: {}",
    }
    if variant in templates and isinstance(value, str):
        return templates[variant].format(value)
    if variant == "InvalidParams" and isinstance(value, Mapping):
        return f"Invalid parameters for {value.get('tool_name')}: {value.get('message')}"
    if variant == "Execution" and isinstance(value, Mapping):
        inner = value.get("error")
        if isinstance(inner, Mapping) and "message" in inner:
            tool_name = inner.get("tool_name")
            return f"{tool_name} failed: {inner['message']}" if tool_name else str(inner["message"])
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(error, ensure_ascii=False)


class ToolResult:
    """The output of a tool, sent back to the model in a ``Message.tool_result``.

    Serialised as the Rust externally tagged enum (``{"External": {...}}``,
    ``{"Error": {...}}``, ...). Variants other than ``External`` and ``Error`` written by
    the Rust reference are kept verbatim and sent as JSON.

    Usage::

        ToolResult.text("22 degrees")
        ToolResult.error("city not found")
    """

    __slots__ = ("variant", "payload")

    def __init__(self, variant: str, payload: Any) -> None:
        #: The Rust variant name (``"External"``, ``"Error"``, ``"FileContent"``...).
        self.variant = variant
        #: The variant's serialised payload.
        self.payload = payload

    @classmethod
    def text(cls, text: str, tool_name: str = "") -> ToolResult:
        """A plain text result."""
        if not isinstance(text, str):
            raise TypeError(f"ToolResult.text expects a str, got {type(text).__name__}")
        return cls("External", {"tool_name": tool_name, "payload": text})

    @classmethod
    def external(cls, tool_name: str, payload: str) -> ToolResult:
        """A result from an external tool (``External {tool_name, payload}``)."""
        return cls("External", {"tool_name": tool_name, "payload": payload})

    @classmethod
    def error(cls, message: str, tool_name: str = "") -> ToolResult:
        """A failed tool call; providers flag it as an error to the model."""
        return cls(
            "Error",
            {"Execution": {"tool": "external", "error": {"tool_name": tool_name, "message": message}}},
        )

    @property
    def is_error(self) -> bool:
        """Whether this result reports a failure."""
        return self.variant == "Error"

    def variant_name(self) -> str:
        """The Rust variant name."""
        return self.variant

    def llm_format(self) -> str:
        """The text a provider sends to the model for this result."""
        if self.variant == "Error":
            return f"Error: {_tool_error_text(self.payload)}"
        payload = self.payload
        if self.variant == "External" and isinstance(payload, Mapping):
            return str(payload.get("payload", ""))
        if self.variant == "FileContent" and isinstance(payload, Mapping) and "content" in payload:
            return str(payload["content"])
        if isinstance(payload, str):
            return payload
        return json.dumps(payload, ensure_ascii=False)

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as the Rust externally tagged enum."""
        return {self.variant: self.payload}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolResult:
        """Inverse of :meth:`to_dict`.

        :raises ValueError: unless ``data`` has exactly one key.
        """
        if not isinstance(data, Mapping) or len(data) != 1:
            raise ValueError(f"a ToolResult is a one-key object like {{'External': ...}}, got {data!r}")
        ((variant, payload),) = data.items()
        return cls(str(variant), payload)

    @classmethod
    def coerce(cls, value: Any) -> ToolResult:
        """Accept a ``ToolResult`` or a ``str`` (a text result)."""
        if isinstance(value, ToolResult):
            return value
        if isinstance(value, str):
            return cls.text(value)
        raise TypeError(f"a tool result must be a str or a ToolResult, got {type(value).__name__}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolResult) and (self.variant, self.payload) == (other.variant, other.payload)

    def __hash__(self) -> int:
        return hash((self.variant, json.dumps(self.payload, sort_keys=True, default=str)))

    def __repr__(self) -> str:
        return f"ToolResult({self.variant!r}, {self.payload!r})"
