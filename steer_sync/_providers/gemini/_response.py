"""Gemini API: a response or error body -> steer_sync values; pure (layer L2)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, List, Mapping, Optional, Tuple, Union

from steer_sync._chunks import (
    ErrorChunk,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import (
    ApiError,
    NoChoices,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RequestBlocked,
    ResponseParsingError,
    UnknownApiError,
    map_http_status,
)
from steer_sync._providers.gemini._request import _GENERATED_ID_PREFIX
from steer_sync._providers.gemini._retry_info import error_retry_delay
from steer_sync._providers.gemini._wire import _NAME
from steer_sync._stream import REQUEST_BLOCKED as _REQUEST_BLOCKED
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    DataUrlSource,
    ImageContent,
    SignedThought,
    SimpleThought,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    UrlSource,
)

#: The raw error type of the ProviderStreamError a blocked prompt or answer ends a stream with.
REQUEST_BLOCKED = _REQUEST_BLOCKED

#: Finish reasons that mean a safety or policy system stopped the answer.
_BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)

#: In-stream ``error.status`` values the client may retry, by their stream error kind.
_STREAM_ERROR_KINDS = {
    "RESOURCE_EXHAUSTED": ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
    "UNAVAILABLE": ProviderStreamErrorKind.SERVICE_UNAVAILABLE,
    "INTERNAL": ProviderStreamErrorKind.STREAM_ERROR,
    "ABORTED": ProviderStreamErrorKind.STREAM_ERROR,
    "DEADLINE_EXCEEDED": ProviderStreamErrorKind.TIMEOUT,
}
_STREAM_ERROR_KINDS_BY_CODE = {
    429: ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
    503: ProviderStreamErrorKind.SERVICE_UNAVAILABLE,
    500: ProviderStreamErrorKind.STREAM_ERROR,
    409: ProviderStreamErrorKind.STREAM_ERROR,
    504: ProviderStreamErrorKind.TIMEOUT,
}


# --- response parsing ----------------------------------------------------------------------


def _count(meta: Mapping[str, Any], key: str) -> Optional[int]:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _parse_usage(meta: Any) -> Optional[TokenUsage]:
    """Map ``usageMetadata`` to :class:`TokenUsage`, or ``None`` if the counts are not derivable."""
    if not isinstance(meta, Mapping):
        return None
    prompt = _count(meta, "promptTokenCount")
    candidates = _count(meta, "candidatesTokenCount")
    total = _count(meta, "totalTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount") or 0
    tool_prompt = _count(meta, "toolUsePromptTokenCount") or 0

    input_tokens = prompt + tool_prompt if prompt is not None else None
    output_tokens = candidates + thoughts if candidates is not None else None
    if input_tokens is None and total is not None and output_tokens is not None and total >= output_tokens:
        input_tokens = total - output_tokens
    if output_tokens is None and total is not None and input_tokens is not None and total >= input_tokens:
        output_tokens = total - input_tokens
    if input_tokens is None or output_tokens is None:
        return None
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total if total is not None else input_tokens + output_tokens,
        cache_read_input_tokens=_count(meta, "cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def _ratings_text(ratings: Any) -> str:
    if not isinstance(ratings, list):
        return ""
    items = []
    for rating in ratings:
        if isinstance(rating, Mapping):
            text = f"{rating.get('category', '?')}={rating.get('probability', '?')}"
            if rating.get("blocked") is True:
                text += " (blocked)"
            items.append(text)
    return ", ".join(items)


def _block_details(what: str, reason: str, message: Any, ratings: Any) -> str:
    details = f"{what} blocked due to {reason}"
    if isinstance(message, str) and message:
        details += f": {message}"
    summary = _ratings_text(ratings)
    if summary:
        details += f". Safety ratings: {summary}"
    return details


def _prompt_block(body: Mapping[str, Any]) -> Optional[str]:
    feedback = body.get("promptFeedback")
    if not isinstance(feedback, Mapping) or feedback.get("blockReason") is None:
        return None
    return _block_details(
        "Prompt", str(feedback["blockReason"]), feedback.get("blockReasonMessage"), feedback.get("safetyRatings")
    )


def _first_candidate(body: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    candidates = body.get("candidates")
    if not isinstance(candidates, list):
        return None
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            return candidate
    return None


def _candidate_parts(candidate: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list):
        return []
    return [part for part in parts if isinstance(part, Mapping)]


def _answer_block(candidate: Mapping[str, Any]) -> Optional[str]:
    reason = candidate.get("finishReason")
    if not isinstance(reason, str) or reason not in _BLOCKING_FINISH_REASONS:
        return None
    return _block_details("Response", reason, candidate.get("finishMessage"), candidate.get("safetyRatings"))


def _new_call_id() -> str:
    return _GENERATED_ID_PREFIX + uuid.uuid4().hex


class _Assembler:
    """Folds Gemini parts into content blocks, and says which chunks each part streams.

    Shared by the non-streaming and the streaming path so both read parts the same way.
    Not thread-safe: one per response.
    """

    def __init__(self, new_id: Callable[[], str] = _new_call_id) -> None:
        self.blocks: List[AssistantContent] = []
        # "text" / "thought" when the last block may absorb the next part of that kind.
        self._open: Optional[str] = None
        self._new_id = new_id

    def add(self, part: Mapping[str, Any]) -> List[StreamChunk]:
        """Fold one part in.

        :param part: a ``Part`` object.
        :returns: the chunks it streams.
        """
        raw_signature = part.get("thoughtSignature", part.get("thought_signature"))
        signature = raw_signature if isinstance(raw_signature, str) and raw_signature else None
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            return self._add_call(call, signature)
        text = part.get("text")
        if isinstance(text, str):
            return self._add_text(text, signature, thought=part.get("thought") is True)
        if part.get("thought") is True:
            return []  # steer drops thoughts that are not text
        rendered = _render_other_part(part)
        if rendered is None:
            if signature is not None:  # a part holding only a signature
                self._carry(signature)
            return []
        if signature is not None:
            self._carry(signature)
        self.blocks.append(rendered)
        self._open = None
        return [TextDelta(rendered.text)] if isinstance(rendered, TextContent) else []

    def _carry(self, signature: str) -> None:
        self.blocks.append(SignedThought("", signature))
        self._open = None

    def _add_call(self, call: Mapping[str, Any], signature: Optional[str]) -> List[StreamChunk]:
        name = call.get("name") if isinstance(call.get("name"), str) else ""
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = self._new_id()
        args = call.get("args")
        if args is None:
            args = {}
        self.blocks.append(ToolCallContent(ToolCall(call_id, str(name), args), signature))
        self._open = None
        delta = json.dumps(args, separators=(",", ":"), ensure_ascii=False)
        return [ToolUseStart(call_id, str(name)), ToolUseInputDelta(call_id, delta)]

    def _add_text(self, text: str, signature: Optional[str], *, thought: bool) -> List[StreamChunk]:
        kind = "thought" if thought else "text"
        if signature is not None:
            self._carry(signature)
        if not text:
            return []
        last = self.blocks[-1] if self.blocks else None
        if self._open == kind and isinstance(last, SimpleThought):
            self.blocks[-1] = SimpleThought(last.text + text)
        elif self._open == kind and isinstance(last, TextContent):
            self.blocks[-1] = TextContent(last.text + text)
        else:
            self.blocks.append(SimpleThought(text) if thought else TextContent(text))
            self._open = kind
        return [ThinkingDelta(text) if thought else TextDelta(text)]


def _render_other_part(part: Mapping[str, Any]) -> Optional[Union[TextContent, ImageContent]]:
    code = part.get("executableCode")
    if isinstance(code, Mapping):
        language = str(code.get("language") or "").lower()
        return TextContent(f"```{language}\n{code.get('code', '')}\n```")
    outcome = part.get("codeExecutionResult")
    if isinstance(outcome, Mapping):
        return TextContent(f"```output\n{outcome.get('output', '')}\n```")
    inline = part.get("inlineData")
    if isinstance(inline, Mapping):
        mime_type = str(inline.get("mimeType") or "application/octet-stream")
        data = inline.get("data")
        if mime_type.startswith("image/") and isinstance(data, str):
            return ImageContent(mime_type, DataUrlSource(f"data:{mime_type};base64,{data}"))
        return TextContent(f"[Inline Data: {mime_type}]")
    file_data = part.get("fileData")
    if isinstance(file_data, Mapping):
        mime_type = str(file_data.get("mimeType") or "")
        uri = str(file_data.get("fileUri") or "")
        if mime_type.startswith("image/") and uri:
            return ImageContent(mime_type, UrlSource(uri))
        return TextContent(f"[File Data: {uri}]")
    return None


def _error_status(error: Mapping[str, Any]) -> Tuple[Optional[str], Optional[int]]:
    status = error.get("status")
    code = error.get("code")
    return (status if isinstance(status, str) and status else None), (
        code if isinstance(code, int) and not isinstance(code, bool) else None
    )


def _parse_response(
    body: Any, provider: str = _NAME, *, new_id: Callable[[], str] = _new_call_id
) -> CompletionResponse:
    """Read a ``generateContent`` answer.

    :param body: the decoded JSON body.
    :param provider: the provider id for errors.
    :param new_id: makes ids for function calls Gemini sent without one.
    :returns: the response.
    :raises RequestBlocked: if the prompt or the answer was blocked.
    :raises NoChoices: if there is no candidate.
    :raises ResponseParsingError: if the body is not a response object.
    """
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, Mapping):
        raise ResponseParsingError(provider, f"expected a JSON object, got {type(body).__name__}")
    error = body.get("error")
    if isinstance(error, Mapping):
        raise _error_from_object(error, provider)
    blocked = _prompt_block(body)
    if blocked is not None:
        raise RequestBlocked(provider, blocked)
    candidate = _first_candidate(body)
    if candidate is None:
        raise NoChoices(provider)
    assembler = _Assembler(new_id)
    for part in _candidate_parts(candidate):
        assembler.add(part)
    blocked = _answer_block(candidate)
    if blocked is not None:
        raise RequestBlocked(provider, blocked)
    reason = candidate.get("finishReason")
    return CompletionResponse(
        content=tuple(assembler.blocks),
        usage=_parse_usage(body.get("usageMetadata")),
        stop_reason=reason if isinstance(reason, str) else None,
    )


def _error_from_object(error: Mapping[str, Any], provider: str) -> ApiError:
    _, code = _error_status(error)
    details = _describe_error_object(error)
    if code is None:
        return UnknownApiError(provider, details)
    return map_http_status(provider, code, details, retry_after=error_retry_delay(error))


def _stream_error(error: Mapping[str, Any], provider: str) -> ProviderStreamError:
    status, code = _error_status(error)
    kind = _STREAM_ERROR_KINDS.get(status or "") or (_STREAM_ERROR_KINDS_BY_CODE.get(code) if code else None)
    raw = status or (str(code) if code is not None else None)
    if kind is None:
        kind = ProviderStreamErrorKind.from_provider_error_type(raw)
    return ProviderStreamError(provider, kind, raw, _describe_error_object(error))


def _blocked_chunk(provider: str, details: str) -> ErrorChunk:
    kind = ProviderStreamErrorKind.from_provider_error_type(REQUEST_BLOCKED)
    return ErrorChunk(ProviderStreamError(provider, kind, REQUEST_BLOCKED, details))


# --- HTTP errors ----------------------------------------------------------------------------


def _details_list(error: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _error_reasons(error: Mapping[str, Any]) -> List[str]:
    return [
        str(detail["reason"])
        for detail in _details_list(error)
        if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo") and detail.get("reason")
    ]


def _describe_error_object(error: Mapping[str, Any]) -> str:
    message = error.get("message")
    # Uncut: the transport redacts the whole text, then cuts it (a cut first could split a key).
    text = message if isinstance(message, str) and message else json.dumps(error, ensure_ascii=False)
    status, _ = _error_status(error)
    labels = [label for label in (status, *_error_reasons(error)) if label]
    return f"{text} [{', '.join(labels)}]" if labels else text


def _error_body(body: bytes) -> Optional[Mapping[str, Any]]:
    try:
        decoded = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(decoded, list) and len(decoded) == 1:
        decoded = decoded[0]
    error = decoded.get("error") if isinstance(decoded, Mapping) else None
    return error if isinstance(error, Mapping) else None


def _is_bad_key(error: Optional[Mapping[str, Any]]) -> bool:
    return error is not None and "API_KEY_INVALID" in _error_reasons(error)
