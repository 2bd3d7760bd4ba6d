"""HTTP for providers: one configured session per provider, cancellable responses (layer L1).

This module is the only place that talks to ``requests``/``urllib3`` and the only place that
turns their exceptions (and ``socket``/``http.client`` ones) into :class:`ApiError` values or
stream error values (STYLE 2.1, 2.3). Providers call :meth:`Transport.post`, then
:meth:`HttpResponse.json` or :func:`open_chunk_stream`.

How cancellation reaches a thread blocked in ``recv()`` (core.md 11.1): ``response.close()``
from another thread does not wake a reader, ``socket.shutdown()`` does. :meth:`Transport.post`
puts a private ``_Binding`` in a thread-local "capture" around the send; our own urllib3
connection class attaches every socket it creates or reuses to it (before ``connect()``,
after the TLS handshake and on every ``request()``), and our own ``http.client`` response
class registers itself there too. The call's token runs ``_Binding.fire``, which shuts the
attached socket down under the binding's lock. ``HttpResponse.close`` detaches the binding
under the same lock *before* the connection can go back to the pool, so a late cancel can never
shut down a socket that another request uses, and a connection that was shut down (or not read
to its end) is closed, never pooled.

Timers without threads: the stall watchdog and the total deadline are enforced through the
socket's own timeout, set before each read to ``min(read, remaining idle, remaining deadline)``,
plus a check after every block of events. No thread is started per call.

Reading: after the headers, the body is read in blocks of up to 64 KiB straight from the
connection's buffered reader (``read1``: returns as soon as any data is there) and the
chunked framing is removed here, in bulk; urllib3's per-chunk reading costs about 3 us per
HTTP chunk, more than the whole budget of a streamed delta. ``gzip``/``deflate`` bodies are
decoded per block.

Deviations from steer (documented choices):

* Redirects are not followed: a 3xx becomes ``UnknownApiError`` (core.md 4.1 "anything else").
  Following them would re-send ``x-api-key``-style headers to another host, and a 301/302
  would turn the POST into a GET.
* ``netrc`` credentials are never applied (requests would do so with ``trust_env`` and could
  overwrite a provider's ``Authorization`` header); proxy and CA-bundle environment variables
  are honoured.
* A stream ends at its ``MessageComplete`` chunk: :func:`open_chunk_stream` first reads the
  rest of the body (for at most 0.25 s) so that the connection can be pooled even when the
  consumer (``collect()``) closes the stream right after that chunk, then stops.
* Retry hints larger than one hour are capped at one hour (not dropped): the client's policy
  then declines to wait, instead of retrying at once as it would with no hint.

Limits of cancellation: a DNS lookup (``getaddrinfo``) cannot be interrupted; a cancel during
a TLS handshake takes effect when the handshake ends (or its connect timeout passes), because
the socket object being handshaken is not reachable until then; a hanging ``connect()`` is
woken by the shutdown on Linux (elsewhere the connect timeout bounds it). Responses from
connection classes that are not ours (SOCKS proxies) are read and shut down through urllib3.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from http.cookiejar import Cookie, CookiePolicy
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
)
from urllib.parse import urlsplit

import requests
import requests.exceptions
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.cookies import RequestsCookieJar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, StreamChunk
from steer_sync._errors import (
    ApiError,
    ApiTimeout,
    Cancelled,
    NetworkError,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    SteerError,
    StreamCancelled,
    StreamError,
    UnknownApiError,
    map_http_status,
)
from steer_sync._sse import SseDecodeError, SseDecoder, SseEvent
from steer_sync._stream import DEADLINE_EXCEEDED, CompletionStream

if TYPE_CHECKING:
    from urllib.request import Request as _CookieRequest

__all__ = [
    "HttpResponse",
    "StreamInterrupted",
    "Timeouts",
    "Transport",
    "json_dumps",
    "open_chunk_stream",
    "parse_retry_hints",
]

_log = logging.getLogger("steer_sync.transport")

#: Largest block read from the connection at once.
_BLOCK = 65536
#: Error bodies are read up to this size; the rest is dropped with the connection.
MAX_ERROR_BODY = 64 * 1024
#: Retry hints above this many seconds are capped to it.
MAX_RETRY_AFTER = 3600.0
#: After a stream's final message, wait this long at most for the end of the HTTP body so
#: that the connection can be pooled; about what a new TLS connection would cost.
_COMPLETION_GRACE = 0.25
#: ... and read at most this much trailing data for it.
_COMPLETION_DRAIN_MAX = 1 << 20
#: Longest chunk-size line (with extensions) and trailer section accepted.
_MAX_CHUNK_LINE = 4096
_MAX_TRAILERS = 64 * 1024
#: Most decoded bytes one block of a compressed body may expand to (bounds a zip bomb).
_MAX_DECODED_BLOCK = 4 * _BLOCK
#: A socket timeout fires at (or just after) the limit we set; this absorbs clock rounding.
_EPSILON = 0.001
#: Header names whose values are not secret (everything else is redacted from messages).
_PUBLIC_HEADERS = frozenset({"accept", "accept-encoding", "connection", "content-length", "content-type", "user-agent"})
#: The shortest header or query value treated as a possible secret in messages.
_MIN_SECRET_LEN = 8

_READ_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError, zlib.error)


def json_dumps(value: Any) -> str:
    """Serialise ``value`` as compact JSON, non-ASCII characters written as they are.

    This is the serialisation every provider request body uses (the one steer's serde
    produces): no spaces, key order preserved.

    :param value: a JSON-compatible value.
    :returns: the JSON text.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Timeouts:
    """The time limits of one provider's calls, in seconds; ``None`` means no limit.

    A frozen value: derive variants with :func:`dataclasses.replace`.
    """

    #: Limit for opening the TCP connection (and the TLS handshake).
    connect: Optional[float] = 10.0
    #: Longest silence on the socket (no bytes at all) while waiting for headers or body.
    read: Optional[float] = 600.0
    #: Longest time a stream may go without a meaningful event (keep-alive pings and
    #: comments do not count); it then ends with a retryable transport error.
    stream_idle: Optional[float] = 300.0
    #: Deadline for the whole call, from the send to the end of the body: ``ApiTimeout``
    #: when raised, a ``deadline_exceeded`` error chunk inside a stream.
    total: Optional[float] = None


class StreamInterrupted(SteerError):
    """Raised by :meth:`HttpResponse.events` when the body cannot be read to its end.

    :func:`open_chunk_stream` turns it into the stream's final ``ErrorChunk``; providers
    let it pass through their converters.

    :ivar error: the stream error value: ``StreamCancelled``, ``SseParse`` or a
        ``deadline_exceeded`` ``ProviderStreamError``.
    """

    def __init__(self, error: StreamError) -> None:
        super().__init__(str(error))
        self.error = error


# --- cancellation plumbing -------------------------------------------------------------


class _Binding:
    """Links one call's cancellation token to the socket its request uses. Thread-safe.

    ``fire`` (run by the token) and ``attach``/``detach`` (run by the calling thread) hold
    one lock, so a shutdown happens either while the socket belongs to this call or never.
    """

    __slots__ = ("_lock", "_shutdown_fn", "_sock", "deadline", "detached", "fired", "wire")

    def __init__(self, deadline: Optional[float]) -> None:
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._shutdown_fn: Optional[Callable[[], None]] = None
        #: The token fired while the binding was attached; the connection is dead.
        self.fired = False
        self.detached = False
        #: The ``http.client`` response our connection class created for this call.
        self.wire: Optional[_WireResponse] = None
        #: ``time.monotonic()`` value of the call's total deadline.
        self.deadline = deadline

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
            if self.fired:
                _shutdown_socket(sock)

    def attach_fallback(self, shutdown: Callable[[], None]) -> None:
        """Use ``shutdown`` when no socket was captured (a connection class that is not ours)."""
        with self._lock:
            if self.detached:
                return
            self._shutdown_fn = shutdown
            if self.fired:
                _call_quietly(shutdown)

    def fire(self) -> None:
        """Token callback: shut the attached socket down so a blocked read returns now."""
        with self._lock:
            if self.detached:
                return
            self.fired = True
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
        remaining = max(self.deadline - time.monotonic(), _EPSILON)
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


_capture = threading.local()


def _current_binding() -> Optional[_Binding]:
    return getattr(_capture, "binding", None)


class _CancelledSendError(OSError):
    """Aborts a connect or send because the call was cancelled."""

    def __init__(self) -> None:
        super().__init__("the call was cancelled")


# --- our urllib3 connections and http.client response ------------------------------------


class _ChunkedFramingError(http.client.HTTPException):
    """The chunked transfer encoding of a body is malformed."""


class _WireResponse(http.client.HTTPResponse):
    """``http.client`` response that registers with the call's binding and reads in blocks.

    :meth:`read_block` replaces ``http.client``'s reading: it returns whatever body bytes
    have arrived (up to 64 KiB), removing chunked framing for many chunks at once.
    """

    def __init__(
        self, sock: socket.socket, debuglevel: int = 0, method: Optional[str] = None, url: Optional[str] = None
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        self._wire_buf = b""
        # Chunked decoding state: > 0 data bytes left in the current chunk; 0 a size line
        # is next; -1 the CRLF after chunk data is next; -2 inside the trailer section.
        self._wire_left = 0
        self._wire_trailers = 0
        self._wire_done = False
        binding = _current_binding()
        if binding is not None:
            binding.wire = self

    @property
    def body_done(self) -> bool:
        """Whether the whole body (with its framing) has been read."""
        return self._wire_done

    def read_block(self) -> bytes:
        """Return the next body bytes as they arrive; ``b""`` once the body has ended.

        :raises http.client.IncompleteRead: if the connection ended before the body did.
        :raises OSError: if the socket read failed (``socket.timeout`` included).
        """
        if self._wire_done:
            return b""
        fp = self.fp
        if fp is None:
            raise http.client.IncompleteRead(b"")
        if self.chunked:
            return self._read_chunked(fp)
        length = self.length
        if length is None:  # delimited by the end of the connection
            data: bytes = fp.read1(_BLOCK)
            if not data:
                self._finish()
            return data
        if length <= 0:
            self._finish()
            return b""
        data = fp.read1(min(length, _BLOCK))
        if not data:
            raise http.client.IncompleteRead(b"", length)
        self.length = length - len(data)
        if self.length == 0:
            self._finish()
        return data

    def _finish(self) -> None:
        self._wire_done = True
        # Marks the response closed for http.client, so the connection can send again.
        self.close()

    def _read_chunked(self, fp: Any) -> bytes:
        out: List[bytes] = []
        left = self._wire_left
        buf = self._wire_buf
        while True:
            # Here out is empty: nothing decoded is lost if the read fails.
            self._wire_buf = buf
            self._wire_left = left
            data = fp.read1(_BLOCK)
            if not data:
                raise http.client.IncompleteRead(b"")
            buf = buf + data if buf else data
            pos = 0
            n = len(buf)
            while True:
                if left > 0:
                    avail = n - pos
                    if avail == 0:
                        break
                    if left >= avail:
                        out.append(buf[pos:] if pos else buf)
                        left -= avail
                        pos = n
                        if left == 0:
                            left = -1
                        break
                    end = pos + left
                    out.append(buf[pos:end])
                    pos = end
                    left = -1
                elif left == -1:
                    if buf.startswith(b"\r\n", pos):
                        pos += 2
                    elif buf.startswith(b"\n", pos):
                        pos += 1
                    elif n - pos < 2:
                        break  # the CRLF has not fully arrived yet
                    else:
                        raise _ChunkedFramingError("chunk data is not followed by CRLF")
                    left = 0
                elif left == 0:
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        if n - pos > _MAX_CHUNK_LINE:
                            raise _ChunkedFramingError("chunk size line too long")
                        break
                    line = buf[pos:nl]
                    pos = nl + 1
                    semi = line.find(b";")
                    if semi >= 0:
                        line = line[:semi]
                    try:
                        size = int(line, 16)
                    except ValueError:
                        raise _ChunkedFramingError(f"invalid chunk size {line[:40]!r}") from None
                    if size < 0:
                        raise _ChunkedFramingError(f"invalid chunk size {line[:40]!r}")
                    left = size if size else -2
                else:  # trailer section after the last chunk: lines until an empty one
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        if self._wire_trailers + n - pos > _MAX_TRAILERS:
                            raise _ChunkedFramingError("trailer section too long")
                        break
                    line = buf[pos:nl]
                    self._wire_trailers += nl + 1 - pos
                    pos = nl + 1
                    if line in (b"", b"\r"):
                        self._wire_buf = b""
                        self._wire_left = 0
                        self._finish()
                        return b"".join(out)
            buf = buf[pos:] if pos < n else b""
            if out:
                self._wire_buf = buf
                self._wire_left = left
                return out[0] if len(out) == 1 else b"".join(out)


def _open_socket(conn: HTTPConnection, binding: _Binding) -> socket.socket:
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
            raise _CancelledSendError()
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
                raise _CancelledSendError()
            sock.connect(address)
            if binding.fired:  # a cancel raced the connect: the socket is half shut
                raise _CancelledSendError()
            sys.audit("http.client.connect", conn, conn.host, conn.port)
            return sock
        except _CancelledSendError:
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


class _CaptureMixin(_ConnectionBase):
    """Connection hooks that report the socket to the calling thread's binding."""

    response_class = _WireResponse

    def _new_conn(self) -> socket.socket:
        binding = _current_binding()
        if binding is None:
            return super()._new_conn()
        return _open_socket(self, binding)

    def connect(self) -> None:
        binding = _current_binding()
        if binding is not None and binding.fired:
            raise _CancelledSendError()
        super().connect()
        if binding is not None:
            # After a TLS handshake self.sock is a new SSLSocket object.
            binding.attach(self.sock)
            if binding.fired:
                raise _CancelledSendError()

    def request(self, *args: Any, **kwargs: Any) -> None:
        binding = _current_binding()
        if binding is not None:
            if binding.fired:
                raise _CancelledSendError()
            # A pooled connection: connect() is not called again, so attach here.
            binding.attach(self.sock)
            self.timeout = binding.clamp(self.timeout)
        super().request(*args, **kwargs)

    def getresponse(self) -> Any:
        binding = _current_binding()
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


_POOL_CLASSES: Dict[str, Any] = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class _Adapter(HTTPAdapter):
    """``HTTPAdapter`` whose pools (direct and through HTTP proxies) use our connections."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # SOCKS pools need their own connection classes; those responses fall back to
        # urllib3's reading and shutdown (see HttpResponse).
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


class _NoCookies(CookiePolicy):
    """Accepts and returns no cookie: one call's cookies must not reach another."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: Cookie, request: _CookieRequest) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: _CookieRequest) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: _CookieRequest) -> bool:
        return False

    def path_return_ok(self, path: str, request: _CookieRequest) -> bool:
        return False


class _NoAuth(AuthBase):
    """Explicit "no auth": stops requests from applying ``~/.netrc`` credentials."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_AUTH = _NoAuth()


# --- content decoding --------------------------------------------------------------------


class _Decoder:
    """Incremental ``gzip``/``deflate`` decoding with bounded output per call."""

    __slots__ = ("_first", "_obj", "_tail", "_wbits")

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._first = True
        self._tail = b""

    @property
    def has_pending(self) -> bool:
        return bool(self._tail)

    def decompress(self, data: bytes) -> bytes:
        data = self._tail + data if self._tail else data
        try:
            out = self._obj.decompress(data, _MAX_DECODED_BLOCK)
        except zlib.error:
            if not (self._first and self._wbits == zlib.MAX_WBITS):
                raise
            # "deflate" is often sent raw, without the zlib header (urllib3 does the same).
            self._wbits = -zlib.MAX_WBITS
            self._obj = zlib.decompressobj(self._wbits)
            out = self._obj.decompress(data, _MAX_DECODED_BLOCK)
        self._first = False
        self._tail = self._obj.unconsumed_tail
        if self._obj.eof and self._obj.unused_data and self._wbits > 15:
            # Another gzip member follows.
            rest = self._obj.unused_data
            self._obj = zlib.decompressobj(self._wbits)
            self._tail = rest + self._tail
        return out

    def flush(self) -> bytes:
        return self._obj.flush()


def _decoder_for(encoding: Optional[str]) -> Optional[_Decoder]:
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return _Decoder(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return _Decoder(zlib.MAX_WBITS)
    raise _UnsupportedEncoding(name)


class _UnsupportedEncoding(http.client.HTTPException):
    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported content-encoding {name[:40]!r}")


# --- retry hints -------------------------------------------------------------------------


def parse_retry_hints(
    headers: Mapping[str, str], body: bytes = b"", *, now: Optional[float] = None
) -> Tuple[Optional[float], Optional[bool]]:
    """Read the server's retry hints from an error response.

    In order of precedence: ``retry-after-ms`` (milliseconds), ``retry-after`` (seconds,
    fractions allowed, or an HTTP date), and Google's ``RetryInfo.retryDelay`` inside the
    JSON error body (``error.details[]``, ``"@type"`` ending in ``google.rpc.RetryInfo``,
    ``"167s"``/``"1.5s"`` or ``{"seconds": 1, "nanos": 5e8}``). Negative, infinite or
    unreadable values are ignored; dates in the past give ``0.0``; values above one hour are
    capped to one hour (so the client's policy still sees "a long wait").

    :param headers: the response headers (case-insensitive mapping).
    :param body: the (bounded) error body.
    :param now: the current Unix time, for HTTP dates (tests pass it).
    :returns: ``(retry_after seconds or None, x-should-retry as bool or None)``.
    """
    retry_after = _header_seconds(headers.get("retry-after-ms"), scale=0.001)
    if retry_after is None:
        retry_after = _retry_after_header(headers.get("retry-after"), now)
    if retry_after is None and body:
        retry_after = _google_retry_delay(body)
    if retry_after is not None:
        retry_after = min(retry_after, MAX_RETRY_AFTER)
    flag = (headers.get("x-should-retry") or "").strip().lower()
    should_retry = True if flag == "true" else False if flag == "false" else None
    return retry_after, should_retry


def _finite_seconds(value: float) -> Optional[float]:
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    return value


def _header_seconds(raw: Optional[str], *, scale: float = 1.0) -> Optional[float]:
    if raw is None:
        return None
    try:
        return _finite_seconds(float(raw.strip()) * scale)
    except ValueError:
        return None


def _retry_after_header(raw: Optional[str], now: Optional[float]) -> Optional[float]:
    seconds = _header_seconds(raw)
    if seconds is not None or raw is None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _google_retry_delay(body: bytes) -> Optional[float]:
    if b"RetryInfo" not in body:  # cheap test before parsing JSON
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    for envelope in data if isinstance(data, list) else [data]:
        error = envelope.get("error") if isinstance(envelope, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else ():
            if not isinstance(detail, dict):
                continue
            kind = detail.get("@type")
            if isinstance(kind, str) and kind.endswith("google.rpc.RetryInfo"):
                return _proto_duration(detail.get("retryDelay"))
    return None


def _proto_duration(value: Any) -> Optional[float]:
    if isinstance(value, str) and value.strip().endswith("s"):
        return _header_seconds(value.strip()[:-1])
    if isinstance(value, dict):
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            return _finite_seconds(float(seconds) + float(nanos) / 1e9)
        except (TypeError, ValueError):
            return None
    return None


# --- messages without secrets ------------------------------------------------------------


class _Redactor:
    """Removes the values of a request's secret headers and query parameters from text."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: Set[str] = set()
        for secret in secrets:
            # Also as stripped and as escaped by repr(), the forms exception texts use.
            variants.update((secret, secret.strip(), repr(secret)[1:-1]))
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted((s for s in variants if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text

    def is_clean(self, text: str) -> bool:
        return not any(secret in text for secret in self._secrets)


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"
    except ValueError:
        return "the server"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost low-level error under requests' and urllib3's wrappers."""
    seen: Set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        nested: Optional[BaseException] = None
        if isinstance(current, MaxRetryError) and current.reason is not None:
            nested = current.reason
        elif isinstance(current, (requests.RequestException, urllib3.exceptions.HTTPError)):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
            if nested is None and isinstance(current, NewConnectionError):
                nested = current.__cause__
        if nested is None:
            break
        current = nested
    return current


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the transport -----------------------------------------------------------------------


class Transport:
    """Sends one provider's HTTP requests through one ``requests.Session``, configured once.

    The session has a connection pool of ``pool_maxsize`` connections per host (it never
    blocks: extra concurrent calls open extra connections that are not kept), no urllib3
    retries (the client owns retries), TLS verification, proxy and CA-bundle settings from
    the standard environment variables, a cookie policy that keeps no cookie, and the
    provider's ``static_headers``. Per-request headers are passed per call; the session is
    never changed after construction.

    Thread-safe: one instance serves every thread. The transport owns its session;
    :meth:`close` releases the pooled connections (calls in flight finish normally).

    :param provider: the provider id used in every error.
    :param timeouts: the time limits of every call.
    :param pool_maxsize: connections kept per host, sized for the number of threads.
    :param static_headers: headers sent with every request (for example an API key);
        never shown in messages.
    """

    def __init__(
        self,
        provider: str,
        *,
        timeouts: Timeouts = Timeouts(),
        pool_maxsize: int = 64,
        static_headers: Mapping[str, str] = {},
    ) -> None:
        self._provider = provider
        self._timeouts = timeouts
        self._closed = False
        session = requests.Session()
        session.cookies = RequestsCookieJar(policy=_NoCookies())
        # Bodies are decoded here, per block; only ask for encodings we decode.
        session.headers["Accept-Encoding"] = "gzip, deflate"
        session.headers.update(static_headers)
        adapter = _Adapter(
            pool_connections=4, pool_maxsize=pool_maxsize, max_retries=Retry(0, read=False), pool_block=False
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        self._static_secrets = tuple(
            value for name, value in static_headers.items() if name.lower() not in _PUBLIC_HEADERS
        )

    @property
    def provider(self) -> str:
        """The provider id used in errors."""
        return self._provider

    @property
    def timeouts(self) -> Timeouts:
        """The time limits of every call."""
        return self._timeouts

    def __repr__(self) -> str:
        return f"Transport(provider={self._provider!r}, timeouts={self._timeouts!r})"

    def close(self) -> None:
        """Close the pooled connections. Idempotent; later calls raise ``UnknownApiError``."""
        self._closed = True
        self._session.close()

    def post(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        token: CancellationToken,
        params: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        describe_error: Optional[Callable[[int, bytes], Optional[str]]] = None,
    ) -> HttpResponse:
        """POST ``body`` as JSON and return the response once its headers have arrived.

        The body is serialised with :func:`json_dumps`. A 2xx response is returned unread
        (read it with :meth:`HttpResponse.json` or :meth:`HttpResponse.events`, then close
        it, or hand it to :func:`open_chunk_stream`). Any other status is read (at most
        64 KiB) and raised as the matching ``ApiError`` with the server's retry hints.

        :param url: the endpoint URL.
        :param body: the JSON request body.
        :param headers: this request's headers (they override the static ones,
            case-insensitively); never shown in messages.
        :param token: cancels the call from any thread, also while connecting or while
            waiting for the headers.
        :param params: query parameters to add to ``url``.
        :param stream: whether the body will be streamed (documents intent; every response
            cancels through a private child token of ``token``, which
            :func:`open_chunk_stream` hands to the stream).
        :param describe_error: turns an error status and its body into the error's details;
            returning ``None`` keeps the default (status and start of the body).
        :returns: the response, which owns its connection until closed.
        :raises Cancelled: if ``token`` was cancelled before or while sending.
        :raises ApiTimeout: if the total deadline passed before the headers arrived.
        :raises NetworkError: if connecting or sending failed (the cause is chained).
        :raises ApiError: the mapped error of a non-2xx status (``map_http_status``).
        """
        data = json_dumps(body).encode("utf-8")
        return self._send(url, data, headers, token, params, stream, describe_error)

    def _send(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        token: CancellationToken,
        params: Optional[Mapping[str, str]],
        stream: bool,
        describe_error: Optional[Callable[[int, bytes], Optional[str]]],
    ) -> HttpResponse:
        if self._closed:
            raise UnknownApiError(self._provider, "the provider was closed; create a new one")
        timeouts = self._timeouts
        started = time.monotonic()
        deadline = None if timeouts.total is None else started + timeouts.total
        # A private child token per response: the stream's close() cancels it without
        # cancelling the caller's token, and cancelling it at close() unregisters it.
        call_token = token.child_token()
        binding = _Binding(deadline)
        unregister = call_token.on_cancel(binding.fire)
        if binding.fired:
            binding.detach()
            raise Cancelled(self._provider)
        request_headers: Dict[str, str] = {"Content-Type": "application/json"}
        request_headers.update(headers)
        previous = _current_binding()
        _capture.binding = binding
        try:
            response = self._adapter_send(url, data, request_headers, params, binding)
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
            ValueError,  # http.client's header checks, UnicodeEncodeError of a non-Latin-1 header
        ) as exc:
            binding.detach()
            unregister()
            call_token.cancel()
            raise self._send_failure(exc, binding, url, request_headers, params) from self._safe_cause(
                exc, binding, url, request_headers, params
            )
        except BaseException:
            binding.detach()
            unregister()
            call_token.cancel()
            raise
        finally:
            _capture.binding = previous
        result = HttpResponse(self, response, binding, call_token, unregister)
        if not 200 <= result.status_code < 300:
            try:
                raise result._status_error(describe_error, self._redactor(url, request_headers, params))
            finally:
                result.close()
        return result

    def _adapter_send(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        params: Optional[Mapping[str, str]],
        binding: _Binding,
    ) -> requests.Response:
        session = self._session
        prepared = session.prepare_request(
            requests.Request("POST", url, headers=dict(headers), data=data, params=dict(params or {}), auth=_NO_AUTH)
        )
        prepared_url = prepared.url or url
        settings = session.merge_environment_settings(prepared_url, {}, True, None, None)
        timeouts = self._timeouts
        connect = binding.clamp(timeouts.connect)
        read = binding.clamp(timeouts.read)
        # The adapter directly, not session.send(): no redirect following (a redirect body
        # would be read without bound, and API-key headers re-sent), no cookie jar updates.
        adapter = session.get_adapter(prepared_url)
        return adapter.send(
            prepared,
            stream=True,
            timeout=(connect, read),
            verify=True if settings["verify"] is None else settings["verify"],
            cert=settings["cert"],
            proxies=settings["proxies"],
        )

    def _redactor(self, url: str, headers: Mapping[str, str], params: Optional[Mapping[str, str]]) -> _Redactor:
        secrets: List[str] = list(self._static_secrets)
        secrets.extend(value for name, value in headers.items() if name.lower() not in _PUBLIC_HEADERS)
        if params:
            secrets.extend(str(value) for value in params.values())
        query = urlsplit(url).query
        if query:
            secrets.append(query)
            secrets.extend(part.partition("=")[2] for part in query.split("&"))
        return _Redactor(secrets)

    def _send_failure(
        self,
        exc: BaseException,
        binding: _Binding,
        url: str,
        headers: Mapping[str, str],
        params: Optional[Mapping[str, str]],
    ) -> ApiError:
        if binding.fired:
            return Cancelled(self._provider)
        timeouts = self._timeouts
        if binding.deadline is not None and time.monotonic() >= binding.deadline - _EPSILON:
            return ApiTimeout(self._provider, f"no response within the call's {timeouts.total:g} s deadline")
        origin = _origin(url)
        root = _root_cause(exc)
        if _is_header_error(exc, root):
            details = "a request header has an invalid value (a line break, a reserved or a non-Latin-1 character)"
        elif isinstance(
            exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
        ):
            details = f"invalid URL for {origin}: {_describe(exc)}"
        elif isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(root, ConnectTimeoutError):
            details = f"connecting to {origin} timed out after {_seconds(timeouts.connect)}"
        elif isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(root, socket.timeout):
            details = f"{origin} sent no response headers within {_seconds(timeouts.read)}"
        elif isinstance(exc, requests.exceptions.SSLError):
            details = f"TLS error talking to {origin}: {_describe(root)}"
        elif isinstance(exc, requests.exceptions.ProxyError):
            details = f"proxy error on the way to {origin}: {_describe(root)}"
        elif isinstance(root, (NewConnectionError, NameResolutionError, ConnectionRefusedError)):
            details = f"could not connect to {origin}: {_describe(root)}"
        elif isinstance(root, ValueError) and not isinstance(root, (OSError, requests.RequestException)):
            details = f"the request to {origin} could not be built: {_describe(root)}"
        else:
            details = f"the connection to {origin} failed: {_describe(root)}"
        return NetworkError(self._provider, self._redactor(url, headers, params)(details))

    def _safe_cause(
        self,
        exc: BaseException,
        binding: _Binding,
        url: str,
        headers: Mapping[str, str],
        params: Optional[Mapping[str, str]],
    ) -> Optional[BaseException]:
        """The low-level error to chain, unless its text could show a secret."""
        if binding.fired:
            return None
        root = _root_cause(exc)
        redactor = self._redactor(url, headers, params)
        chain: List[BaseException] = []
        current: Optional[BaseException] = root
        while current is not None and len(chain) < 8:
            chain.append(current)
            current = current.__cause__ or current.__context__
        if _is_header_error(exc, root) or (isinstance(root, ValueError) and not isinstance(root, OSError)):
            return None  # their texts may quote the offending header value
        if not all(redactor.is_clean(str(e)) for e in chain):
            return None
        return root


def _is_header_error(exc: BaseException, root: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.InvalidHeader) or isinstance(root, UnicodeError):
        return True
    # http.client: "Invalid header name ..." / "Invalid header value ..." (quotes the value).
    return type(root) is ValueError and str(root).startswith("Invalid header")


def _seconds(value: Optional[float]) -> str:
    return "(no limit)" if value is None else f"{value:g} s"


# --- responses ---------------------------------------------------------------------------


class _TimeLimitError(Exception):
    """A time limit of the current read passed: ``"read"``, ``"idle"`` or ``"deadline"``."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


def _never(event: SseEvent) -> bool:
    return False


class HttpResponse:
    """A response whose headers have arrived; it owns its connection until :meth:`close`.

    Read the body once, with :meth:`json`, :meth:`read` or :meth:`events`, then close the
    response (or let :func:`open_chunk_stream` do it). A body read to its end gives the
    connection back to the pool; anything else (a cancel, an error, an early close) closes it.

    Thread safety: one thread reads and closes; other threads cancel through the call's
    token, which wakes a blocked read at once.
    """

    __slots__ = (
        "_binding",
        "_broken",
        "_closed",
        "_complete",
        "_decoder",
        "_encoding_error",
        "_owner",
        "_raw",
        "_sock_timeout",
        "_token",
        "_unregister",
        "_wire",
        "headers",
        "status_code",
    )

    def __init__(
        self,
        owner: Transport,
        response: requests.Response,
        binding: _Binding,
        token: CancellationToken,
        unregister: Callable[[], None],
    ) -> None:
        self._owner = owner
        self._raw: Any = response.raw
        self._binding = binding
        self._token = token
        self._unregister = unregister
        self._closed = False
        self._complete = False
        self._broken = False
        #: The HTTP status code.
        self.status_code: int = response.status_code
        #: The response headers (case-insensitive).
        self.headers: Mapping[str, str] = response.headers
        self._wire = binding.wire
        self._sock_timeout: Optional[float] = -1.0  # unknown: always set before the first read
        if self._wire is None:
            # Not our connection class (a SOCKS proxy): urllib3 reads, and shuts down.
            shutdown = getattr(self._raw, "shutdown", None)
            if shutdown is not None:
                binding.attach_fallback(shutdown)
        self._encoding_error: Optional[_UnsupportedEncoding] = None
        try:
            self._decoder = _decoder_for(self.headers.get("content-encoding"))
        except _UnsupportedEncoding as exc:
            self._decoder = None
            self._encoding_error = exc
            self._broken = True

    def __repr__(self) -> str:
        return f"<HttpResponse provider={self._owner.provider!r} status={self.status_code} closed={self._closed}>"

    def __enter__(self) -> HttpResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def provider(self) -> str:
        """The provider id used in errors."""
        return self._owner.provider

    @property
    def token(self) -> CancellationToken:
        """The response's private token (a child of the call's): cancelling it aborts the read."""
        return self._token

    # -- reading blocks --------------------------------------------------------------------

    def _limit(self, idle_since: Optional[float], cap: Optional[float] = None) -> Tuple[Optional[float], str]:
        timeouts = self._owner.timeouts
        limit, which = timeouts.read, "read"
        if cap is not None and (limit is None or cap < limit):
            limit, which = cap, "grace"
        now = time.monotonic()
        idle = timeouts.stream_idle
        if idle is not None and idle_since is not None:
            remaining = idle - (now - idle_since)
            if limit is None or remaining < limit:
                limit, which = remaining, "idle"
        deadline = self._binding.deadline
        if deadline is not None:
            remaining = deadline - now
            if limit is None or remaining < limit:
                limit, which = remaining, "deadline"
        if limit is not None and limit <= 0:
            raise _TimeLimitError(which)
        return limit, which

    def _set_timeout(self, limit: Optional[float]) -> None:
        current = self._sock_timeout
        # settimeout() is a syscall: keep the current value while it is within 2 % above
        # the limit. Never keep a shorter one: a timeout must mean that a limit passed.
        if limit is None:
            if current is None:
                return
        elif current is not None and limit <= current <= limit * 1.02 + _EPSILON:
            return
        sock = self._binding.sock
        if sock is None:
            return
        sock.settimeout(limit)
        self._sock_timeout = limit

    def _read_block(self, idle_since: Optional[float], cap: Optional[float] = None) -> bytes:
        """The next decoded body bytes; ``b""`` at the end of the body.

        :raises _TimeLimitError: when a time limit passed.
        :raises OSError, http.client.HTTPException, urllib3 HTTPError, zlib.error: on failure.
        """
        decoder = self._decoder
        if self._encoding_error is not None:
            raise self._encoding_error
        while True:
            if decoder is not None and decoder.has_pending:
                data = decoder.decompress(b"")
                if data:
                    return data
            limit, which = self._limit(idle_since, cap)
            self._set_timeout(limit)
            try:
                if self._wire is not None:
                    data = self._wire.read_block()
                else:
                    data = self._raw.read1(_BLOCK, decode_content=False)
            except (socket.timeout, urllib3.exceptions.ReadTimeoutError):
                self._broken = True
                raise _TimeLimitError(self._which_expired(idle_since, which)) from None
            except BaseException:
                self._broken = True
                raise
            if not data:
                self._complete = not self._binding.fired
                if decoder is not None:
                    self._decoder = None
                    return decoder.flush()
                return b""
            if decoder is None:
                return data
            data = decoder.decompress(data)
            if data:
                return data

    def _which_expired(self, idle_since: Optional[float], which: str) -> str:
        now = time.monotonic() + _EPSILON
        deadline = self._binding.deadline
        if deadline is not None and now >= deadline:
            return "deadline"
        idle = self._owner.timeouts.stream_idle
        if idle is not None and idle_since is not None and now - idle_since >= idle:
            return "idle"
        return which

    # -- whole bodies ----------------------------------------------------------------------

    def read(self) -> bytes:
        """Read the whole (decoded) body.

        :returns: the body bytes.
        :raises Cancelled: if the call's token was cancelled.
        :raises ApiTimeout: if the total deadline passed.
        :raises NetworkError: if the read failed or stalled for the read timeout.
        """
        parts: List[bytes] = []
        while True:
            try:
                data = self._read_block(None)
            except _TimeLimitError as expired:
                raise self._read_api_error(expired) from None
            except _READ_ERRORS as exc:
                raise self._read_api_error(exc) from (None if self._binding.fired else exc)
            if not data:
                break
            parts.append(data)
        if self._binding.fired:
            raise Cancelled(self.provider)
        return b"".join(parts)

    def json(self) -> Any:
        """Read the whole body, release the response, and parse the body as JSON.

        The response is closed whatever happens (a fully read body returns its connection
        to the pool), so callers of a non-streamed request need no ``close()`` of their own.

        :returns: the parsed value.
        :raises ResponseParsingError: if the body is not valid JSON.
        :raises Cancelled, ApiTimeout, NetworkError: as :meth:`read`.
        """
        try:
            body = self.read()
        finally:
            self.close()
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            snippet = body[:200].decode("utf-8", "replace")
            raise ResponseParsingError(self.provider, f"invalid JSON ({exc}); body starts: {snippet!r}") from None

    def _read_api_error(self, exc: BaseException) -> ApiError:
        if self._binding.fired:
            return Cancelled(self.provider)
        timeouts = self._owner.timeouts
        if isinstance(exc, (zlib.error, _UnsupportedEncoding)):
            return ResponseParsingError(self.provider, f"could not decode the response body: {_describe(exc)}")
        if isinstance(exc, _TimeLimitError):
            if exc.which == "deadline":
                return ApiTimeout(
                    self.provider, f"the call's {timeouts.total:g} s deadline passed while reading the body"
                )
            return NetworkError(self.provider, f"no data for {_seconds(timeouts.read)} while reading the response body")
        return NetworkError(self.provider, f"reading the response body failed: {_body_failure(exc)}")

    def _status_error(self, describe: Optional[Callable[[int, bytes], Optional[str]]], redact: _Redactor) -> ApiError:
        """Read the bounded error body and build the mapped error (raises ``Cancelled``)."""
        parts: List[bytes] = []
        size = 0
        try:
            while size < MAX_ERROR_BODY:
                data = self._read_block(None)
                if not data:
                    break
                parts.append(data)
                size += len(data)
        except (_TimeLimitError, *_READ_ERRORS):
            # The status already says what happened; keep what arrived of the body.
            self._broken = True
        if self._binding.fired:
            return Cancelled(self.provider)
        body = b"".join(parts)[:MAX_ERROR_BODY]
        status = self.status_code
        details: Optional[str] = None
        if describe is not None:
            try:
                details = describe(status, body)
            except Exception:  # a provider's describer must not hide the HTTP error
                _log.debug("describe_error failed for HTTP %s", status, exc_info=True)
        if not details:
            details = _default_details(status, body)
        retry_after, should_retry = parse_retry_hints(self.headers, body)
        return map_http_status(
            self.provider, status, redact(details), retry_after=retry_after, should_retry=should_retry
        )

    # -- streams ---------------------------------------------------------------------------

    def events(self, *, is_keepalive: Callable[[SseEvent], bool] = _never) -> Iterator[SseEvent]:
        """Decode the body as a server-sent event stream, as it arrives.

        The stall watchdog runs here: when ``Timeouts.stream_idle`` seconds pass without an
        event for which ``is_keepalive`` is false, the stream fails with a retryable
        ``SseParse(TRANSPORT, "no event for N s ...")``.

        :param is_keepalive: tells the provider's pings apart from meaningful events.
        :returns: an iterator of events, ending at the end of the body.
        :raises StreamInterrupted: with ``StreamCancelled`` if the token was cancelled,
            ``SseParse`` (``TRANSPORT``, ``UTF8``, ``PARSER``) if reading or decoding failed,
            or a ``deadline_exceeded`` ``ProviderStreamError`` when the total deadline passed.
        """
        binding = self._binding
        idle = self._owner.timeouts.stream_idle
        deadline = binding.deadline
        check = is_keepalive is not _never
        decoder = SseDecoder()
        last_event = time.monotonic()
        while True:
            if binding.fired:
                raise StreamInterrupted(StreamCancelled())
            try:
                data = self._read_block(last_event)
            except _TimeLimitError as expired:
                raise StreamInterrupted(self._expired_stream_error(expired.which)) from None
            except _READ_ERRORS as exc:
                if binding.fired:
                    raise StreamInterrupted(StreamCancelled()) from None
                raise StreamInterrupted(
                    SseParse(_failure_kind(exc), f"reading the response body failed: {_body_failure(exc)}")
                ) from exc
            now = time.monotonic()
            failure: Optional[StreamError] = None
            try:
                events = decoder.feed(data) if data else decoder.flush()
            except SseDecodeError as exc:
                events = exc.events
                kind = SseParseErrorKind.UTF8 if exc.kind == "utf8" else SseParseErrorKind.PARSER
                failure = SseParse(kind, str(exc))
            if not data and binding.fired:  # the EOF came from our own shutdown
                raise StreamInterrupted(StreamCancelled())
            meaningful = False
            for event in events:
                if binding.fired:
                    raise StreamInterrupted(StreamCancelled())
                if not meaningful and not (check and is_keepalive(event)):
                    meaningful = True
                yield event
            if failure is not None:
                raise StreamInterrupted(failure)
            if not data:
                return
            if meaningful:
                last_event = now
            elif idle is not None and now - last_event >= idle:
                raise StreamInterrupted(self._expired_stream_error("idle"))
            if deadline is not None and now >= deadline:
                raise StreamInterrupted(self._expired_stream_error("deadline"))

    def _expired_stream_error(self, which: str) -> StreamError:
        if self._binding.fired:
            return StreamCancelled()
        timeouts = self._owner.timeouts
        if which == "deadline":
            return ProviderStreamError(
                self.provider,
                ProviderStreamErrorKind.from_provider_error_type(DEADLINE_EXCEEDED),
                DEADLINE_EXCEEDED,
                f"the call's total deadline of {timeouts.total:g} s passed",
            )
        if which == "idle":
            return SseParse(
                SseParseErrorKind.TRANSPORT,
                f"no event for {_seconds(timeouts.stream_idle)} (only keep-alives or nothing arrived; stream_idle timeout)",
            )
        return SseParse(SseParseErrorKind.TRANSPORT, f"no data for {_seconds(timeouts.read)} (read timeout)")

    def _finish_after_completion(self) -> None:
        """Read the few bytes after a stream's final event, so the connection can be pooled.

        Waits at most a short grace period; if the body does not end by then the connection
        is simply closed later.
        """
        if self._complete or self._closed or self._binding.fired or self._broken:
            return
        remaining = _COMPLETION_DRAIN_MAX
        timeouts = self._owner.timeouts
        grace = _COMPLETION_GRACE if timeouts.read is None else min(_COMPLETION_GRACE, timeouts.read)
        started = time.monotonic()
        try:
            while remaining > 0:
                left = grace - (time.monotonic() - started)
                if left <= 0:
                    return
                data = self._read_block(None, left)
                if not data:
                    return
                remaining -= len(data)
        except (_TimeLimitError, *_READ_ERRORS):
            self._broken = True

    # -- release ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the response: pool the connection if the body was read to its end, else close it.

        Idempotent. The cancel callback is unregistered first, so a cancel that comes later
        never touches a connection another request may be using.
        """
        if self._closed:
            return
        self._closed = True
        binding = self._binding
        binding.detach()
        self._unregister()
        # Unregisters the private token from the caller's; nothing is attached any more.
        self._token.cancel()
        raw = self._raw
        try:
            if not (self._complete and not binding.fired and not self._broken):
                # Half-read, timed out or shut down: this connection must never be reused.
                raw.close()
        finally:
            raw.release_conn()


def _body_failure(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the body"
    root = _root_cause(exc)
    return _describe(root)


def _failure_kind(exc: BaseException) -> SseParseErrorKind:
    if isinstance(exc, (zlib.error, _UnsupportedEncoding)):
        return SseParseErrorKind.PARSER
    return SseParseErrorKind.TRANSPORT


def _default_details(status: int, body: bytes) -> str:
    reason = http.client.responses.get(status, "")
    text = body[:500].decode("utf-8", "replace").strip()
    more = "..." if len(body) > 500 else ""
    head = f"HTTP {status} {reason}".rstrip()
    return f"{head}: {text}{more}" if text else f"{head} (empty body)"


# --- streams -----------------------------------------------------------------------------


def open_chunk_stream(
    response: HttpResponse,
    convert: Callable[[Iterator[SseEvent]], Iterable[StreamChunk]],
    *,
    is_keepalive: Callable[[SseEvent], bool] = _never,
) -> CompletionStream:
    """Wrap a streaming response into a :class:`CompletionStream` of chunks.

    Runs ``convert(response.events(is_keepalive=...))``. A :class:`StreamInterrupted` from the
    events becomes the stream's final ``ErrorChunk``. ``MessageComplete`` is the last chunk:
    before handing it out, the rest of the body is read (briefly) so that the connection can
    go back to the pool; the converter is then closed. The response is closed when the
    stream ends, fails or is closed, also from another thread (through the response's
    private token, which the stream cancels on close).

    :param response: a 2xx response from ``Transport.post(..., stream=True)``.
    :param convert: the provider's pure converter from events to chunks.
    :param is_keepalive: the provider's keep-alive predicate (see :meth:`HttpResponse.events`).
    :returns: the stream, which owns the response.
    """
    return CompletionStream(
        _chunk_source(response, convert, is_keepalive), token=response.token, provider=response.provider
    )


def _chunk_source(
    response: HttpResponse,
    convert: Callable[[Iterator[SseEvent]], Iterable[StreamChunk]],
    is_keepalive: Callable[[SseEvent], bool],
) -> Iterator[StreamChunk]:
    chunks: Optional[Iterable[StreamChunk]] = None
    try:
        chunks = convert(response.events(is_keepalive=is_keepalive))
        for chunk in chunks:
            if isinstance(chunk, MessageComplete):
                response._finish_after_completion()
                response.close()
                yield chunk
                return
            yield chunk
    except StreamInterrupted as interrupted:
        yield ErrorChunk(interrupted.error)
    finally:
        close = getattr(chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            response.close()
