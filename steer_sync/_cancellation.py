"""Cancellation tokens that can interrupt a call from any thread (layer L0).

A ``threading.Event`` alone cannot wake a thread blocked in ``recv()``. The token
therefore also runs callbacks when it is cancelled: the transport registers one that
shuts the socket down, so a blocked read returns at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Dict, Optional

__all__ = ["CancellationToken"]

_log = logging.getLogger("steer_sync.cancellation")


class CancellationToken:
    """A one-way switch that stops a call promptly when cancelled from any thread.

    ``cancel()`` sets the flag, then runs the registered callbacks once, outside the
    token's lock (a callback may itself cancel other tokens). Every method is
    thread-safe. A token cannot be reset: use a new one per call.

    Usage::

        token = CancellationToken()
        threading.Timer(5.0, token.cancel).start()
        client.complete("sonnet", [Message.user("hi")], token=token)   # raises Cancelled
    """

    __slots__ = ("_event", "_lock", "_callbacks", "_next_key", "__weakref__")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: Dict[int, Callable[[], None]] = {}
        self._next_key = 0

    def cancel(self) -> None:
        """Cancel the token: set the flag, then run every callback once. Idempotent."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            _run_callback(callback)

    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` has been called."""
        return self._event.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until cancelled or until ``timeout`` seconds pass.

        Used for retry backoff, so that a cancel cuts the wait short.

        :param timeout: seconds to wait at most; ``None`` waits forever.
        :returns: ``True`` if the token is cancelled.
        """
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback`` to run when the token is cancelled.

        If the token is already cancelled the callback runs at once, in this thread.
        Exceptions from callbacks are logged and swallowed so that one bad callback
        cannot stop the others.

        :param callback: a function of no arguments.
        :returns: a function that unregisters the callback (safe to call twice).
        """
        with self._lock:
            if not self._event.is_set():
                key = self._next_key
                self._next_key += 1
                self._callbacks[key] = callback
                return lambda: self._unregister(key)
        _run_callback(callback)
        return _noop

    def child_token(self) -> CancellationToken:
        """Return a token that is cancelled with this one but can also be cancelled alone.

        The child unregisters itself from the parent when it is cancelled, so parents
        that live long do not collect dead children.
        """
        child = CancellationToken()
        unregister = self.on_cancel(child.cancel)
        child.on_cancel(unregister)
        return child

    def _unregister(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def __repr__(self) -> str:
        return f"CancellationToken(cancelled={self.is_cancelled()})"


def _run_callback(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # a failing callback must not stop cancellation of the rest
        _log.exception("cancellation callback failed")


def _noop() -> None:
    return None
