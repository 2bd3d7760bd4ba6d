"""The loopback HTTP/1.1 server that plays provider APIs for tests (layer L4).

A raw-socket server rather than :mod:`http.server`: faults need byte-level control of every
write (one HTTP chunk per scripted part, stalls, abrupt closes mid-body, slow drips), and
``close()`` must be able to end a stalled connection at once.
"""

from __future__ import annotations

import contextlib
import http
import json
import logging
import select
import socket
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from steer_sync._client import Client

from steer_sync.testing._client import client_for, environ_for
from steer_sync.testing._formats import render, script_error, serves
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

_READ_SIZE = 65536
_MAX_HEAD = 65536
#: How long ``close()`` waits for the accept and connection threads (they are daemons anyway).
_JOIN_TIMEOUT = 5.0
#: Reason phrases :class:`http.HTTPStatus` lacks but providers send.
_EXTRA_REASONS = {529: "Site Overloaded"}


class _BadRequestError(Exception):
    """The client sent something that is not HTTP/1.x; answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _ClientGoneError(Exception):
    """The client closed the connection in the middle of a request."""


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return _EXTRA_REASONS.get(status, "Unknown")


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
                    received = self._read_request(connection, buffer, connection_id)
                except _BadRequestError as error:
                    self._write_simple(connection, error.status, str(error))
                    return
                if received is None:
                    return
                request, keep_alive = received
                with self._changed:
                    self._requests.append(request)
                    self._changed.notify_all()
                reply, parts = self._reply_for(request)
                if not self._write_reply(connection, reply, parts, keep_alive):
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

    def _read_request(
        self, connection: socket.socket, buffer: bytearray, connection_id: int
    ) -> Optional[Tuple[RecordedRequest, bool]]:
        """Read one request; ``None`` when the client closed the connection between requests."""
        while True:
            # Tolerate the stray CRLFs RFC 9112 allows before a request line.
            while buffer[:2] == b"\r\n":
                del buffer[:2]
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buffer) > _MAX_HEAD:
                raise _BadRequestError(431, "request head too large")
            data = connection.recv(_READ_SIZE)
            if not data:
                if buffer:
                    raise _ClientGoneError()
                return None
            buffer += data
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        request_line, *header_lines = head.split("\r\n")
        pieces = request_line.split(" ")
        if len(pieces) != 3 or not pieces[2].startswith("HTTP/1."):
            raise _BadRequestError(400, f"malformed request line {request_line!r}")
        method, target, version = pieces
        header_list: List[Tuple[str, str]] = []
        headers: Dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise _BadRequestError(400, f"malformed header line {line!r}")
            name, value = name.strip(), value.strip()
            header_list.append((name, value))
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            path, query_string = parts.path or "/", parts.query
        else:
            path, _, query_string = target.partition("?")
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}

        if headers.get("expect", "").lower() == "100-continue":
            connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked(connection, buffer)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise _BadRequestError(400, "invalid content-length") from None
            if length < 0:
                raise _BadRequestError(400, "invalid content-length")
            self._fill(connection, buffer, length)
            body = bytes(buffer[:length])
            del buffer[:length]
        else:
            body = b""

        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        try:
            parsed: Any = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            json=parsed,
            header_list=tuple(header_list),
            connection_id=connection_id,
        )
        return request, keep_alive

    @staticmethod
    def _fill(connection: socket.socket, buffer: bytearray, size: int) -> None:
        while len(buffer) < size:
            data = connection.recv(_READ_SIZE)
            if not data:
                raise _ClientGoneError()
            buffer += data

    def _read_chunked(self, connection: socket.socket, buffer: bytearray) -> bytes:
        body = bytearray()
        while True:
            line = self._read_line(connection, buffer)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequestError(400, f"invalid chunk size line {line!r}") from None
            if size == 0:
                while self._read_line(connection, buffer):  # trailers, up to the blank line
                    continue
                return bytes(body)
            self._fill(connection, buffer, size + 2)
            if buffer[size : size + 2] != b"\r\n":
                raise _BadRequestError(400, "chunk data not followed by CRLF")
            body += buffer[:size]
            del buffer[: size + 2]

    @staticmethod
    def _read_line(connection: socket.socket, buffer: bytearray) -> bytes:
        while True:
            end = buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                return line
            if len(buffer) > _MAX_HEAD:
                raise _BadRequestError(400, "chunked body line too long")
            data = connection.recv(_READ_SIZE)
            if not data:
                raise _ClientGoneError()
            buffer += data

    # -- writing -------------------------------------------------------------------------

    @staticmethod
    def _write_simple(connection: socket.socket, status: int, message: str) -> None:
        body = json.dumps({"error": {"type": "bad_request", "message": message}}).encode()
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        connection.sendall(head.encode("latin-1") + body)

    def _write_reply(self, connection: socket.socket, reply: Reply, parts: List[bytes], keep_alive: bool) -> bool:
        """Write ``reply``; ``True`` when the connection can serve another request."""
        headers = list(reply.headers)
        names = {name.lower() for name, _ in headers}
        # A script that frames the body itself gets its bytes verbatim; the framing may be
        # deliberately wrong, so the connection cannot be trusted for another request.
        verbatim = "content-length" in names or "transfer-encoding" in names
        chunked = reply.is_chunked() and not verbatim
        if not verbatim:
            if chunked:
                headers.append(("transfer-encoding", "chunked"))
            else:
                headers.append(("content-length", str(sum(len(p) for p in parts))))
        wants_close = any(n.lower() == "connection" and "close" in v.lower() for n, v in headers)
        if not keep_alive and "connection" not in names:
            headers.append(("connection", "close"))
        reusable = keep_alive and not verbatim and not wants_close

        stop_at, stop_kind = self._stop_point(reply, len(parts))
        if stop_at == -1:
            return self._stop(connection, stop_kind)
        head = f"HTTP/1.1 {reply.status} {reply.reason or _reason(reply.status)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        connection.sendall(head.encode("latin-1"))
        for index, part in enumerate(parts):
            if index == stop_at:
                return self._stop(connection, stop_kind)
            if index and reply.delay and self._closing.wait(reply.delay):
                return False
            if chunked:
                # An empty chunk would end the body early, so an empty part writes nothing.
                if part:
                    connection.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            elif part:
                connection.sendall(part)
        if stop_at == len(parts):
            return self._stop(connection, stop_kind)
        if chunked:
            connection.sendall(b"0\r\n\r\n")
        return reusable

    @staticmethod
    def _stop_point(reply: Reply, part_count: int) -> Tuple[Optional[int], str]:
        candidates = [
            (min(count, part_count), kind)
            for count, kind in ((reply.drop_after, "drop"), (reply.stall_after, "stall"))
            if count is not None
        ]
        if not candidates:
            return None, ""
        # The smaller count wins; at the same count a drop beats a stall (it ends sooner).
        return min(candidates, key=lambda c: (c[0], c[1] != "drop"))

    def _stop(self, connection: socket.socket, kind: str) -> bool:
        if kind == "drop":
            # A FIN, not a reset: the client reads every byte sent so far, then a premature EOF.
            with contextlib.suppress(OSError):  # the peer may have closed it first
                connection.shutdown(socket.SHUT_RDWR)
            return False
        with self._changed:
            self._stall_count += 1
            self.stalled.set()
            self._changed.notify_all()
        # Hold the connection until the client disconnects or close() shuts the socket down;
        # both wake this recv(). Anything the client sends meanwhile is discarded.
        while connection.recv(_READ_SIZE):
            continue
        return False
