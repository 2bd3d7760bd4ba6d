"""Watching calls: listener dispatch, the per-call recorder, the call log line (layer L3).

The client creates one :class:`CallRecorder` per call, in one place, and only when someone
listens: a registered listener, or the ``steer_sync.client`` logger enabled for INFO. With
neither, no recorder exists and the hot path does nothing but a ``None`` check.

``STEER_SYNC_LOG=info|debug`` attaches a stderr handler to the ``steer_sync`` logger
(like ``OPENAI_LOG``); it is read when the first ``Client`` is built, never at import.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Iterator, Mapping, Optional, Sequence

from steer_sync._chunks import ErrorChunk, MessageComplete, StreamChunk
from steer_sync._errors import ApiError, ApiStreamError, Cancelled, StreamError, UnknownApiError
from steer_sync._events import AttemptFailed, CallFinished, Event, Listener
from steer_sync._stream import stream_error_to_api_error
from steer_sync._types import CompletionResponse

if TYPE_CHECKING:
    from steer_sync._catalog import ModelPricing

__all__ = ["RETRY_MESSAGE", "CallRecorder", "configure_logging_from_env", "dispatch", "log_retry", "wants_recorder"]

#: The logger of the per-call INFO line and the per-retry WARNING.
_log = logging.getLogger("steer_sync.client")

#: The environment variable that attaches a stderr handler: ``info`` or ``debug``.
LOG_ENV = "STEER_SYNC_LOG"
_LOG_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}
_env_lock = threading.Lock()
_env_read = False


def configure_logging_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Honour ``STEER_SYNC_LOG`` once per process (the first ``Client`` calls this).

    ``info`` or ``debug`` sets the ``steer_sync`` logger to that level and attaches one
    stderr handler; an unset or blank variable changes nothing; anything else is reported
    once as a ``RuntimeWarning`` naming the accepted values (the library's loggers have no
    handler yet, so a log record would go nowhere).
    """
    global _env_read
    with _env_lock:
        if _env_read:
            return
        _env_read = True
    value = environ.get(LOG_ENV, "").strip().lower()
    if not value:
        return
    logger = logging.getLogger("steer_sync")
    level = _LOG_LEVELS.get(value)
    if level is None:
        warnings.warn(
            f"{LOG_ENV}={value!r} is not a log level; use {LOG_ENV}=info or {LOG_ENV}=debug",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    logger.setLevel(level)
    if not any(getattr(handler, "_steer_sync_env", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._steer_sync_env = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def wants_recorder(listeners: Sequence[Listener]) -> bool:
    """Whether a call needs a recorder: someone listens, or the call log line is enabled."""
    return bool(listeners) or _log.isEnabledFor(logging.INFO)


def dispatch(listeners: Sequence[Listener], event: Event) -> None:
    """Call every listener with ``event``; one that raises is logged (with its traceback) and skipped."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # a listener must never break a call
            _log.warning("listener %r raised on %s; ignored", listener, type(event).__name__, exc_info=True)


#: The retry WARNING's format; its args are provider, model, attempt, max_attempts, error class
#: name, retry_in and the error (the command line turns these records into its notices).
RETRY_MESSAGE = "%s/%s attempt %d of %d failed (%s), retrying in %.2fs: %s"


def log_retry(provider: str, model: str, attempt: int, max_attempts: int, error: ApiError, retry_in: float) -> None:
    """The WARNING of a retry: the same facts as the :class:`AttemptFailed` it accompanies."""
    _log.warning(
        RETRY_MESSAGE,
        provider,
        model,
        attempt,
        max_attempts,
        type(error).__name__,
        retry_in,
        error,
    )


class CallRecorder:
    """Watches one call: counts attempts, notes the first chunk and the outcome, reports once.

    Thread-safe where it must be: :meth:`finish` may race between the thread reading a
    stream and one closing it, and reports exactly once.
    """

    __slots__ = (
        "_listeners",
        "provider",
        "model",
        "streamed",
        "_pricing",
        "_started",
        "attempts",
        "_first_chunk",
        "_ended",
        "_response",
        "_stream_error",
        "_exhausted",
        "_done",
        "_lock",
    )

    def __init__(
        self,
        listeners: Sequence[Listener],
        provider: str,
        model: str,
        streamed: bool,
        pricing: Optional[ModelPricing],
    ) -> None:
        self._listeners = tuple(listeners)
        self.provider = provider
        self.model = model
        self.streamed = streamed
        self._pricing = pricing
        self._started = time.monotonic()
        #: Requests started so far (the client's retry loop counts them).
        self.attempts = 0
        self._first_chunk: Optional[float] = None
        self._ended: Optional[float] = None
        self._response: Optional[CompletionResponse] = None
        self._stream_error: Optional[StreamError] = None
        self._exhausted = False
        self._done = False
        self._lock = threading.Lock()

    # --- attempts ---------------------------------------------------------------------

    def attempt_failed(self, error: ApiError, retry_in: Optional[float]) -> None:
        """Report the current attempt's failure (``retry_in`` ``None``: the call gives up)."""
        if self._listeners:
            dispatch(self._listeners, AttemptFailed(self.provider, self.model, self.attempts, error, retry_in))

    # --- the end of the call ----------------------------------------------------------

    def returned(self, response: CompletionResponse) -> None:
        """The non-streamed call returned ``response``."""
        self._finish(response, None)

    def raised(self, exc: BaseException) -> None:
        """The call raised ``exc`` (anything but an ``ApiError`` is reported as an ``UnknownApiError``)."""
        if isinstance(exc, ApiError):
            error: ApiError = exc
        else:
            error = UnknownApiError(self.provider, f"the call ended with {type(exc).__name__}")
        self._finish(None, error)

    def watch(self, chunks: Iterator[StreamChunk]) -> Iterator[StreamChunk]:
        """``chunks``, noting the first one, the final message or failure, and the end.

        A stream dropped without being closed still reports: a started generator runs its
        ``finally`` when collected, and a finalizer covers one that never started.
        """
        watched = self._watch(chunks)
        weakref.finalize(watched, self.stream_ended).atexit = False
        return watched

    def _watch(self, chunks: Iterator[StreamChunk]) -> Iterator[StreamChunk]:
        try:
            for chunk in chunks:
                if self._first_chunk is None:
                    self._first_chunk = time.monotonic()
                kind = type(chunk)
                if kind is MessageComplete:
                    self._response = chunk.response  # type: ignore[attr-defined]
                    self._ended = time.monotonic()
                elif kind is ErrorChunk:
                    self._stream_error = chunk.error  # type: ignore[attr-defined]
                    self._ended = time.monotonic()
                yield chunk
            self._exhausted = True
        finally:
            close = getattr(chunks, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                self.stream_ended()

    def stream_ended(self) -> None:
        """The stream was released (its ``on_close``): report how it ended."""
        if self._done:
            return
        if self._response is not None:
            self._finish(self._response, None)
        elif self._stream_error is not None:
            self._finish(None, stream_error_to_api_error(self._stream_error, self.provider))
        elif self._exhausted:
            self._finish(None, ApiStreamError(self.provider, "Stream ended without completion response"))
        else:  # closed by its consumer before the answer was complete
            self._finish(None, Cancelled(self.provider))

    def _finish(self, response: Optional[CompletionResponse], error: Optional[ApiError]) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        ended = self._ended if self._ended is not None else time.monotonic()
        usage = response.usage if response is not None else None
        first = self._first_chunk if self.streamed else None
        cost = None
        if usage is not None and self._pricing is not None:
            cost = self._pricing.cost(usage)
        request_id = getattr(response, "request_id", None) or getattr(error, "request_id", None)
        event = CallFinished(
            provider=self.provider,
            model=self.model,
            streamed=self.streamed,
            attempts=self.attempts,
            duration=ended - self._started,
            time_to_first_chunk=None if first is None else first - self._started,
            usage=usage,
            stop_reason=response.stop_reason if response is not None else None,
            request_id=request_id,
            error=error,
            cost=cost,
            response_model=getattr(response, "model", None),
            response_id=getattr(response, "response_id", None),
        )
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s", call_line(event))
        if self._listeners:
            dispatch(self._listeners, event)


def call_line(event: CallFinished) -> str:
    """The INFO line of a finished call.

    ``stream anthropic/claude-sonnet-4-5 ok in 1.204s: attempts=1 tokens=12+40 cost=$0.000636
    request_id=req_1``; a failure says ``error RateLimited`` and ends with the error's message.
    """
    status = "ok" if event.error is None else f"error {type(event.error).__name__}"
    usage = event.usage
    tokens = f"{usage.input_tokens}+{usage.output_tokens}" if usage is not None else "-"
    parts = [
        f"{'stream' if event.streamed else 'call'} {event.provider}/{event.model} {status} in {event.duration:.3f}s:",
        f"attempts={event.attempts}",
        f"tokens={tokens}",
    ]
    if event.time_to_first_chunk is not None:
        parts.append(f"first_chunk={event.time_to_first_chunk:.3f}s")
    if event.cost is not None:
        parts.append(f"cost=${event.cost:.6f}")
    parts.append(f"request_id={event.request_id or '-'}")
    line = " ".join(parts)
    if event.error is not None:
        line += f" ({event.error})"
    return line
