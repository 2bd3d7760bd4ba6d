"""Conversation messages and their content blocks (layer L0).

The JSON shapes are those the Rust reference writes, so steer session data can be
read and written: ``Message.to_dict()`` / ``Message.from_dict()``. Image blocks live in
:mod:`._images` and are re-exported here.
"""

from __future__ import annotations

import abc
import enum
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union, cast

from steer_sync._errors import ConfigurationError
from steer_sync._types._checks import find_lone_surrogate
from steer_sync._types._images import DataUrlSource, ImageContent, ImageSource, SessionFileSource, UrlSource
from steer_sync._types._tools import ToolCall, ToolResult

__all__ = [
    "AssistantContent",
    "AssistantMessage",
    "CommandExecution",
    "DataUrlSource",
    "ImageContent",
    "ImageSource",
    "Message",
    "MessageData",
    "RedactedThought",
    "Role",
    "SessionFileSource",
    "SignedThought",
    "SimpleThought",
    "TextContent",
    "Thought",
    "ToolCallContent",
    "ToolMessage",
    "UrlSource",
    "UserContent",
    "UserMessage",
]


class Role(enum.Enum):
    """Who wrote a message."""

    USER = "User"
    ASSISTANT = "Assistant"
    TOOL = "Tool"

    def __str__(self) -> str:
        return self.value


# --- content blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class TextContent:
    """Plain text, in a user or an assistant message."""

    #: The text.
    text: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "text", "text": ...}``."""
        return {"type": "text", "text": self.text}


@dataclass(frozen=True)
class CommandExecution:
    """A shell command the user ran, with its output (user messages only)."""

    #: The command line.
    command: str
    #: Its standard output.
    stdout: str
    #: Its standard error.
    stderr: str
    #: Its exit code.
    exit_code: int

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "command_execution", ...}``."""
        return {
            "type": "command_execution",
            "command": self.command,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
        }

    def as_xml(self) -> str:
        """Render as the ``<executed_command>`` element providers receive."""
        return (
            "<executed_command>\n"
            f"    <command>{self.command}</command>\n"
            f"    <stdout>{self.stdout}</stdout>\n"
            f"    <stderr>{self.stderr}</stderr>\n"
            f"    <exit_code>{self.exit_code}</exit_code>\n"
            "</executed_command>"
        )


@dataclass(frozen=True)
class ToolCallContent:
    """A tool call the assistant made, with Gemini's thought signature when present."""

    #: The call.
    tool_call: ToolCall
    #: An opaque signature that must be sent back verbatim (Gemini).
    thought_signature: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "tool_call", "tool_call": {...}}``."""
        out: Dict[str, Any] = {"type": "tool_call", "tool_call": self.tool_call.to_dict()}
        if self.thought_signature is not None:
            out["thought_signature"] = self.thought_signature
        return out


class Thought(abc.ABC):
    """Base of the assistant's reasoning blocks: simple, signed or redacted.

    Signed and redacted thoughts must be sent back to Anthropic unchanged.
    """

    __slots__ = ()

    @abc.abstractmethod
    def display_text(self) -> str:
        """The text to show a person."""

    @abc.abstractmethod
    def _thought_dict(self) -> Dict[str, Any]:
        """The inner ``{"thought_type": ...}`` object."""

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "thought", "thought": {"thought_type": ...}}``."""
        return {"type": "thought", "thought": self._thought_dict()}


@dataclass(frozen=True)
class SimpleThought(Thought):
    """Reasoning text with no signature (Gemini, OpenAI summaries)."""

    #: The reasoning text.
    text: str

    def display_text(self) -> str:
        """The reasoning text."""
        return self.text

    def _thought_dict(self) -> Dict[str, Any]:
        return {"thought_type": "simple", "text": self.text}


@dataclass(frozen=True)
class SignedThought(Thought):
    """Reasoning text with the provider's signature (Anthropic thinking, encrypted reasoning)."""

    #: The reasoning text.
    text: str
    #: The provider's signature; opaque.
    signature: str

    def display_text(self) -> str:
        """The reasoning text."""
        return self.text

    def _thought_dict(self) -> Dict[str, Any]:
        return {"thought_type": "signed", "text": self.text, "signature": self.signature}


@dataclass(frozen=True)
class RedactedThought(Thought):
    """Reasoning the provider encrypted (Anthropic ``redacted_thinking``)."""

    #: The opaque encrypted data.
    data: str

    def display_text(self) -> str:
        """Always ``"[Redacted Thinking]"``."""
        return "[Redacted Thinking]"

    def _thought_dict(self) -> Dict[str, Any]:
        return {"thought_type": "redacted", "data": self.data}


UserContent = Union[TextContent, ImageContent, CommandExecution]
AssistantContent = Union[TextContent, ImageContent, ToolCallContent, Thought]


def _thought_from_dict(data: Mapping[str, Any]) -> Thought:
    kind = data.get("thought_type")
    if kind == "simple":
        return SimpleThought(str(data["text"]))
    if kind == "signed":
        return SignedThought(str(data["text"]), str(data["signature"]))
    if kind == "redacted":
        return RedactedThought(str(data["data"]))
    raise ValueError(f"unknown thought_type {kind!r}; expected simple, signed or redacted")


def content_from_dict(data: Mapping[str, Any]) -> Union[UserContent, AssistantContent]:
    """Parse one serialised content block of any message kind."""
    kind = data.get("type")
    if kind == "text":
        return TextContent(str(data["text"]))
    if kind == "image":
        return ImageContent._from_inner(data["image"])
    if kind == "command_execution":
        return CommandExecution(str(data["command"]), str(data["stdout"]), str(data["stderr"]), int(data["exit_code"]))
    if kind == "tool_call":
        return ToolCallContent(ToolCall.from_dict(data["tool_call"]), data.get("thought_signature"))
    if kind == "thought":
        return _thought_from_dict(data["thought"])
    raise ValueError(f"unknown content type {kind!r}")


# --- messages ---------------------------------------------------------------------------


def _as_tuple(content: Any, allowed: Tuple[type, ...], who: str) -> Tuple[Any, ...]:
    names = ", ".join(t.__name__ for t in allowed)
    if isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"{who} content must be str or {names}, got bytes; decode it first, e.g. data.decode('utf-8')")
    if content is None or isinstance(content, (int, float)):
        raise TypeError(f"{who} content must be str or {names}, got {type(content).__name__}")
    items = (content,) if isinstance(content, allowed) else tuple(content)
    for item in items:
        if not isinstance(item, allowed):
            raise TypeError(f"{who} content must be {names}; got {type(item).__name__}")
    return items


def _check_text(text: str, where: str) -> None:
    # A lone surrogate (from a bad decode or a JSON "\ud800" escape) cannot be encoded as
    # UTF-8, so the request would fail deep inside the encoder; refuse it where it enters.
    index = find_lone_surrogate(text)
    if index is not None:
        raise ConfigurationError(
            None,
            f"{where} holds a lone surrogate {text[index]!r} at character {index}; text must be valid Unicode "
            "(decode bytes with errors='replace' to drop broken characters)",
        )


@dataclass(frozen=True)
class UserMessage:
    """What the user said."""

    #: Text, images and command executions.
    content: Tuple[UserContent, ...]

    def __post_init__(self) -> None:
        content = _as_tuple(self.content, (TextContent, ImageContent, CommandExecution), "user")
        object.__setattr__(self, "content", content)
        for index, block in enumerate(content):
            if isinstance(block, TextContent):
                _check_text(block.text, f"user message content[{index}].text")
            elif isinstance(block, CommandExecution):
                for name in ("command", "stdout", "stderr"):
                    _check_text(getattr(block, name), f"user message content[{index}].{name}")


@dataclass(frozen=True)
class AssistantMessage:
    """What the model answered."""

    #: Text, images, tool calls and thoughts.
    content: Tuple[AssistantContent, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "content", _as_tuple(self.content, (TextContent, ImageContent, ToolCallContent, Thought), "assistant")
        )


@dataclass(frozen=True)
class ToolMessage:
    """The result of a tool call, answering the assistant's call ``tool_use_id``."""

    #: The id of the call this answers.
    tool_use_id: str
    #: The tool's output.
    result: ToolResult


MessageData = Union[UserMessage, AssistantMessage, ToolMessage]


def _uuid7() -> str:
    # Python < 3.14 has no uuid7: 48-bit millisecond timestamp, version 7, RFC 4122 variant.
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True)
class Message:
    """One message of a conversation.

    Build them with :meth:`user`, :meth:`assistant` and :meth:`tool_result`; messages
    are immutable and safe to reuse across calls and threads.

    Usage::

        Message.user("What is the weather in Paris?")
        Message.tool_result(call.id, "22 degrees")
    """

    #: Unix time in seconds.
    timestamp: int
    #: A unique id (``"{role}_{uuid7}"`` for generated ones).
    id: str
    #: The id of the message this one follows, if tracked.
    parent_message_id: Optional[str]
    #: The message body: a UserMessage, AssistantMessage or ToolMessage.
    data: MessageData

    @staticmethod
    def current_timestamp() -> int:
        """Now, in whole seconds since the epoch."""
        return int(time.time())

    @staticmethod
    def generate_id(prefix: str) -> str:
        """A new id: ``"{prefix}_{uuid7}"``."""
        return f"{prefix}_{_uuid7()}"

    @classmethod
    def _new(cls, prefix: str, data: MessageData, parent_message_id: Optional[str], id: Optional[str]) -> Message:
        return cls(cls.current_timestamp(), id or cls.generate_id(prefix), parent_message_id, data)

    @classmethod
    def user(
        cls,
        content: Union[str, UserContent, Iterable[UserContent]],
        *,
        parent_message_id: Optional[str] = None,
        id: Optional[str] = None,
    ) -> Message:
        """A user message from text or content blocks.

        :raises TypeError: if ``content`` is not text or content blocks (``None``, ``bytes``).
        :raises ConfigurationError: if the text holds a lone surrogate (not valid Unicode).
        """
        if isinstance(content, str):
            content = (TextContent(content),)
        return cls._new("user", UserMessage(content), parent_message_id, id)  # type: ignore[arg-type]

    @classmethod
    def assistant(
        cls,
        content: Union[str, AssistantContent, Iterable[AssistantContent]],
        *,
        parent_message_id: Optional[str] = None,
        id: Optional[str] = None,
    ) -> Message:
        """An assistant message from text or content blocks (e.g. ``response.content``)."""
        if isinstance(content, str):
            content = (TextContent(content),)
        return cls._new("assistant", AssistantMessage(content), parent_message_id, id)  # type: ignore[arg-type]

    @classmethod
    def tool_result(
        cls,
        tool_use_id: str,
        result: Union[str, ToolResult],
        *,
        parent_message_id: Optional[str] = None,
        id: Optional[str] = None,
    ) -> Message:
        """The result of the assistant's tool call ``tool_use_id``.

        :param result: a ``str`` (a text result) or a :class:`ToolResult`
            (``ToolResult.error("...")`` for a failure).
        """
        if not tool_use_id:
            raise ValueError("tool_use_id must be the id of the assistant's tool call")
        return cls._new("tool", ToolMessage(tool_use_id, ToolResult.coerce(result)), parent_message_id, id)

    def role(self) -> Role:
        """Who wrote the message."""
        if isinstance(self.data, UserMessage):
            return Role.USER
        if isinstance(self.data, AssistantMessage):
            return Role.ASSISTANT
        return Role.TOOL

    def extract_text(self) -> str:
        """The message's text (core.md 2.1): blocks joined with newlines."""
        data = self.data
        if isinstance(data, ToolMessage):
            return data.result.llm_format()
        parts = []
        for block in data.content:
            if isinstance(block, TextContent):
                parts.append(block.text)
            elif isinstance(block, ImageContent):
                parts.append("[Image]")
            elif isinstance(block, CommandExecution):
                parts.append(block.stdout)
        return "\n".join(parts)

    def to_dict(self) -> Dict[str, Any]:
        """Serialise in the Rust reference's JSON shape."""
        data = self.data
        body: Dict[str, Any]
        if isinstance(data, ToolMessage):
            body = {"role": "tool", "tool_use_id": data.tool_use_id, "result": data.result.to_dict()}
        else:
            role = "user" if isinstance(data, UserMessage) else "assistant"
            body = {"role": role, "content": [block.to_dict() for block in data.content]}
        return {"timestamp": self.timestamp, "id": self.id, "parent_message_id": self.parent_message_id, "data": body}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Inverse of :meth:`to_dict`; reads messages the Rust reference wrote.

        :raises ValueError: on an unknown role or content type.
        """
        body = data["data"]
        role = body.get("role")
        message_data: MessageData
        if role == "user":
            message_data = UserMessage(cast(Tuple[UserContent, ...], tuple(map(content_from_dict, body["content"]))))
        elif role == "assistant":
            message_data = AssistantMessage(
                cast(Tuple[AssistantContent, ...], tuple(map(content_from_dict, body["content"])))
            )
        elif role == "tool":
            message_data = ToolMessage(str(body["tool_use_id"]), ToolResult.from_dict(body["result"]))
        else:
            raise ValueError(f"unknown message role {role!r}; expected user, assistant or tool")
        return cls(int(data["timestamp"]), str(data["id"]), data.get("parent_message_id"), message_data)


def messages_from_dicts(items: Sequence[Mapping[str, Any]]) -> Tuple[Message, ...]:
    """Parse a list of serialised messages."""
    return tuple(Message.from_dict(item) for item in items)
