"""Cancellation tokens that can interrupt a call from any thread (layer L0).

A ``threading.Event`` alone cannot wake a thread blocked in ``recv()``. The token
therefore also runs callbacks when it is cancelled: the transport registers one that
shuts the socket down, so a blocked read returns at once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Callable, Dict, List, Optional

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

    __slots__ = ("_event", "_lock", "_callbacks", "_next_key", "_dead_keys", "__weakref__")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: Dict[int, Callable[[], None]] = {}
        self._next_key = 0
        #: Keys of collected children whose entry could not be removed at once (see child_token).
        self._dead_keys: List[int] = []

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
            self._purge_dead_locked()
            if not self._event.is_set():
                key = self._next_key
                self._next_key += 1
                self._callbacks[key] = callback
                return lambda: self._unregister(key)
        _run_callback(callback)
        return _noop

    def child_token(self) -> CancellationToken:
        """Return a token that is cancelled with this one but can also be cancelled alone.

        The child unregisters itself from the parent when it is cancelled, and the parent
        holds it only weakly: a child nobody references any more (a stream that was dropped
        without ``close()``) is garbage collected and its entry on the parent removed, so
        parents that live long do not collect dead children. Keep a reference to the child
        for as long as cancelling the parent should reach it.
        """
        child = CancellationToken()
        key = self._reserve_key()
        parent_ref = weakref.ref(self)

        def child_collected(_: object) -> None:
            # Runs inside the garbage collector, perhaps in a thread that holds the parent's
            # lock right now: never block on it; leave the key for the next registration.
            parent = parent_ref()
            if parent is not None:
                parent._discard(key)

        child_ref = weakref.ref(child, child_collected)

        def cancel_child() -> None:
            alive = child_ref()
            if alive is not None:
                alive.cancel()

        if self._register(key, cancel_child):
            child.on_cancel(lambda: self._unregister(key))
        else:
            child.cancel()
        return child

    def _reserve_key(self) -> int:
        with self._lock:
            key = self._next_key
            self._next_key += 1
            return key

    def _register(self, key: int, callback: Callable[[], None]) -> bool:
        """Register ``callback`` under ``key``; ``False`` if the token is already cancelled."""
        with self._lock:
            self._purge_dead_locked()
            if self._event.is_set():
                return False
            self._callbacks[key] = callback
            return True

    def _discard(self, key: int) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._callbacks.pop(key, None)
            finally:
                self._lock.release()
        else:
            self._dead_keys.append(key)  # list.append is atomic; purged under the lock later

    def _purge_dead_locked(self) -> None:
        while self._dead_keys:
            self._callbacks.pop(self._dead_keys.pop(), None)

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
