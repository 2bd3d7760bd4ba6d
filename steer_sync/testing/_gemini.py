"""Google Gemini generateContent wire format for the loopback server (layer L4, bytes only).

Answers ``POST .../models/{model}:generateContent`` with one JSON object (pretty-printed, as the
service does) and ``...:streamGenerateContent`` with, for ``alt=sse``, ``data:`` events with
CRLF line endings and ``", "``/``": "`` spacing like the real service (without ``alt=sse``: one
JSON array, element by element). What a :class:`Turn` becomes:

* ``thinking``: ``{"text": ..., "thought": true}`` parts, one per word-sized piece when
  streaming; ``thinking_signature`` goes on the first part after the thoughts (the first text
  piece, else the first function call), as Gemini 2.5 and 3 do, or on a trailing
  ``{"text": ""}`` part when nothing follows (Gemini 3's closing chunk). The real API sends
  signatures as base64 (google-genai decodes them to ``bytes`` and fails on anything else),
  so a signature that is not valid base64 (``"sig-think"``) is sent base64-encoded
  (``"c2lnLXRoaW5r"``); a valid one (``"c2ln"``) is sent unchanged;
* ``text``: ``{"text": ...}`` parts, one per word-sized piece when streaming;
* ``tool_calls``: whole ``functionCall`` parts (Gemini never streams arguments), all in one
  chunk; ``ToolCallSpec.id`` is sent as ``functionCall.id`` unless it is ``""`` (the real
  Gemini API usually sends no id: script ``id=""`` to reproduce that); string arguments are
  parsed as JSON (sent as the raw string if they are not JSON);
* ``usage=(input, output)``: ``usageMetadata`` with ``promptTokenCount`` = input,
  ``totalTokenCount`` = input + output, and output split into ``thoughtsTokenCount`` (one per
  thinking piece, at most output) and ``candidatesTokenCount`` (the rest); intermediate stream
  chunks carry only the prompt count, like the service;
* ``stop_reason``: the ``finishReason`` (default ``STOP``, also for function calls); a
  blocking reason (``SAFETY``, ``RECITATION``, ``PROHIBITED_CONTENT``, ``BLOCKLIST``, ``SPII``,
  ...) ends the answer with a candidate that has no content and, for ``SAFETY``, a blocked
  safety rating;
* ``redacted_thinking`` has no Gemini equivalent and is ignored.

An :class:`ErrorReply` becomes Google's error body ``{"error": {"code", "message", "status",
"details"}}``: ``error_type`` is the ``status`` (default from the HTTP status, e.g. 429 ->
``RESOURCE_EXHAUSTED``), ``retry_after`` a ``google.rpc.RetryInfo`` detail (never a header, like
the service), and ``code`` a ``google.rpc.ErrorInfo`` reason (``code="API_KEY_INVALID"`` with
status 400 is how Gemini refuses a wrong key). Inside a stream (``Turn.error_after``) the same
object is sent as a ``data:`` event.

A blocked prompt (``promptFeedback.blockReason``, no candidates) is scripted with
:func:`prompt_blocked`, which answers stream and non-stream requests alike.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import unquote

from steer_sync.testing._script import (
    ErrorReply,
    RecordedRequest,
    Reply,
    ToolCallSpec,
    Turn,
    json_bytes,
    loopback_id,
    sse_event,
    text_deltas,
)

__all__ = ["matches", "prompt_blocked", "render_error", "render_stream_error", "render_turn"]

_DEFAULT_MODEL = "gemini-2.5-flash"
_MODEL_IN_PATH = re.compile(r"/models/([^/:]+):")
#: Gemini's stream chunks put no space after commas but one after colons.
_STREAM_SEPARATORS = (",", ": ")

#: ``error.status`` per HTTP status (google.rpc.Code names).
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: Finish reasons that mean the answer was blocked (the candidate then has no content).
_BLOCKING_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)

_HARM_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)


def matches(path: str) -> bool:
    """Tell whether a request path is a generateContent endpoint.

    :param path: the request path (percent-decoded, no query).
    :returns: ``True`` for ``...:generateContent`` and ``...:streamGenerateContent``.
    """
    return path.endswith(":generateContent") or path.endswith(":streamGenerateContent")


def _is_stream(request: RecordedRequest) -> bool:
    return unquote(request.path).endswith(":streamGenerateContent")


def _model(turn_model: Optional[str], request: RecordedRequest) -> str:
    if turn_model:
        return turn_model
    found = _MODEL_IN_PATH.search(unquote(request.path))
    return found.group(1) if found else _DEFAULT_MODEL


def _safety_ratings(blocked_category: Optional[str]) -> List[Dict[str, Any]]:
    ratings: List[Dict[str, Any]] = []
    for category in _HARM_CATEGORIES:
        if category == blocked_category:
            ratings.append({"category": category, "probability": "HIGH", "blocked": True})
        else:
            ratings.append({"category": category, "probability": "NEGLIGIBLE"})
    return ratings


def _usage(turn: Turn, thought_tokens: int, final: bool) -> Dict[str, Any]:
    prompt_details = [{"modality": "TEXT", "tokenCount": turn.input_tokens}]
    if not final:
        return {
            "promptTokenCount": turn.input_tokens,
            "totalTokenCount": turn.input_tokens,
            "promptTokensDetails": prompt_details,
        }
    usage: Dict[str, Any] = {
        "promptTokenCount": turn.input_tokens,
        "candidatesTokenCount": turn.output_tokens - thought_tokens,
        "totalTokenCount": turn.input_tokens + turn.output_tokens,
        "promptTokensDetails": prompt_details,
    }
    if thought_tokens:
        usage["thoughtsTokenCount"] = thought_tokens
    return usage


def _call_part(spec: ToolCallSpec) -> Dict[str, Any]:
    args: Any = spec.arguments
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass  # sent as the raw string: a malformed call, on purpose
    else:
        args = dict(args)
    call: Dict[str, Any] = {"name": spec.name, "args": args}
    if spec.id:
        call["id"] = spec.id
    return {"functionCall": call}


def _base64_signature(signature: Optional[str]) -> Optional[str]:
    """``signature`` as the real API sends it: base64 (encoded here unless it already is)."""
    if signature is None:
        return None
    try:
        base64.b64decode(signature.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        return base64.b64encode(signature.encode("utf-8")).decode("ascii")
    return signature


def _part_groups(turn: Turn, stream: bool) -> List[List[Dict[str, Any]]]:
    """The answer's parts, grouped one group per stream chunk (one group when not streaming)."""
    groups: List[List[Dict[str, Any]]] = []
    thinking = text_deltas(turn.thinking) if stream else ([turn.thinking] if turn.thinking else [])
    groups.extend([{"text": piece, "thought": True}] for piece in thinking)
    text = text_deltas(turn.text) if stream else ([turn.text] if turn.text else [])
    signature = _base64_signature(turn.thinking_signature)
    for piece in text:
        part: Dict[str, Any] = {"text": piece}
        if signature is not None:
            part["thoughtSignature"] = signature
            signature = None
        groups.append([part])
    if turn.tool_calls:
        calls = [_call_part(spec) for spec in turn.tool_calls]
        if signature is not None:
            calls[0]["thoughtSignature"] = signature
            signature = None
        groups.append(calls)
    if signature is not None:
        groups.append([{"text": "", "thoughtSignature": signature}])
    if not stream:
        return [[part for group in groups for part in group]] if groups else []
    return groups


def _chunks(turn: Turn, request: RecordedRequest, stream: bool) -> List[Dict[str, Any]]:
    model = _model(turn.model, request)
    response_id = loopback_id("", request, 23)
    finish_reason = turn.stop_reason or "STOP"
    blocked = finish_reason in _BLOCKING_FINISH_REASONS
    thought_tokens = min(turn.output_tokens, len(text_deltas(turn.thinking)))
    candidates: List[Dict[str, Any]] = [
        {"content": {"parts": group, "role": "model"}, "index": 0} for group in _part_groups(turn, stream)
    ]
    if blocked:
        final: Dict[str, Any] = {"content": {}, "finishReason": finish_reason, "index": 0}
        if finish_reason == "SAFETY":
            final["safetyRatings"] = _safety_ratings("HARM_CATEGORY_DANGEROUS_CONTENT")
        if stream or not candidates:
            candidates.append(final)
        else:
            # A non-stream answer that was blocked has no content at all.
            candidates = [final]
    elif not candidates:
        candidates.append(
            {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": finish_reason, "index": 0}
        )
    else:
        candidates[-1]["finishReason"] = finish_reason
    chunks: List[Dict[str, Any]] = []
    for number, candidate in enumerate(candidates):
        chunk: Dict[str, Any] = {"candidates": [candidate]}
        if turn.usage is not None:
            chunk["usageMetadata"] = _usage(turn, thought_tokens, final=number == len(candidates) - 1)
        chunk.update(modelVersion=model, responseId=response_id)
        chunks.append(chunk)
    return chunks


def _reply(chunks: List[Dict[str, Any]], request: RecordedRequest) -> Reply:
    if not _is_stream(request):
        return Reply(
            status=200,
            headers=[("content-type", "application/json; charset=UTF-8")],
            body=json_bytes(chunks[0], indent=2) + b"\n",
        )
    if request.query.get("alt") == "sse":
        events = [_event(chunk) for chunk in chunks]
        return Reply(
            status=200,
            headers=[("content-type", "text/event-stream"), ("content-disposition", "attachment")],
            body=events,
        )
    # Without alt=sse the service streams one JSON array, element by element.
    elements = [json_bytes(c, indent=2) for c in chunks]
    parts = [(b"[" if i == 0 else b",\r\n") + e for i, e in enumerate(elements)]
    parts[-1] += b"]"
    return Reply(status=200, headers=[("content-type", "application/json; charset=UTF-8")], body=parts)


def _event(obj: Dict[str, Any]) -> bytes:
    return sse_event(json_bytes(obj, separators=_STREAM_SEPARATORS).decode("utf-8"), line_ending="\r\n")


def render_turn(turn: Turn, request: RecordedRequest) -> Reply:
    """Render a turn as a GenerateContentResponse (or a stream of them).

    :param turn: the scripted answer.
    :param request: the request being answered.
    :returns: a JSON object, a chunked SSE stream (``alt=sse``, one part per event) or a chunked
        JSON array stream (one part per element).
    """
    stream = _is_stream(request)
    return _reply(_chunks(turn, request, stream), request)


def prompt_blocked(
    reason: str = "SAFETY", message: Optional[str] = None, *, usage: Optional[int] = 10
) -> Callable[[RecordedRequest], Reply]:
    """Script a blocked prompt: ``promptFeedback.blockReason`` and no candidates.

    Queue the returned callable; it answers whichever endpoint the request used (a stream
    gets the same object as its only event).

    :param reason: the block reason (``SAFETY``, ``OTHER``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``...).
    :param message: an optional ``blockReasonMessage``.
    :param usage: the prompt token count reported, or ``None`` for no ``usageMetadata``.
    :returns: a script item for :meth:`LoopbackServer.queue`.
    """

    def render(request: RecordedRequest) -> Reply:
        feedback: Dict[str, Any] = {"blockReason": reason}
        if message is not None:
            feedback["blockReasonMessage"] = message
        if reason == "SAFETY":
            feedback["safetyRatings"] = _safety_ratings("HARM_CATEGORY_HARASSMENT")
        body: Dict[str, Any] = {"promptFeedback": feedback}
        if usage is not None:
            body["usageMetadata"] = {"promptTokenCount": usage, "totalTokenCount": usage}
        body.update(modelVersion=_model(None, request), responseId=loopback_id("", request, 23))
        return _reply([body], request)

    return render


def _duration(seconds: float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def _error_object(error: ErrorReply) -> Dict[str, Any]:
    status = error.error_type or _STATUSES.get(error.status) or ("INTERNAL" if error.status >= 500 else "UNKNOWN")
    obj: Dict[str, Any] = {"code": error.status, "message": error.message, "status": status}
    details: List[Dict[str, Any]] = []
    if error.code is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": error.code,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if error.retry_after is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": _duration(error.retry_after)}
        )
    if details:
        obj["details"] = details
    return obj


def render_error(error: ErrorReply, request: RecordedRequest) -> Reply:
    """Render an HTTP error: ``{"error": {"code", "message", "status", "details"?}}``.

    Like the real service, the retry hint goes only into the body (a ``RetryInfo`` detail),
    never into a ``retry-after`` header.

    :param error: the scripted error (``error_type`` overrides ``status``; ``code`` adds an
        ``ErrorInfo`` reason such as ``API_KEY_INVALID``).
    :param request: the request being answered.
    :returns: a JSON reply with the error's status.
    """
    body = json_bytes({"error": _error_object(error)}, indent=2) + b"\n"
    headers = [("content-type", "application/json; charset=UTF-8"), *error.headers]
    return Reply(status=error.status, headers=headers, body=body)


def render_stream_error(error: ErrorReply, request: RecordedRequest) -> bytes:
    """Render an in-stream error: a ``data:`` event holding ``{"error": {...}}`` (CRLF endings).

    :param error: the scripted error.
    :param request: the request being answered.
    :returns: one encoded SSE event (for a stream without ``alt=sse``: one array element).
    """
    obj = {"error": _error_object(error)}
    if request.query.get("alt") != "sse":
        return b",\r\n" + json_bytes(obj, indent=2) + b"]"
    return _event(obj)
