"""Anthropic Messages wire format for the loopback server (layer L4, bytes only).

Renders a :class:`~steer_sync.testing.Turn` as the Messages API answers ``POST .../v1/messages``
(an SSE stream when the request body says ``"stream": true``, else one JSON message), HTTP error
bodies, and the in-stream ``error`` event, in the shapes the real API sends (compare the
recordings in the shared wire fixtures):

* blocks come in the order thinking, redacted thinking, text, tool calls, each opened by
  ``content_block_start`` and closed by ``content_block_stop``, with a ``ping`` after the
  first block opens;
* thinking streams as ``thinking_delta`` pieces followed by one ``signature_delta`` (when
  ``Turn.thinking_signature`` is set); redacted thinking carries its ``data`` in
  ``content_block_start``;
* each tool call streams an empty ``input_json_delta`` first (as the API does), then its
  arguments in ``ToolCallSpec.chunks`` pieces; several tool calls are parallel calls;
* usage goes in ``message_start`` (``output_tokens`` 1) and, final, in ``message_delta``,
  with ``cache_read_input_tokens`` / ``cache_creation_input_tokens``. The real API always
  sends it (the official SDK's stream accumulator fails without it), so ``Turn.usage=None``
  (usage unknown) renders zero counts: ``{"input_tokens": 0, "output_tokens": 0}`` in
  ``message_start`` and the message, ``{"output_tokens": 0}`` in ``message_delta``. Script
  a server that leaves usage out with a raw :class:`Reply`;
* the stop reason defaults to ``tool_use`` when there are tool calls, else ``end_turn``;
* success and error replies carry a ``request-id`` header; errors also carry the format's
  ``{"type": "error", "error": {"type", "message"}, "request_id"}`` body and the
  ``retry-after`` headers of ``ErrorReply.retry_after``.

``Turn.usage`` gives Anthropic's own ``input_tokens`` (the uncached part of the prompt). The
cache counts are not ``Turn`` fields; script them by queueing a callable that renders here::

    from steer_sync.testing import _anthropic

    server.queue(lambda request: _anthropic.render_turn(
        Turn(text="hi", usage=(5, 2)), request, cache_read_input_tokens=100))

Thread-safe: every function is pure.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from steer_sync.testing._script import (
    ErrorReply,
    RecordedRequest,
    Reply,
    ToolCallSpec,
    Turn,
    json_bytes,
    loopback_id,
    request_model,
    sse_event,
    text_deltas,
)

__all__ = ["matches", "render_error", "render_stream_error", "render_turn"]

_DEFAULT_MODEL = "claude-sonnet-4-5-20250929"

#: Anthropic's documented ``error.type`` per HTTP status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def matches(path: str) -> bool:
    """Tell whether a request path is the Messages endpoint.

    :param path: the request path (percent-decoded, no query).
    :returns: ``True`` for ``.../v1/messages``.
    """
    return path.rstrip("/").endswith("/v1/messages")


#: The usage the real API sends when it has nothing to count: it never leaves usage out.
_NO_USAGE: Dict[str, Any] = {"input_tokens": 0, "output_tokens": 0}


def _usage(turn: Turn, output_tokens: int, cache_read: int, cache_creation: int) -> Dict[str, Any]:
    return {
        "input_tokens": turn.input_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
    }


def _blocks(turn: Turn) -> List[Dict[str, Any]]:
    """The answer's content blocks, complete, in the order they are sent.

    A tool_use block keeps its :class:`ToolCallSpec` under the private key ``"_spec"``.
    """
    blocks: List[Dict[str, Any]] = []
    if turn.thinking or turn.thinking_signature is not None:
        blocks.append({"type": "thinking", "thinking": turn.thinking, "signature": turn.thinking_signature or ""})
    if turn.redacted_thinking is not None:
        blocks.append({"type": "redacted_thinking", "data": turn.redacted_thinking})
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    for call in turn.tool_calls:
        arguments = call.arguments if isinstance(call.arguments, str) else dict(call.arguments)
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments, "_spec": call})
    return blocks


def _block_events(index: int, block: Dict[str, Any], turn: Turn) -> List[bytes]:
    """``content_block_start``, the deltas and ``content_block_stop`` of one block."""
    kind = block["type"]
    events: List[bytes] = []

    def start(content_block: Dict[str, Any]) -> None:
        events.append(
            sse_event(
                {"type": "content_block_start", "index": index, "content_block": content_block}, "content_block_start"
            )
        )

    def delta(body: Dict[str, Any]) -> None:
        events.append(sse_event({"type": "content_block_delta", "index": index, "delta": body}, "content_block_delta"))

    if kind == "thinking":
        start({"type": "thinking", "thinking": "", "signature": ""})
        for piece in text_deltas(block["thinking"]):
            delta({"type": "thinking_delta", "thinking": piece})
        if turn.thinking_signature is not None:
            delta({"type": "signature_delta", "signature": turn.thinking_signature})
    elif kind == "redacted_thinking":
        start(block)
    elif kind == "text":
        start({"type": "text", "text": ""})
        for piece in text_deltas(block["text"]):
            delta({"type": "text_delta", "text": piece})
    else:
        call: ToolCallSpec = block["_spec"]
        start({"type": "tool_use", "id": call.id, "name": call.name, "input": {}})
        # The API opens every tool input with an empty fragment.
        delta({"type": "input_json_delta", "partial_json": ""})
        for piece in call.argument_chunks():
            if piece:
                delta({"type": "input_json_delta", "partial_json": piece})
    events.append(sse_event({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return events


def render_turn(
    turn: Turn,
    request: RecordedRequest,
    *,
    cache_read_input_tokens: Optional[int] = None,
    cache_creation_input_tokens: Optional[int] = None,
) -> Reply:
    """Render a turn as a Messages response: an SSE stream when the body says ``"stream": true``.

    :param turn: the scripted answer.
    :param request: the request being answered.
    :param cache_read_input_tokens: prompt tokens reported as read from the cache (default:
        the turn's ``cache_read_input_tokens`` attribute if it has one, else 0).
    :param cache_creation_input_tokens: prompt tokens reported as written to the cache
        (default as above).
    :returns: a chunked event stream (one part per event) or a JSON message.
    """
    cache_read = cache_read_input_tokens
    if cache_read is None:
        cache_read = int(getattr(turn, "cache_read_input_tokens", 0) or 0)
    cache_creation = cache_creation_input_tokens
    if cache_creation is None:
        cache_creation = int(getattr(turn, "cache_creation_input_tokens", 0) or 0)
    message_id = loopback_id("msg_", request)
    model = request_model(request, turn.model, _DEFAULT_MODEL)
    stop_reason = turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn")
    headers: List[Tuple[str, str]] = [("request-id", loopback_id("req_", request))]
    blocks = _blocks(turn)

    if request.json_dict().get("stream") is not True:
        for block in blocks:
            if block.pop("_spec", None) is not None and isinstance(block["input"], str):
                # A raw-string argument is sent verbatim inside the JSON text.
                block["input"] = _RawJson(block["input"])
        message: Dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
        }
        message["usage"] = (
            _usage(turn, turn.output_tokens, cache_read, cache_creation) if turn.usage is not None else _NO_USAGE
        )
        return Reply(status=200, headers=[("content-type", "application/json"), *headers], body=_encode(message))

    start: Dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    start["usage"] = _usage(turn, 1, cache_read, cache_creation) if turn.usage is not None else _NO_USAGE
    events = [sse_event({"type": "message_start", "message": start}, "message_start")]
    # The real API writes its ping with a space after the colon; keep the bytes.
    ping = sse_event('{"type": "ping"}', "ping")
    for index, block in enumerate(blocks):
        block_events = _block_events(index, block, turn)
        if index == 0:
            block_events.insert(1, ping)
        events.extend(block_events)
    if not blocks:
        events.append(ping)
    message_delta: Dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
    }
    message_delta["usage"] = (
        _usage(turn, turn.output_tokens, cache_read, cache_creation) if turn.usage is not None else {"output_tokens": 0}
    )
    events.append(sse_event(message_delta, "message_delta"))
    events.append(sse_event({"type": "message_stop"}, "message_stop"))
    return Reply(
        status=200,
        headers=[("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), *headers],
        body=events,
    )


class _RawJson(str):
    """A tool input given as raw text, spliced into the JSON body unchanged."""


def _encode(message: Dict[str, Any]) -> bytes:
    raws: List[str] = []

    def placeholder(value: Any) -> Any:
        if isinstance(value, _RawJson):
            raws.append(str(value))
            return f"\x00raw{len(raws) - 1}\x00"
        return value

    for block in message["content"]:
        if block["type"] == "tool_use":
            block["input"] = placeholder(block["input"])
    body = json_bytes(message).decode("utf-8")
    for number, raw in enumerate(raws):
        body = body.replace(f'"\\u0000raw{number}\\u0000"', raw)
    return body.encode("utf-8")


def _error_object(error: ErrorReply) -> Dict[str, Any]:
    error_type = (
        error.error_type
        or _ERROR_TYPES.get(error.status)
        or ("api_error" if error.status >= 500 else "invalid_request_error")
    )
    return {"type": error_type, "message": error.message}


def render_error(error: ErrorReply, request: RecordedRequest) -> Reply:
    """Render an HTTP error: ``{"type":"error","error":{"type":...,"message":...},"request_id":...}``.

    :param error: the scripted error (``error_type`` defaults to Anthropic's type for the status).
    :param request: the request being answered.
    :returns: a JSON reply with the error's status, ``request-id`` and retry headers.
    """
    request_id = loopback_id("req_", request)
    body = {"type": "error", "error": _error_object(error), "request_id": request_id}
    headers = [("content-type", "application/json"), ("request-id", request_id), *error.retry_headers()]
    return Reply(status=error.status, headers=[*headers, *error.headers], body=json_bytes(body))


def render_stream_error(error: ErrorReply, request: RecordedRequest) -> bytes:
    """Render the in-stream ``error`` event (what Anthropic sends when it fails mid-stream).

    :param error: the scripted error (its status only picks the default type).
    :param request: the request being answered.
    :returns: one encoded SSE event, e.g. ``event: error`` with
        ``{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}``.
    """
    return sse_event({"type": "error", "error": _error_object(error)}, "error")
