"""Chat Completions translation shared by OpenAI Chat and xAI (layer L2, no I/O).

OpenAI's ``/chat/completions``, xAI's and every OpenAI-compatible server (gateways such as
OpenRouter, local servers such as vLLM, Ollama or llama.cpp) speak the same wire format with
small differences. This module holds the parts they share, as pure functions:

* :func:`_normalize_chat_url`: a configured base URL to the endpoint URL;
* :func:`build_messages` / :func:`build_tools`: conversation and tools to the wire shapes;
* :func:`parse_completion`: a ``chat.completion`` body to a :class:`CompletionResponse`;
* :func:`convert_chat_stream`: ``data:`` events to stream chunks (tool calls accumulated by
  ``index``, usage from the last chunk that carries it, in-stream error objects detected);
* :func:`describe_http_error` / :func:`refine_http_error`: readable details for an HTTP error
  body in either the OpenAI shape ``{"error": {...}}`` or xAI's ``{"code", "error"}``.

What differs between the two providers is a :class:`ChatDialect` value, so neither provider
module imports the other.

Parsing is lenient everywhere (spec Q10): a missing field takes its neutral value (usage
details default to 0, a missing ``id`` or ``object`` is fine), an unknown field is ignored,
and only a body that is not a JSON object or has no ``choices`` list is a parsing error.

Decisions where the spec leaves a choice (spec ``openai-xai.md`` section 10):

* Q13: empty text, refusal and reasoning deltas are not emitted and create no block.
* Q17: a ``refusal`` (non-stream field or stream delta) becomes answer text.
* Q18: an ``error`` object in a ``data:`` event (OpenAI, OpenRouter, xAI shapes; also inside an
  otherwise ordinary chunk) ends the stream with ``ErrorChunk(ProviderStreamError)``; its kind
  comes from the error's string ``code``, then ``type``, then a numeric HTTP-like code
  (429 -> rate limit, 5xx -> retryable kinds, other 4xx -> unknown, not retryable), and
  ``server_error``-like types are retryable (Q8). A stream that ends without ``[DONE]`` yields
  ``ErrorChunk(SseParse(TRANSPORT, "stream ended before [DONE]"))`` (retryable), **unless a
  ``finish_reason`` was already received**: the model then said the message is complete, so the
  stream completes with what it has (only a trailing usage chunk can be missing). Some
  OpenAI-compatible servers end the body that way; retrying a finished answer would pay for it
  twice. A body cut mid-transfer still arrives as a transport error from the transport layer.
* Q19: an assistant message with nothing to send (only thoughts) is skipped.
* Q22: unparseable tool arguments become ``{}`` (both providers, stream and non-stream).
* Q23: an assistant image is sent as the text ``[Image: <mime>]`` (never an inlined data URL).
* Reasoning text is read from ``reasoning_content`` (xAI, DeepSeek, vLLM) or, when that is
  absent, ``reasoning`` (OpenRouter, newer vLLM); in a non-stream answer the thought comes
  **before** the text for both providers (steer's Chat client put it after the text, while its
  own stream converter put it first).
* Usage: ``completion_tokens`` includes reasoning tokens at OpenAI but excludes them at xAI.
  ``TokenUsage.output_tokens`` always includes them: when ``total_tokens`` equals prompt +
  completion + reasoning, the completion count excluded reasoning and the reasoning tokens are
  added; with no ``total_tokens`` the dialect decides. The last usage in a stream wins (grok-beta
  repeats a cumulative usage in every chunk: never summed).
* Tool calls: a call whose ``id`` never arrived (some local servers) gets ``call_<n>`` instead
  of being dropped; a new ``id`` at an index whose call already started is a new call (servers
  that send every call at index 0); a call with no name is dropped.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
)
from urllib.parse import unquote

from steer_sync._auth._directive import AnthropicAuth, OpenAiResponsesAuth
from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import (
    ErrorChunk,
    MessageComplete,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import (
    ApiError,
    AuthenticationFailed,
    ConfigurationError,
    InvalidRequest,
    NoChoices,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    UnknownApiError,
    UnsupportedFeature,
    map_http_status,
)
from steer_sync._provider import Provider
from steer_sync._providers._common import normalize_endpoint_url
from steer_sync._providers._schema import plain
from steer_sync._stream import CompletionStream
from steer_sync._transport import HttpResponse, Timeouts, Transport, open_chunk_stream
from steer_sync._types import (
    AssistantContent,
    AssistantMessage,
    CommandExecution,
    CompletionResponse,
    DataUrlSource,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    SessionFileSource,
    SimpleThought,
    SystemContext,
    TextContent,
    Thought,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolMessage,
    ToolSchema,
    UrlSource,
    UserMessage,
)

if TYPE_CHECKING:  # pragma: no cover - typing only; the converter reads .event and .data
    from steer_sync._sse import SseEvent

__all__ = [
    "DONE",
    "ChatDialect",
    "auth_headers",
    "check_no_directive",
    "build_messages",
    "build_tools",
    "compact_json",
    "convert_chat_stream",
    "describe_http_error",
    "map_usage",
    "parse_arguments",
    "parse_completion",
    "refine_http_error",
    "stream_error_from_payload",
]

_log = logging.getLogger("steer_sync.providers.chat")

#: The data of the event that ends every Chat Completions stream.
DONE = "[DONE]"

#: Largest count a usage field keeps (the Rust reference stores u32).
_MAX_COUNT = 2**32 - 1

_API_KEY_WORDS = re.compile(r"api[ _-]?key", re.IGNORECASE)
_BAD_KEY_WORDS = re.compile(r"incorrect|invalid|not valid|missing|no api key|expired|revoked", re.IGNORECASE)


@dataclass(frozen=True)
class ChatDialect:
    """What differs between the Chat Completions servers this module talks to.

    Immutable and thread-safe.
    """

    #: The provider id used in every error (the catalog id, e.g. ``"openai"``, ``"my-gw"``).
    provider: str
    #: ``True``: a user message with no content raises ``InvalidRequest`` (OpenAI Chat);
    #: ``False``: it is skipped (xAI).
    reject_empty_user: bool = True
    #: Sent as a tool result whose text is blank (xAI sends ``"(No output)"``); ``None`` sends it as is.
    blank_tool_result: Optional[str] = None
    #: Whether ``completion_tokens`` already counts reasoning tokens when ``total_tokens`` cannot tell.
    completion_includes_reasoning: bool = True
    #: ``True``: an answer with no choices raises ``NoChoices`` (xAI); ``False``: ``ResponseParsingError``.
    no_choices_error: bool = False
    #: The human name used in messages (``"OpenAI chat"``, ``"xAI chat"``).
    label: str = "OpenAI chat"


# --- URL ----------------------------------------------------------------------------------


# This belongs in _providers/_common.py with the Responses variant (one normaliser for every
# OpenAI-style format); it lives here until the transport engineer's module takes it over.
def _normalize_chat_url(base: Optional[str], default: str) -> str:
    """Turn a configured base URL into the Chat Completions endpoint URL (spec 2.1, improved).

    The rule works on the URL *path*, so a query string (``?api-version=...``) or fragment is
    kept and never confuses it:

    * a path ending in ``/chat/completions`` is the endpoint already and is kept;
    * an empty path gets ``/v1/chat/completions``;
    * a path with a version segment anywhere (``/v1``, ``/api/v1``, ``/v1beta/openai``,
      ``/openai/v2``) gets ``/chat/completions``;
    * any other path gets ``/v1/chat/completions``.

    A trailing ``/`` is ignored. Give the full endpoint URL for a server that fits none of
    these (for example a legacy Azure deployment URL).

    :param base: the configured base URL, or ``None``/blank for ``default``.
    :param default: the provider's default endpoint.
    :returns: the endpoint URL.
    :raises ConfigurationError: if ``base`` is not an absolute ``http``/``https`` URL.
    """
    return normalize_endpoint_url(base, default, "/chat/completions")


# --- request building -----------------------------------------------------------------------


def compact_json(value: Any) -> str:
    """Serialise like steer does on the wire: no spaces, key order kept, raw Unicode.

    :param value: a JSON-compatible value (mappings and tuples are accepted).
    :returns: the JSON text.
    """
    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False)


def _image_url(image: ImageContent, dialect: ChatDialect) -> str:
    source = image.source
    if isinstance(source, DataUrlSource):
        return source.data_url
    if isinstance(source, UrlSource):
        return source.url
    if isinstance(source, SessionFileSource):
        raise UnsupportedFeature(
            dialect.provider,
            "image input source",
            f"{dialect.label} API cannot access session file '{source.relative_path}' directly; "
            "use data URLs or public URLs",
        )
    raise UnsupportedFeature(dialect.provider, "image input source", f"unknown image source {type(source).__name__}")


def _user_message(data: UserMessage, dialect: ChatDialect) -> Optional[Dict[str, Any]]:
    parts: List[Dict[str, Any]] = []
    for block in data.content:
        if isinstance(block, TextContent):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageContent):
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, dialect)}})
        elif isinstance(block, CommandExecution):
            parts.append({"type": "text", "text": block.as_xml()})
    if not parts:
        if dialect.reject_empty_user:
            raise InvalidRequest(dialect.provider, "User message had no content after conversion")
        return None
    if len(parts) == 1 and parts[0]["type"] == "text":
        return {"role": "user", "content": parts[0]["text"]}
    return {"role": "user", "content": parts}


def _assistant_message(data: AssistantMessage) -> Optional[Dict[str, Any]]:
    texts: List[str] = []
    calls: List[Dict[str, Any]] = []
    for block in data.content:
        if isinstance(block, TextContent):
            texts.append(block.text)
        elif isinstance(block, ImageContent):
            texts.append(f"[Image: {block.mime_type}]")
        elif isinstance(block, ToolCallContent):
            call = block.tool_call
            calls.append(
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": compact_json(call.parameters)},
                }
            )
        # Thoughts are never sent back: neither API accepts them in requests.
    text = "\n".join(texts)
    if not text and not calls:
        return None
    message: Dict[str, Any] = {"role": "assistant"}
    if text:
        message["content"] = text
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_message(data: ToolMessage, dialect: ChatDialect) -> Dict[str, Any]:
    content = data.result.llm_format()
    if dialect.blank_tool_result is not None and not data.result.is_error and not content.strip():
        content = dialect.blank_tool_result
    return {"role": "tool", "content": content, "tool_call_id": data.tool_use_id}


def build_messages(
    messages: Sequence[Message], system: Optional[SystemContext], dialect: ChatDialect
) -> List[Dict[str, Any]]:
    """Convert the conversation into Chat Completions ``messages`` (spec 5.2.1 / 6.2).

    :param messages: the conversation.
    :param system: the system context; its rendered text becomes a leading system message.
    :param dialect: the provider's differences.
    :returns: the wire messages.
    :raises UnsupportedFeature: for an image stored in a session folder.
    :raises InvalidRequest: for an empty user message when the dialect rejects it.
    """
    out: List[Dict[str, Any]] = []
    system_text = system.render() if system is not None else None
    if system_text is not None:
        out.append({"role": "system", "content": system_text})
    for message in messages:
        data = message.data
        converted: Optional[Dict[str, Any]]
        if isinstance(data, UserMessage):
            converted = _user_message(data, dialect)
        elif isinstance(data, AssistantMessage):
            converted = _assistant_message(data)
        elif isinstance(data, ToolMessage):
            converted = _tool_message(data, dialect)
        else:  # pragma: no cover - MessageData is a closed union
            raise TypeError(f"unknown message data {type(data).__name__}")
        if converted is not None:
            out.append(converted)
    return out


def build_tools(tools: Optional[Sequence[ToolSchema]]) -> Optional[List[Dict[str, Any]]]:
    """Convert tool schemas into Chat Completions function tools.

    :param tools: the tools, or ``None``.
    :returns: the wire tools, or ``None`` when there are none (OpenAI rejects ``"tools": []``).
    """
    if not tools:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": plain(tool.input_schema),
            },
        }
        for tool in tools
    ]


# --- authentication -------------------------------------------------------------------------


def auth_headers(api_key: Optional[str], provider: str) -> Dict[str, str]:
    """The ``Authorization`` header for ``api_key`` (none for a keyless local server).

    :param api_key: the key, or ``None``.
    :param provider: the provider id for the error.
    :returns: the header, or no header.
    :raises AuthenticationFailed: if the key cannot be sent in an HTTP header.
    """
    if api_key is None or api_key == "":
        return {}
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in api_key):
        # Never echo the key: the message only says what is wrong with it.
        raise AuthenticationFailed(
            provider,
            "Invalid API key: it contains whitespace, control or non-ASCII characters that cannot be "
            "sent in an HTTP header; check the key for stray newlines or quotes",
        )
    return {"Authorization": f"Bearer {api_key}"}


def check_no_directive(directive: Any, provider: str, label: str) -> None:
    """Refuse an auth directive: Chat Completions providers authenticate with an API key only.

    :param directive: the directive the factory passed, or ``None``.
    :param provider: the provider id for the error.
    :param label: the API's name for the message.
    :raises ConfigurationError: if ``directive`` is not ``None``.
    """
    if directive is not None:
        kind = "OAuth" if isinstance(directive, (AnthropicAuth, OpenAiResponsesAuth)) else "directive"
        raise ConfigurationError(
            f"{label} mode is not available with {kind} authentication; use the openai-responses "
            "API format for an OAuth login, or configure an API key",
            provider=provider,
        )


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


@dataclass(frozen=True)
class _ErrorInfo:
    message: str
    code: Optional[str]
    error_type: Optional[str]
    status: Optional[int]


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


#: Error types/codes from Chat Completions servers that mean "transient, try again".
_KIND_ALIASES: Dict[str, ProviderStreamErrorKind] = {
    "server_error": ProviderStreamErrorKind.STREAM_ERROR,
    "internal_error": ProviderStreamErrorKind.STREAM_ERROR,
    "internal_server_error": ProviderStreamErrorKind.STREAM_ERROR,
    "api_error": ProviderStreamErrorKind.STREAM_ERROR,
    "overloaded": ProviderStreamErrorKind.OVERLOADED,
    "model_overloaded": ProviderStreamErrorKind.OVERLOADED,
    "service_unavailable": ProviderStreamErrorKind.SERVICE_UNAVAILABLE,
    "timeout": ProviderStreamErrorKind.TIMEOUT,
    # xAI's codes are gRPC status descriptions.
    "internal error": ProviderStreamErrorKind.STREAM_ERROR,
    "some resource has been exhausted": ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED,
    "the service is currently unavailable": ProviderStreamErrorKind.SERVICE_UNAVAILABLE,
    "the deadline expired before the operation could complete": ProviderStreamErrorKind.TIMEOUT,
}


def _kind_for_status(status: int) -> ProviderStreamErrorKind:
    if status == 429:
        return ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED
    if status in (408, 504):
        return ProviderStreamErrorKind.TIMEOUT
    if status == 529:
        return ProviderStreamErrorKind.OVERLOADED
    if status in (502, 503):
        return ProviderStreamErrorKind.SERVICE_UNAVAILABLE
    if 500 <= status < 600:
        return ProviderStreamErrorKind.STREAM_ERROR
    return ProviderStreamErrorKind.from_provider_error_type(str(status))


def _classify(raw: Optional[str]) -> ProviderStreamErrorKind:
    if raw is None:
        return ProviderStreamErrorKind.STREAM_ERROR
    kind = ProviderStreamErrorKind.from_provider_error_type(raw)
    if kind.is_retryable():
        return kind
    return _KIND_ALIASES.get(raw.strip().lower(), kind)


def stream_error_from_payload(payload: Mapping[str, Any], provider: str) -> Optional[ProviderStreamError]:
    """Recognise an error object inside a stream event.

    Shapes: OpenAI ``{"error": {"message", "type", "code"}}``, OpenRouter's error object inside
    an ordinary chunk (numeric ``code``), xAI ``{"code": "...", "error": "..."}``, vLLM
    ``{"object": "error", ...}``.

    :param payload: the event's JSON object.
    :param provider: the provider id for the error value.
    :returns: the error value, or ``None`` if the payload is not an error.
    """
    info = _error_info(payload)
    if info is None:
        return None
    kind: ProviderStreamErrorKind
    raw: Optional[str]
    if info.code is not None and _classify(info.code).is_retryable():
        raw, kind = info.code, _classify(info.code)
    elif info.error_type is not None and _classify(info.error_type).is_retryable():
        raw, kind = info.error_type, _classify(info.error_type)
    elif info.status is not None:
        raw, kind = str(info.status), _kind_for_status(info.status)
    else:
        raw = info.code or info.error_type
        kind = _classify(raw)
    return ProviderStreamError(provider, kind, raw, info.message or "error in stream")


# --- stream conversion ------------------------------------------------------------------------------


@dataclass
class _ToolSlot:
    """One tool call being assembled from deltas."""

    call_id: str = ""
    name: str = ""
    # Pieces, joined once: repeated str += would copy a long argument string per delta.
    args: List[str] = field(default_factory=list)
    started: bool = False

    def arguments(self) -> str:
        return "".join(self.args)


@dataclass
class _Block:
    """One block of the message being assembled: text, thought, or a tool call slot."""

    kind: str  # "text" | "thought" | "tool"
    parts: List[str] = field(default_factory=list)
    slot: int = -1


@dataclass
class _ChatStreamState:
    """The accumulation state of one Chat Completions stream (not thread-safe; one per stream)."""

    dialect: ChatDialect
    blocks: List[_Block] = field(default_factory=list)
    slots: List[_ToolSlot] = field(default_factory=list)
    #: Wire ``index`` -> the slot currently assembled for it.
    by_index: Dict[int, int] = field(default_factory=dict)
    last_slot: Optional[int] = None
    usage: Optional[TokenUsage] = None
    finish_reason: Optional[str] = None

    def _append_text(self, kind: str, text: str) -> None:
        if self.blocks and self.blocks[-1].kind == kind:
            self.blocks[-1].parts.append(text)
        else:
            self.blocks.append(_Block(kind, [text]))

    def text(self, text: str) -> Iterator[StreamChunk]:
        if text:
            self._append_text("text", text)
            yield TextDelta(text)

    def thinking(self, text: str) -> Iterator[StreamChunk]:
        if text:
            self._append_text("thought", text)
            yield ThinkingDelta(text)

    def _slot_for(self, raw: Mapping[str, Any]) -> int:
        call_id = _str(raw.get("id")) or ""
        index = raw.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            # No index (some servers): an id we know continues that call, a new id starts one,
            # and no id continues the last call.
            for known, candidate in enumerate(self.slots):
                if call_id and candidate.call_id == call_id:
                    return known
            if not call_id and self.last_slot is not None:
                return self.last_slot
            return self._new_slot(None)
        current = self.by_index.get(index)
        if current is None:
            return self._new_slot(index)
        slot = self.slots[current]
        if call_id and slot.call_id and call_id != slot.call_id:
            # A different call at an index in use: servers that put every call at index 0.
            return self._new_slot(index)
        return current

    def _new_slot(self, index: Optional[int]) -> int:
        number = len(self.slots)
        self.slots.append(_ToolSlot())
        self.blocks.append(_Block("tool", slot=number))
        if index is not None:
            self.by_index[index] = number
        return number

    def tool_call(self, raw: Any) -> Iterator[StreamChunk]:
        if not isinstance(raw, dict):
            return
        number = self._slot_for(raw)
        self.last_slot = number
        slot = self.slots[number]
        call_id = _str(raw.get("id"))
        if call_id:
            slot.call_id = call_id
        function = raw.get("function")
        function = function if isinstance(function, dict) else {}
        name = _str(function.get("name"))
        if name:
            # Names arrive whole; a repeated name is not concatenated.
            slot.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = compact_json(arguments)
        piece = arguments if isinstance(arguments, str) else ""
        if piece:
            slot.args.append(piece)
        if slot.started:
            if piece:
                yield ToolUseInputDelta(slot.call_id, piece)
            return
        if slot.call_id and slot.name:
            # Arguments that came before the id and name were known are flushed at the start.
            slot.started = True
            yield ToolUseStart(slot.call_id, slot.name)
            buffered = slot.arguments()
            if buffered:
                yield ToolUseInputDelta(slot.call_id, buffered)

    def chunk(self, payload: Mapping[str, Any]) -> Iterator[StreamChunk]:
        usage = map_usage(payload.get("usage"), self.dialect)
        if usage is not None:
            # Last one wins: grok-beta repeats a cumulative usage in every chunk.
            self.usage = usage
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        finish = _str(choice.get("finish_reason"))
        if finish:
            self.finish_reason = finish
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        reasoning = _reasoning_text(delta)
        if reasoning:
            yield from self.thinking(reasoning)
        content = delta.get("content")
        if isinstance(content, str):
            yield from self.text(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    yield from self.text(part["text"])
        refusal = _str(delta.get("refusal"))
        if refusal:
            yield from self.text(refusal)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for raw in calls:
                yield from self.tool_call(raw)

    def finish(self) -> Iterator[StreamChunk]:
        content: List[AssistantContent] = []
        for block in self.blocks:
            if block.kind == "text":
                content.append(TextContent("".join(block.parts)))
            elif block.kind == "thought":
                thought: Thought = SimpleThought("".join(block.parts))
                content.append(thought)
            else:
                slot = self.slots[block.slot]
                if not slot.name:
                    _log.debug("dropping a streamed tool call with no name (id %r)", slot.call_id)
                    continue
                if not slot.call_id:
                    slot.call_id = f"call_{block.slot}"
                arguments = slot.arguments()
                if not slot.started:
                    slot.started = True
                    yield ToolUseStart(slot.call_id, slot.name)
                    if arguments:
                        yield ToolUseInputDelta(slot.call_id, arguments)
                content.append(ToolCallContent(ToolCall(slot.call_id, slot.name, parse_arguments(arguments))))
        yield MessageComplete(CompletionResponse(tuple(content), self.usage, self.finish_reason))


def convert_chat_stream(
    events: Iterable[SseEvent],
    dialect: ChatDialect,
) -> Iterator[StreamChunk]:
    """Convert Chat Completions ``data:`` events into stream chunks (spec 5.4, improved).

    The event name is ignored except ``error``; comments (``: OPENROUTER PROCESSING``) never
    reach here. Ends after ``MessageComplete`` or an ``ErrorChunk``.

    :param events: the decoded SSE events.
    :param dialect: the provider's differences.
    :returns: an iterator of chunks.
    """
    state = _ChatStreamState(dialect)
    for event in events:
        data = event.data.strip()
        if data == DONE:
            yield from state.finish()
            return
        if not data:
            continue
        try:
            payload = json.loads(data)
        except ValueError:
            if event.event == "error":
                yield ErrorChunk(
                    ProviderStreamError(dialect.provider, ProviderStreamErrorKind.STREAM_ERROR, "error", data)
                )
                return
            _log.debug("skipping a stream event that is not JSON: %.200s", data)
            continue
        if not isinstance(payload, dict):
            continue
        error = stream_error_from_payload(payload, dialect.provider)
        if error is None and event.event == "error":
            error = ProviderStreamError(dialect.provider, ProviderStreamErrorKind.STREAM_ERROR, "error", data)
        if error is not None:
            yield ErrorChunk(error)
            return
        yield from state.chunk(payload)
    if state.finish_reason is not None:
        _log.debug("stream ended after finish_reason %r without [DONE]; completing", state.finish_reason)
        yield from state.finish()
        return
    yield ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before [DONE]"))


# --- the provider shell both Chat Completions providers share --------------------------------


@dataclass(frozen=True)
class ChatWire:
    """What one Chat Completions service does its own way."""

    #: ``dialect(provider_id)``: the service's dialect of the format.
    dialect: Callable[[str], ChatDialect]
    #: ``build_request(model_id, messages, system, tools, params, *, stream, provider)``: the body.
    build_request: Callable[..., Dict[str, Any]]


class ChatCompletionsProvider(Provider):
    """A Chat Completions provider: transport, request, response and stream plumbing.

    Subclasses declare what differs between services as class attributes: ``name``, the
    default endpoint, a label for messages and the :class:`ChatWire` (dialect and request
    body).

    Thread-safe: one instance serves every thread. It owns one :class:`Transport` (one
    connection pool), released by :meth:`close`; each stream owns its HTTP response.
    """

    #: The endpoint used when no base URL is configured.
    default_url: ClassVar[str] = ""
    #: The service's name in error messages.
    label: ClassVar[str] = ""
    #: The service's dialect and request builder.
    wire: ClassVar[ChatWire]

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[Any] = None,
        provider_id: Optional[str] = None,
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - a frozen value
    ) -> None:
        """
        :param api_key: the API key; ``None`` sends no ``Authorization`` header (local servers).
        :param base_url: the base or endpoint URL (normalised by :func:`_normalize_chat_url`);
            ``None`` for the service's default.
        :param directive: must be ``None``: these services have no OAuth login.
        :param provider_id: the catalog id, used in every error (default: :attr:`name`).
        :param headers: static headers sent with every request (after ``Authorization``).
        :param timeouts: connect / idle / total timeouts.
        :raises ConfigurationError: for a directive or an invalid base URL.
        :raises AuthenticationFailed: for a key that cannot be sent in a header.
        """
        provider_id = provider_id or self.name
        check_no_directive(directive, provider_id, self.label)
        self._provider_id = provider_id
        self._chat_dialect = self.wire.dialect(provider_id)
        self._url = _normalize_chat_url(base_url, self.default_url)
        static = {**auth_headers(api_key, provider_id), **dict(headers)}
        self._transport = Transport(provider_id, timeouts=timeouts, static_headers=static)

    @property
    def url(self) -> str:
        """The endpoint URL requests go to."""
        return self._url

    def _post(
        self,
        body: Mapping[str, Any],
        token: CancellationToken,
        extra_headers: Optional[Mapping[str, str]],
        stream: bool,
    ) -> HttpResponse:
        try:
            return self._transport.post(
                self._url,
                body,
                headers=dict(extra_headers or {}),
                token=token,
                stream=stream,
                describe_error=describe_http_error,
            )
        except InvalidRequest as error:
            refined = refine_http_error(error, self._chat_dialect)
            if refined is error:
                raise
            raise refined from error

    def complete(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionResponse:
        """Run one completion on the non-streaming endpoint.

        :raises ApiError: any failure, mapped per spec 2.2 (``Cancelled`` when ``token`` fires).
        """
        body = self.wire.build_request(
            model_id, messages, system, tools, call_options, stream=False, provider=self._provider_id
        )
        response = self._post(body, token, extra_headers, stream=False)
        return parse_completion(response.json(), self._chat_dialect)

    def stream_complete(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionStream:
        """Send a streaming request, check its status, and return the chunk stream.

        :raises ApiError: when the request fails before the body streams.
        """
        body = self.wire.build_request(
            model_id, messages, system, tools, call_options, stream=True, provider=self._provider_id
        )
        response = self._post(body, token, extra_headers, stream=True)
        dialect = self._chat_dialect
        return open_chunk_stream(response, lambda events: convert_chat_stream(events, dialect))

    def close(self) -> None:
        """Release the connection pool. Calls in flight may still finish."""
        self._transport.close()
