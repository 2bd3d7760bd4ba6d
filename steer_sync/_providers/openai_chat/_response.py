"""Chat Completions format: a ``chat.completion`` or error body -> steer_sync values; pure (layer L2)."""

from __future__ import annotations

import json
import re
from typing import (
    Any,
    List,
    Mapping,
    Optional,
)
from urllib.parse import unquote

from steer_sync._errors import (
    ApiError,
    AuthenticationFailed,
    InvalidRequest,
    NoChoices,
    ResponseParsingError,
    UnknownApiError,
    map_http_status,
)
from steer_sync._providers._schema import plain
from steer_sync._providers.openai_chat._request import compact_json
from steer_sync._providers.openai_chat._wire import ChatDialect, _log
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    ImageContent,
    SimpleThought,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    UrlSource,
)

#: Largest count a usage field keeps (the Rust reference stores u32).
_MAX_COUNT = 2**32 - 1

_API_KEY_WORDS = re.compile(r"api[ _-]?key", re.IGNORECASE)
_BAD_KEY_WORDS = re.compile(r"incorrect|invalid|not valid|missing|no api key|expired|revoked", re.IGNORECASE)


# --- usage and small readers ---------------------------------------------------------------------


def _count(value: Any) -> int:
    """A token count from anything a server may send: ints, floats, numeric strings; else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value == value:  # NaN is not a count
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return 0
    return max(0, min(number, _MAX_COUNT))


def map_usage(usage: Any, dialect: ChatDialect) -> Optional[TokenUsage]:
    """Map a Chat Completions ``usage`` object (lenient: missing counts are 0).

    :param usage: the ``usage`` value of a body or chunk.
    :param dialect: decides whether ``completion_tokens`` includes reasoning when the total cannot tell.
    :returns: the usage, or ``None`` when ``usage`` is not an object.
    """
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    reasoning = _count(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    if usage.get("total_tokens") is not None:
        total = _count(usage.get("total_tokens"))
        excludes = reasoning > 0 and total == prompt + completion + reasoning and total != prompt + completion
        output = completion + reasoning if excludes else completion
    else:
        output = completion if dialect.completion_includes_reasoning else completion + reasoning
        total = prompt + output
    return TokenUsage(
        input_tokens=prompt,
        output_tokens=min(output, _MAX_COUNT),
        total_tokens=min(total, _MAX_COUNT),
        cache_read_input_tokens=cached,
        reasoning_tokens=reasoning,
    )


def parse_arguments(raw: Any) -> Any:
    """Parse a tool call's ``arguments`` (spec Q22: ``{}`` whenever they cannot be read).

    :param raw: the arguments: normally a JSON string; an object some servers send is kept.
    :returns: the parsed value; ``{}`` for blank or invalid JSON.
    """
    if isinstance(raw, dict):
        return plain(raw)
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        _log.warning("tool call arguments are not valid JSON; using {}")
        return {}


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _reasoning_text(container: Mapping[str, Any]) -> Optional[str]:
    # Some servers send both names with the same text; reasoning_content wins then.
    text = _str(container.get("reasoning_content"))
    if text:
        return text
    return _str(container.get("reasoning"))


# --- non-stream responses ------------------------------------------------------------------------


def parse_completion(body: Any, dialect: ChatDialect) -> CompletionResponse:
    """Convert a ``chat.completion`` body into a response (spec 5.3 / 6.3, lenient).

    Blocks come in this order: the reasoning (a ``SimpleThought``), the answer text (string
    content, text parts, or the refusal), images, then the tool calls.

    :param body: the parsed JSON body.
    :param dialect: the provider's differences.
    :returns: the response.
    :raises ResponseParsingError: if the body is not an object or has no ``choices`` list.
    :raises NoChoices: for an empty ``choices`` list when the dialect says so.
    :raises ApiError: for an ``error`` object sent with a 2xx status (OpenRouter does this).
    """
    if not isinstance(body, dict):
        raise ResponseParsingError(dialect.provider, f"expected a JSON object, got {type(body).__name__}")
    choices = body.get("choices")
    error = body.get("error")
    if error and not choices:
        raise _error_from_body(body, dialect)
    if not isinstance(choices, list):
        raise ResponseParsingError(dialect.provider, "the response has no 'choices' list")
    if not choices:
        if dialect.no_choices_error:
            raise NoChoices(dialect.provider)
        raise ResponseParsingError(dialect.provider, "No choices in response")
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content: List[AssistantContent] = []
    reasoning = _reasoning_text(message)
    if reasoning and reasoning.strip():
        content.append(SimpleThought(reasoning))
    raw_content = message.get("content")
    if isinstance(raw_content, str):
        if raw_content.strip():
            content.append(TextContent(raw_content))
    elif isinstance(raw_content, list):
        for part in raw_content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
                content.append(TextContent(part["text"]))
            elif kind == "refusal" and isinstance(part.get("refusal"), str) and part["refusal"]:
                content.append(TextContent(part["refusal"]))
            elif kind == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else _str(image_url)
                if url:
                    content.append(ImageContent("image/*", UrlSource(url)))
    refusal = _str(message.get("refusal"))
    if refusal and refusal.strip():
        content.append(TextContent(refusal))
    raw_calls = message.get("tool_calls")
    if isinstance(raw_calls, list):
        for position, raw_call in enumerate(raw_calls):
            call = _tool_call_from_wire(raw_call, position)
            if call is not None:
                content.append(ToolCallContent(call))
    finish = _str(choice.get("finish_reason"))
    return CompletionResponse(content=tuple(content), usage=map_usage(body.get("usage"), dialect), stop_reason=finish)


def _tool_call_from_wire(raw: Any, position: int) -> Optional[ToolCall]:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function")
    if not isinstance(function, dict):
        return None
    name = _str(function.get("name"))
    if not name:
        return None
    call_id = _str(raw.get("id")) or f"call_{position}"
    return ToolCall(call_id, name, parse_arguments(function.get("arguments")))


# --- errors ------------------------------------------------------------------------------------


class _ErrorInfo:
    __slots__ = ("code", "error_type", "message", "status")

    def __init__(self, message: str, code: Optional[str], error_type: Optional[str], status: Optional[int]) -> None:
        self.message = message
        self.code = code
        self.error_type = error_type
        self.status = status


def _maybe_unquote(text: str) -> str:
    # xAI percent-encodes the message of some errors ("Incorrect%20API%20key...").
    if "%" in text and " " not in text:
        return unquote(text)
    return text


def _error_info(payload: Mapping[str, Any]) -> Optional[_ErrorInfo]:
    """Read an error object in any shape we know; ``None`` if ``payload`` carries none."""
    error = payload.get("error")
    code: Any
    if isinstance(error, dict) and error:
        message = _str(error.get("message")) or _str(error.get("error")) or ""
        code = error.get("code")
        error_type = _str(error.get("type"))
        metadata = error.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("raw"), str) and not message:
            message = metadata["raw"]
    elif isinstance(error, str) and error:
        message = error
        code = payload.get("code")
        error_type = _str(payload.get("type"))
    elif payload.get("object") == "error" and isinstance(payload.get("message"), str):
        # vLLM and some other local servers: {"object": "error", "message", "type", "code"}.
        message = payload["message"]
        code = payload.get("code")
        error_type = _str(payload.get("type"))
    else:
        return None
    status: Optional[int] = None
    code_text: Optional[str] = None
    if isinstance(code, int) and not isinstance(code, bool):
        status = code
    elif isinstance(code, str) and code:
        if code.isdigit():
            status = int(code)
        else:
            code_text = code
    return _ErrorInfo(_maybe_unquote(message.strip()), code_text, error_type, status)


def describe_http_error(status: int, body: bytes) -> Optional[str]:
    """Make readable details from an HTTP error body (OpenAI, xAI and compatible shapes).

    Used as the transport's ``describe_error`` hook.

    :param status: the HTTP status.
    :param body: the (bounded) body bytes.
    :returns: ``"<message> (<code or type>)"``, the raw text of a non-JSON body, or ``None``
        for an empty body (the transport then writes its own summary).
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    if not isinstance(payload, dict):
        return text
    info = _error_info(payload)
    if info is None:
        detail = payload.get("detail") or payload.get("message")
        if isinstance(detail, str) and detail.strip():
            return detail.strip()
        return text
    message = info.message or text
    tag = info.code or info.error_type
    if tag and tag not in message:
        return f"{message} ({tag})"
    return message


def _looks_like_bad_key(details: Optional[str]) -> bool:
    if not details:
        return False
    if "invalid_api_key" in details:
        return True
    return bool(_API_KEY_WORDS.search(details) and _BAD_KEY_WORDS.search(details))


def refine_http_error(error: ApiError, dialect: ChatDialect) -> ApiError:
    """Turn a 400 that says the API key is wrong into ``AuthenticationFailed``.

    xAI (and Gemini's OpenAI-compatible endpoint) answer a bad key with 400, not 401. Mapped
    as ``InvalidRequest`` the message would tell the user to fix the request; the key is what
    is wrong, and ``AuthenticationFailed`` also lets the client drop the cached provider and try
    another credential. Other errors are returned unchanged.

    :param error: the error the transport raised for a non-2xx status.
    :param dialect: the provider's differences.
    :returns: the error to raise (``error`` itself, or a new ``AuthenticationFailed``).
    """
    if isinstance(error, InvalidRequest) and error.status_code == 400 and _looks_like_bad_key(error.details):
        refined = AuthenticationFailed(dialect.provider, error.details or "invalid API key", status_code=400)
        refined.should_retry = error.should_retry
        refined.__cause__ = error
        return refined
    return error


def _error_from_body(body: Mapping[str, Any], dialect: ChatDialect) -> ApiError:
    """The error for an ``error`` object received with a 2xx status."""
    info = _error_info(body)
    if info is None:
        return UnknownApiError(dialect.provider, compact_json(body.get("error")))
    message = info.message or compact_json(body.get("error"))
    if info.status is not None and 400 <= info.status < 600:
        return refine_http_error(map_http_status(dialect.provider, info.status, message), dialect)
    tag = info.code or info.error_type
    return UnknownApiError(dialect.provider, f"{message} ({tag})" if tag else message)
