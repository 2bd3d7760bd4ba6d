"""Retry notices of the ``steer-sync`` command: one stderr line per retried attempt (layer L4).

:class:`_RetryNotices` is a client listener: it prints a line for each ``AttemptFailed`` the
client will retry, keeps the call's ``CallFinished`` (cost, request id) for ``-v``, and adds
the attempts made to the final error message. :class:`_LogBridge` shows the client's other
WARNING records (an auth fallback, say) as ``steer-sync: warning:`` lines.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from steer_sync._cli._terminal import _Console
from steer_sync._errors import ApiError
from steer_sync._events import AttemptFailed, CallFinished
from steer_sync._observe import RETRY_MESSAGE

__all__ = ["_RetryNotices"]


class _RetryNotices:
    """One stderr line per failed attempt that will be retried, and the give-up summary.

    Installed with ``client.add_listener(notices.on_event)``: :meth:`attempt_failed` is fed
    from ``AttemptFailed`` events, and the call's ``CallFinished`` is kept as :attr:`finished`.
    """

    def __init__(self, console: _Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._failed_attempts = 0
        self._last_wait: Optional[float] = None
        #: The attempts a call may make (the client's retry policy), for "attempt 2 of 5".
        self.max_attempts: Optional[int] = None
        #: The last ``CallFinished`` event: its cost and request id feed ``-v``.
        self.finished: Optional[Any] = None

    def reset(self) -> None:
        """Start counting for a new call."""
        with self._lock:
            self._failed_attempts = 0
            self._last_wait = None
            self.finished = None

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
        """A client listener: prints ``AttemptFailed`` events that will be retried and keeps
        the ``CallFinished`` event; other events are ignored."""
        if isinstance(event, CallFinished):
            self.finished = event
            return
        if not isinstance(event, AttemptFailed) or event.retry_in is None:
            return  # a call that gives up is reported by the final error message
        self.attempt_failed(event.provider, event.attempt, event.error, event.retry_in, self.max_attempts)

    def from_logging(self) -> _LogBridge:
        """A context manager that routes the client's retry log records here."""
        return _LogBridge(self)

    def on_record(self, record: logging.LogRecord) -> None:
        """Show one WARNING record of ``steer_sync.client``; retries come as events instead."""
        if record.msg != RETRY_MESSAGE:
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
