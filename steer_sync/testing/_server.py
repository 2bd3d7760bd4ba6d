"""The loopback server's scripting API and connection lifecycle (layer L4).

:class:`LoopbackServer` queues script items, records requests, and owns the listening socket,
the accept thread and one thread per connection. A raw-socket server rather than
:mod:`http.server`: faults need byte-level control of every write (one HTTP chunk per
scripted part, stalls, abrupt closes mid-body, slow drips), and ``close()`` must be able to
end a stalled connection at once. The bytes on the wire are read and written by
:mod:`._http`.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from steer_sync._client import Client

from steer_sync.testing._client import client_for, environ_for
from steer_sync.testing._formats import render, script_error, serves
from steer_sync.testing._http import _BadRequestError, _ClientGoneError, _read_request, _write_reply, _write_simple
from steer_sync.testing._script import (
    ErrorReply,
    Item,
    RecordedRequest,
    Reply,
    ScriptItem,
    Turn,
)

__all__ = ["DEFAULT_TEXT", "LoopbackServer"]

_log = logging.getLogger("steer_sync.testing")

#: Text of the Turn served when the queue is empty.
DEFAULT_TEXT = "Hello from steer_sync's loopback server."

#: How long ``close()`` waits for the accept and connection threads (they are daemons anyway).
_JOIN_TIMEOUT = 5.0


class LoopbackServer:
    """A scripted HTTP/1.1 server on ``127.0.0.1`` that answers like Anthropic, OpenAI, Gemini and xAI.

    Each request takes the next queued item (first in, first out): a :class:`Reply` (raw
    bytes), a :class:`Turn` (an answer rendered in the request's wire format, streaming or not)
    or an :class:`ErrorReply` (that format's HTTP error), or a callable that receives the
    :class:`RecordedRequest` and returns one of those. With an empty queue the ``default`` item
    answers (a Turn saying :data:`DEFAULT_TEXT` unless given). A path no format serves gets a
    JSON 404, and a queued Turn or ErrorReply stays queued for the next request. When rendering
    fails (a bad script, or a format module that does not support a Turn feature) the request
    gets a 500 and the exception is kept in :attr:`errors`.

    The server binds an ephemeral port on 127.0.0.1 only, serves each connection on its own
    daemon thread, keeps connections alive between requests (``Connection: close`` is
    honoured) and reads bodies framed by ``content-length`` or chunked encoding.

    Thread-safe: every method may be called from any thread. The server owns its sockets and
    threads; :meth:`close` (or leaving the ``with`` block) releases them all, ending stalled
    and idle connections at once.

    Usage::

        from steer_sync.testing import LoopbackServer, Turn, ErrorReply

        with LoopbackServer() as server:
            server.queue(ErrorReply(429, "slow down", retry_after=0), Turn(text="Hi!"))
            base_url = server.url                      # "http://127.0.0.1:PORT"
            ...                                        # point the code under test at base_url
            first, second = server.wait_for_requests(2)
            assert second.json["stream"] is True

    Faults: ``Turn(stall_after=2)`` sends two events and then holds the connection open;
    :attr:`stalled` is set when that happens, and the handler ends when the client disconnects
    (see :meth:`wait_connections_closed`) or the server closes.
    """

    def __init__(self, *, default: Optional[ScriptItem] = None) -> None:
        """Create a stopped server.

        :param default: the item that answers when the queue is empty (it is reused, never
            consumed); a ``Turn(text=DEFAULT_TEXT)`` when ``None``.
        """
        self._default: ScriptItem = default if default is not None else Turn(text=DEFAULT_TEXT)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: Deque[ScriptItem] = deque()
        self._requests: List[RecordedRequest] = []
        self._errors: List[BaseException] = []
        self._connections: Dict[int, socket.socket] = {}
        self._threads: Dict[int, threading.Thread] = {}
        self._connection_count = 0
        self._stall_count = 0
        self._state = "new"
        self._closing = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._wake: Optional[Tuple[socket.socket, socket.socket]] = None
        self._accept_thread: Optional[threading.Thread] = None
        self._port = 0
        #: Set whenever a response enters a stall (``stall_after``); cleared by :meth:`clear`.
        self.stalled = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind 127.0.0.1 on an ephemeral port and start accepting connections.

        Calling it again on a running server does nothing.

        :returns: the server itself.
        :raises RuntimeError: if the server was already closed.
        """
        with self._lock:
            if self._state == "started":
                return self
            if self._state == "closed":
                raise RuntimeError("this LoopbackServer is closed; create a new one")
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.bind(("127.0.0.1", 0))
                listener.listen(128)
            except OSError:
                listener.close()
                raise
            self._listener = listener
            self._port = listener.getsockname()[1]
            # A socket pair wakes the accept loop's select() portably (a listening socket's
            # shutdown() does not wake accept() on every platform).
            self._wake = socket.socketpair()
            self._accept_thread = threading.Thread(
                target=self._accept_loop, name=f"steer_sync-loopback-accept:{self._port}", daemon=True
            )
            self._state = "started"
        self._accept_thread.start()
        return self

    def close(self) -> None:
        """Stop the server and end every connection, stalled or idle. Idempotent.

        Open connections are shut down (the client sees EOF), drips and stalls end at once,
        and the server's threads are joined (briefly; they are daemon threads).
        """
        with self._lock:
            previous, self._state = self._state, "closed"
            self._closing.set()
            connections = list(self._connections.values())
            threads = list(self._threads.values())
            self._changed.notify_all()
        if previous != "started":
            return
        assert self._wake is not None and self._listener is not None and self._accept_thread is not None
        # The accept loop may already be gone; then there is nothing to wake.
        with contextlib.suppress(OSError):
            self._wake[1].send(b"x")
        self._accept_thread.join(_JOIN_TIMEOUT)
        self._listener.close()
        for connection in connections:
            # shutdown() and not close(): it wakes a handler blocked in recv()/sendall() on
            # this socket, while the handler keeps ownership of closing the descriptor.
            with contextlib.suppress(OSError):  # the peer may have closed it first
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            if thread is not threading.current_thread():  # close() may come from a queued callable
                thread.join(_JOIN_TIMEOUT)
        for sock in self._wake:
            sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f" {self.url}" if self._state == "started" else ""
        return f"<LoopbackServer {self._state}{where} queued={self.pending} requests={len(self._requests)}>"

    # -- script and observations -----------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>`` (no trailing slash).

        :raises RuntimeError: if the server was never started.
        """
        if not self._port:
            raise RuntimeError("the LoopbackServer is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (0 before :meth:`start`)."""
        return self._port

    @property
    def environ(self) -> Dict[str, str]:
        """Environment variables pointing every built-in provider at this server, with dummy keys.

        Set them (for example with pytest's ``monkeypatch.setenv``) to test code that
        builds its own ``Client.from_env()``.
        """
        return environ_for(self.url)

    def client(self, **options: Any) -> Client:
        """A :class:`~steer_sync.Client` whose built-in providers all talk to this server.

        It reads no real environment variable, catalog or credential store.

        :param options: ``catalogs``, ``retry_policy`` or other ``Client`` arguments.
        """
        return client_for(self.url, **options)

    def queue(self, *items: ScriptItem) -> None:
        """Append items that answer the next requests, in order.

        :param items: :class:`Reply`, :class:`Turn`, :class:`ErrorReply`, or callables taking
            the :class:`RecordedRequest` and returning one of those.
        :raises TypeError: for anything else.
        """
        for item in items:
            if not isinstance(item, (Reply, Turn, ErrorReply)) and not callable(item):
                raise TypeError(f"cannot queue {type(item).__name__}; expected Reply, Turn, ErrorReply or a callable")
        with self._lock:
            self._queue.extend(items)

    @property
    def pending(self) -> int:
        """Number of queued items not yet used."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> List[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> List[BaseException]:
        """Exceptions raised while rendering script items (each answered with a 500)."""
        with self._lock:
            return list(self._errors)

    @property
    def connection_count(self) -> int:
        """Number of TCP connections accepted so far (shows whether clients reuse connections)."""
        with self._lock:
            return self._connection_count

    @property
    def open_connections(self) -> int:
        """Number of connections whose handler is still running."""
        with self._lock:
            return len(self._threads)

    def clear(self) -> None:
        """Forget queued items, recorded requests, errors and stalls (connections stay open)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._errors.clear()
            self._stall_count = 0
            self.stalled.clear()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> List[RecordedRequest]:
        """Block until at least ``n`` requests have been received.

        :param n: the number of requests to wait for.
        :param timeout: seconds to wait at most (a backstop for a broken test, not a measurement).
        :returns: a snapshot of all requests received (at least ``n``).
        :raises TimeoutError: if fewer than ``n`` arrived in time.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"expected {n} request(s), got {len(self._requests)} within {timeout}s")
            return list(self._requests)

    def wait_for_stalls(self, n: int = 1, timeout: float = 10.0) -> None:
        """Block until responses have entered a stall ``n`` times (since the last :meth:`clear`).

        :param n: the number of stalls to wait for.
        :param timeout: seconds to wait at most.
        :raises TimeoutError: if fewer stalls happened in time.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: self._stall_count >= n, timeout):
                raise TimeoutError(f"expected {n} stall(s), saw {self._stall_count} within {timeout}s")

    def wait_connections_closed(self, timeout: float = 10.0) -> bool:
        """Block until every accepted connection has ended (client disconnect or server close).

        Useful to check that a client really released a stalled or abandoned connection.

        :param timeout: seconds to wait at most.
        :returns: ``True`` if no connection is open, ``False`` on timeout.
        """
        with self._changed:
            return self._changed.wait_for(lambda: not self._threads, timeout)

    def wait_connection_closed(self, connection_id: int, timeout: float = 10.0) -> bool:
        """Block until one connection has ended (the client closed it, or the server did).

        Pair it with :attr:`RecordedRequest.connection_id` to check that the client released
        the connection of one request, while other (pooled) connections stay open.

        :param connection_id: the connection's id, from a recorded request.
        :param timeout: seconds to wait at most.
        :returns: ``True`` once that connection has ended, ``False`` on timeout.
        """
        with self._changed:
            return self._changed.wait_for(lambda: connection_id not in self._threads, timeout)

    # -- accepting ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        listener, wake = self._listener, self._wake[0]
        while True:
            try:
                readable, _, _ = select.select([listener, wake], [], [])
            except (OSError, ValueError):
                return
            if wake in readable or self._closing.is_set():
                return
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with self._lock:
                if self._closing.is_set():
                    connection.close()
                    return
                connection_id = self._connection_count
                self._connection_count += 1
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(connection_id, connection),
                    name=f"steer_sync-loopback-conn:{self._port}:{connection_id}",
                    daemon=True,
                )
                self._connections[connection_id] = connection
                self._threads[connection_id] = thread
            thread.start()

    # -- one connection ----------------------------------------------------------------

    def _serve_connection(self, connection_id: int, connection: socket.socket) -> None:
        try:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = bytearray()
            while not self._closing.is_set():
                try:
                    received = _read_request(connection, buffer, connection_id)
                except _BadRequestError as error:
                    _write_simple(connection, error.status, str(error))
                    return
                if received is None:
                    return
                request, keep_alive = received
                with self._changed:
                    self._requests.append(request)
                    self._changed.notify_all()
                reply, parts = self._reply_for(request)
                if not _write_reply(
                    connection, reply, parts, keep_alive, closing=self._closing, on_stall=self._note_stall
                ):
                    return
        except (OSError, _ClientGoneError):
            # The client went away or close() shut the socket: nothing left to answer.
            return
        finally:
            connection.close()
            with self._changed:
                self._connections.pop(connection_id, None)
                self._threads.pop(connection_id, None)
                self._changed.notify_all()

    def _reply_for(self, request: RecordedRequest) -> Tuple[Reply, List[bytes]]:
        with self._lock:
            chosen: Optional[ScriptItem] = None
            if self._queue and serves(self._queue[0], request):
                chosen = self._queue.popleft()
        item: ScriptItem = chosen if chosen is not None else self._default
        try:
            resolved: Item = item if isinstance(item, (Reply, Turn, ErrorReply)) else item(request)
            if not isinstance(resolved, (Reply, Turn, ErrorReply)):
                raise TypeError(f"a queued callable returned {type(resolved).__name__}, not a script item")
            reply = render(resolved, request)  # a 404 when no wire format serves the path
            return reply, reply.body_parts()
        except Exception as error:  # a broken script must not kill the connection thread
            _log.warning("loopback script error for %s %s", request.method, request.path, exc_info=True)
            with self._lock:
                self._errors.append(error)
            reply = script_error(error)
            return reply, reply.body_parts()

    def _note_stall(self) -> None:
        with self._changed:
            self._stall_count += 1
            self.stalled.set()
            self._changed.notify_all()
