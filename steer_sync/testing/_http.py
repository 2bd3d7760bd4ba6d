"""HTTP/1.1 over a raw socket for the loopback server: reading requests, writing replies (layer L4).

Reading takes one request off a connection (head, then a ``content-length`` or chunked
body) into a :class:`RecordedRequest`. Writing sends a scripted :class:`Reply` byte by byte
as it asks: one HTTP chunk per part, drips (``delay``), abrupt closes (``drop_after``) and
stalls (``stall_after``). No threads and no script state live here; :mod:`._server` owns
the connections and decides what each request gets.
"""

from __future__ import annotations

import contextlib
import http
import json
import socket
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from steer_sync.testing._script import RecordedRequest, Reply

__all__ = ["_BadRequestError", "_ClientGoneError", "_read_request", "_reason", "_write_reply", "_write_simple"]

_READ_SIZE = 65536
_MAX_HEAD = 65536
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


# --- reading ---------------------------------------------------------------------------


def _read_request(
    connection: socket.socket, buffer: bytearray, connection_id: int
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
        body = _read_chunked(connection, buffer)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise _BadRequestError(400, "invalid content-length") from None
        if length < 0:
            raise _BadRequestError(400, "invalid content-length")
        _fill(connection, buffer, length)
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


def _fill(connection: socket.socket, buffer: bytearray, size: int) -> None:
    while len(buffer) < size:
        data = connection.recv(_READ_SIZE)
        if not data:
            raise _ClientGoneError()
        buffer += data


def _read_chunked(connection: socket.socket, buffer: bytearray) -> bytes:
    body = bytearray()
    while True:
        line = _read_line(connection, buffer)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequestError(400, f"invalid chunk size line {line!r}") from None
        if size == 0:
            while _read_line(connection, buffer):  # trailers, up to the blank line
                continue
            return bytes(body)
        _fill(connection, buffer, size + 2)
        if buffer[size : size + 2] != b"\r\n":
            raise _BadRequestError(400, "chunk data not followed by CRLF")
        body += buffer[:size]
        del buffer[: size + 2]


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


# --- writing ---------------------------------------------------------------------------


def _write_simple(connection: socket.socket, status: int, message: str) -> None:
    body = json.dumps({"error": {"type": "bad_request", "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    connection.sendall(head.encode("latin-1") + body)


def _write_reply(
    connection: socket.socket,
    reply: Reply,
    parts: List[bytes],
    keep_alive: bool,
    *,
    closing: threading.Event,
    on_stall: Callable[[], None],
) -> bool:
    """Write ``reply``; ``True`` when the connection can serve another request.

    :param closing: set when the server closes; it ends a drip (``reply.delay``) at once.
    :param on_stall: called when the reply enters a stall, before the connection is held.
    """
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

    stop_at, stop_kind = _stop_point(reply, len(parts))
    if stop_at == -1:
        return _stop(connection, stop_kind, on_stall)
    head = f"HTTP/1.1 {reply.status} {reply.reason or _reason(reply.status)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    connection.sendall(head.encode("latin-1"))
    for index, part in enumerate(parts):
        if index == stop_at:
            return _stop(connection, stop_kind, on_stall)
        if index and reply.delay and closing.wait(reply.delay):
            return False
        if chunked:
            # An empty chunk would end the body early, so an empty part writes nothing.
            if part:
                connection.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        elif part:
            connection.sendall(part)
    if stop_at == len(parts):
        return _stop(connection, stop_kind, on_stall)
    if chunked:
        connection.sendall(b"0\r\n\r\n")
    return reusable


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


def _stop(connection: socket.socket, kind: str, on_stall: Callable[[], None]) -> bool:
    if kind == "drop":
        # A FIN, not a reset: the client reads every byte sent so far, then a premature EOF.
        with contextlib.suppress(OSError):  # the peer may have closed it first
            connection.shutdown(socket.SHUT_RDWR)
        return False
    on_stall()
    # Hold the connection until the client disconnects or close() shuts the socket down;
    # both wake this recv(). Anything the client sends meanwhile is discarded.
    while connection.recv(_READ_SIZE):
        continue
    return False
