"""The script vocabulary of the loopback server: what a test queues (layer L4, no I/O).

A test scripts :class:`~steer_sync.testing.LoopbackServer` with three kinds of items:

* :class:`Reply`: raw bytes, written part by part, with transport faults (slow drip, stall,
  abrupt disconnect) applied at part boundaries;
* :class:`Turn`: one assistant answer (text, thinking, tool calls, usage) that the server renders
  in whatever wire format the request asks for, streaming or not, with the same faults counted
  in stream *events*;
* :class:`ErrorReply`: an HTTP error rendered as the requested format's error body (or, inside a
  ``Turn``'s ``error_after``, as its in-stream error event).

:class:`RecordedRequest` is what the server saw. :func:`sse_event` and the other module-level
helpers are shared by the format modules (``_anthropic.py``, ``_gemini.py``, ...).
All values here are frozen dataclasses and safe to share between threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "FORMAT_NAMES",
    "ErrorReply",
    "Item",
    "RecordedRequest",
    "Reply",
    "ScriptItem",
    "Split",
    "ToolCallSpec",
    "Turn",
    "cut",
    "json_bytes",
    "loopback_id",
    "request_model",
    "split_offsets",
    "sse_event",
    "text_deltas",
]

#: Wire format names accepted by ``Turn.format`` / ``ErrorReply.format``.
FORMAT_NAMES: Tuple[str, ...] = ("anthropic", "openai_responses", "openai_chat", "xai", "gemini")

#: ``None`` (keep the parts), explicit byte offsets into the whole body, or ``"random"``.
Split = Union[None, Literal["random"], Sequence[int]]

#: Upper bound on the number of cuts ``split="random"`` makes, so huge bodies stay cheap to write.
_MAX_RANDOM_CUTS = 64


def _check_split(split: object) -> None:
    if split is None or split == "random":
        return
    if isinstance(split, (str, bytes)) or not isinstance(split, Sequence):
        raise TypeError(f"split must be None, 'random' or a sequence of byte offsets, not {split!r}")
    for offset in split:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"split offsets must be non-negative ints, got {offset!r}")


def _check_fault(name: str, value: Optional[int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(f"{name} must be None, -1 (before the status line) or >= 0, got {value!r}")


def _check_format(value: Optional[str]) -> None:
    if value is not None and value not in FORMAT_NAMES:
        raise ValueError(f"unknown format {value!r}; expected one of {', '.join(FORMAT_NAMES)}")


def _freeze_headers(headers: Sequence[Tuple[str, str]]) -> Tuple[Tuple[str, str], ...]:
    if isinstance(headers, Mapping):
        headers = list(headers.items())
    frozen = tuple((str(name), str(value)) for name, value in headers)
    for name, value in frozen:
        # A CR or LF would let a script forge extra header lines by accident.
        if any(c in name + value for c in "\r\n") or ":" in name or not name:
            raise ValueError(f"invalid header {name!r}: {value!r}")
    return frozen


#: Headers a recording may carry that describe framing the server does itself.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


@dataclass(frozen=True)
class Reply:
    """Raw bytes the server writes for one request, part by part.

    Parts are the unit of every fault: with chunked framing each part is sent as exactly one
    HTTP chunk, ``delay`` waits between parts, ``stall_after=N`` stops after ``N`` parts and
    ``drop_after=N`` closes the socket after ``N`` parts. ``N`` may equal the number of parts
    (every part was sent, the chunked terminator was not) and ``-1`` acts before the status
    line is sent. When both are set the smaller count wins.

    Framing: the server adds ``content-length`` or ``transfer-encoding: chunked`` itself. If
    ``headers`` already has either, the parts are written verbatim (no chunk encoding) and the
    connection is closed afterwards: that is how a test sends deliberately broken framing.

    Immutable and thread-safe.
    """

    #: HTTP status code.
    status: int = 200
    #: Response headers as ``(name, value)`` pairs, in order (a mapping is also accepted).
    headers: Sequence[Tuple[str, str]] = ()
    #: One ``bytes`` body, or a sequence of byte parts.
    body: Union[bytes, Sequence[bytes]] = b""
    #: ``True``: chunked transfer encoding; ``False``: ``content-length``; ``None`` (default):
    #: chunked when ``body`` is a sequence of parts or ``split`` is set, else ``content-length``.
    chunked: Optional[bool] = None
    #: Re-split the concatenated body at these byte offsets, or at random ones (``"random"``,
    #: reproducible through ``seed``). Offsets 0 and ``len(body)`` make no cut.
    split: Split = None
    #: Seed for ``split="random"``.
    seed: int = 0
    #: Seconds to wait between parts (a slow drip); ``close()`` cuts the wait short.
    delay: float = 0.0
    #: After this many parts, send nothing more until the client disconnects or the server
    #: closes (``server.stalled`` is set when the stall begins).
    stall_after: Optional[int] = None
    #: After this many parts, close the socket (a truncated body / premature EOF).
    drop_after: Optional[int] = None
    #: Reason phrase of the status line; the standard one when ``None``.
    reason: Optional[str] = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise ValueError(f"status must be an int in 100..999, got {self.status!r}")
        object.__setattr__(self, "headers", _freeze_headers(self.headers))
        body: object = self.body  # checked as object: callers without type checking pass str
        if isinstance(body, (bytes, bytearray, memoryview)):
            object.__setattr__(self, "body", bytes(body))
        elif isinstance(body, str) or not isinstance(body, Sequence):
            raise TypeError(f"Reply.body must be bytes or a sequence of bytes, not {type(body).__name__}")
        else:
            parts = tuple(body)
            for part in parts:
                if not isinstance(part, (bytes, bytearray, memoryview)):
                    raise TypeError(f"Reply.body parts must be bytes, got {type(part).__name__}")
            object.__setattr__(self, "body", tuple(bytes(p) for p in parts))
        _check_split(self.split)
        if self.split is not None and not isinstance(self.split, str):
            object.__setattr__(self, "split", tuple(self.split))
        _check_fault("stall_after", self.stall_after)
        _check_fault("drop_after", self.drop_after)
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay!r}")

    @classmethod
    def from_json(cls, obj: Any, *, status: int = 200, headers: Sequence[Tuple[str, str]] = (), **faults: Any) -> Reply:
        """Build a JSON reply (``content-type: application/json``, compact encoding).

        :param obj: anything :func:`json.dumps` accepts.
        :param status: HTTP status code.
        :param headers: extra headers, after the content type.
        :param faults: any other :class:`Reply` field (``split``, ``delay``, ``drop_after``...).
        :returns: the reply.
        """
        return cls(
            status=status,
            headers=(("content-type", "application/json"), *_freeze_headers(headers)),
            body=json_bytes(obj),
            **faults,
        )

    @classmethod
    def event_stream(
        cls, events: Sequence[bytes], *, status: int = 200, headers: Sequence[Tuple[str, str]] = (), **faults: Any
    ) -> Reply:
        """Build a chunked ``text/event-stream`` reply, one part (one HTTP chunk) per event.

        :param events: encoded events, e.g. from :func:`sse_event`.
        :param status: HTTP status code.
        :param headers: extra headers, after the content type.
        :param faults: any other :class:`Reply` field (``stall_after``, ``drop_after``...).
        :returns: the reply.
        """
        return cls(
            status=status,
            headers=(("content-type", "text/event-stream; charset=utf-8"), *_freeze_headers(headers)),
            body=tuple(events),
            **faults,
        )

    @classmethod
    def from_recording(cls, source: Union[bytes, str, os.PathLike[str]], **faults: Any) -> Reply:
        """Build a reply that replays a recorded HTTP response byte for byte.

        The recording is the status line, the headers (each ending in CRLF), a blank
        line and the body as it was received (decoded, not chunked). Framing headers
        (``content-length``, ``transfer-encoding``, ``content-encoding``, ``connection``)
        are dropped because the server frames the body itself.

        Usage::

            server.queue(Reply.from_recording("cassettes/stream_text.http", split="random", seed=3))

        :param source: the recording's bytes, or the path of a file holding them.
        :param faults: any other :class:`Reply` field (``split``, ``seed``, ``stall_after``...).
        :returns: the reply.
        :raises ValueError: if the recording has no status line or no blank line after the headers.
        """
        raw = source if isinstance(source, bytes) else Path(source).read_bytes()
        head, blank, body = raw.partition(b"\r\n\r\n")
        if not blank:
            raise ValueError("a recording needs its headers to end with a blank line (CRLF CRLF)")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"a recording must start with a status line like 'HTTP/1.1 200 OK', got {status_line!r}")
        headers = []
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() and name.strip().lower() not in _FRAMING_HEADERS:
                headers.append((name.strip(), value.strip()))
        reason = parts[2] if len(parts) > 2 else None
        return cls(status=int(parts[1]), reason=reason, headers=tuple(headers), body=body, **faults)

    def body_parts(self) -> List[bytes]:
        """Return the parts the server writes, after ``split``.

        :returns: the body as a list of parts (one element for a single ``bytes`` body).
        :raises ValueError: if an explicit split offset lies beyond the body.
        """
        parts = [self.body] if isinstance(self.body, bytes) else list(self.body)
        if self.split is None:
            return parts
        data = b"".join(parts)
        return cut(data, split_offsets(len(data), self.split, self.seed))

    def is_chunked(self) -> bool:
        """Tell whether the body goes out with chunked transfer encoding.

        :returns: ``chunked`` when given, else the default described on the field.
        """
        if self.chunked is not None:
            return self.chunked
        return not isinstance(self.body, bytes) or self.split is not None


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error, rendered as the request's wire format's error body.

    ``error_type`` is the format's own error kind (Anthropic ``error.type``, OpenAI
    ``error.type``, Gemini ``error.status``, xAI ``code``); ``None`` picks the one the provider
    sends for ``status``. ``retry_after`` becomes a ``retry-after`` header (plus
    ``retry-after-ms`` when fractional) or, for Gemini, a ``google.rpc.RetryInfo`` detail in the
    body. Immutable and thread-safe.
    """

    #: HTTP status code (also picks the default ``error_type``).
    status: int = 429
    #: Human-readable message placed in the body.
    message: str = "Rate limit exceeded. Please try again later."
    #: The format's error kind; ``None`` derives it from ``status``.
    error_type: Optional[str] = None
    #: Retry hint in seconds.
    retry_after: Optional[float] = None
    #: Extra response headers, after the format's own.
    headers: Sequence[Tuple[str, str]] = ()
    #: OpenAI-style ``error.code`` (e.g. ``"rate_limit_exceeded"``); ``None`` derives one.
    code: Optional[str] = None
    #: Force a wire format instead of detecting it from the request.
    format: Optional[str] = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise ValueError(f"status must be an int in 100..999, got {self.status!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after!r}")
        object.__setattr__(self, "headers", _freeze_headers(self.headers))
        _check_format(self.format)

    def retry_headers(self) -> List[Tuple[str, str]]:
        """Return the ``retry-after`` (and ``retry-after-ms``) headers for ``retry_after``.

        ``retry-after`` must be whole seconds, so a fractional hint is rounded up there and sent
        exactly as ``retry-after-ms`` (which Anthropic's and OpenAI's SDKs read first).

        :returns: header pairs; empty when ``retry_after`` is ``None``.
        """
        if self.retry_after is None:
            return []
        seconds = self.retry_after
        if float(seconds).is_integer():
            return [("retry-after", str(int(seconds)))]
        return [("retry-after", str(int(seconds) + 1)), ("retry-after-ms", str(round(seconds * 1000)))]


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call in a :class:`Turn`.

    Immutable and thread-safe.
    """

    #: Tool call id as the provider reports it (Gemini has none on the wire and ignores it).
    id: str
    #: Tool name.
    name: str
    #: Arguments: a dict (sent as compact JSON) or a raw string sent verbatim (may be invalid JSON).
    arguments: Union[Mapping[str, Any], str] = field(default_factory=dict)
    #: Number of argument deltas in a stream (formats that stream arguments in pieces).
    chunks: int = 1

    def __post_init__(self) -> None:
        if self.chunks < 1:
            raise ValueError(f"chunks must be >= 1, got {self.chunks!r}")

    def arguments_json(self) -> str:
        """Return the arguments as the JSON text sent on the wire.

        :returns: compact JSON of a dict, or the raw string unchanged.
        """
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"), ensure_ascii=False)

    def argument_chunks(self) -> List[str]:
        """Split :meth:`arguments_json` into ``chunks`` near-equal, non-empty pieces.

        :returns: the pieces, in order (fewer than ``chunks`` if the text is shorter).
        """
        text = self.arguments_json()
        if not text:
            return [""]
        count = min(self.chunks, len(text))
        size, extra = divmod(len(text), count)
        pieces: List[str] = []
        start = 0
        for i in range(count):
            end = start + size + (1 if i < extra else 0)
            pieces.append(text[start:end])
            start = end
        return pieces


@dataclass(frozen=True)
class Turn:
    """One assistant answer, rendered in the wire format the request asks for.

    The format comes from the request path (and, for Chat Completions, a ``grok`` model means
    xAI) unless ``format`` forces it; streaming or not comes from the body's ``stream`` flag or
    Gemini's ``:streamGenerateContent``. A stream is rendered as one part per SSE event, and the
    fault options count those events: ``stall_after=N`` / ``drop_after=N`` act after ``N``
    events, ``error_after=N`` replaces everything after the first ``N`` events with the
    format's in-stream error event for ``error`` (for a non-stream request the whole answer
    becomes the HTTP error ``error``). ``split`` then re-cuts the bytes (the stall/drop points
    stay exact), and ``delay`` drips the parts. Immutable and thread-safe.
    """

    #: Answer text (streamed in word-sized deltas, see :func:`text_deltas`).
    text: str = ""
    #: Thinking / reasoning text shown before the answer.
    thinking: str = ""
    #: Signature of the thinking block (Anthropic ``signature_delta``, Gemini ``thoughtSignature``,
    #: sent base64-encoded unless it already is valid base64, as the real Gemini API sends it).
    thinking_signature: Optional[str] = None
    #: Opaque data of a redacted thinking block.
    redacted_thinking: Optional[str] = None
    #: Tool calls, after the text.
    tool_calls: Sequence[ToolCallSpec] = ()
    #: ``(input_tokens, output_tokens)``; ``None`` (unknown) omits usage where the real API does, and
    #: renders zero counts where it always sends usage (Anthropic).
    usage: Optional[Tuple[int, int]] = (10, 5)
    #: Provider stop/finish reason; ``None`` picks the natural one (end of turn, or tool use).
    stop_reason: Optional[str] = None
    #: Model name reported back; ``None`` echoes the request's model.
    model: Optional[str] = None
    #: Prompt tokens reported as read from the provider's cache (Anthropic usage).
    cache_read_input_tokens: int = 0
    #: Prompt tokens reported as written to the provider's cache (Anthropic usage).
    cache_creation_input_tokens: int = 0
    #: Force a wire format (one of :data:`FORMAT_NAMES`) instead of detecting it.
    format: Optional[str] = None
    #: Extra response headers (e.g. ``("retry-after", "3")`` on a 200, a request id).
    headers: Sequence[Tuple[str, str]] = ()
    #: Stall after this many events (``-1``: before the status line).
    stall_after: Optional[int] = None
    #: Close the socket after this many events (``-1``: before the status line).
    drop_after: Optional[int] = None
    #: Send ``error`` as the in-stream error event after this many events, then end the body.
    error_after: Optional[int] = None
    #: The error used by ``error_after``; ``None`` means an overloaded (529) error.
    error: Optional[ErrorReply] = None
    #: Re-split the rendered body at byte offsets or at random (see :class:`Reply`).
    split: Split = None
    #: Seconds between parts.
    delay: float = 0.0
    #: Seed for ``split="random"``.
    seed: int = 0
    #: A JSON answer (any JSON value, or JSON text sent verbatim): sent as the answer text, or
    #: as the forced tool's input when the request forced a tool instead of asking for native
    #: structured output (the fallback for models without it).
    json: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        object.__setattr__(self, "headers", _freeze_headers(self.headers))
        if self.usage is not None:
            object.__setattr__(self, "usage", (int(self.usage[0]), int(self.usage[1])))
        _check_format(self.format)
        _check_split(self.split)
        if self.split is not None and not isinstance(self.split, str):
            object.__setattr__(self, "split", tuple(self.split))
        _check_fault("stall_after", self.stall_after)
        _check_fault("drop_after", self.drop_after)
        if self.error_after is not None and (isinstance(self.error_after, bool) or self.error_after < 0):
            raise ValueError(f"error_after must be None or >= 0, got {self.error_after!r}")
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay!r}")

    @property
    def input_tokens(self) -> int:
        """Input token count (0 when ``usage`` is ``None``).

        :returns: the first element of ``usage``.
        """
        return self.usage[0] if self.usage is not None else 0

    @property
    def output_tokens(self) -> int:
        """Output token count (0 when ``usage`` is ``None``).

        :returns: the second element of ``usage``.
        """
        return self.usage[1] if self.usage is not None else 0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. Immutable and thread-safe."""

    #: Request method, e.g. ``"POST"``.
    method: str
    #: Request path without the query string, as sent (not percent-decoded).
    path: str
    #: Query parameters, first value of each name (percent-decoded).
    query: Dict[str, str]
    #: Headers with lower-case names; repeated headers are joined with ``", "``.
    headers: Dict[str, str]
    #: The body, de-chunked.
    body: bytes
    #: The body parsed as JSON, or ``None`` when it is empty or not JSON.
    json: Any = None
    #: Headers as received: original case, order and repetitions.
    header_list: Tuple[Tuple[str, str], ...] = ()
    #: Index of the TCP connection the request came on (0 for the first accepted connection).
    connection_id: int = 0

    def json_dict(self) -> Dict[str, Any]:
        """Return the JSON body when it is an object, else an empty dict.

        :returns: the parsed object (never ``None``), handy in format modules.
        """
        return self.json if isinstance(self.json, dict) else {}


#: What ``LoopbackServer.queue`` accepts besides a callable.
Item = Union[Reply, Turn, ErrorReply]
#: A queue item: a value, or a callable that picks one once the request is known.
ScriptItem = Union[Reply, Turn, ErrorReply, Callable[[RecordedRequest], Item]]


def sse_event(data: Union[str, Mapping[str, Any]], event: Optional[str] = None, line_ending: str = "\n") -> bytes:
    """Encode one server-sent event.

    A mapping becomes compact JSON (UTF-8, not ASCII-escaped); a string is used as is, one
    ``data:`` line per line of it (so ``"[DONE]"`` or pre-formatted JSON pass through).

    :param data: the event data.
    :param event: the ``event:`` field, omitted when ``None``.
    :param line_ending: ``"\\n"`` (most providers) or ``"\\r\\n"`` (Gemini).
    :returns: the encoded event, ending with a blank line.
    """
    text = data if isinstance(data, str) else json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)
    lines: List[str] = []
    if event is not None:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return (line_ending.join(lines) + line_ending + line_ending).encode("utf-8")


def json_bytes(obj: Any, *, indent: Optional[int] = None, separators: Optional[Tuple[str, str]] = None) -> bytes:
    """Encode a JSON body as UTF-8 (compact unless ``indent`` or ``separators`` say otherwise).

    :param obj: the value.
    :param indent: pretty-print with this indent (OpenAI and Gemini pretty-print their bodies).
    :param separators: explicit separators, e.g. ``(",", ": ")`` for Gemini's stream chunks.
    :returns: the encoded bytes.
    """
    if separators is None:
        separators = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(obj, indent=indent, separators=separators, ensure_ascii=False).encode("utf-8")


def text_deltas(text: str) -> List[str]:
    """Cut text into word-sized deltas the way providers stream it (``"Hi there"`` -> ``["Hi", " there"]``).

    :param text: the full text.
    :returns: pieces that concatenate back to ``text``; empty list for ``""``.
    """
    pieces = re.findall(r"\s*\S+", text)
    tail = text[len("".join(pieces)) :]
    if tail:
        if pieces:
            pieces[-1] += tail
        else:
            pieces.append(tail)
    return pieces


def loopback_id(prefix: str, request: RecordedRequest, length: int = 24) -> str:
    """Make a deterministic, request-specific id such as ``msg_3f2a...``.

    :param prefix: the id prefix, including its separator.
    :param request: the request the id belongs to.
    :param length: number of hex digits after the prefix.
    :returns: the id.
    """
    digest = hashlib.sha256(request.method.encode() + request.path.encode() + request.body).hexdigest()
    return prefix + digest[:length]


def request_model(request: RecordedRequest, turn_model: Optional[str], default: str) -> str:
    """Pick the model name to report: the Turn's, else the request body's ``model``, else ``default``.

    :param request: the request.
    :param turn_model: ``Turn.model``.
    :param default: fallback name.
    :returns: the model name.
    """
    if turn_model:
        return turn_model
    model = request.json_dict().get("model")
    return model if isinstance(model, str) and model else default


def split_offsets(length: int, split: Split, seed: int = 0) -> List[int]:
    """Resolve a ``split`` option into sorted, distinct cut offsets strictly inside ``(0, length)``.

    :param length: length of the data to cut.
    :param split: ``None``, ``"random"`` or explicit offsets (0 and ``length`` are allowed and ignored).
    :param seed: seed for ``"random"``.
    :returns: the offsets.
    :raises ValueError: if an explicit offset is beyond ``length``.
    """
    if split is None or length < 2:
        if split is not None and not isinstance(split, str):
            _check_offsets(split, length)
        return []
    if isinstance(split, str):
        rng = random.Random(seed)
        count = rng.randint(1, min(length - 1, _MAX_RANDOM_CUTS))
        return sorted(rng.sample(range(1, length), count))
    _check_offsets(split, length)
    return sorted({o for o in split if 0 < o < length})


def _check_offsets(offsets: Sequence[int], length: int) -> None:
    for offset in offsets:
        if offset > length:
            raise ValueError(f"split offset {offset} is beyond the {length}-byte body")


def cut(data: bytes, offsets: Sequence[int]) -> List[bytes]:
    """Cut ``data`` at sorted offsets.

    :param data: the bytes.
    :param offsets: sorted offsets strictly inside ``(0, len(data))``.
    :returns: ``len(offsets) + 1`` non-empty parts (``[data]`` when there are no offsets).
    """
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]
