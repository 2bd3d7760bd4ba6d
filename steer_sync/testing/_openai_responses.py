"""OpenAI Responses wire format for the loopback server (layer L4, bytes only).

Renders a :class:`~steer_sync.testing.Turn` answering ``POST .../responses`` the way the real API
does (compare the recordings in the shared wire fixtures): a JSON response object, or an event
stream with ``event:`` names, ``sequence_number`` and the full ``response.created`` ...
``response.completed`` sequence.

How the Turn's fields map:

* ``thinking``: a reasoning item whose summary parts are the paragraphs of the text (split at
  blank lines, so a client joining parts with ``"\\n\\n"`` gets the text back), streamed as
  ``response.reasoning_summary_*`` events; ``thinking_signature`` (or ``redacted_thinking``)
  becomes its ``encrypted_content``. A signature alone gives a reasoning item with an empty
  summary, as ``store: false`` requests without summaries get.
* ``text``: a ``message`` item streamed as ``response.output_text.delta`` events.
* ``tool_calls``: one ``function_call`` item each (ids ``fc_...``, ``call_id`` = the spec's id),
  in order, with the arguments streamed in ``ToolCallSpec.chunks`` deltas.
* ``stop_reason="max_output_tokens"`` or ``"content_filter"``: the response ends
  ``incomplete`` (``response.incomplete`` with ``incomplete_details.reason``).
* ``usage``: ``input_tokens``/``output_tokens``; ``None`` sends ``"usage": null``.

Errors: :func:`render_error` writes OpenAI's ``{"error": {"message", "type", "param", "code"}}``
body with ``x-request-id``, ``retry-after``/``retry-after-ms`` and, for 429, the rate-limit
headers; add ``x-should-retry`` through ``ErrorReply.headers``. In a stream
(:func:`render_stream_error`), an ``ErrorReply`` with a 5xx status, or with
``error_type="response.failed"``, becomes a ``response.failed`` event whose ``error.code`` is
``ErrorReply.code`` (default ``server_error``); any other becomes an ``error`` event with
``code`` (default per status, e.g. ``rate_limit_exceeded`` for 429).
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

_DEFAULT_MODEL = "gpt-4.1-2025-04-14"
_CREATED_AT = 1746812437
_INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")
_STREAM_CONTENT_TYPE = "text/event-stream; charset=utf-8"

#: ``(error.type, error.code)`` the API sends per HTTP status.
_ERRORS: Dict[int, Tuple[str, Optional[str]]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_RESPONSE_FAILED = frozenset({"response.failed", "response_failed"})


def matches(path: str) -> bool:
    """Tell whether a request path is the Responses endpoint.

    :param path: the request path (percent-decoded, no query).
    :returns: ``True`` for a path ending in ``/responses``.
    """
    return path.rstrip("/").endswith("/responses")


def _usage(turn: Turn) -> Optional[Dict[str, Any]]:
    if turn.usage is None:
        return None
    return {
        "input_tokens": turn.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": turn.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }


def _response(
    request: RecordedRequest,
    model: str,
    status: str,
    output: List[Dict[str, Any]],
    usage: Optional[Dict[str, Any]],
    incomplete_reason: Optional[str] = None,
    error: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    body = request.json_dict()
    requested = body.get("reasoning")
    reasoning: Dict[str, Any] = requested if isinstance(requested, dict) else {}
    return {
        "id": loopback_id("resp_", request, 48),
        "object": "response",
        "created_at": _CREATED_AT,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": bool(body.get("store", True)),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") if isinstance(body.get("tools"), list) else [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _summary_parts(thinking: str) -> List[str]:
    return [part for part in thinking.split("\n\n") if part]


def _reasoning_item(turn: Turn, request: RecordedRequest) -> Optional[Dict[str, Any]]:
    encrypted = turn.thinking_signature or turn.redacted_thinking
    if not turn.thinking and encrypted is None:
        return None
    item: Dict[str, Any] = {"id": loopback_id("rs_", request, 48), "type": "reasoning"}
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    item["summary"] = [{"type": "summary_text", "text": part} for part in _summary_parts(turn.thinking)]
    return item


def _message_item(turn: Turn, request: RecordedRequest, status: str) -> Optional[Dict[str, Any]]:
    if not turn.text:
        return None
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": turn.text}
    return {
        "id": loopback_id("msg_", request, 48),
        "type": "message",
        "status": status,
        "content": [part],
        "role": "assistant",
    }


def _call_item(spec: ToolCallSpec, index: int, request: RecordedRequest) -> Dict[str, Any]:
    return {
        "id": loopback_id(f"fc_{index}_", request, 46),
        "type": "function_call",
        "status": "completed",
        "arguments": spec.arguments_json(),
        "call_id": spec.id,
        "name": spec.name,
    }


def _output(turn: Turn, request: RecordedRequest, status: str) -> List[Dict[str, Any]]:
    items = [_reasoning_item(turn, request), _message_item(turn, request, status)]
    output = [item for item in items if item is not None]
    output.extend(_call_item(spec, i, request) for i, spec in enumerate(turn.tool_calls))
    return output


def render_turn(turn: Turn, request: RecordedRequest) -> Reply:
    """Render a turn as a Responses response: an SSE stream when the body says ``"stream": true``.

    :param turn: the scripted answer.
    :param request: the request being answered.
    :returns: a chunked event stream (one part per event) or a pretty-printed JSON response.
    """
    model = request_model(request, turn.model, _DEFAULT_MODEL)
    incomplete = turn.stop_reason if turn.stop_reason in _INCOMPLETE_REASONS else None
    status = "incomplete" if incomplete else "completed"
    output = _output(turn, request, status)
    headers: List[Tuple[str, str]] = [
        ("openai-processing-ms", "27"),
        ("openai-version", "2020-10-01"),
        ("x-request-id", loopback_id("req_", request, 32)),
    ]
    final = _response(request, model, status, output, _usage(turn), incomplete)
    if request.json_dict().get("stream") is not True:
        return Reply(
            status=200, headers=[("content-type", "application/json"), *headers], body=json_bytes(final, indent=2)
        )
    events = _Events()
    in_progress = _response(request, model, "in_progress", [], None)
    events.emit("response.created", response=in_progress)
    events.emit("response.in_progress", response=in_progress)
    first_call = len(output) - len(turn.tool_calls)
    for index, item in enumerate(output):
        if item["type"] == "reasoning":
            _stream_reasoning(events, index, item)
        elif item["type"] == "message":
            _stream_message(events, index, item)
        else:
            _stream_call(events, index, item, turn.tool_calls[index - first_call])
    events.emit("response.incomplete" if incomplete else "response.completed", response=final)
    return Reply(status=200, headers=[("content-type", _STREAM_CONTENT_TYPE), *headers], body=events.parts)


class _Events:
    """Accumulates encoded events, numbering them like the API does."""

    def __init__(self) -> None:
        self.parts: List[bytes] = []

    def emit(self, event_type: str, **fields: Any) -> None:
        payload = {"type": event_type, "sequence_number": len(self.parts), **fields}
        self.parts.append(sse_event(payload, event_type))


def _stream_reasoning(events: _Events, index: int, item: Dict[str, Any]) -> None:
    item_id = item["id"]
    events.emit("response.output_item.added", output_index=index, item={**item, "summary": []})
    for k, summary in enumerate(item["summary"]):
        where = {"item_id": item_id, "output_index": index, "summary_index": k}
        events.emit("response.reasoning_summary_part.added", **where, part={"type": "summary_text", "text": ""})
        for piece in text_deltas(summary["text"]):
            events.emit("response.reasoning_summary_text.delta", **where, delta=piece)
        events.emit("response.reasoning_summary_text.done", **where, text=summary["text"])
        events.emit("response.reasoning_summary_part.done", **where, part=summary)
    events.emit("response.output_item.done", output_index=index, item=item)


def _stream_message(events: _Events, index: int, item: Dict[str, Any]) -> None:
    item_id = item["id"]
    part = item["content"][0]
    added = {**item, "status": "in_progress", "content": []}
    events.emit("response.output_item.added", output_index=index, item=added)
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    events.emit("response.content_part.added", **where, part={**part, "text": ""})
    for piece in text_deltas(part["text"]):
        events.emit("response.output_text.delta", **where, delta=piece, logprobs=[])
    events.emit("response.output_text.done", **where, text=part["text"], logprobs=[])
    events.emit("response.content_part.done", **where, part=part)
    events.emit("response.output_item.done", output_index=index, item=item)


def _stream_call(events: _Events, index: int, item: Dict[str, Any], spec: ToolCallSpec) -> None:
    added = {**item, "status": "in_progress", "arguments": ""}
    events.emit("response.output_item.added", output_index=index, item=added)
    where = {"item_id": item["id"], "output_index": index}
    for piece in spec.argument_chunks():
        if piece:
            events.emit("response.function_call_arguments.delta", **where, delta=piece)
    events.emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
    events.emit("response.output_item.done", output_index=index, item=item)


def _error_fields(error: ErrorReply) -> Tuple[str, Optional[str]]:
    default_type, default_code = _ERRORS.get(
        error.status, ("server_error" if error.status >= 500 else "invalid_request_error", None)
    )
    error_type = error.error_type if error.error_type and error.error_type not in _RESPONSE_FAILED else default_type
    return error_type, error.code or default_code


def render_error(error: ErrorReply, request: RecordedRequest) -> Reply:
    """Render an HTTP error: ``{"error": {"message", "type", "param", "code"}}``, pretty-printed.

    :param error: the scripted error.
    :param request: the request being answered.
    :returns: a JSON reply with the error's status, request id and retry headers.
    """
    error_type, code = _error_fields(error)
    body = {"error": {"message": error.message, "type": error_type, "param": None, "code": code}}
    headers = [
        ("content-type", "application/json"),
        ("openai-processing-ms", "43"),
        ("openai-version", "2020-10-01"),
        ("x-request-id", loopback_id("req_", request, 32)),
    ]
    if error.status == 429:
        headers += [
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", f"{error.retry_after or 1:g}s"),
        ]
    headers += error.retry_headers()
    return Reply(status=error.status, headers=[*headers, *error.headers], body=json_bytes(body, indent=2))


def render_stream_error(error: ErrorReply, request: RecordedRequest) -> bytes:
    """Render an in-stream failure: a ``response.failed`` event or an ``error`` event.

    :param error: the scripted error (5xx or ``error_type="response.failed"``: ``response.failed``).
    :param request: the request being answered.
    :returns: one encoded SSE event.
    """
    if error.error_type in _RESPONSE_FAILED or (error.error_type is None and error.status >= 500):
        failure = {"code": error.code or "server_error", "message": error.message}
        model = request_model(request, None, _DEFAULT_MODEL)
        response = _response(request, model, "failed", [], None, error=failure)
        return sse_event({"type": "response.failed", "response": response}, "response.failed")
    error_type, code = _error_fields(error)
    payload = {"type": "error", "code": code or error_type, "message": error.message, "param": None}
    return sse_event(payload, "error")
