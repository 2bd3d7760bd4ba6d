"""Conversation messages and their content blocks (layer L0).

The JSON shapes are those the Rust reference writes, so steer session data can be
read and written: ``Message.to_dict()`` / ``Message.from_dict()``.
"""

from __future__ import annotations

import abc
import base64
import binascii
import enum
import os
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union, cast

from steer_sync._errors import ConfigurationError
from steer_sync._types._checks import find_lone_surrogate
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


# --- image sources ----------------------------------------------------------------------


class ImageSource(abc.ABC):
    """Where an image's bytes come from (serialised tagged by ``"source"``)."""

    __slots__ = ()

    @abc.abstractmethod
    def to_dict(self) -> Dict[str, Any]:
        """Serialise as the Rust ``ImageSource``."""

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ImageSource:
        """Inverse of :meth:`to_dict`."""
        kind = data.get("source")
        if kind == "data_url":
            return DataUrlSource(str(data["data_url"]))
        if kind == "url":
            return UrlSource(str(data["url"]))
        if kind == "session_file":
            return SessionFileSource(str(data["relative_path"]))
        raise ValueError(f"unknown image source {kind!r}; expected data_url, url or session_file")


@dataclass(frozen=True)
class DataUrlSource(ImageSource):
    """An image inlined as a ``data:<mime>;base64,...`` URL."""

    #: The ``data:`` URL.
    data_url: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"source": "data_url", "data_url": ...}``."""
        return {"source": "data_url", "data_url": self.data_url}


@dataclass(frozen=True)
class UrlSource(ImageSource):
    """An image the provider fetches from a URL."""

    #: The image URL.
    url: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"source": "url", "url": ...}``."""
        return {"source": "url", "url": self.url}


@dataclass(frozen=True)
class SessionFileSource(ImageSource):
    """An image stored in a steer session folder (cannot be sent without its bytes)."""

    #: The path relative to the session folder.
    relative_path: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"source": "session_file", "relative_path": ...}``."""
        return {"source": "session_file", "relative_path": self.relative_path}


# --- content blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class TextContent:
    """Plain text, in a user or an assistant message."""

    #: The text.
    text: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "text", "text": ...}``."""
        return {"type": "text", "text": self.text}


#: ``image/<subtype>`` (RFC 6838 characters), or ``image/*`` when the type is unknown.
_IMAGE_MIME = re.compile(r"image/(\*|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)", re.IGNORECASE)


def _check_image_mime(mime_type: object, where: str) -> str:
    if not isinstance(mime_type, str) or not _IMAGE_MIME.fullmatch(mime_type):
        raise ValueError(
            f"{where}: mime_type must be an image type such as 'image/png' or 'image/*', got {mime_type!r}"
        )
    return mime_type


def _check_base64(data: object, where: str) -> str:
    if not isinstance(data, str):
        raise TypeError(
            f"{where}: data must be base64 text (str), got {type(data).__name__}; encode bytes with base64.b64encode(raw).decode()"
        )
    compact = "".join(data.split())  # line-wrapped base64 (76 columns) is common
    if not compact:
        raise ValueError(f"{where}: the base64 data is empty")
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{where}: data is not valid base64 ({len(compact)} characters starting {compact[:12]!r}); "
            "pass the image bytes encoded with base64.b64encode(raw).decode()"
        ) from None
    return compact


def _split_data_url(url: str, where: str) -> Tuple[str, str]:
    """``data:image/png;base64,...`` into its MIME type and validated base64 payload."""
    meta, sep, payload = url.partition(",")
    segments = meta[len("data:") :].split(";")
    if not sep or not any(segment.strip().lower() == "base64" for segment in segments[1:]):
        raise ValueError(f"{where}: a data URL must look like 'data:image/png;base64,<data>', got {url[:40]!r}")
    return _check_image_mime(segments[0].strip(), where), _check_base64(payload, where)


@dataclass(frozen=True)
class ImageContent:
    """An image, in a user or an assistant message.

    Build one with :meth:`from_url` or :meth:`from_base64`: both take the image first and
    its MIME type second, and check both. The constructor itself checks only the MIME
    type (it also rebuilds images that providers send back).
    """

    #: The MIME type, e.g. ``image/png`` (``image/*`` when unknown).
    mime_type: str
    #: Where the bytes come from.
    source: ImageSource
    #: Width in pixels, when known.
    width: Optional[int] = None
    #: Height in pixels, when known.
    height: Optional[int] = None
    #: Size in bytes, when known.
    bytes: Optional[int] = None
    #: SHA-256 of the bytes, when known.
    sha256: Optional[str] = None

    def __post_init__(self) -> None:
        _check_image_mime(self.mime_type, "ImageContent")
        if not isinstance(self.source, ImageSource):
            raise TypeError(
                "ImageContent: source must be a DataUrlSource, UrlSource or SessionFileSource, got "
                f"{type(self.source).__name__}; use ImageContent.from_url(url) or ImageContent.from_base64(data, mime_type)"
            )

    @classmethod
    def from_base64(cls, data: str, mime_type: str) -> ImageContent:
        """An image from base64 data (a ``data:`` URL is accepted too).

        The arguments were ``(mime_type, data)`` before 0.2; that order still works, with
        a ``DeprecationWarning`` (a MIME type is never valid base64, so it is unambiguous).

        :param data: the image bytes, base64 encoded (line breaks allowed).
        :param mime_type: ``image/png``, ``image/jpeg``, ...
        :raises ValueError: if ``data`` is not base64 or ``mime_type`` is not an image type.
        """
        where = "ImageContent.from_base64"
        if isinstance(data, str) and _IMAGE_MIME.fullmatch(data) and not _IMAGE_MIME.fullmatch(str(mime_type)):
            warnings.warn(
                "ImageContent.from_base64 takes (data, mime_type); pass them in that order",
                DeprecationWarning,
                stacklevel=2,
            )
            data, mime_type = mime_type, data
        if isinstance(data, str) and data.startswith("data:"):
            embedded, payload = _split_data_url(data, where)
            if _check_image_mime(mime_type, where).lower() != embedded.lower():
                raise ValueError(f"{where}: mime_type {mime_type!r} differs from the data URL's {embedded!r}")
            return cls(embedded, DataUrlSource(f"data:{embedded};base64,{payload}"))
        mime_type = _check_image_mime(mime_type, where)
        return cls(mime_type, DataUrlSource(f"data:{mime_type};base64,{_check_base64(data, where)}"))

    @classmethod
    def from_url(cls, url: str, mime_type: str = "image/*") -> ImageContent:
        """An image the provider fetches from ``url``, or a ``data:image/...;base64,`` URL.

        :param url: an ``http(s)://`` (or other ``scheme://``) URL, or a data URL.
        :param mime_type: the image type when known (a data URL brings its own).
        :raises ValueError: for a MIME type or text where the URL belongs, an invalid data
            URL, or a ``mime_type`` that is not an image type.
        """
        where = "ImageContent.from_url"
        if not isinstance(url, str):
            raise TypeError(f"{where}: url must be a str, got {type(url).__name__}")
        url = url.strip()
        if _IMAGE_MIME.fullmatch(url):
            raise ValueError(
                f"{where}: {url!r} is a MIME type, not a URL; call ImageContent.from_url(url, mime_type={url!r})"
            )
        if url.lower().startswith("data:"):
            embedded, payload = _split_data_url(url, where)
            if mime_type != "image/*" and _check_image_mime(mime_type, where).lower() != embedded.lower():
                raise ValueError(f"{where}: mime_type {mime_type!r} differs from the data URL's {embedded!r}")
            return cls(embedded, DataUrlSource(f"data:{embedded};base64,{payload}"))
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme or not rest or any(c.isspace() for c in url):
            raise ValueError(
                f"{where}: {url[:60]!r} is not a URL; pass 'https://...' or use ImageContent.from_base64(data, mime_type)"
            )
        return cls(_check_image_mime(mime_type, where), UrlSource(url))

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "image", "image": {...}}`` (absent fields omitted)."""
        image: Dict[str, Any] = {"mime_type": self.mime_type, "source": self.source.to_dict()}
        for name in ("width", "height", "bytes", "sha256"):
            value = getattr(self, name)
            if value is not None:
                image[name] = value
        return {"type": "image", "image": image}

    @classmethod
    def _from_inner(cls, image: Mapping[str, Any]) -> ImageContent:
        return cls(
            mime_type=str(image["mime_type"]),
            source=ImageSource.from_dict(image["source"]),
            width=image.get("width"),
            height=image.get("height"),
            bytes=image.get("bytes"),
            sha256=image.get("sha256"),
        )


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
