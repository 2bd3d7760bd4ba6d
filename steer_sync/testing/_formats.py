"""Pick the wire format a request speaks and render script items in it (layer L4, no I/O).

Routing (first match wins; ``Turn.format`` / ``ErrorReply.format`` override it), on the
percent-decoded path:

* ``.../v1/messages``: ``_anthropic``;
* ``...:generateContent`` and ``...:streamGenerateContent``: ``_gemini``;
* ``.../responses``: ``_openai_responses``;
* ``.../chat/completions``: ``_xai`` when the body's model starts with ``grok``, else
  ``_openai_chat``.

A format module exports ``matches(path)``, ``render_turn(turn, request) -> Reply`` and
``render_error(error, request) -> Reply``, and optionally ``render_stream_error(error, request)
-> bytes`` (one in-stream error event; a generic ``error`` event is used when it is missing).
``render_turn`` returns a stream as one part per event; this module then applies the Turn's
fault options to those parts (see :func:`render`).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Protocol, Tuple, cast
from urllib.parse import unquote

from steer_sync.testing import _anthropic, _gemini, _openai_chat, _openai_responses, _xai
from steer_sync.testing._script import (
    ErrorReply,
    Item,
    RecordedRequest,
    Reply,
    ScriptItem,
    Turn,
    cut,
    split_offsets,
    sse_event,
)
from steer_sync.testing._structured import request_problem, resolve_json

__all__ = [
    "DEFAULT_STREAM_ERROR",
    "FormatModule",
    "detect_format",
    "format_module",
    "not_found",
    "render",
    "script_error",
    "serves",
]

#: The error ``Turn.error_after`` sends when ``Turn.error`` is ``None``.
DEFAULT_STREAM_ERROR = ErrorReply(status=529, message="Overloaded")


class FormatModule(Protocol):
    """What every ``steer_sync/testing/_<format>.py`` module provides."""

    def matches(self, path: str) -> bool:
        """Tell whether ``path`` (percent-decoded, no query) is this format's endpoint."""

    def render_turn(self, turn: Turn, request: RecordedRequest) -> Reply:
        """Render a turn; a stream comes back as one body part per event."""

    def render_error(self, error: ErrorReply, request: RecordedRequest) -> Reply:
        """Render an HTTP error response."""


_MODULES: Dict[str, FormatModule] = {
    "anthropic": _anthropic,
    "gemini": _gemini,
    "openai_responses": _openai_responses,
    "openai_chat": _openai_chat,
    "xai": _xai,
}


def format_module(name: str) -> FormatModule:
    """Return the module that renders format ``name``.

    :param name: one of ``anthropic``, ``openai_responses``, ``openai_chat``, ``xai``, ``gemini``.
    :returns: the module.
    :raises KeyError: for an unknown name.
    """
    return _MODULES[name]


def detect_format(request: RecordedRequest, forced: Optional[str] = None) -> Optional[str]:
    """Name the wire format of a request.

    :param request: the request.
    :param forced: a format the script insists on (returned unchanged).
    :returns: the format name, or ``None`` if no format serves the path.
    """
    if forced is not None:
        return forced
    path = unquote(request.path)
    for name in ("anthropic", "gemini", "openai_responses"):
        if _MODULES[name].matches(path):
            return name
    if _MODULES["openai_chat"].matches(path):
        model = request.json_dict().get("model")
        return "xai" if isinstance(model, str) and model.lower().startswith("grok") else "openai_chat"
    return None


def serves(item: ScriptItem, request: RecordedRequest) -> bool:
    """Tell whether a queued item should answer this request (and so be taken off the queue).

    A :class:`Reply` or a callable answers anything; a :class:`Turn` or :class:`ErrorReply` only
    a request whose format is known, so a stray request to a wrong path gets a 404 and leaves
    the script intact.

    :param item: the head of the queue.
    :param request: the request.
    :returns: whether to use ``item``.
    """
    if isinstance(item, (Turn, ErrorReply)):
        return detect_format(request, item.format) is not None
    return True


def _error_body(status: int, error_type: str, message: str, **extra: str) -> Reply:
    return Reply.from_json({"error": {"type": error_type, "message": message, **extra}}, status=status)


def not_found(request: RecordedRequest) -> Reply:
    """Build the 404 for a path no wire format serves.

    :param request: the request.
    :returns: a JSON 404 naming the method and path.
    """
    message = f"steer_sync loopback server: no wire format serves {request.method} {request.path}"
    return _error_body(404, "not_found_error", message, path=request.path)


def script_error(error: BaseException) -> Reply:
    """Build the 500 sent when rendering a script item failed.

    :param error: the exception raised while rendering.
    :returns: a JSON 500 describing the failure.
    """
    message = f"steer_sync loopback server: script error: {type(error).__name__}: {error}"
    return _error_body(500, "loopback_script_error", message)


def render(item: Item, request: RecordedRequest) -> Reply:
    """Turn a script item into the reply for ``request``.

    A :class:`Reply` is returned unchanged. An :class:`ErrorReply` goes through the format's
    ``render_error``. A :class:`Turn` goes through ``render_turn``, then its faults are applied
    to the parts (one part per SSE event for streams, one part for a JSON body):

    1. ``error_after=N``: a stream keeps its first ``N`` events and ends with the format's
       in-stream error event for ``error``; a non-stream request gets ``render_error(error)``;
    2. ``split``: the bytes are re-cut at the offsets (or at random with ``seed``), with extra
       cuts where ``stall_after`` / ``drop_after`` point so those stay on event boundaries;
    3. ``stall_after`` / ``drop_after`` (in events) become part counts; ``delay`` and ``headers``
       are copied to the reply.

    :param item: the script item (callables are resolved by the caller).
    :param request: the request.
    :returns: the reply to write.
    :raises Exception: whatever a format module raises (the server turns it into a 500).
    """
    if isinstance(item, Reply):
        return item
    name = detect_format(request, item.format)
    if name is None:
        return not_found(request)
    module = _MODULES[name]
    if isinstance(item, ErrorReply):
        return module.render_error(item, request)
    # Like the real API, refuse malformed structured-output / tool-choice fields with a 400.
    problem = request_problem(name, request)
    if problem is not None:
        return module.render_error(ErrorReply(400, problem), request)
    item = resolve_json(item, name, request)
    reply = module.render_turn(item, request)
    parts = reply.body_parts()
    is_stream = not isinstance(reply.body, bytes)
    if item.error_after is not None:
        error = item.error or DEFAULT_STREAM_ERROR
        if is_stream:
            parts = [*parts[: item.error_after], _stream_error(module, error, request)]
        else:
            reply = module.render_error(error, request)
            parts = reply.body_parts()
    return _apply_faults(item, reply, parts)


def _stream_error(module: FormatModule, error: ErrorReply, request: RecordedRequest) -> bytes:
    renderer = cast(
        Optional[Callable[[ErrorReply, RecordedRequest], bytes]], getattr(module, "render_stream_error", None)
    )
    if renderer is not None:
        return renderer(error, request)
    return sse_event(
        {"type": "error", "error": {"type": error.error_type or "error", "message": error.message}}, "error"
    )


def _apply_faults(turn: Turn, reply: Reply, parts: List[bytes]) -> Reply:
    stall, drop = turn.stall_after, turn.drop_after
    if turn.split is not None:
        parts, (stall, drop) = _resplit(parts, turn, (stall, drop))
    return Reply(
        status=reply.status,
        headers=(*reply.headers, *turn.headers),
        body=tuple(parts),
        chunked=reply.is_chunked(),
        delay=turn.delay if turn.delay else reply.delay,
        stall_after=stall if stall is not None else reply.stall_after,
        drop_after=drop if drop is not None else reply.drop_after,
        reason=reply.reason,
    )


def _resplit(
    parts: List[bytes], turn: Turn, counts: Tuple[Optional[int], Optional[int]]
) -> Tuple[List[bytes], Tuple[Optional[int], Optional[int]]]:
    """Re-cut ``parts`` per ``turn.split`` and translate event counts into new part counts."""
    data = b"".join(parts)
    ends = [0]
    for part in parts:
        ends.append(ends[-1] + len(part))

    def offset(count: int) -> int:
        return ends[min(count, len(parts))]

    cuts = set(split_offsets(len(data), turn.split, turn.seed))
    for count in counts:
        if count is not None and count >= 0 and 0 < offset(count) < len(data):
            cuts.add(offset(count))
    ordered = sorted(cuts)
    new_parts = cut(data, ordered)

    def translate(count: Optional[int]) -> Optional[int]:
        if count is None or count < 0:
            return count
        where = offset(count)
        if where == 0:
            return 0
        if where == len(data):
            return len(new_parts)
        return ordered.index(where) + 1

    return new_parts, (translate(counts[0]), translate(counts[1]))
