"""OpenAI Responses API: a response or error body -> steer_sync values; pure (layer L2)."""

from __future__ import annotations

import json
import logging
from typing import Any, List, Mapping, Optional, Sequence

from steer_sync._errors import (
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
)
from steer_sync._providers.openai_responses._wire import _NAME, _SIGNATURE_PREFIX, _first_str, _int, _loads, _str
from steer_sync._stream import stream_error_to_api_error
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    SignedThought,
    SimpleThought,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
)

_log = logging.getLogger("steer_sync.providers.openai_responses")
_SUMMARY_SEPARATOR = "\n\n"
_TOOL_ITEM_TYPES = frozenset({"function_call", "custom_tool_call", "mcp_call"})


# --- response ----------------------------------------------------------------------------------


def _parse_usage(raw: Any) -> Optional[TokenUsage]:
    """Read a ``usage`` object leniently (Q10): missing counts are 0, ``None`` stays ``None``."""
    if not isinstance(raw, Mapping):
        return None
    input_tokens = _int(raw, "input_tokens")
    output_tokens = _int(raw, "output_tokens")
    total = _int(raw, "total_tokens") if "total_tokens" in raw else input_tokens + output_tokens
    return TokenUsage(
        input_tokens,
        output_tokens,
        total,
        cache_read_input_tokens=_int(raw.get("input_tokens_details"), "cached_tokens"),
        reasoning_tokens=_int(raw.get("output_tokens_details"), "reasoning_tokens"),
    )


def _parse_args(raw: Any, tool_name: str) -> Any:
    """Tool arguments: blank -> ``{}``, JSON -> its value, invalid JSON -> ``{}`` (logged)."""
    if isinstance(raw, (dict, list)):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        _log.warning("tool %r sent arguments that are not JSON; using {}: %.200s", tool_name, raw)
        return {}


def _summary_text(item: Mapping[str, Any]) -> str:
    texts = [p["text"] for p in item.get("summary") or () if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
    if not any(texts):
        # Raw reasoning text (open-weight models behind gateways) when there is no summary.
        texts = [
            p["text"] for p in item.get("content") or () if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        ]
    return _SUMMARY_SEPARATOR.join(t for t in texts if t)


def _thought(text: str, encrypted: Optional[str]) -> Optional[AssistantContent]:
    if encrypted:
        return SignedThought(text, _SIGNATURE_PREFIX + encrypted)
    return SimpleThought(text) if text else None


def _tool_call_from_item(item: Mapping[str, Any]) -> Optional[ToolCallContent]:
    call_id = _first_str(item, ("call_id", "id"))
    name = _first_str(item, ("name", "tool_name"))
    if call_id is None or name is None:
        return None
    raw = _first_str(item, ("arguments", "input"))
    return ToolCallContent(
        ToolCall(call_id, name, _parse_args(raw if raw is not None else item.get("arguments"), name))
    )


def _parse_output(output: Any) -> List[AssistantContent]:
    """Convert a ``response.output`` list to content blocks, in item order (spec 4.5)."""
    content: List[AssistantContent] = []
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if not isinstance(part, Mapping):
                    continue
                text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
                if part.get("type") in ("output_text", "refusal") and isinstance(text, str) and text:
                    content.append(TextContent(text))
        elif kind == "reasoning":
            thought = _thought(_summary_text(item), _str(item, "encrypted_content"))
            if thought is not None:
                content.append(thought)
        elif kind in _TOOL_ITEM_TYPES:
            call = _tool_call_from_item(item)
            if call is not None:
                content.append(call)
    return content


def _stop_reason(response: Mapping[str, Any], terminal: str) -> str:
    if terminal == "incomplete":
        details = response.get("incomplete_details")
        reason = _str(details, "reason") if isinstance(details, Mapping) else None
        return reason or "incomplete"
    return terminal


def _parse_response(body: Any, provider: str = _NAME) -> CompletionResponse:
    """Convert a non-streaming Responses body (spec 4.5, read leniently).

    :param body: the decoded JSON body.
    :param provider: the provider id, for errors.
    :returns: the response; ``stop_reason`` is ``"completed"`` or the incomplete reason.
    :raises ResponseParsingError: if the body is not a JSON object.
    :raises ApiStreamError: if the body reports ``status: "failed"``.
    """
    if not isinstance(body, Mapping):
        raise ResponseParsingError(
            provider, f"Invalid response format: expected a JSON object, got {type(body).__name__}"
        )
    status = body.get("status")
    if status == "failed":
        raise stream_error_to_api_error(_failed_error(body, provider), provider)
    terminal = "incomplete" if status == "incomplete" else "completed"
    content = tuple(_parse_output(body.get("output")))
    return CompletionResponse(content, _parse_usage(body.get("usage")), _stop_reason(body, terminal))


# --- errors ----------------------------------------------------------------------------------


def _error_message(error: Any) -> Optional[str]:
    """steer's ``stream_error_message``, with ``code`` optional (Q9): message, else code; plus param."""
    if isinstance(error, str):
        return error.strip() or None
    if not isinstance(error, Mapping):
        return None
    message = error.get("message")
    base = message.strip() if isinstance(message, str) else ""
    if not base:
        code = _str(error, "code")
        if code is None:
            return None
        base = f"OpenAI response error ({code})"
    param = _str(error, "param")
    return f"{base} (param: {param})" if param else base


def _describe_http_error(status: int, body: bytes) -> Optional[str]:
    """The ``details`` of an HTTP error: the envelope's message, else the raw body (spec 4.6).

    :param status: the HTTP status (unused; every status reads the same envelope).
    :param body: the (bounded) error body.
    :returns: the details, or ``None`` for an empty body (the transport then describes it).
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    parsed = _loads(text)
    message = _error_message(parsed.get("error")) if parsed is not None else None
    if message:
        return message
    # The raw body, like steer. Uncut: the transport redacts it whole and then cuts it (a
    # proxy's HTML error page can be large); a cut here could split a key it quotes.
    return text


#: Provider codes that ``from_provider_error_type`` does not know but that are worth a retry.
_EXTRA_KINDS = {
    "server_is_overloaded": ProviderStreamErrorKind.OVERLOADED,
    "overloaded": ProviderStreamErrorKind.OVERLOADED,
    "service_unavailable": ProviderStreamErrorKind.SERVICE_UNAVAILABLE,
    "slow_down": ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
    "timeout": ProviderStreamErrorKind.TIMEOUT,
    "request_timeout": ProviderStreamErrorKind.TIMEOUT,
}
#: Codes of a failure on OpenAI's side, retryable as the event's own kind.
_SERVER_CODES = frozenset({"server_error", "internal_error", "internal_server_error"})


def _classify(
    candidates: Sequence[Optional[str]], server_kind: ProviderStreamErrorKind
) -> Optional[ProviderStreamErrorKind]:
    """The first retryable classification among ``candidates`` (code first, then type)."""
    for raw in candidates:
        if not raw:
            continue
        kind = ProviderStreamErrorKind.from_provider_error_type(raw)
        if kind.is_retryable():
            return kind
        if raw in _EXTRA_KINDS:
            return _EXTRA_KINDS[raw]
        if raw in _SERVER_CODES:
            return server_kind
    return None


def _failed_error(response: Mapping[str, Any], provider: str) -> ProviderStreamError:
    """Classify a failed response object (``response.failed``, or a non-stream ``status: failed``)."""
    error = response.get("error")
    if not isinstance(error, Mapping):
        return ProviderStreamError(
            provider,
            ProviderStreamErrorKind.RESPONSE_FAILED,
            "response_failed",
            "Response failed without an error object",
        )
    code = _str(error, "code")
    error_type = _str(error, "type")
    raw = code or error_type or "response_failed"
    kind = _classify((code, error_type), ProviderStreamErrorKind.RESPONSE_FAILED)
    return ProviderStreamError(
        provider,
        kind or ProviderStreamErrorKind.from_provider_error_type(raw),
        raw,
        _error_message(error) or "Response failed without an error message",
    )
