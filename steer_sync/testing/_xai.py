"""xAI (Grok) Chat Completions wire format for the loopback server (layer L4, bytes only).

xAI speaks Chat Completions (the builders live in ``_openai_chat``) with its own layout,
byte-faithful to the recorded grok-3-mini streams in the shared wire fixtures: compact JSON,
uuid completion ids, no ``logprobs``, ``role`` on the first delta only, ``reasoning_content``
deltas for ``Turn.thinking``, each tool call whole in one chunk (unless ``ToolCallSpec.chunks``
asks for pieces), a final ``choices: []`` usage chunk whose ``completion_tokens`` excludes the
reasoning tokens, and ``data: [DONE]``.

Its error body is not OpenAI-shaped: ``{"code": "<gRPC status text>", "error": "<message>"}``;
a wrong API key is a **400** whose ``error`` says ``Incorrect API key provided`` (script it as
``ErrorReply(400, "Incorrect API key provided: xa***ey.")``). In a stream the same object is
sent in a ``data:`` event.

The dispatcher picks this module for ``/chat/completions`` when the request's model starts
with ``grok`` or the script says ``format="xai"``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from steer_sync.testing import _openai_chat
from steer_sync.testing._script import ErrorReply, RecordedRequest, Reply, Turn, json_bytes, loopback_id, sse_event

__all__ = ["matches", "refusal", "render_error", "render_stream_error", "render_turn"]

#: The gRPC status descriptions xAI puts in ``code``, per HTTP status.
_CODES = {
    400: "Client specified an invalid argument",
    401: "The request does not have valid authentication credentials for the operation",
    403: "The caller does not have permission to execute the specified operation",
    404: "Some requested entity was not found",
    408: "The deadline expired before the operation could complete",
    409: "The operation was aborted",
    429: "Some resource has been exhausted",
    500: "Internal error",
    503: "The service is currently unavailable",
    504: "The deadline expired before the operation could complete",
}


def matches(path: str) -> bool:
    """Tell whether a request path is the (xAI) Chat Completions endpoint.

    :param path: the request path (percent-decoded, no query).
    :returns: ``True`` for a path ending in ``/chat/completions``.
    """
    return _openai_chat.matches(path)


def render_turn(turn: Turn, request: RecordedRequest) -> Reply:
    """Render a turn as an xAI Chat Completions response.

    :param turn: the scripted answer.
    :param request: the request being answered.
    :returns: a chunked ``data:`` stream (one part per event) or a ``chat.completion`` object.
    """
    return _openai_chat.build_turn(turn, request, xai=True)


def refusal(text: str, *, usage: Optional[Tuple[int, int]] = (10, 5)) -> Callable[[RecordedRequest], Reply]:
    """Make a queue item that answers with a refusal in xAI's layout.

    :param text: the refusal text.
    :param usage: ``(input, output)`` tokens, or ``None``.
    :returns: a callable queue item.
    """
    return _openai_chat.refusal(text, usage=usage, xai=True)


def _error_object(error: ErrorReply) -> Dict[str, Any]:
    code = (
        error.error_type or _CODES.get(error.status) or ("Internal error" if error.status >= 500 else "Unknown error")
    )
    return {"code": code, "error": error.message}


def render_error(error: ErrorReply, request: RecordedRequest) -> Reply:
    """Render an HTTP error: ``{"code": ..., "error": ...}``.

    :param error: the scripted error (``error_type`` overrides the ``code`` text).
    :param request: the request being answered.
    :returns: a JSON reply with the error's status, ``x-request-id`` (a UUID, as on success)
        and retry headers.
    """
    raw = loopback_id("", request, 32)
    request_id = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
    headers: List[Tuple[str, str]] = [
        ("content-type", "application/json"),
        ("x-request-id", request_id),
        *error.retry_headers(),
        *error.headers,
    ]
    return Reply(status=error.status, headers=headers, body=json_bytes(_error_object(error)))


def render_stream_error(error: ErrorReply, request: RecordedRequest) -> bytes:
    """Render an in-stream error: a ``data:`` event holding xAI's error object.

    :param error: the scripted error.
    :param request: the request being answered.
    :returns: one encoded SSE event.
    """
    return sse_event(_error_object(error))
