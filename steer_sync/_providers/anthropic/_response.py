"""Anthropic Messages API: a response body or error body -> steer_sync values; pure (layer L2)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from steer_sync._errors import (
    ResponseParsingError,
)
from steer_sync._providers.anthropic._request import _log
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    DataUrlSource,
    ImageContent,
    RedactedThought,
    SignedThought,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
)


def _describe_error(status: int, body: bytes) -> Optional[str]:
    """Turn an Anthropic error body into ``"{type}: {message} (request id: ...)"`` (A10).

    :param status: the HTTP status (unused: the body says more).
    :param body: the raw response body.
    :returns: the description, or ``None`` when the body is not Anthropic-shaped.
    """
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("error"), dict):
        return None
    error = parsed["error"]
    error_type = error.get("type") if isinstance(error.get("type"), str) else ""
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    if not error_type and not message:
        return None
    text = f"{error_type}: {message}" if error_type and message else (message or error_type)
    request_id = parsed.get("request_id")
    if isinstance(request_id, str) and request_id:
        text += f" (request id: {request_id})"
    return text


# --- response parsing -------------------------------------------------------------------


def _count(value: Any) -> Optional[int]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(value, 0)


def _map_usage(fields: Mapping[str, Any]) -> TokenUsage:
    """Map Anthropic usage fields to TokenUsage (input includes cached tokens, see A2).

    :param fields: ``input_tokens``, ``output_tokens``, optional cache counts and total.
    """
    uncached = _count(fields.get("input_tokens")) or 0
    cache_read = _count(fields.get("cache_read_input_tokens")) or 0
    cache_creation = _count(fields.get("cache_creation_input_tokens")) or 0
    output = _count(fields.get("output_tokens")) or 0
    input_tokens = uncached + cache_read + cache_creation
    total = _count(fields.get("total_tokens"))
    return TokenUsage(
        input_tokens,
        output,
        total if total is not None else input_tokens + output,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
    )


def _preview(value: Any) -> str:
    # Uncut: the key may be in it, and a cut here would leave a part the redactor cannot
    # recognise; the provider shell redacts the whole message, then cuts it (redact_error).
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _string_field(block: Mapping[str, Any], name: str, provider: str) -> str:
    value = block.get(name)
    if not isinstance(value, str):
        raise ResponseParsingError(
            provider, f"Error: {block.get('type')} block has no string field {name!r}, Body: {_preview(block)}"
        )
    return value


def _content_from_wire(block: Any, provider: str) -> Optional[AssistantContent]:
    if not isinstance(block, dict):
        raise ResponseParsingError(provider, f"Error: content block is not an object, Body: {_preview(block)}")
    kind = block.get("type")
    if kind == "text":
        return TextContent(_string_field(block, "text", provider))
    if kind == "tool_use":
        call = ToolCall(
            _string_field(block, "id", provider), _string_field(block, "name", provider), block.get("input", {})
        )
        return ToolCallContent(call)
    if kind == "thinking":
        return SignedThought(_string_field(block, "thinking", provider), _string_field(block, "signature", provider))
    if kind == "redacted_thinking":
        return RedactedThought(_string_field(block, "data", provider))
    if kind == "image":
        source = block.get("source")
        if (
            isinstance(source, dict)
            and isinstance(source.get("media_type"), str)
            and isinstance(source.get("data"), str)
        ):
            media_type = source["media_type"]
            return ImageContent(media_type, DataUrlSource(f"data:{media_type};base64,{source['data']}"))
        _log.warning("dropping an image block with an unsupported source in an Anthropic response")
        return None
    _log.warning("dropping an unsupported %r content block from an Anthropic response", kind)
    return None


def _parse_response(body: Any, provider: str = "anthropic") -> CompletionResponse:
    """Convert a non-streaming Messages response (spec 1.8 with A2, A3).

    :param body: the decoded JSON body.
    :param provider: the provider id used in errors.
    :raises ResponseParsingError: if the body is not a message with a content list.
    """
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise ResponseParsingError(provider, f"Error: expected a message with a content list, Body: {_preview(body)}")
    content = [c for c in (_content_from_wire(b, provider) for b in body["content"]) if c is not None]
    usage = body.get("usage")
    stop_reason = body.get("stop_reason") if isinstance(body.get("stop_reason"), str) else None
    if stop_reason == "max_tokens":
        _log.info("Anthropic response stopped at max_tokens; the answer is truncated")
    return CompletionResponse(tuple(content), _map_usage(usage) if isinstance(usage, dict) else None, stop_reason)
