"""The typed chunks a completion stream yields (layer L0).

One frozen dataclass per kind; consumers dispatch on the class::

    for chunk in stream:
        if isinstance(chunk, TextDelta):
            print(chunk.text, end="")
"""

from __future__ import annotations

from dataclasses import dataclass

from steer_sync._errors import StreamError
from steer_sync._types import CompletionResponse

__all__ = [
    "ContentBlockStop",
    "ErrorChunk",
    "MessageComplete",
    "Reset",
    "StreamChunk",
    "TextDelta",
    "ThinkingDelta",
    "ToolUseInputDelta",
    "ToolUseStart",
]


class StreamChunk:
    """Base class of every stream chunk."""

    __slots__ = ()


@dataclass(frozen=True)
class TextDelta(StreamChunk):
    """A piece of visible answer text."""

    __slots__ = ("text",)
    #: The new text.
    text: str


@dataclass(frozen=True)
class ThinkingDelta(StreamChunk):
    """A piece of reasoning text."""

    __slots__ = ("text",)
    #: The new reasoning text.
    text: str


@dataclass(frozen=True)
class ToolUseStart(StreamChunk):
    """The model started a tool call."""

    __slots__ = ("id", "name")
    #: The call id.
    id: str
    #: The tool's name.
    name: str


@dataclass(frozen=True)
class ToolUseInputDelta(StreamChunk):
    """A piece of a tool call's JSON arguments (partial JSON)."""

    __slots__ = ("id", "delta")
    #: The call id.
    id: str
    #: The next piece of the arguments' JSON text.
    delta: str


@dataclass(frozen=True)
class ContentBlockStop(StreamChunk):
    """A provider content block finished."""

    __slots__ = ("index",)
    #: The block's index in the message.
    index: int


@dataclass(frozen=True)
class Reset(StreamChunk):
    """Discard everything streamed so far for this message: the request restarts."""

    __slots__ = ()


@dataclass(frozen=True)
class MessageComplete(StreamChunk):
    """The final, fully assembled response; authoritative over the deltas."""

    __slots__ = ("response",)
    #: The whole response.
    response: CompletionResponse


@dataclass(frozen=True)
class ErrorChunk(StreamChunk):
    """The stream failed; this is its last chunk."""

    __slots__ = ("error",)
    #: What went wrong: StreamCancelled, SseParse or ProviderStreamError.
    error: StreamError
