"""Retry notices of the ``steer-sync`` command: one stderr line per retried attempt (layer L4).

:class:`_RetryNotices` prints a line for each failed attempt the client will retry and adds
the attempts made to the final error message; :class:`_LogBridge` feeds it from the client's
retry log records, :meth:`_RetryNotices.on_event` from client events.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional, Sequence

from steer_sync._cli._terminal import _Console
from steer_sync._errors import ApiError

__all__ = ["_RetryNotices"]


class _RetryNotices:
    """One stderr line per failed attempt that will be retried, and the give-up summary.

    Today the client reports retries as WARNING log records on ``steer_sync.client``;
    :meth:`from_logging` translates them. When listeners exist this becomes
    ``client.add_listener(notices.on_event)``, feeding :meth:`attempt_failed` from
    ``AttemptFailed(provider, model, attempt, error, retry_in)`` events.
    """

    #: The client's retry log messages (steer_sync/_client.py), and what their args are.
    _REQUEST_RETRY = "%s request failed (attempt %d of %d), retrying in %.2fs: %s"
    _STREAM_RESTART = "%s stream failed (attempt %d of %d), restarting: %s"

    def __init__(self, console: _Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._failed_attempts = 0
        self._last_wait: Optional[float] = None

    def reset(self) -> None:
        """Start counting for a new call."""
        with self._lock:
            self._failed_attempts = 0
            self._last_wait = None

    def attempt_failed(
        self,
        provider: Optional[str],
        attempt: int,
        error: object,
        retry_in: Optional[float],
        max_attempts: Optional[int] = None,
    ) -> None:
        """Print the notice for attempt ``attempt`` (1-based) that failed with ``error``.

        :param retry_in: the wait before the next attempt; ``None`` when the stream is
            restarted after a short backoff the client does not report.
        """
        with self._lock:
            self._failed_attempts = max(self._failed_attempts, attempt)
            if retry_in is not None:
                self._last_wait = retry_in
        of = f" of {max_attempts}" if max_attempts else ""
        what = " ".join(str(error).split())  # one line, whatever the provider sent
        kind = type(error).__name__
        where = f"{provider}: " if provider else ""
        then = f"retrying in {retry_in:.1f} s" if retry_in is not None else "restarting the answer"
        self._console.line(f"steer-sync: {where}attempt {attempt}{of} failed ({kind}: {what}); {then}")

    def explain(self, error: ApiError) -> str:
        """The final message for ``error``, with the attempts made when there were retries."""
        with self._lock:
            failed, wait = self._failed_attempts, self._last_wait
        if not failed:
            return str(error)
        waited = f"; the last wait was {wait:.1f} s" if wait is not None else ""
        return f"{error} (gave up after {failed + 1} attempts{waited})"

    def on_event(self, event: object) -> None:
        """A client listener: prints ``AttemptFailed`` events that will be retried.

        Duck-typed on the event's class name and fields, so it works as soon as the
        observability events exist (``client.add_listener(notices.on_event)``) without
        importing them here; other events are ignored.
        """
        if type(event).__name__ != "AttemptFailed":
            return
        retry_in = getattr(event, "retry_in", None)
        if retry_in is None:  # the call gives up: the final error message reports it
            return
        self.attempt_failed(
            getattr(event, "provider", None),
            int(getattr(event, "attempt", 0)),
            getattr(event, "error", None),
            float(retry_in),
        )

    def from_logging(self) -> _LogBridge:
        """A context manager that routes the client's retry log records here."""
        return _LogBridge(self)

    def on_record(self, record: logging.LogRecord) -> None:
        """Turn one WARNING record of ``steer_sync.client`` into a notice."""
        args: Sequence[Any] = record.args if isinstance(record.args, tuple) else ()
        if record.msg == self._REQUEST_RETRY and len(args) == 5:
            provider, attempt, max_attempts, retry_in, error = args
            self.attempt_failed(str(provider), int(attempt), error, float(retry_in), int(max_attempts))
        elif record.msg == self._STREAM_RESTART and len(args) == 4:
            provider, attempt, max_attempts, error = args
            self.attempt_failed(str(provider), int(attempt), error, None, int(max_attempts))
        else:
            self._console.line(f"steer-sync: warning: {record.getMessage()}")


class _LogBridge(logging.Handler):
    """A logging handler, attached for the command's duration, feeding :class:`_RetryNotices`."""

    _LOGGER = "steer_sync.client"

    def __init__(self, notices: _RetryNotices) -> None:
        super().__init__(logging.WARNING)
        self._notices = notices

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._notices.on_record(record)
        except Exception:  # a notice must never break the call
            self.handleError(record)

    def __enter__(self) -> _LogBridge:
        logging.getLogger(self._LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(self._LOGGER).removeHandler(self)
