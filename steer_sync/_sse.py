"""Turn the bytes of a ``text/event-stream`` body into events (layer L1: stdlib only).

This module's one concern is framing: it follows the WHATWG "event stream interpretation"
rules and knows no provider event names. The decoder is incremental and runs in time
linear in its input: bytes may be split anywhere (inside a UTF-8 sequence, between the
CR and LF of a CRLF, inside a field name), and lines may end in LF, CR or CRLF in any mix.

Where it departs from the browser ``EventSource`` (on purpose, to match steer's
``eventsource-stream`` crate and what the providers need):

* invalid UTF-8 in a ``data``, ``event`` or ``id`` value raises :class:`SseDecodeError`
  (``kind="utf8"``) instead of decoding to U+FFFD; bytes of comments and of ignored
  fields are never decoded, so they cannot fail. The error names the stream byte offset,
  carries the events completed earlier in the same read (``SseDecodeError.events``), and
  leaves the decoder failed;
* an event with no ``event:`` field (or an empty one) has ``event=None``, not ``"message"``;
* an event larger than ``max_event_bytes`` raises ``kind="parser"`` rather than growing
  memory without bound;
* an unterminated event at end of input is discarded as WHATWG says, but
  :attr:`SseDecoder.has_partial_event` reports it so callers can report a truncated stream.

Speed matters here (one call per streamed delta): the decoder works on ``bytes``, splits
each chunk with one ``bytes.split`` (CRs are first normalised in C when a chunk has any),
decodes only field values, and keeps data lines in a list so a huge event is joined once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Generator, Iterable, List, Literal, Optional, Tuple

__all__ = ["SseDecodeError", "SseDecoder", "SseEvent", "SseErrorKind", "decode_sse"]

#: Which way an event stream was malformed.
SseErrorKind = Literal["utf8", "parser"]

_BOM = b"\xef\xbb\xbf"
#: Default cap on one event's data (and on one line): big enough for any real provider
#: event, small enough that a broken server cannot exhaust memory.
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
# Event names repeat on every event of a stream, so decoded names are cached; the caps keep a
# hostile stream of ever-new (or huge) names from growing the cache.
_NAME_CACHE_MAX = 256
_NAME_CACHE_MAX_LEN = 64
# An unterminated line may exceed max_event_bytes by this much: room for its field name, so
# that a data value of exactly max_event_bytes is accepted however it is split.
_LINE_SLACK = 64
# Longer digit runs are no meaningful reconnection delay, and int() on megabytes of digits
# is slow on Python < 3.11 (and refused on 3.11+), so such values are ignored.
_RETRY_MAX_DIGITS = 18
# Compiled on first use (error path only), through re's cache.
_LINE_END = rb"\r\n|\r|\n"
_new = object.__new__


@dataclass(frozen=True)
class SseEvent:
    """One dispatched server-sent event.

    Immutable and hashable; safe to share between threads.
    """

    #: The ``event:`` field of this event, or ``None`` when it was absent or empty
    #: (browsers would say ``"message"``).
    event: Optional[str]
    #: The ``data:`` lines of this event joined with ``"\\n"``.
    data: str
    #: The last event id seen on the stream at dispatch time (ids persist across events,
    #: as in WHATWG), or ``None`` when no id was set or it was set to the empty string.
    id: Optional[str] = None
    #: The ``retry:`` value (milliseconds) given inside this event's block, if any.
    retry: Optional[int] = None


class SseDecodeError(ValueError):
    """The event stream could not be decoded.

    :param kind: ``"utf8"`` for invalid UTF-8 in a field value, ``"parser"`` for an event or
        line larger than the decoder's ``max_event_bytes``.
    :param message: a readable description (it names the stream byte offset when known).
    :param offset: the stream byte offset of the offending byte or line, if known.
    :param events: the events completed in the same :meth:`SseDecoder.feed` call before the
        failure; callers should deliver them before reporting the error.
    """

    def __init__(
        self,
        kind: SseErrorKind,
        message: str,
        *,
        offset: Optional[int] = None,
        events: Iterable[SseEvent] = (),
    ) -> None:
        super().__init__(message)
        #: ``"utf8"`` or ``"parser"``.
        self.kind: SseErrorKind = kind
        #: The stream byte offset the error refers to, if known.
        self.offset: Optional[int] = offset
        #: Events completed before the failure in the failing ``feed`` call.
        self.events: List[SseEvent] = list(events)


class SseDecoder:
    """Decode an event stream incrementally, following the WHATWG parsing rules.

    Feed the body's bytes as they arrive with :meth:`feed` and call :meth:`flush` once at the
    end. Each blank line dispatches the fields gathered since the previous one as an
    :class:`SseEvent`, unless no ``data`` field was seen (an event with only ``event:`` is not
    emitted). Comment lines (starting with ``:``), unknown fields and lines of garbage are
    ignored; a line without a colon is a field with an empty value; one space after the colon
    is removed; ``retry`` counts only if all ASCII digits; an ``id`` containing NUL is ignored.

    After a :class:`SseDecodeError` the decoder is failed: every later ``feed``/``flush``
    raises an error of the same kind (without the ``events``).

    Not thread-safe: use one decoder per stream, from one thread at a time. It owns nothing
    that needs closing.

    :param max_event_bytes: the most bytes one event's data may have (UTF-8, lines joined
        with newlines); a longer event, or an unterminated line longer than this plus room for
        a field name, raises :class:`SseDecodeError` with ``kind="parser"``. It bounds the
        memory the decoder holds.
    """

    __slots__ = (
        "_data",
        "_dirty",
        "_event",
        "_failed",
        "_head",
        "_last_id",
        "_max",
        "_names",
        "_offset",
        "_partial",
        "_pending_cr",
        "_retry",
        "_size",
        "_stream_retry",
        "_tail",
        "_tail_len",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be positive, got {max_event_bytes}")
        self._max = max_event_bytes
        # Decoded data lines of the pending event; joined once at dispatch so an event of
        # many lines costs linear time.
        self._data: List[str] = []
        # Bytes of the pending event's data buffer (values plus one newline each).
        self._size = 0
        self._event: Optional[str] = None
        self._retry: Optional[int] = None
        self._last_id: Optional[str] = None
        self._stream_retry: Optional[int] = None
        # A non-data field (event/id/retry/unknown) was seen since the last blank line.
        self._dirty = False
        # Pieces of the current unterminated line, kept as a list so a long line that
        # arrives in many small reads is joined once, not re-copied on every read.
        self._tail: List[bytes] = []
        self._tail_len = 0
        # The previous chunk ended in CR: an LF at the start of the next chunk belongs to
        # the same CRLF line end and must not count as a second (blank) line.
        self._pending_cr = False
        # Bytes held back at stream start until we know whether they begin with a BOM;
        # None once the start has been handled.
        self._head: Optional[bytes] = b""
        self._offset = 0
        self._names: Dict[bytes, str] = {}
        self._partial = False
        self._failed: Optional[SseDecodeError] = None

    @property
    def has_partial_event(self) -> bool:
        """Whether :meth:`flush` discarded an unterminated event.

        ``True`` when input after the last blank line held anything but comments: a field
        line, or an unterminated line. Such a stream was most likely cut short.
        """
        return self._partial

    @property
    def last_event_id(self) -> Optional[str]:
        """The current last-event-id buffer (``None`` when unset or empty)."""
        return self._last_id

    @property
    def retry(self) -> Optional[int]:
        """The latest valid ``retry:`` value on the stream, in milliseconds."""
        return self._stream_retry

    def feed(self, chunk: bytes) -> List[SseEvent]:
        """Decode the next bytes of the stream.

        :param chunk: the next bytes, split at any position.
        :returns: the events completed by these bytes, in order (often empty).
        :raises SseDecodeError: on invalid UTF-8 in a field value (``"utf8"``), or an event or
            line larger than ``max_event_bytes`` (``"parser"``); its ``events`` holds the
            events completed earlier in this chunk.
        """
        # One read often carries a single event, so per-call overhead counts as much as the
        # per-line loop: the loop is inlined here and the state is kept in locals.
        if self._failed is not None:
            raise self._failed_again()
        if type(chunk) is not bytes:
            # bytearray lines would be unhashable (name cache) and mutable; copy once.
            chunk = bytes(chunk)
        start = self._offset  # stream offset of chunk[0]
        self._offset = start + len(chunk)
        if self._head is not None or self._pending_cr:
            chunk, start = self._strip_start(chunk, start)
        if not chunk:
            return []
        if b"\r" in chunk:
            # Rare path (CRLF servers such as Gemini, or bare CRs): normalise every line end
            # to LF in C, then split like the common case.
            self._pending_cr = chunk.endswith(b"\r")
            text = chunk.replace(b"\r\n", b"\n")
            if b"\r" in text:
                text = text.replace(b"\r", b"\n")
            lines = text.split(b"\n")
        else:
            lines = chunk.split(b"\n")
        last = lines.pop()  # the unterminated rest (b"" when the chunk ended a line)
        tail = self._tail
        if not lines:
            tail.append(last)
            self._tail_len += len(last)
            self._check_tail(start + len(chunk), [])
            return []
        tail_len = self._tail_len
        if tail_len:
            tail.append(lines[0])
            lines[0] = b"".join(tail)
            tail.clear()

        out: List[SseEvent] = []
        data = self._data
        add = data.append
        size = self._size
        # size counts a newline after every data line; the joined data has one fewer.
        limit = self._max + 1
        event = self._event
        retry = self._retry
        last_id = self._last_id
        dirty = self._dirty
        names = self._names
        new = _new
        line = value = b""
        try:
            for line in lines:
                if not line:
                    if data:
                        ev = new(SseEvent)
                        # Filling __dict__ skips the frozen dataclass __init__, whose
                        # object.__setattr__ per field costs ~2x on this per-event path.
                        d = ev.__dict__
                        d["event"] = event
                        d["data"] = data[0] if len(data) == 1 else "\n".join(data)
                        d["id"] = last_id
                        d["retry"] = retry
                        out.append(ev)
                        data.clear()
                        size = 0
                    event = None
                    retry = None
                    dirty = False
                elif line.startswith(b"data: "):
                    value = line[6:]
                    add(value.decode())
                    size += len(value) + 1
                    if size > limit:
                        where = self._locate(line, lines, chunk, start, tail_len)
                        raise self._fail(self._too_big(size, where), out)
                elif line.startswith(b"event: "):
                    # The second most common line (Anthropic, Responses), so tested before the rare
                    # "data:" without a space: skip the generic split.
                    dirty = True
                    value = line[7:]
                    cached = names.get(value)
                    if cached is None:
                        cached = value.decode() or None
                        if cached is not None and len(names) < _NAME_CACHE_MAX and len(value) <= _NAME_CACHE_MAX_LEN:
                            names[value] = cached
                    event = cached
                elif line.startswith(b"data:"):
                    value = line[5:]
                    add(value.decode())
                    size += len(value) + 1
                    if size > limit:
                        where = self._locate(line, lines, chunk, start, tail_len)
                        raise self._fail(self._too_big(size, where), out)
                elif line[0] != 58:  # not a ":" comment
                    colon = line.find(b":")
                    if colon < 0:
                        name = line
                        value = b""
                    else:
                        name = line[:colon]
                        value = line[colon + 2 :] if line.startswith(b" ", colon + 1) else line[colon + 1 :]
                    dirty = True
                    if name == b"event":
                        if value:
                            cached = names.get(value)
                            if cached is None:
                                cached = value.decode()
                                if len(names) < _NAME_CACHE_MAX and len(value) <= _NAME_CACHE_MAX_LEN:
                                    names[value] = cached
                            event = cached
                        else:
                            event = None
                    elif name == b"data":  # "data" with no colon: an empty data line
                        add("")
                        size += 1
                        if size > limit:
                            where = self._locate(line, lines, chunk, start, tail_len)
                            raise self._fail(self._too_big(size, where), out)
                    elif name == b"id":
                        if b"\x00" not in value:
                            last_id = value.decode() or None
                    elif name == b"retry" and value.isdigit() and len(value) <= _RETRY_MAX_DIGITS:
                        retry = int(value)
                        self._stream_retry = retry
        except UnicodeDecodeError as exc:
            # ``value`` is always a suffix of ``line``, so its offset in the line is known.
            where = self._locate(line, lines, chunk, start, tail_len) + len(line) - len(value) + exc.start
            err = SseDecodeError(
                "utf8",
                f"invalid UTF-8 at stream byte offset {where}: {exc.reason}",
                offset=where,
            )
            raise self._fail(err, out) from None
        self._size = size
        self._event = event
        self._retry = retry
        self._last_id = last_id
        self._dirty = dirty
        if last:
            tail.append(last)
            self._tail_len = len(last)
            self._check_tail(start + len(chunk), out)
        else:
            self._tail_len = 0
        return out

    def flush(self) -> List[SseEvent]:
        """Signal the end of the stream.

        An event not terminated by a blank line is discarded, as WHATWG requires, and
        :attr:`has_partial_event` is set so the caller can report the truncation. The
        decoder is reset (the last event id persists) and may be fed again.

        :returns: always an empty list (kept for symmetry with :meth:`feed`).
        :raises SseDecodeError: if the decoder failed earlier.
        """
        if self._failed is not None:
            raise self._failed_again()
        tail = self._tail
        self._partial = bool(
            self._data or self._dirty or self._head or (self._tail_len and not tail[0].startswith(b":"))
        )
        self._data.clear()
        self._size = 0
        self._event = None
        self._retry = None
        self._dirty = False
        tail.clear()
        self._tail_len = 0
        self._pending_cr = False
        self._head = None
        return []

    def _strip_start(self, chunk: bytes, start: int) -> Tuple[bytes, int]:
        """Drop a leading BOM, or the LF of a CRLF split across reads (rare path).

        :returns: the chunk left to decode (empty when bytes are held back) and the stream
            offset of its first byte.
        """
        head = self._head
        if head is not None:
            chunk = head + chunk
            start -= len(head)
            if len(chunk) < 3 and _BOM.startswith(chunk):
                # Too short to tell whether this is a BOM; wait for more bytes.
                self._head = chunk
                return b"", start
            self._head = None
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
                start += 3
        if self._pending_cr and chunk:
            self._pending_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
                start += 1
        return chunk, start

    @staticmethod
    def _locate(line: bytes, lines: List[bytes], raw: bytes, start: int, tail_len: int) -> int:
        """Return the stream offset where ``line`` starts (error path only).

        :param line: the line object being processed (found by identity).
        :param lines: the complete lines of this chunk; the first may include the tail.
        :param raw: this chunk as fed, before CR normalisation.
        :param start: the stream offset of ``raw[0]``.
        :param tail_len: bytes of the first line that arrived in earlier chunks.
        """
        index = next((i for i, item in enumerate(lines) if item is line), 0)
        if index == 0:
            return start - tail_len
        for count, match in enumerate(re.finditer(_LINE_END, raw), 1):
            if count == index:
                return start + match.end()
        return start  # unreachable for consistent input; keep the error path total

    def _check_tail(self, end: int, events: List[SseEvent]) -> None:
        """Fail if the unterminated line (plus the pending event) passed the limit."""
        if self._tail_len + self._size > self._max + _LINE_SLACK:
            if self._size:
                raise self._fail(self._too_big(self._tail_len + self._size, end), events)
            raise self._fail(
                SseDecodeError(
                    "parser",
                    f"line longer than max_event_bytes={self._max} without a line end (at stream byte offset {end})",
                    offset=end,
                ),
                events,
            )

    def _too_big(self, size: int, where: int) -> SseDecodeError:
        return SseDecodeError(
            "parser",
            f"event data larger than max_event_bytes={self._max} ({size} bytes buffered"
            f" by the line at stream byte offset {where})",
            offset=where,
        )

    def _fail(self, err: SseDecodeError, events: List[SseEvent]) -> SseDecodeError:
        """Record ``err`` so later calls fail too, attach the completed events, return it."""
        err.events = events
        self._failed = err
        # Drop buffers now: a failed decoder must not keep up to max_event_bytes alive.
        self._data.clear()
        self._tail.clear()
        self._tail_len = 0
        self._size = 0
        return err

    def _failed_again(self) -> SseDecodeError:
        failed = self._failed
        assert failed is not None
        return SseDecodeError(failed.kind, f"decoder already failed: {failed}", offset=failed.offset)


def decode_sse(chunks: Iterable[bytes], **kw: int) -> Generator[SseEvent, None, bool]:
    """Decode an iterable of byte chunks into events.

    Usage::

        for event in decode_sse(response.iter_content(None)):
            handle(event.event, event.data)

    :param chunks: the body, split anywhere.
    :param kw: passed to :class:`SseDecoder` (``max_event_bytes``).
    :returns: an iterator of :class:`SseEvent`; as a generator its return value (seen by
        ``yield from``) is :attr:`SseDecoder.has_partial_event` after the end of input.
    :raises SseDecodeError: when the stream is malformed, after yielding the events that
        preceded the failure.
    """
    decoder = SseDecoder(**kw)
    feed = decoder.feed
    for chunk in chunks:
        try:
            events = feed(chunk)
        except SseDecodeError as err:
            yield from err.events
            raise
        yield from events
    decoder.flush()
    return decoder.has_partial_event
