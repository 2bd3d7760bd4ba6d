"""Reading a body: chunked framing removed in bulk, ``gzip``/``deflate`` decoded per block.

After the headers, the body is read in blocks of up to 64 KiB straight from the connection's
buffered reader (``read1``: returns as soon as any data is there) and the chunked framing is
removed here, in bulk; urllib3's per-chunk reading costs about 3 us per HTTP chunk, more than
the whole budget of a streamed delta. ``gzip``/``deflate`` bodies are decoded per block, with
bounded output per block.
"""

from __future__ import annotations

import http.client
import socket
import time
import zlib
from typing import Any, List, Optional

from steer_sync._transport._binding import Binding, current_binding

__all__ = ["BLOCK", "UnsupportedEncoding", "WireResponse", "decoder_for"]

#: Largest block read from the connection at once.
BLOCK = 65536
#: Longest chunk-size line (with extensions) and trailer section accepted.
_MAX_CHUNK_LINE = 4096
_MAX_TRAILERS = 64 * 1024
#: Most decoded bytes one block of a compressed body may expand to (bounds a zip bomb).
_MAX_DECODED_BLOCK = 4 * BLOCK


# --- our http.client response --------------------------------------------------------------


class _ChunkedFramingError(http.client.HTTPException):
    """The chunked transfer encoding of a body is malformed."""


class WireResponse(http.client.HTTPResponse):
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
        binding = current_binding()
        if binding is not None:
            binding.wire = self

    def begin(self) -> None:
        """Read the status line and headers within the call's header limits.

        ``http.client`` reads them line by line, each ``recv`` under the socket timeout, so a
        server sending one header line every few seconds would never time out. While the
        headers are read, every ``recv`` gets the time left until the end of the header phase
        (:meth:`Binding.header_phase_end`) as its timeout.
        """
        binding = current_binding()
        raw = getattr(self.fp, "raw", None)
        sock = getattr(raw, "_sock", None)
        if binding is None or sock is None or not isinstance(raw, socket.SocketIO):
            super().begin()
            return
        end, which = binding.header_phase_end(time.monotonic())
        if end is None:
            super().begin()
            return
        raw._sock = _HeaderClock(sock, end, which, binding)  # type: ignore[attr-defined]
        try:
            super().begin()
        finally:
            raw._sock = sock  # type: ignore[attr-defined]

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
            data: bytes = fp.read1(BLOCK)
            if not data:
                self._finish()
            return data
        if length <= 0:
            self._finish()
            return b""
        data = fp.read1(min(length, BLOCK))
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
            data = fp.read1(BLOCK)
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


class _HeaderClock:
    """Stands in for the socket under ``http.client``'s reader while the headers arrive.

    Each ``recv_into`` runs with the time left until ``end`` as the socket timeout, so the
    header section as a whole is bounded; everything else goes to the real socket.
    """

    __slots__ = ("_binding", "_end", "_sock", "_which")

    def __init__(self, sock: socket.socket, end: float, which: str, binding: Binding) -> None:
        self._sock = sock
        self._end = end
        self._which = which
        self._binding = binding

    def recv_into(self, *args: Any) -> int:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            self._binding.header_expired = self._which
            raise socket.timeout("timed out")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(*args)
        except socket.timeout:
            self._binding.header_expired = self._which
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


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


def decoder_for(encoding: Optional[str]) -> Optional[_Decoder]:
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return _Decoder(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return _Decoder(zlib.MAX_WBITS)
    raise UnsupportedEncoding(name)


class UnsupportedEncoding(http.client.HTTPException):
    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported content-encoding {name[:40]!r}")
