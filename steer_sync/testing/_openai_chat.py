"""OpenAI Chat Completions wire format for the loopback server (layer L4, bytes only).

Renders a :class:`Turn` the way ``POST .../chat/completions`` answers, byte-faithful to the
recordings in the shared wire fixtures:

* a stream is ``data:``-only events (no ``event:`` lines), one part per event: a role opener,
  ``reasoning_content`` deltas for ``Turn.thinking`` (what OpenAI-compatible reasoning servers
  such as DeepSeek or vLLM send), word-sized ``content`` deltas, each tool call as an opener with
  ``index``, ``id``, ``type`` and ``name`` followed by ``ToolCallSpec.chunks`` argument pieces
  (parallel calls by ``index``), a ``finish_reason`` chunk, a final ``choices: []`` usage chunk
  when the request set ``stream_options.include_usage``, and ``data: [DONE]``;
* a non-stream answer is a pretty-printed ``chat.completion`` object;
* an HTTP error is ``{"error": {"message", "type", "param", "code"}}`` with ``x-request-id`` and
  the ``retry-after`` headers; an in-stream error is the same object in a ``data:`` event (what
  OpenAI and OpenRouter send mid-stream);
* :func:`refusal` scripts a refusal (``refusal`` deltas, or ``message.refusal``).

xAI (``_xai.py``) shares these builders with ``xai=True``: its own chunk layout, usage whose
``completion_tokens`` excludes reasoning tokens, and tool calls sent whole in one chunk unless
``chunks`` asks for more.

Usage accounting: ``Turn.usage = (input, output)``; ``output`` includes the reasoning tokens,
which are one per thinking word (at most ``output``). OpenAI reports ``completion_tokens =
output``; xAI reports ``completion_tokens = output - reasoning`` and ``total_tokens = input +
output``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from steer_sync.testing._script import (
    ErrorReply,
    RecordedRequest,
    Reply,
    Turn,
    json_bytes,
    loopback_id,
    request_model,
    sse_event,
    text_deltas,
)

__all__ = [
    "build_turn",
    "matches",
    "refusal",
    "render_error",
    "render_refusal",
    "render_stream_error",
    "render_turn",
]

_DEFAULT_MODEL = "gpt-4o-2024-08-06"
_XAI_DEFAULT_MODEL = "grok-3-mini"
_CREATED = 1727346168
_FINGERPRINT = "fp_5050236cbd"
_XAI_FINGERPRINT = "fp_2a885414fb"

#: ``(error.type, error.code)`` the API sends per HTTP status.
_ERRORS: Dict[int, Tuple[str, Optional[str]]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout_error", None),
    409: ("invalid_request_error", "conflict"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def matches(path: str) -> bool:
    """Tell whether a request path is the Chat Completions endpoint.

    :param path: the request path (percent-decoded, no query).
    :returns: ``True`` for a path ending in ``/chat/completions``.
    """
    return path.rstrip("/").endswith("/chat/completions")


def _reasoning_tokens(turn: Turn) -> int:
    if not turn.thinking:
        return 0
    return min(turn.output_tokens, len(text_deltas(turn.thinking)))


def _usage(turn: Turn, xai: bool) -> Dict[str, Any]:
    reasoning = _reasoning_tokens(turn)
    completion = turn.output_tokens - reasoning if xai else turn.output_tokens
    usage: Dict[str, Any] = {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": completion,
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }
    if xai:
        usage["prompt_tokens_details"] = {
            "text_tokens": turn.input_tokens,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": 0,
        }
    else:
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": reasoning,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    if xai:
        usage["num_sources_used"] = 0
    return usage


class _Ids:
    """The ids and names one rendered answer uses."""

    def __init__(self, turn: Turn, request: RecordedRequest, xai: bool) -> None:
        self.xai = xai
        self.model = request_model(request, turn.model, _XAI_DEFAULT_MODEL if xai else _DEFAULT_MODEL)
        if xai:
            raw = loopback_id("", request, 32)
            self.completion_id = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
        else:
            self.completion_id = loopback_id("chatcmpl-", request, 29)
        # xAI ids are UUIDs, OpenAI ids "req_" and 32 hex digits.
        request_id = self.completion_id if xai else loopback_id("req_", request, 32)
        self.headers: List[Tuple[str, str]] = [("x-request-id", request_id)]

    def chunk(self, choices: List[Dict[str, Any]], usage: Optional[Dict[str, Any]] = None) -> bytes:
        obj: Dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": self.model,
        }
        if not self.xai:
            obj["system_fingerprint"] = _FINGERPRINT
        obj["choices"] = choices
        if usage is not None:
            obj["usage"] = usage
        if self.xai:
            obj["system_fingerprint"] = _XAI_FINGERPRINT
        return sse_event(obj)

    def delta(self, delta: Dict[str, Any], finish: Optional[str] = None) -> bytes:
        if self.xai:
            choice: Dict[str, Any] = {"index": 0, "delta": delta}
            if finish:
                choice["finish_reason"] = finish
        else:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self.chunk([choice])


def _wants_usage(request: RecordedRequest) -> bool:
    options = request.json_dict().get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _is_stream(request: RecordedRequest) -> bool:
    return request.json_dict().get("stream") is True


def _stream_reply(ids: _Ids, events: List[bytes]) -> Reply:
    content_type = "text/event-stream" if ids.xai else "text/event-stream; charset=utf-8"
    return Reply(status=200, headers=[("content-type", content_type), *ids.headers], body=events)


def _json_reply(ids: _Ids, completion: Dict[str, Any]) -> Reply:
    body = json_bytes(completion) if ids.xai else json_bytes(completion, indent=2)
    return Reply(status=200, headers=[("content-type", "application/json"), *ids.headers], body=body)


def _completion(ids: _Ids, message: Dict[str, Any], finish: str, usage: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    choice: Dict[str, Any] = {"index": 0, "message": message}
    if not ids.xai:
        choice["logprobs"] = None
    choice["finish_reason"] = finish
    completion: Dict[str, Any] = {
        "id": ids.completion_id,
        "object": "chat.completion",
        "created": _CREATED,
        "model": ids.model,
        "choices": [choice],
    }
    if usage is not None:
        completion["usage"] = usage
    if not ids.xai:
        completion["service_tier"] = "default"
    completion["system_fingerprint"] = _XAI_FINGERPRINT if ids.xai else _FINGERPRINT
    return completion


def _tool_call_events(ids: _Ids, turn: Turn) -> List[bytes]:
    events: List[bytes] = []
    for index, call in enumerate(turn.tool_calls):
        pieces = call.argument_chunks()
        if ids.xai and call.chunks == 1:
            # xAI sends a whole call in one chunk.
            whole = {"id": call.id, "function": {"name": call.name, "arguments": call.arguments_json()}}
            events.append(ids.delta({"tool_calls": [{**whole, "index": index, "type": "function"}]}))
            continue
        opener_args = pieces[0] if ids.xai else ""
        rest = pieces[1:] if ids.xai else pieces
        opener = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": opener_args},
        }
        events.append(ids.delta({"tool_calls": [opener]}))
        for piece in rest:
            events.append(ids.delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    return events


def build_turn(turn: Turn, request: RecordedRequest, *, xai: bool) -> Reply:
    """Render a turn in the Chat Completions shape shared by OpenAI and xAI.

    :param turn: the scripted answer (``thinking_signature`` and ``redacted_thinking`` have no
        Chat Completions form and are ignored).
    :param request: the request being answered.
    :param xai: use xAI's layout (uuid ids, no ``logprobs``, compact bodies, whole tool calls).
    :returns: a chunked ``data:`` stream (one part per event) or a ``chat.completion`` object.
    """
    ids = _Ids(turn, request, xai)
    finish = turn.stop_reason or ("tool_calls" if turn.tool_calls else "stop")
    usage = _usage(turn, xai) if turn.usage is not None else None

    if not _is_stream(request):
        message: Dict[str, Any] = {
            "role": "assistant",
            "content": turn.text if turn.text or not turn.tool_calls else None,
        }
        if turn.thinking:
            message["reasoning_content"] = turn.thinking
        if turn.tool_calls:
            message["tool_calls"] = [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json()}}
                for call in turn.tool_calls
            ]
        if not xai:
            message.update(refusal=None, annotations=[])
        return _json_reply(ids, _completion(ids, message, finish, usage))

    events: List[bytes] = []
    role_sent = False
    if not xai:
        opener: Dict[str, Any] = {"role": "assistant", "content": "" if turn.text else None}
        if turn.text:
            opener["refusal"] = None
        events.append(ids.delta(opener))
        role_sent = True
    for piece in text_deltas(turn.thinking):
        delta: Dict[str, Any] = {"reasoning_content": piece}
        if not role_sent:
            delta["role"] = "assistant"
            role_sent = True
        events.append(ids.delta(delta))
    for piece in text_deltas(turn.text):
        delta = {"content": piece}
        if not role_sent:
            delta["role"] = "assistant"
            role_sent = True
        events.append(ids.delta(delta))
    events.extend(_tool_call_events(ids, turn))
    events.append(ids.delta({}, finish))
    if usage is not None and _wants_usage(request):
        events.append(ids.chunk([], usage))
    events.append(sse_event("[DONE]"))
    return _stream_reply(ids, events)


def render_turn(turn: Turn, request: RecordedRequest) -> Reply:
    """Render a turn as an OpenAI Chat Completions response.

    :param turn: the scripted answer.
    :param request: the request being answered.
    :returns: a chunked ``data:`` stream or a ``chat.completion`` JSON object.
    """
    return build_turn(turn, request, xai=False)


def render_refusal(
    text: str, request: RecordedRequest, *, usage: Optional[Tuple[int, int]] = (10, 5), xai: bool = False
) -> Reply:
    """Render a refusal: ``refusal`` deltas in a stream, ``message.refusal`` otherwise.

    :param text: the refusal text.
    :param request: the request being answered.
    :param usage: ``(input, output)`` tokens, or ``None`` for no usage.
    :param xai: render in xAI's layout.
    :returns: the reply.
    """
    turn = Turn(usage=usage)
    ids = _Ids(turn, request, xai)
    usage_obj = _usage(turn, xai) if usage is not None else None
    if not _is_stream(request):
        message: Dict[str, Any] = {"role": "assistant", "content": None, "refusal": text, "annotations": []}
        return _json_reply(ids, _completion(ids, message, "stop", usage_obj))
    events = [ids.delta({"role": "assistant", "content": None, "refusal": ""})]
    events.extend(ids.delta({"refusal": piece}) for piece in text_deltas(text))
    events.append(ids.delta({}, "stop"))
    if usage_obj is not None and _wants_usage(request):
        events.append(ids.chunk([], usage_obj))
    events.append(sse_event("[DONE]"))
    return _stream_reply(ids, events)


def refusal(
    text: str, *, usage: Optional[Tuple[int, int]] = (10, 5), xai: bool = False
) -> Callable[[RecordedRequest], Reply]:
    """Make a queue item that answers with a refusal (streaming or not, per the request).

    Usage::

        server.queue(refusal("I can't help with that."))

    :param text: the refusal text.
    :param usage: ``(input, output)`` tokens, or ``None``.
    :param xai: render in xAI's layout.
    :returns: a callable queue item.
    """

    def item(request: RecordedRequest) -> Reply:
        return render_refusal(text, request, usage=usage, xai=xai)

    return item


def _error_object(error: ErrorReply) -> Dict[str, Any]:
    default_type, default_code = _ERRORS.get(
        error.status, ("server_error" if error.status >= 500 else "invalid_request_error", None)
    )
    return {
        "message": error.message,
        "type": error.error_type or default_type,
        "param": None,
        "code": error.code or default_code,
    }


def render_error(error: ErrorReply, request: RecordedRequest) -> Reply:
    """Render an HTTP error: ``{"error": {"message", "type", "param", "code"}}``.

    :param error: the scripted error.
    :param request: the request being answered.
    :returns: a JSON reply with the error's status, ``x-request-id`` and retry headers.
    """
    headers: List[Tuple[str, str]] = [
        ("content-type", "application/json; charset=utf-8"),
        ("x-request-id", loopback_id("req_", request, 32)),
        *error.retry_headers(),
    ]
    body = json_bytes({"error": _error_object(error)}, indent=4)
    return Reply(status=error.status, headers=[*headers, *error.headers], body=body)


def render_stream_error(error: ErrorReply, request: RecordedRequest) -> bytes:
    """Render an in-stream error: a ``data:`` event holding ``{"error": {...}}``.

    Chat Completions has no error event; OpenAI and compatible servers (OpenRouter, vLLM)
    send an error object in an ordinary ``data:`` line and then stop.

    :param error: the scripted error.
    :param request: the request being answered.
    :returns: one encoded SSE event.
    """
    return sse_event({"error": _error_object(error)})
