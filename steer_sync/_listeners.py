"""Listener registration of the client: who hears of every call's events (layer L3).

Copy-on-write: :meth:`ListenerRegistry.add_listener` swaps in a new tuple under the
client's lock, so a call reads the listeners it starts with without a lock.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

from steer_sync._events import Listener

__all__ = ["ListenerRegistry"]


class ListenerRegistry:
    """The listener half of ``Client``: ``_lock`` and ``_listeners`` are set by ``Client.__init__``."""

    _lock: Any
    _listeners: Tuple[Listener, ...]

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with an event value for every call of this client from now on.

        Events are ``AttemptFailed`` (an attempt failed; the call retries or gives up) and
        ``CallFinished`` (once per call, however it ended). A listener runs synchronously in
        the thread where the event happened (for a stream, the thread that reads or closes
        it), so it should be quick; one that raises is logged at WARNING and ignored.
        Thread-safe; a call already running keeps the listeners it started with.

        :param listener: a callable taking one event.
        :returns: a callable that removes this registration (idempotent).
        :raises TypeError: if ``listener`` is not callable.

        Usage::

            remove = client.add_listener(lambda event: print(event))
            ...
            remove()
        """
        if not callable(listener):
            raise TypeError(f"a listener must be callable (a function taking one event), got {listener!r}")
        with self._lock:
            self._listeners = (*self._listeners, listener)
        removed = False

        def remove() -> None:
            nonlocal removed
            with self._lock:
                if removed:
                    return
                removed = True
                listeners = list(self._listeners)
                for index, registered in enumerate(listeners):
                    if registered is listener:
                        del listeners[index]
                        break
                self._listeners = tuple(listeners)

        return remove
