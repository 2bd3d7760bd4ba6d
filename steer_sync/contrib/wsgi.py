"""Stream a ``CompletionStream`` to an HTTP client from any WSGI application (layer L4).

:func:`stream_body` turns a stream into the body iterable a WSGI server writes, as
server-sent events (``format="sse"``, for ``EventSource``) or as plain text
(``format="text"``). It adds no behaviour the core lacks; it adapts three things a web
request needs:

* **Every chunk becomes an event**, the final one included: ``text``, ``thinking``,
  ``tool_use`` (``{"id", "name"}``), ``tool_input`` (``{"id", "delta"}``), ``reset``,
  ``done`` (``{"stop_reason", "usage", "request_id"}``) and ``error`` (``{"type",
  "message", "retryable"}``), each with one JSON ``data:`` line. ``ContentBlockStop`` is
  framing only and is not sent. A failure is never dropped: it is an ``error`` event (and a
  WARNING log line). Error messages are the library's, already free of credentials.
* **Heartbeats while the provider is silent**: a comment line (``: keep-alive``) every
  ``heartbeat`` seconds, written while waiting with
  :meth:`~steer_sync.CompletionStream.next_chunk`. Writing is the only way a WSGI
  application learns that the browser went away, so without them a client that leaves
  during an upstream stall is only noticed when the stall limit ends the stream.
* **Disconnects close the upstream at once**: when the browser goes away the server calls
  the body's ``close()`` (PEP 3333; gunicorn does so when a write fails), which closes the
  stream: its socket is shut down at once, during a stall too, and the provider sees the
  disconnect.

In ``format="text"`` only the text deltas are written and nothing can be written while the
provider is silent (no byte of a text body is invisible), so a client that leaves during a
stall is noticed when the stall limit ends the stream. A failure after the headers raises
from the body iterator, after a WARNING log line: the server then drops the connection and
the client sees an incomplete body (no final empty chunk), never a clean end.

Time limits: a web request should not outlive the worker that serves it. A number
``timeout=25`` (per call, or ``client.with_options(timeout=25)``) is a deadline for the whole
call, retries included. :data:`WEB_TIMEOUTS` also shortens the connect and stall limits, but
its ``total`` bounds each attempt: pair it with one attempt
(``client.with_options(timeout=WEB_TIMEOUTS, retry_policy=RetryPolicy(max_attempts=1))``).

Usage::

    from steer_sync import Client, Message, RetryPolicy
    from steer_sync.contrib.wsgi import SSE_HEADERS, WEB_TIMEOUTS, stream_body

    client = Client.from_env().with_options(timeout=WEB_TIMEOUTS, retry_policy=RetryPolicy(max_attempts=1))

    def application(environ, start_response):
        stream = client.stream_complete("sonnet", [Message.user("Hello")])
        start_response("200 OK", list(SSE_HEADERS))
        return stream_body(stream)
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterator, Optional, Tuple

from steer_sync._chunks import (
    ErrorChunk,
    MessageComplete,
    Reset,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import ProviderStreamError, ProviderStreamErrorKind, SseParse, StreamCancelled, StreamError
from steer_sync._retry import should_retry_stream_error
from steer_sync._stream import CompletionStream, stream_error_to_api_error
from steer_sync._transport import Timeouts

__all__ = ["SSE_HEADERS", "TEXT_HEADERS", "WEB_TIMEOUTS", "error_type", "sse_event", "stream_body"]

_log = logging.getLogger("steer_sync.contrib.wsgi")

#: Response headers for ``format="sse"``: the event-stream content type, no caching, and
#: no buffering by nginx-style proxies (which would hold events and heartbeats back).
#: Pass ``list(SSE_HEADERS)`` to ``start_response`` (WSGI wants a list).
SSE_HEADERS: Tuple[Tuple[str, str], ...] = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)

#: Response headers for ``format="text"``.
TEXT_HEADERS: Tuple[Tuple[str, str], ...] = (
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)

#: Time limits for an attempt made while serving a web request: a deadline (25 s) and a stall
#: limit (15 s) shorter than gunicorn's default 30 s worker timeout, so the view reports the
#: failure (an ``error`` event) before the worker is killed, and a short connect limit.
#: ``total`` bounds each attempt (``Timeouts``), so give the web client one attempt:
#: ``client.with_options(timeout=WEB_TIMEOUTS, retry_policy=RetryPolicy(max_attempts=1))``;
#: or, to keep retries, a whole-call deadline ``with_options(timeout=25)``. Adjust with
#: ``dataclasses.replace(WEB_TIMEOUTS, total=120.0)`` when the workers allow longer requests
#: (gthread workers, a raised ``--timeout``).
WEB_TIMEOUTS = Timeouts(connect=5.0, read=15.0, stream_idle=15.0, total=25.0)

_FORMATS = ("sse", "text")
_HEARTBEAT = b": keep-alive\n\n"


def stream_body(stream: CompletionStream, *, format: str = "sse", heartbeat: Optional[float] = 10.0) -> Iterator[bytes]:
    """Return a WSGI body iterable that writes ``stream`` as server-sent events or text.

    The body owns the stream: it closes it when the answer ends, when it fails, and when
    the server calls the body's ``close()`` (the client disconnected), also during a stall.
    Return it from the application after ``start_response`` with :data:`SSE_HEADERS` (or
    :data:`TEXT_HEADERS`). Not thread-safe: one server thread iterates it; ``close()`` may
    come from any thread.

    :param stream: the stream from ``client.stream_complete(...)``.
    :param format: ``"sse"`` (one event per chunk, see the module docstring) or ``"text"``
        (text deltas only; a failure after output aborts the response).
    :param heartbeat: seconds of provider silence between two keep-alive comments in
        ``"sse"``; ``None`` writes none (and starts no reader thread). Ignored for ``"text"``.
    :returns: an iterator of ``bytes`` with a ``close()`` method.
    :raises TypeError: if ``stream`` is not a ``CompletionStream``.
    :raises ValueError: if ``format`` or ``heartbeat`` is invalid.
    """
    if not isinstance(stream, CompletionStream):
        raise TypeError(
            f"stream_body() needs a CompletionStream (from client.stream_complete(...)), got {type(stream).__name__}"
        )
    if format not in _FORMATS:
        raise ValueError(f"format must be 'sse' or 'text', got {format!r}")
    if heartbeat is not None and (
        isinstance(heartbeat, bool) or not isinstance(heartbeat, (int, float)) or not heartbeat > 0
    ):
        raise ValueError(f"heartbeat must be a number of seconds > 0 or None, got {heartbeat!r}")
    return _StreamBody(stream, format == "sse", heartbeat)


def sse_event(name: str, data: Dict[str, Any]) -> bytes:
    """Encode one server-sent event with a compact JSON ``data:`` line.

    :param name: the event name.
    :param data: a JSON-compatible mapping (JSON text never contains a raw newline).
    """
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {name}\ndata: {payload}\n\n".encode()


def error_type(error: StreamError) -> str:
    """A short, stable name for a stream failure, for the ``error`` event's ``type``.

    ``cancelled``; the provider's error type (``overloaded``, ``rate_limit_exceeded``,
    ``deadline_exceeded``, ...); or ``transport`` / ``utf8`` / ``parser`` for a body that
    could not be read or decoded (a stall is ``transport``).
    """
    if isinstance(error, StreamCancelled):
        return "cancelled"
    if isinstance(error, ProviderStreamError):
        return error.raw_error_type or str(error.kind)
    if isinstance(error, SseParse):
        return error.kind.value.lower()
    return "stream_error"


class _StreamBody(Iterator[bytes]):
    """The body iterable :func:`stream_body` returns."""

    __slots__ = ("_stream", "_sse", "_wait", "_done")

    def __init__(self, stream: CompletionStream, sse: bool, heartbeat: Optional[float]) -> None:
        self._stream = stream
        self._sse = sse
        # Text has nothing to write while silent: plain reads, no reader thread.
        self._wait = heartbeat if sse else None
        self._done = False

    def __iter__(self) -> _StreamBody:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        try:
            while True:
                if self._done:  # the answer ended, or the server closed the body
                    raise StopIteration
                out: Optional[bytes]
                try:
                    chunk = self._stream.next_chunk(self._wait)
                except StopIteration:
                    if self._done:
                        raise
                    out = self._failed(_incomplete(self._stream.provider or "unknown"))
                else:
                    if chunk is None:
                        return _HEARTBEAT
                    out = self._render(chunk)
                if out:
                    return out
        except BaseException:
            self.close()
            raise

    def _render(self, chunk: StreamChunk) -> Optional[bytes]:
        if isinstance(chunk, TextDelta):
            if not self._sse:
                return chunk.text.encode() if chunk.text else None
            return sse_event("text", {"text": chunk.text})
        if isinstance(chunk, ErrorChunk):
            return self._failed(chunk.error)
        if isinstance(chunk, MessageComplete):
            self.close()
            if not self._sse:
                return None
            response = chunk.response
            usage = response.usage
            return sse_event(
                "done",
                {
                    "stop_reason": response.stop_reason,
                    "usage": usage.to_dict() if usage is not None else None,
                    "request_id": getattr(response, "request_id", None),
                },
            )
        if not self._sse:
            return None
        if isinstance(chunk, ThinkingDelta):
            return sse_event("thinking", {"text": chunk.text})
        if isinstance(chunk, ToolUseStart):
            return sse_event("tool_use", {"id": chunk.id, "name": chunk.name})
        if isinstance(chunk, ToolUseInputDelta):
            return sse_event("tool_input", {"id": chunk.id, "delta": chunk.delta})
        if isinstance(chunk, Reset):
            return sse_event("reset", {})
        return None  # ContentBlockStop: framing only

    def _failed(self, error: StreamError) -> bytes:
        self.close()
        provider = self._stream.provider
        if isinstance(error, StreamCancelled):
            _log.info("%s stream was cancelled while streaming a response", provider)
        if not self._sse:
            exc = stream_error_to_api_error(error, provider)
            if not isinstance(error, StreamCancelled):
                _log.warning("%s stream failed after the response started; aborting it: %s", provider, error)
            raise exc
        if not isinstance(error, StreamCancelled):
            _log.warning("%s stream failed; sending an error event: %s", provider, error)
        return sse_event(
            "error",
            {"type": error_type(error), "message": str(error), "retryable": should_retry_stream_error(error)},
        )

    def close(self) -> None:
        """Close the stream (releasing its connection at once). Idempotent; any thread."""
        self._done = True
        self._stream.close()


def _incomplete(provider: str) -> StreamError:
    return ProviderStreamError(
        provider,
        ProviderStreamErrorKind.from_provider_error_type("incomplete"),
        "incomplete",
        "the stream ended without a final message",
    )
