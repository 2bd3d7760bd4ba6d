"""The stream failure values carried inside ``ErrorChunk`` (layer L0: no I/O).

They are values, not exceptions: iterating a stream never raises them (steer's ``error.rs``
keeps ``StreamError`` apart from the raised ``ApiError`` the same way).
:meth:`CompletionStream.collect` turns them into the matching ``ApiError``. Re-exported from
:mod:`steer_sync._errors`, whose docstring draws the whole tree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Optional

if TYPE_CHECKING:
    from steer_sync._errors import ApiError

__all__ = [
    "ProviderStreamError",
    "ProviderStreamErrorKind",
    "SseParse",
    "SseParseErrorKind",
    "StreamCancelled",
    "StreamError",
]


class StreamError:
    """Base of the failure values carried by ``ErrorChunk``; never raised."""

    __slots__ = ()


@dataclass(frozen=True)
class StreamCancelled(StreamError):
    """The stream stopped because its CancellationToken was cancelled."""

    def __str__(self) -> str:
        return "Request cancelled"


class SseParseErrorKind(enum.Enum):
    """Why reading the event stream failed."""

    #: The body was not valid UTF-8.
    UTF8 = "Utf8"
    #: The event-stream framing was malformed (for example an oversized event).
    PARSER = "Parser"
    #: The connection broke, stalled or ended early; retryable.
    TRANSPORT = "Transport"


_SSE_KIND_LABELS = {
    SseParseErrorKind.UTF8: "UTF-8 error",
    SseParseErrorKind.PARSER: "Parse error",
    SseParseErrorKind.TRANSPORT: "Transport error",
}


@dataclass(frozen=True)
class SseParse(StreamError):
    """Reading or decoding the event stream failed.

    Only ``TRANSPORT`` failures are retried by the client.
    """

    #: What kind of failure it was.
    kind: SseParseErrorKind
    #: A readable description.
    details: str
    #: The provider's request id of the failed stream, when known (not compared).
    request_id: Optional[str] = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"SSE parse error: {_SSE_KIND_LABELS[self.kind]}: {self.details}"


class ProviderStreamErrorKind:
    """The classification of an error event a provider sent inside a stream.

    Instances compare by their canonical code; unknown raw types keep their raw text
    and are not retryable.
    """

    __slots__ = ("code", "_retryable")

    STREAM_ERROR: ClassVar[ProviderStreamErrorKind]
    STREAM_RETRY: ClassVar[ProviderStreamErrorKind]
    RATE_LIMIT_EXCEEDED: ClassVar[ProviderStreamErrorKind]
    RESPONSE_FAILED: ClassVar[ProviderStreamErrorKind]
    OVERLOADED: ClassVar[ProviderStreamErrorKind]
    SERVICE_UNAVAILABLE: ClassVar[ProviderStreamErrorKind]
    TIMEOUT: ClassVar[ProviderStreamErrorKind]

    def __init__(self, code: str, retryable: bool = False) -> None:
        self.code = code
        self._retryable = retryable

    @classmethod
    def from_provider_error_type(cls, raw: Optional[str]) -> ProviderStreamErrorKind:
        """Classify a provider's raw error type string (core.md 4.4).

        :param raw: the ``type``/``code`` the provider sent, or ``None``.
        :returns: a known kind, or an unknown, non-retryable kind carrying ``raw``.
        """
        if raw is None:
            return cls.STREAM_ERROR
        return _KNOWN_KINDS.get(raw) or cls(raw, retryable=False)

    def is_retryable(self) -> bool:
        """Whether the client may restart the stream after this error."""
        return self._retryable

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProviderStreamErrorKind) and other.code == self.code

    def __hash__(self) -> int:
        return hash(self.code)

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"ProviderStreamErrorKind({self.code!r})"


ProviderStreamErrorKind.STREAM_ERROR = ProviderStreamErrorKind("stream_error", True)
ProviderStreamErrorKind.STREAM_RETRY = ProviderStreamErrorKind("stream_retry", True)
ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED = ProviderStreamErrorKind("rate_limit_exceeded", True)
ProviderStreamErrorKind.RESPONSE_FAILED = ProviderStreamErrorKind("response_failed", True)
ProviderStreamErrorKind.OVERLOADED = ProviderStreamErrorKind("overloaded_error", True)
ProviderStreamErrorKind.SERVICE_UNAVAILABLE = ProviderStreamErrorKind("service_unavailable_error", True)
ProviderStreamErrorKind.TIMEOUT = ProviderStreamErrorKind("timeout_error", True)

_KNOWN_KINDS = {
    "stream_error": ProviderStreamErrorKind.STREAM_ERROR,
    "error": ProviderStreamErrorKind.STREAM_ERROR,
    "stream_retry": ProviderStreamErrorKind.STREAM_RETRY,
    "rate_limit_exceeded": ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
    "rate_limit_error": ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
    "response_failed": ProviderStreamErrorKind.RESPONSE_FAILED,
    "overloaded_error": ProviderStreamErrorKind.OVERLOADED,
    "service_unavailable_error": ProviderStreamErrorKind.SERVICE_UNAVAILABLE,
    "timeout_error": ProviderStreamErrorKind.TIMEOUT,
}


@dataclass(frozen=True)
class ProviderStreamError(StreamError):
    """An error event the provider sent inside the stream."""

    #: The provider id or name.
    provider: str
    #: The classification, which decides whether the client retries.
    kind: ProviderStreamErrorKind
    #: The provider's raw error type, when it sent one.
    raw_error_type: Optional[str]
    #: The provider's message.
    message: str
    #: The provider's request id of the failed stream, when known (not compared).
    request_id: Optional[str] = field(default=None, compare=False)
    #: The raised error behind a stream whose restart failed (``stream_retry``):
    #: ``collect()`` raises it as it is, keeping its class, ``retry_after`` and
    #: ``request_id``. Not compared and not in the repr.
    cause: Optional[ApiError] = field(default=None, compare=False, repr=False)

    @property
    def error_type(self) -> str:
        """The raw error type, or the kind's code (compatible with seed-era callers)."""
        return self.raw_error_type or str(self.kind)

    def __str__(self) -> str:
        return f"{self.provider} error ({self.kind}): {self.message}"
