"""Listener registration of the client: who hears of every call's events (layer L3).

Copy-on-write: :meth:`ListenerRegistry.add_listener` swaps in a new tuple under the
holder's lock, so a call reads the listeners it starts with without a lock. One
:class:`ListenerSet` is shared by a client and every client derived from it.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Callable, Tuple

from steer_sync._events import Listener

__all__ = ["ListenerRegistry", "ListenerSet"]


class ListenerSet:
    """The listeners of a client and of every client derived from it (``with_options``),
    so a listener added through any of them hears the calls of all of them."""

    __slots__ = ("lock", "listeners", "__weakref__")

    def __init__(self, listeners: Tuple[Listener, ...] = ()) -> None:
        self.lock = threading.Lock()
        #: Replaced, never changed in place: a call reads it without the lock.
        self.listeners: Tuple[Listener, ...] = listeners
        _LIVE_SETS.add(self)


def _new_locks_after_fork() -> None:
    # A thread of the parent may have held a lock at the fork: the child must not wait for it.
    for holder in list(_LIVE_SETS):
        holder.lock = threading.Lock()


_LIVE_SETS: weakref.WeakSet[ListenerSet] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


class ListenerRegistry:
    """The listener half of ``Client``: ``_listener_set`` is set by ``Client.__init__``."""

    #: Shared with the clients derived by ``with_options``.
    _listener_set: ListenerSet

    @property
    def _listeners(self) -> Tuple[Listener, ...]:
        return self._listener_set.listeners

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with an event value for every call of this client from now on.

        Events are ``AttemptFailed`` (an attempt failed; the call retries or gives up) and
        ``CallFinished`` (once per call, however it ended). A listener runs synchronously in
        the thread where the event happened (for a stream, the thread that reads or closes
        it), so it should be quick; one that raises is logged at WARNING and ignored.
        Thread-safe; a call already running keeps the listeners it started with. A client
        and the clients derived from it by ``with_options`` share their listeners: one
        added (or removed) through any of them applies to the calls of all of them.

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
        holder = self._listener_set
        with holder.lock:
            holder.listeners = (*holder.listeners, listener)
        removed = False

        def remove() -> None:
            nonlocal removed
            with holder.lock:
                if removed:
                    return
                removed = True
                listeners = list(holder.listeners)
                for index, registered in enumerate(listeners):
                    if registered is listener:
                        del listeners[index]
                        break
                holder.listeners = tuple(listeners)

        return remove
