"""``HttpResponse``: reading one response's body under its timers, and releasing it.

Timers without threads: the stall watchdog (``Timeouts.stream_idle``) and the total deadline
are enforced through the socket's own timeout, set before each read to ``min(read, remaining
idle, remaining deadline)``, plus a check after every block of events. No thread is started
per call.
"""

from __future__ import annotations

import json
import socket
import time
import zlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Mapping, Optional, Tuple

import requests
import urllib3.exceptions

from steer_sync._cancellation import CancellationToken
from steer_sync._errors import (
    ApiError,
    ApiTimeout,
    Cancelled,
    NetworkError,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    SteerError,
    StreamCancelled,
    StreamError,
)
from steer_sync._sse import SseDecodeError, SseDecoder, SseEvent
from steer_sync._stream import DEADLINE_EXCEEDED
from steer_sync._timeouts import Timeouts
from steer_sync._transport._binding import EPSILON, Binding
from steer_sync._transport._body import BLOCK, UnsupportedEncoding, decoder_for
from steer_sync._transport._failures import READ_ERRORS, body_failure, describe_exception, failure_kind, seconds_text
from steer_sync._transport._redact import Redactor, redacted_snippet
from steer_sync._transport._status import MAX_ERROR_BODY, RetryHint, status_error

if TYPE_CHECKING:
    from steer_sync._transport._send import Transport

__all__ = [
    "KEEPALIVE_NAMES",
    "MAX_RESPONSE_BODY",
    "HttpResponse",
    "StreamInterrupted",
    "is_common_keepalive",
    "never",
    "size_text",
]

#: Default limit of a non-streamed (decoded) response body: 64 MiB, far above any real
#: completion, low enough that a runaway body cannot take the process's memory.
MAX_RESPONSE_BODY = 64 * 1024 * 1024


class _Limits:
    """The time limits of one call: the transport's or the call's own, and the deadline's size."""

    __slots__ = ("budget", "timeouts")

    def __init__(self, timeouts: Timeouts, budget: Optional[float]) -> None:
        self.timeouts = timeouts
        #: The seconds the deadline in force was set for (``None``: unknown or none).
        self.budget = budget

    def expired_words(self) -> str:
        """``"the call's total deadline of 5 s passed"``, for a stream's error."""
        budget = "" if self.budget is None else f" of {self.budget:g} s"
        return f"the call's total deadline{budget} passed"

    def deadline_words(self) -> str:
        """``"the call's 5 s deadline"``, for messages."""
        return "the call's deadline" if self.budget is None else f"the call's {self.budget:g} s deadline"


#: After a stream's final message, wait this long at most for the end of the HTTP body so
#: that the connection can be pooled; about what a new TLS connection would cost.
_COMPLETION_GRACE = 0.25
#: ... and read at most this much trailing data for it.
_COMPLETION_DRAIN_MAX = 1 << 20


def size_text(size: int) -> str:
    """A byte count for messages: ``64 MiB``, ``512 KiB`` or ``100 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


class StreamInterrupted(SteerError):
    """Raised by :meth:`HttpResponse.events` when the body cannot be read to its end.

    :func:`open_chunk_stream` turns it into the stream's final ``ErrorChunk``; providers
    let it pass through their converters.

    :ivar error: the stream error value: ``StreamCancelled``, ``SseParse`` or a
        ``deadline_exceeded`` ``ProviderStreamError``.
    """

    def __init__(self, error: StreamError) -> None:
        super().__init__(str(error))
        self.error = error


class _TimeLimitError(Exception):
    """A time limit of the current read passed: ``"read"``, ``"idle"`` or ``"deadline"``."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


def never(event: SseEvent) -> bool:
    return False


#: Event names, and JSON ``type`` values of small data objects, that mean "still alive" in
#: every format seen (Anthropic's ``event: ping`` / ``{"type": "ping"}``, proxies' and
#: gateways' ``keepalive`` and ``heartbeat`` events). They never reset the stall watchdog.
KEEPALIVE_NAMES = frozenset({"ping", "keepalive", "keep-alive", "keep_alive", "heartbeat"})
#: A keep-alive data object is small; larger data is never parsed to look for one.
_KEEPALIVE_DATA_MAX = 256


def is_common_keepalive(event: SseEvent) -> bool:
    """Whether ``event`` is a keep-alive in the conventions every format shares.

    True for an ``event:`` name in :data:`KEEPALIVE_NAMES`, or data that is a small JSON
    object whose ``type`` is one of them (``data: {"type":"ping"}``). Comments (``: ping``)
    are never events at all. :meth:`HttpResponse.events` applies this to every stream, in
    addition to the provider's own ``is_keepalive``.
    """
    name = event.event
    if name is not None and name.lower() in KEEPALIVE_NAMES:
        return True
    data = event.data
    if len(data) > _KEEPALIVE_DATA_MAX or not ("ping" in data or "alive" in data or "heartbeat" in data):
        return False
    try:
        decoded = json.loads(data)
    except ValueError:
        return False
    kind = decoded.get("type") if isinstance(decoded, dict) else None
    return isinstance(kind, str) and kind.lower() in KEEPALIVE_NAMES


class HttpResponse:
    """A response whose headers have arrived; it owns its connection until :meth:`close`.

    Read the body once, with :meth:`json`, :meth:`read` or :meth:`events`, then close the
    response (or let :func:`open_chunk_stream` do it). A body read to its end gives the
    connection back to the pool; anything else (a cancel, an error, an early close) closes it.

    Thread safety: one thread reads and closes; other threads cancel through the call's
    token, which wakes a blocked read at once.
    """

    __slots__ = (
        "_binding",
        "_broken",
        "_closed",
        "_complete",
        "_decoder",
        "_encoding_error",
        "_limits",
        "_owner",
        "_raw",
        "_redactor",
        "_sock_timeout",
        "_token",
        "_unregister",
        "_wire",
        "headers",
        "status_code",
    )

    def __init__(
        self,
        owner: Transport,
        response: requests.Response,
        binding: Binding,
        token: CancellationToken,
        unregister: Callable[[], None],
        redactor: Redactor,
        limits: Optional[_Limits] = None,
    ) -> None:
        self._owner = owner
        self._redactor = redactor
        self._limits = limits if limits is not None else _Limits(owner.timeouts, owner.timeouts.total)
        self._raw: Any = response.raw
        self._binding = binding
        self._token = token
        self._unregister = unregister
        self._closed = False
        self._complete = False
        self._broken = False
        #: The HTTP status code.
        self.status_code: int = response.status_code
        #: The response headers (case-insensitive).
        self.headers: Mapping[str, str] = response.headers
        self._wire = binding.wire
        self._sock_timeout: Optional[float] = -1.0  # unknown: always set before the first read
        if self._wire is None:
            # Not our connection class (a SOCKS proxy): urllib3 reads, and shuts down.
            shutdown = getattr(self._raw, "shutdown", None)
            if shutdown is not None:
                binding.attach_fallback(shutdown)
        self._encoding_error: Optional[UnsupportedEncoding] = None
        try:
            self._decoder = decoder_for(self.headers.get("content-encoding"))
        except UnsupportedEncoding as exc:
            self._decoder = None
            self._encoding_error = exc
            self._broken = True

    def __repr__(self) -> str:
        return f"<HttpResponse provider={self._owner.provider!r} status={self.status_code} closed={self._closed}>"

    def __enter__(self) -> HttpResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def provider(self) -> str:
        """The provider id used in errors."""
        return self._owner.provider

    def redact(self, text: str) -> str:
        """Remove this request's secrets (secret header values, query values) from ``text``.

        Every form is removed: bare, as a ``Bearer`` value, JSON-escaped, URL-encoded, masked
        (``sk-abc***wxyz``). The transport applies it to every message it builds (error
        statuses, parsing errors, the ``ErrorChunk`` of a stream, provider in-stream errors
        included); providers apply it to any message they build from a body themselves.

        :param text: any message text.
        :returns: the text with each secret replaced by ``[redacted]``.
        """
        return self._redactor(text)

    @property
    def request_id(self) -> Optional[str]:
        """The provider's request id from the response headers, or ``None``."""
        value = self.headers.get(self._owner.request_id_header)
        return value.strip() or None if value else None

    @property
    def content_type(self) -> str:
        """The media type of the body, lower case without parameters (``""`` when not sent)."""
        return str(self.headers.get("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def token(self) -> CancellationToken:
        """The response's private token (a child of the call's): cancelling it aborts the read."""
        return self._token

    # -- reading blocks --------------------------------------------------------------------

    def _limit(self, idle_since: Optional[float], cap: Optional[float] = None) -> Tuple[Optional[float], str]:
        timeouts = self._limits.timeouts
        limit, which = timeouts.read, "read"
        if cap is not None and (limit is None or cap < limit):
            limit, which = cap, "grace"
        now = time.monotonic()
        idle = timeouts.stream_idle
        if idle is not None and idle_since is not None:
            remaining = idle - (now - idle_since)
            if limit is None or remaining < limit:
                limit, which = remaining, "idle"
        deadline = self._binding.deadline
        if deadline is not None:
            remaining = deadline - now
            if limit is None or remaining < limit:
                limit, which = remaining, "deadline"
        if limit is not None and limit <= 0:
            raise _TimeLimitError(which)
        return limit, which

    def _set_timeout(self, limit: Optional[float]) -> None:
        current = self._sock_timeout
        # settimeout() is a syscall: keep the current value while it is within 2 % above
        # the limit. Never keep a shorter one: a timeout must mean that a limit passed.
        if limit is None:
            if current is None:
                return
        elif current is not None and limit <= current <= limit * 1.02 + EPSILON:
            return
        sock = self._binding.sock
        if sock is None:
            return
        sock.settimeout(limit)
        self._sock_timeout = limit

    def _read_block(self, idle_since: Optional[float], cap: Optional[float] = None) -> bytes:
        """The next decoded body bytes; ``b""`` at the end of the body.

        :raises _TimeLimitError: when a time limit passed.
        :raises OSError, http.client.HTTPException, urllib3 HTTPError, zlib.error: on failure.
        """
        decoder = self._decoder
        if self._encoding_error is not None:
            raise self._encoding_error
        while True:
            if decoder is not None and decoder.has_pending:
                data = decoder.decompress(b"")
                if data:
                    return data
            limit, which = self._limit(idle_since, cap)
            self._set_timeout(limit)
            try:
                if self._wire is not None:
                    data = self._wire.read_block()
                else:
                    data = self._raw.read1(BLOCK, decode_content=False)
            except (socket.timeout, urllib3.exceptions.ReadTimeoutError):
                self._broken = True
                raise _TimeLimitError(self._which_expired(idle_since, which)) from None
            except BaseException:
                self._broken = True
                raise
            if not data:
                self._complete = not self._binding.fired
                if decoder is not None:
                    self._decoder = None
                    return decoder.flush()
                return b""
            if decoder is None:
                return data
            data = decoder.decompress(data)
            if data:
                return data

    def _which_expired(self, idle_since: Optional[float], which: str) -> str:
        now = time.monotonic() + EPSILON
        deadline = self._binding.deadline
        if deadline is not None and now >= deadline:
            return "deadline"
        idle = self._limits.timeouts.stream_idle
        if idle is not None and idle_since is not None and now - idle_since >= idle:
            return "idle"
        return which

    # -- whole bodies ----------------------------------------------------------------------

    def read(self) -> bytes:
        """Read the whole (decoded) body, at most the transport's ``max_response_body`` bytes.

        :returns: the body bytes.
        :raises ResponseParsingError: if the body (after decompression) is larger than
            ``max_response_body``; it is not read further (at most one block past the limit).
        :raises Cancelled: if the call's token was cancelled.
        :raises ApiTimeout: if the total deadline passed.
        :raises NetworkError: if the read failed or stalled for the read timeout.
        """
        limit = self._owner.max_response_body
        if limit is not None:
            declared = self.headers.get("content-length")
            if self._decoder is None and declared is not None and declared.strip().isdigit() and int(declared) > limit:
                self._broken = True
                raise self._too_large(limit)
        parts: List[bytes] = []
        size = 0
        while True:
            try:
                data = self._read_block(None)
            except _TimeLimitError as expired:
                raise self._read_api_error(expired) from None
            except READ_ERRORS as exc:
                raise self._read_api_error(exc) from (None if self._binding.fired else exc)
            if not data:
                break
            size += len(data)
            if limit is not None and size > limit:
                self._broken = True
                raise self._too_large(limit)
            parts.append(data)
        if self._binding.fired:
            raise Cancelled(self.provider)
        return b"".join(parts)

    def _too_large(self, limit: int) -> ApiError:
        return ResponseParsingError(
            self.provider,
            f"the response body is larger than the {size_text(limit)} limit for non-streamed responses "
            f"(max_response_body); stream the call instead (stream_complete has no whole-body limit), "
            f"or raise max_response_body",
        )

    def json(self) -> Any:
        """Read the whole body, release the response, and parse the body as JSON.

        The response is closed whatever happens (a fully read body returns its connection
        to the pool), so callers of a non-streamed request need no ``close()`` of their own.

        :returns: the parsed value.
        :raises ResponseParsingError: if the body is not valid JSON.
        :raises Cancelled, ApiTimeout, NetworkError: as :meth:`read`.
        """
        try:
            body = self.read()
        finally:
            self.close()
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            snippet = redacted_snippet(body, self._redactor, 200)
            message = self.redact(f"invalid JSON ({exc}); body starts: {snippet!r}")
            raise ResponseParsingError(self.provider, message) from None

    def _read_api_error(self, exc: BaseException) -> ApiError:
        if self._binding.fired:
            return Cancelled(self.provider)
        timeouts = self._limits.timeouts
        if isinstance(exc, (zlib.error, UnsupportedEncoding)):
            return ResponseParsingError(self.provider, f"could not decode the response body: {describe_exception(exc)}")
        if isinstance(exc, _TimeLimitError):
            if exc.which == "deadline":
                return ApiTimeout(self.provider, f"{self._limits.deadline_words()} passed while reading the body")
            return NetworkError(
                self.provider, f"no data for {seconds_text(timeouts.read)} while reading the response body"
            )
        return NetworkError(self.provider, f"reading the response body failed: {body_failure(exc)}")

    def _status_error(
        self,
        describe: Optional[Callable[[int, bytes], Optional[str]]],
        retry_hint: Optional[RetryHint],
    ) -> ApiError:
        """Read the bounded error body and build the mapped error (``Cancelled`` if cancelled)."""
        parts: List[bytes] = []
        size = 0
        try:
            while size < MAX_ERROR_BODY:
                data = self._read_block(None)
                if not data:
                    break
                parts.append(data)
                size += len(data)
        except (_TimeLimitError, *READ_ERRORS):
            # The status already says what happened; keep what arrived of the body.
            self._broken = True
        if self._binding.fired:
            return Cancelled(self.provider)
        body = b"".join(parts)[:MAX_ERROR_BODY]
        return status_error(
            self.provider,
            self.status_code,
            self.headers,
            body,
            describe=describe,
            redact=self._redactor,
            retry_hint=retry_hint,
            request_id=self.request_id,
        )

    def _content_type_error(self) -> ApiError:
        """The error for a streaming request answered with a body that is not a stream."""
        parts: List[bytes] = []
        size = 0
        try:
            while size < 500:
                data = self._read_block(None)
                if not data:
                    break
                parts.append(data)
                size += len(data)
        except (_TimeLimitError, *READ_ERRORS):
            self._broken = True
        self._broken = True  # the rest of the body is not read: never pool this connection
        if self._binding.fired:
            return Cancelled(self.provider)
        start = redacted_snippet(b"".join(parts), self._redactor, 300)
        content_type = self.headers.get("content-type") or ""
        return ResponseParsingError(
            self.provider,
            self._redactor(
                f"expected an event stream but the server answered with content type {content_type!r} "
                f"(check the base URL or the proxy in between); the body starts: {start!r}"
            ),
            request_id=self.request_id,
        )

    # -- streams ---------------------------------------------------------------------------

    def events(self, *, is_keepalive: Callable[[SseEvent], bool] = never) -> Iterator[SseEvent]:
        """Decode the body as a server-sent event stream, as it arrives.

        The stall watchdog runs here: when ``Timeouts.stream_idle`` seconds pass without a
        meaningful event, the stream fails with a retryable
        ``SseParse(TRANSPORT, "no event for N s ...")``. Comments, the keep-alives of
        :func:`is_common_keepalive` (``event: ping``, ``data: {"type":"ping"}``, ...) and the
        events for which ``is_keepalive`` is true do not count as progress; keep-alive events
        are still yielded.

        :param is_keepalive: the provider's own keep-alive events, beyond the common ones.
        :returns: an iterator of events, ending at the end of the body.
        :raises StreamInterrupted: with ``StreamCancelled`` if the token was cancelled,
            ``SseParse`` (``TRANSPORT``, ``UTF8``, ``PARSER``) if reading or decoding failed,
            or a ``deadline_exceeded`` ``ProviderStreamError`` when the total deadline passed.
        """
        binding = self._binding
        idle = self._limits.timeouts.stream_idle
        deadline = binding.deadline
        extra = None if is_keepalive is never else is_keepalive
        decoder = SseDecoder()
        last_event = time.monotonic()
        while True:
            if binding.fired:
                raise StreamInterrupted(StreamCancelled())
            try:
                data = self._read_block(last_event)
            except _TimeLimitError as expired:
                raise StreamInterrupted(self._expired_stream_error(expired.which)) from None
            except READ_ERRORS as exc:
                if binding.fired:
                    raise StreamInterrupted(StreamCancelled()) from None
                raise StreamInterrupted(
                    SseParse(failure_kind(exc), f"reading the response body failed: {body_failure(exc)}")
                ) from exc
            now = time.monotonic()
            failure: Optional[StreamError] = None
            try:
                events = decoder.feed(data) if data else decoder.flush()
            except SseDecodeError as exc:
                events = exc.events
                kind = SseParseErrorKind.UTF8 if exc.kind == "utf8" else SseParseErrorKind.PARSER
                failure = SseParse(kind, str(exc))
            if not data and binding.fired:  # the EOF came from our own shutdown
                raise StreamInterrupted(StreamCancelled())
            meaningful = False
            for event in events:
                if binding.fired:
                    raise StreamInterrupted(StreamCancelled())
                if not meaningful and not (is_common_keepalive(event) or (extra is not None and extra(event))):
                    meaningful = True
                yield event
            if failure is not None:
                raise StreamInterrupted(failure)
            if not data:
                return
            if meaningful:
                last_event = now
            elif idle is not None and now - last_event >= idle:
                raise StreamInterrupted(self._expired_stream_error("idle"))
            if deadline is not None and now >= deadline:
                raise StreamInterrupted(self._expired_stream_error("deadline"))

    def _expired_stream_error(self, which: str) -> StreamError:
        if self._binding.fired:
            return StreamCancelled()
        timeouts = self._limits.timeouts
        if which == "deadline":
            return ProviderStreamError(
                self.provider,
                ProviderStreamErrorKind.from_provider_error_type(DEADLINE_EXCEEDED),
                DEADLINE_EXCEEDED,
                self._limits.expired_words(),
            )
        if which == "idle":
            return SseParse(
                SseParseErrorKind.TRANSPORT,
                f"no event for {seconds_text(timeouts.stream_idle)} (only keep-alives or nothing arrived; stream_idle timeout)",
            )
        return SseParse(SseParseErrorKind.TRANSPORT, f"no data for {seconds_text(timeouts.read)} (read timeout)")

    def _finish_after_completion(self) -> None:
        """Read the few bytes after a stream's final event, so the connection can be pooled.

        Waits at most a short grace period; if the body does not end by then the connection
        is simply closed later.
        """
        if self._complete or self._closed or self._binding.fired or self._broken:
            return
        remaining = _COMPLETION_DRAIN_MAX
        timeouts = self._limits.timeouts
        grace = _COMPLETION_GRACE if timeouts.read is None else min(_COMPLETION_GRACE, timeouts.read)
        started = time.monotonic()
        try:
            while remaining > 0:
                left = grace - (time.monotonic() - started)
                if left <= 0:
                    return
                data = self._read_block(None, left)
                if not data:
                    return
                remaining -= len(data)
        except (_TimeLimitError, *READ_ERRORS):
            self._broken = True

    # -- release ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the response: pool the connection if the body was read to its end, else close it.

        Idempotent. The cancel callback is unregistered first, so a cancel that comes later
        never touches a connection another request may be using.
        """
        if self._closed:
            return
        self._closed = True
        binding = self._binding
        binding.detach()
        self._unregister()
        # Unregisters the private token from the caller's; nothing is attached any more.
        self._token.cancel()
        raw = self._raw
        try:
            if not (self._complete and not binding.fired and not self._broken):
                # Half-read, timed out or shut down: this connection must never be reused.
                raw.close()
        finally:
            raw.release_conn()
