"""Token usage and the assembled completion response (layer L0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from steer_sync._types._json import record_from_dict, record_to_dict
from steer_sync._types._messages import AssistantContent, TextContent, ToolCallContent, content_from_dict
from steer_sync._types._tools import ToolCall

__all__ = ["CompletionResponse", "TokenUsage"]


@dataclass(frozen=True)
class TokenUsage:
    """Tokens a call consumed.

    ``input_tokens`` counts every prompt token, including the cached ones that
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` break out.
    """

    #: Prompt tokens.
    input_tokens: int
    #: Generated tokens (including reasoning tokens).
    output_tokens: int
    #: Total billed tokens.
    total_tokens: int
    #: Prompt tokens served from the provider's cache.
    cache_read_input_tokens: int = 0
    #: Prompt tokens written to the provider's cache.
    cache_creation_input_tokens: int = 0
    #: Generated tokens spent on reasoning, when the provider reports them.
    reasoning_tokens: int = 0

    @classmethod
    def from_input_output(cls, input_tokens: int, output_tokens: int, **extra: int) -> TokenUsage:
        """Usage with ``total_tokens = input_tokens + output_tokens``."""
        return cls(input_tokens, output_tokens, input_tokens + output_tokens, **extra)

    def to_dict(self) -> Dict[str, Any]:
        """Serialise (the Rust reference reads the first three fields)."""
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenUsage:
        """Inverse of :meth:`to_dict`; missing counts default to 0."""
        return record_from_dict(cls, data)


@dataclass(frozen=True)
class CompletionResponse:
    """A complete answer from the model.

    Usage::

        resp = client.complete("sonnet", [Message.user("hi")])
        print(resp.extract_text(), resp.usage)
    """

    #: Text, tool calls and thoughts, in the order the model produced them.
    content: Tuple[AssistantContent, ...]
    #: Token usage, when the provider reported it.
    usage: Optional[TokenUsage] = None
    #: The provider's stop reason (``end_turn``, ``max_tokens``, ``tool_use``...), when known.
    stop_reason: Optional[str] = None

    def __post_init__(self) -> None:
        content: Any = self.content
        if not isinstance(content, tuple):  # lists are accepted for convenience
            object.__setattr__(self, "content", tuple(content))

    def extract_text(self) -> str:
        """All text blocks concatenated, with no separator."""
        return "".join(block.text for block in self.content if isinstance(block, TextContent))

    def extract_tool_calls(self) -> List[ToolCall]:
        """The tool calls, in order."""
        return [block.tool_call for block in self.content if isinstance(block, ToolCallContent)]

    def has_tool_calls(self) -> bool:
        """Whether the model asked for any tool call."""
        return any(isinstance(block, ToolCallContent) for block in self.content)

    def to_dict(self) -> Dict[str, Any]:
        """Serialise (``usage`` and ``stop_reason`` omitted when absent)."""
        out: Dict[str, Any] = {"content": [block.to_dict() for block in self.content]}
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        if self.stop_reason is not None:
            out["stop_reason"] = self.stop_reason
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompletionResponse:
        """Inverse of :meth:`to_dict`."""
        usage = data.get("usage")
        return cls(
            content=tuple(content_from_dict(block) for block in data.get("content", ())),  # type: ignore[misc]
            usage=TokenUsage.from_dict(usage) if usage is not None else None,
            stop_reason=data.get("stop_reason"),
        )
