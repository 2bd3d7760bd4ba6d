"""Cancellation binding: how a call's token reaches the socket its request uses.

``response.close()`` from another thread does not wake a reader, ``socket.shutdown()`` does
(core.md 11.1). :meth:`Transport.post` puts a :class:`Binding` in a thread-local
:data:`capture` around the send; our own urllib3 connection class (``_connection``) attaches
every socket it creates or reuses to it (before ``connect()``, after the TLS handshake and on
every ``request()``), and our own ``http.client`` response class (``_body``) registers itself
there too. The call's token runs :meth:`Binding.fire`, which shuts the attached socket down
under the binding's lock. ``HttpResponse.close`` detaches the binding under the same lock
*before* the connection can go back to the pool, so a late cancel can never shut down a
socket that another request uses, and a connection that was shut down (or not read to its
end) is closed, never pooled.

Fork: a child process inherits the socket of a stream its parent has open, and
``shutdown()`` acts on the socket shared by both processes, not on the child's descriptor. A
binding remembers the process that opened it; :meth:`Binding.fire` in any other process (a
child closing its inherited copy) shuts nothing down, and closing the child's descriptor then
leaves the parent's stream alone.

Limits of cancellation: a DNS lookup (``getaddrinfo``) cannot be interrupted; a cancel during
a TLS handshake takes effect when the handshake ends (or its connect timeout passes), because
the socket object being handshaken is not reachable until then; a hanging ``connect()`` is
woken by the shutdown on Linux (elsewhere the connect timeout bounds it). Responses from
connection classes that are not ours (SOCKS proxies) are read and shut down through urllib3.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

if TYPE_CHECKING:
    from steer_sync._transport._body import WireResponse

__all__ = ["EPSILON", "Binding", "CancelledSendError", "capture", "current_binding"]

_log = logging.getLogger("steer_sync.transport")

#: A socket timeout fires at (or just after) the limit we set; this absorbs clock rounding.
EPSILON = 0.001


class Binding:
    """Links one call's cancellation token to the socket its request uses. Thread-safe.

    ``fire`` (run by the token) and ``attach``/``detach`` (run by the calling thread) hold
    one lock, so a shutdown happens either while the socket belongs to this call or never.
    """

    __slots__ = (
        "_lock",
        "_pid",
        "_shutdown_fn",
        "_sock",
        "deadline",
        "detached",
        "fired",
        "header_expired",
        "header_idle",
        "header_read",
        "wire",
    )

    def __init__(self, deadline: Optional[float]) -> None:
        self._lock = threading.Lock()
        # The process that owns the socket; a forked child must never shut it down.
        self._pid = os.getpid()
        self._sock: Optional[socket.socket] = None
        self._shutdown_fn: Optional[Callable[[], None]] = None
        #: The token fired while the binding was attached; the connection is dead.
        self.fired = False
        self.detached = False
        #: The ``http.client`` response our connection class created for this call.
        self.wire: Optional[WireResponse] = None
        #: ``time.monotonic()`` value of the call's total deadline.
        self.deadline = deadline
        #: Limits of the whole header section, counted from the end of the send: the read
        #: timeout, and for a stream the stall timeout (a header section that trickles in
        #: is no progress). Set by the transport before sending.
        self.header_read: Optional[float] = None
        self.header_idle: Optional[float] = None
        #: Which header limit passed (``"read"``, ``"idle"`` or ``"deadline"``), if one did.
        self.header_expired: Optional[str] = None

    def header_phase_end(self, now: float) -> Tuple[Optional[float], str]:
        """When the header section must have arrived (``time.monotonic()``), and which limit that is."""
        end: Optional[float] = None
        which = "read"
        for limit, name in ((self.header_read, "read"), (self.header_idle, "idle")):
            if limit is not None and (end is None or now + limit < end):
                end, which = now + limit, name
        if self.deadline is not None and (end is None or self.deadline <= end):
            end, which = self.deadline, "deadline"
        return end, which

    @property
    def sock(self) -> Optional[socket.socket]:
        return self._sock

    def attach(self, sock: Optional[socket.socket]) -> None:
        """Make ``sock`` the socket a cancel shuts down (and shut it at once if fired)."""
        if sock is None:
            return
        with self._lock:
            if self.detached:
                return
            self._sock = sock
            if self.fired and self._pid == os.getpid():
                _shutdown_socket(sock)

    def attach_fallback(self, shutdown: Callable[[], None]) -> None:
        """Use ``shutdown`` when no socket was captured (a connection class that is not ours)."""
        with self._lock:
            if self.detached:
                return
            self._shutdown_fn = shutdown
            if self.fired and self._pid == os.getpid():
                _call_quietly(shutdown)

    def fire(self) -> None:
        """Token callback: shut the attached socket down so a blocked read returns now."""
        with self._lock:
            if self.detached:
                return
            self.fired = True
            if self._pid != os.getpid():
                # A forked child: the socket is shared with the parent, whose read must go
                # on; the child's close() only drops its own descriptor.
                return
            # Inside the lock: once detach() returns, the connection may serve another
            # request, and a shutdown that ran late would kill that request instead.
            if self._sock is not None:
                _shutdown_socket(self._sock)
            if self._shutdown_fn is not None:
                _call_quietly(self._shutdown_fn)

    def detach(self) -> None:
        """Stop linking; after this no cancel touches the socket."""
        with self._lock:
            self.detached = True
            self._sock = None
            self._shutdown_fn = None

    def clamp(self, timeout: Any) -> Any:
        """Shorten a urllib3 phase timeout so that it ends by the call's deadline."""
        if self.deadline is None:
            return timeout
        remaining = max(self.deadline - time.monotonic(), EPSILON)
        if isinstance(timeout, (int, float)):
            return min(float(timeout), remaining)
        if timeout is None:
            return remaining
        return timeout  # urllib3's "default" sentinel: leave it alone


def _shutdown_socket(sock: object) -> None:
    # urllib3's TLS-in-TLS wrapper keeps the real socket in .socket.
    raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
    if not isinstance(raw, socket.socket):
        return
    try:
        # The base-class method on purpose: ssl.SSLSocket.shutdown() also drops the socket's
        # SSL object, so the reader thread would fail with ValueError instead of seeing EOF.
        socket.socket.shutdown(raw, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: there is no read to wake


def _call_quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # a failed shutdown must not break cancellation of the rest
        _log.debug("fallback shutdown failed", exc_info=True)


capture = threading.local()


def current_binding() -> Optional[Binding]:
    return getattr(capture, "binding", None)


class CancelledSendError(OSError):
    """Aborts a connect or send because the call was cancelled."""

    def __init__(self) -> None:
        super().__init__("the call was cancelled")
