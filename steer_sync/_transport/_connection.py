"""Connection classes: urllib3 connections that report their socket to the call's binding.

Installed into the session's pools by ``_session``; ``http.client`` responses they create
are :class:`~steer_sync._transport._body.WireResponse` objects.
"""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING, Any, Dict, Optional

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from steer_sync._transport._binding import Binding, CancelledSendError, current_binding
from steer_sync._transport._body import WireResponse

__all__ = ["POOL_CLASSES"]


def _open_socket(conn: HTTPConnection, binding: Binding) -> socket.socket:
    """urllib3's ``create_connection``, attaching the socket to ``binding`` before connecting.

    Attaching before ``connect()`` lets a cancel abort a connect that hangs (a SYN nobody
    answers): Linux wakes a connecting socket that is shut down.
    """
    host = conn.host
    if host.startswith("["):
        host = host.strip("[]")
    timeout = binding.clamp(conn.timeout)
    try:
        infos = socket.getaddrinfo(host, conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise NameResolutionError(conn.host, conn, e) from e
    error: Optional[OSError] = None
    for family, kind, proto, _name, address in infos:
        if binding.fired:
            raise CancelledSendError()
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            if timeout is None or isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            binding.attach(sock)
            if binding.fired:
                raise CancelledSendError()
            sock.connect(address)
            if binding.fired:  # a cancel raced the connect: the socket is half shut
                raise CancelledSendError()
            sys.audit("http.client.connect", conn, conn.host, conn.port)
            return sock
        except CancelledSendError:
            sock.close()
            raise
        except OSError as e:
            sock.close()
            error = e
    if isinstance(error, socket.timeout):
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. (connect timeout={timeout})") from error
    if error is None:
        error = OSError("getaddrinfo returned no address")
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


if TYPE_CHECKING:
    _ConnectionBase = HTTPConnection
else:
    _ConnectionBase = object


#: Bodies up to this size go out in the same write as the request head.
_COALESCE_MAX = 65536


class _CaptureMixin(_ConnectionBase):
    """Connection hooks that report the socket to the calling thread's binding."""

    response_class = WireResponse
    # A small body waiting to be sent with the request head, and whether it was.
    _pending_body: Optional[bytes] = None
    _body_sent = False

    def _new_conn(self) -> socket.socket:
        binding = current_binding()
        if binding is None:
            return super()._new_conn()
        return _open_socket(self, binding)

    def connect(self) -> None:
        binding = current_binding()
        if binding is not None and binding.fired:
            raise CancelledSendError()
        super().connect()
        if binding is not None:
            # After a TLS handshake self.sock is a new SSLSocket object.
            binding.attach(self.sock)
            if binding.fired:
                raise CancelledSendError()

    def request(self, *args: Any, **kwargs: Any) -> None:
        binding = current_binding()
        if binding is not None:
            if binding.fired:
                raise CancelledSendError()
            # A pooled connection: connect() is not called again, so attach here.
            binding.attach(self.sock)
            self.timeout = binding.clamp(self.timeout)
        body = kwargs.get("body")
        headers = kwargs.get("headers") or {}
        if (
            type(body) is bytes
            and len(body) <= _COALESCE_MAX
            and not kwargs.get("chunked")
            and not any(name.lower() == "transfer-encoding" for name in headers)
        ):
            # One write for head and body: urllib3 makes two, and each costs a syscall and
            # a wakeup of the server (about a tenth of a small call over loopback).
            self._pending_body = body
        try:
            super().request(*args, **kwargs)
        finally:
            self._pending_body = None
            self._body_sent = False

    def send(self, data: Any) -> None:
        body = self._pending_body
        if body is not None:
            if data is body and self._body_sent:
                return  # it went out with the head
            if not self._body_sent:
                data = data + body  # the first write is the head (http.client's _send_output)
                self._body_sent = True
        super().send(data)

    def getresponse(self) -> Any:
        binding = current_binding()
        if binding is not None:
            self.timeout = binding.clamp(self.timeout)
        return super().getresponse()


class _HTTPConnection(_CaptureMixin, HTTPConnection):
    """urllib3 connection that reports its socket to the calling thread's binding."""


class _HTTPSConnection(_CaptureMixin, HTTPSConnection):
    """TLS twin of :class:`_HTTPConnection` (same hooks)."""


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOL_CLASSES: Dict[str, Any] = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}
