"""Token usage and the assembled completion response (layer L0)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from steer_sync._types._json import record_from_dict, record_to_dict
from steer_sync._types._messages import AssistantContent, TextContent, Thought, ToolCallContent, content_from_dict
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

    # --- display: what a person looks for first (text, tool calls, usage, identity) ---

    def _identity(self) -> List[Tuple[str, str]]:
        # model / request_id / cost arrive with later releases; getattr keeps this
        # working on responses (and subclasses) without them.
        pairs = []
        for label, name in (("model", "model"), ("request id", "request_id")):
            value = getattr(self, name, None)
            if value:
                pairs.append((label, str(value)))
        cost = getattr(self, "cost", None)
        if cost is not None:
            pairs.append(("cost", f"${cost:.6f}"))
        return pairs

    def __repr__(self) -> str:
        text = self.extract_text()
        short = text if len(text) <= 60 else text[:59] + "\u2026"
        parts = [f"text={short!r}", f"tool_calls={len(self.extract_tool_calls())}"]
        thoughts = sum(isinstance(block, Thought) for block in self.content)
        if thoughts:
            parts.append(f"thoughts={thoughts}")
        if self.usage is not None:
            parts.append(f"usage='{self.usage.input_tokens} in + {self.usage.output_tokens} out'")
        if self.stop_reason is not None:
            parts.append(f"stop_reason={self.stop_reason!r}")
        parts += [f"{label.replace(' ', '_')}={value!r}" for label, value in self._identity()]
        return f"CompletionResponse({', '.join(parts)})"

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: thoughts folded, the answer, tool calls, then usage and identity."""
        sections = []
        thoughts = [block for block in self.content if isinstance(block, Thought)]
        if thoughts:
            body = "\n\n".join(_html_text(block.display_text()) for block in thoughts)
            sections.append(f"<details><summary>Thinking ({len(thoughts)})</summary>\n\n{body}\n\n</details>")
        text = self.extract_text()
        if text:
            sections.append(text)
        calls = self.extract_tool_calls()
        if calls:
            lines = [
                f"- `{call.name}({json.dumps(call.parameters, ensure_ascii=False)})` (id `{call.id}`)" for call in calls
            ]
            sections.append("**Tool calls**\n\n" + "\n".join(lines))
        footer = []
        if self.usage is not None:
            footer.append(f"{self.usage.input_tokens} input + {self.usage.output_tokens} output tokens")
        if self.stop_reason is not None:
            footer.append(f"stop: {self.stop_reason}")
        footer += [f"{label}: {value}" for label, value in self._identity()]
        if footer:
            sections.append("<sub>" + _html_text(" \u00b7 ".join(footer)) + "</sub>")
        return "\n\n".join(sections) if sections else "*(empty response)*"

    def parse(self, target: Any = None) -> Any:
        """Decode the answer as JSON, and build ``target`` from it when given.

        The answer is the text; when there is no text but a tool call (a model without
        native structured output answers through a forced tool), the first call's input.

        :param target: ``None`` for the decoded JSON, or a type to build: a dataclass
            (nested dataclasses, Enums, Literals, Optionals are checked), ``List[X]``...
        :returns: the JSON value, or an instance of ``target``.
        :raises StructuredOutputError: if the answer is not valid JSON or does not fit,
            with ``.text`` and the path of what did not fit.

        Usage::

            city = client.complete("sonnet", msgs, response_format=City).parse(City)
        """
        from steer_sync._types._structured import parse_answer

        text = self.extract_text()
        calls = self.extract_tool_calls()
        use_tool = not text.strip() and bool(calls)
        return parse_answer(text, calls[0].parameters if use_tool else None, target, use_tool=use_tool)


def _html_text(text: str) -> str:
    """Text safe inside HTML in Markdown (thoughts and the footer are not Markdown)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
