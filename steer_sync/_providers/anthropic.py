"""Anthropic Messages API: requests out, responses and event streams in (layer L2).

This module translates between steer_sync's values (messages, tools, parameters) and the
Messages API (``POST {base_url}/v1/messages``, spec/anthropic-gemini.md Part 1). It holds
pure converters, :func:`_build_request`, :func:`_parse_response` and
:func:`_convert_stream`, which are tested without a network, and one public class,
:class:`AnthropicProvider`, which sends through :mod:`steer_sync._transport`. Like every
provider it never sleeps, retries, caches or reads credentials: the client does that.

Behaviour follows steer's ``claude/client.rs`` with every recommendation A1-A18 of spec
section 1.12 adopted:

* A1 ``base_url`` is honoured: ``<base>/v1/messages``; a base ending in ``/v1`` or
  ``/v1/messages`` is not doubled.
* A2 stream usage starts from ``message_start.message.usage`` and is updated by the
  fields ``message_delta.usage`` carries (only ``output_tokens`` is required there).
  ``TokenUsage.input_tokens`` counts *every* prompt token: Anthropic's ``input_tokens``
  (the uncached part) plus ``cache_read_input_tokens`` plus
  ``cache_creation_input_tokens``; the two cache counts are also kept on their own
  fields. ``total_tokens`` is the server's when it sends one, else input + output.
* A3 ``stop_reason`` is recorded on ``CompletionResponse.stop_reason``; a ``max_tokens``
  stop that cut a tool call short is logged.
* A4 tool input JSON that does not parse becomes ``{}`` (as in steer) and is logged.
* A5 ``redacted_thinking`` blocks are kept on the stream path too
  (:class:`RedactedThought`); a thinking block whose signature arrived is a
  :class:`SignedThought`, also when its text is empty (the signature must go back). An
  unsigned thought is never re-sent as text while thinking is enabled (it is dropped).
* A6 an in-stream ``error`` event ends the stream with
  ``ErrorChunk(ProviderStreamError)``.
* A7 a body that ends before ``message_stop`` yields
  ``ErrorChunk(SseParse(TRANSPORT, "stream ended before message_stop"))``.
* A8 the in-stream ``api_error`` type (Anthropic's 500) is classified as the retryable
  ``stream_error`` kind; the raw type is kept in ``raw_error_type``.
* A9 HTTP 529 maps to ``ServerError(529)`` (the client's retry set includes 529).
* A10 error bodies are parsed into ``"{type}: {message} (request id: ...)"``, the id from
  the body's ``request_id`` (the describer sees no headers); a body that is not
  Anthropic-shaped keeps the transport's default summary of the raw body.
* A11 consecutive tool results, and a user message directly after them, are sent as
  one user turn, tool_result blocks first.
* A12 with thinking on, ``temperature`` is 1 (omitted when ``top_p`` is sent, because
  recent models refuse both), ``top_p`` is dropped outside [0.95, 1], ``top_k`` is never
  sent, and ``budget_tokens`` is raised to 1024 and kept below ``max_tokens``; when
  ``max_tokens`` is 1024 or less there is no valid budget, so thinking is turned off for
  that request. Without thinking the default temperature 0.7 is left out when the caller
  sets only ``top_p``.
* A13 cancellation interrupts a blocked read (the transport shuts the socket down).
* A14 an empty ``tools`` list is omitted.
* A15 images in assistant turns are dropped (logged); the API accepts them only from
  the user. User images may use a base64 data URL or a plain URL source.
* A16 thinking blocks are moved to the front of a re-sent assistant turn only when the
  turn does not already start with one, so a received order is sent back unchanged.
* A17 connect/read/idle timeouts come from the transport's ``Timeouts``.
* A18 a tool's root schema is always sent as an object schema (see
  :mod:`._anthropic_schema`, which also makes ``type: ["null", "string"]`` a string).

Deviations and additions beyond A1-A18:

* Prompt caching puts its message breakpoint on the *last* tool_result block of the final
  message, not on every one: with A11 several results share a turn, and the API allows
  at most four ``cache_control`` blocks per request.
* With an auth directive, the interleaved-thinking beta is merged into the directive's
  ``anthropic-beta`` header (steer relies on the plugin already listing it). Values
  from per-call ``extra_headers`` for ``anthropic-beta`` are merged as well; any other
  header from ``extra_headers`` replaces the provider's own of the same name.
* An assistant turn made only of blocks this adapter drops (images, unsigned thoughts
  with thinking on) is left out instead of failing the call, so a conversation started
  with another provider's model can continue here.
* A thinking block with an empty text but a signature is kept (steer drops thinking
  whose text is empty), and usage that the server does not report at all is ``None``
  rather than zeros.
* ``complete()`` uses the non-streaming endpoint, like steer's provider.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from steer_sync._auth._directive import (
    AnthropicAuth,
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
    RequestKind,
    apply_instruction_policy,
)
from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import (
    ContentBlockStop,
    ErrorChunk,
    MessageComplete,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import (
    ConfigurationError,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    UnsupportedFeature,
)
from steer_sync._provider import Provider
from steer_sync._providers._anthropic_schema import sanitize_tool_schema
from steer_sync._providers._common import send_with_directive, split_image_data_url
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
    RedactedThought,
    SessionFileSource,
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolMessage,
    ToolSchema,
    UrlSource,
    UserMessage,
)

__all__ = ["AnthropicProvider"]

_log = logging.getLogger("steer_sync.providers.anthropic")

#: The public endpoint's base; the Messages path is appended.
_DEFAULT_BASE_URL = "https://api.anthropic.com"
#: The API version every request pins.
_ANTHROPIC_VERSION = "2023-06-01"
#: Beta flag that lets thinking happen between tool calls (sent whenever thinking is on).
_INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"
#: ``max_tokens`` when the caller sets none (steer's values).
_DEFAULT_MAX_TOKENS = 8000
_DEFAULT_THINKING_MAX_TOKENS = 32000
#: ``budget_tokens`` when thinking is on without a budget (steer's value).
_DEFAULT_THINKING_BUDGET = 4000
#: The smallest budget the API accepts.
_MIN_THINKING_BUDGET = 1024
#: Temperatures steer sends when the caller sets none.
_DEFAULT_TEMPERATURE = 0.7
_THINKING_TEMPERATURE = 1.0
#: ``top_p`` range the API allows with thinking.
_THINKING_TOP_P_RANGE = (0.95, 1.0)

_EPHEMERAL = {"type": "ephemeral"}
_DEFAULT_TIMEOUTS = Timeouts()
#: The in-stream error types we classify differently from the shared table (A8).
_STREAM_ERROR_KINDS = {"api_error": ProviderStreamErrorKind.STREAM_ERROR}
_THINKING_TYPES = ("thinking", "redacted_thinking")


# --- URL and headers --------------------------------------------------------------------


def _endpoint_url(base_url: Optional[str]) -> str:
    """The Messages endpoint for a base URL (A1).

    :param base_url: ``None`` for the public API, or a gateway's base URL.
    :raises ConfigurationError: if it is not an http(s) URL.
    """
    base = (base_url or "").strip() or _DEFAULT_BASE_URL
    if not base.lower().startswith(("http://", "https://")):
        raise ConfigurationError(f"Anthropic base_url must be an http(s) URL, got {base!r}", provider="anthropic")
    base = base.rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    if base.endswith("/v1"):
        return base + "/messages"
    return base + "/v1/messages"


def _merge_beta(current: Optional[str], extra: str) -> str:
    values = [v.strip() for v in (current or "").split(",") if v.strip()]
    for value in (v.strip() for v in extra.split(",")):
        if value and value not in values:
            values.append(value)
    return ",".join(values)


def _build_headers(
    auth: Iterable[Tuple[str, str]],
    *,
    thinking: bool,
    static: Mapping[str, str] = {},
    extra: Optional[Mapping[str, str]] = None,
) -> Dict[str, str]:
    """The headers of one attempt, lower-case names, in sending order.

    :param auth: ``x-api-key``, or the directive's headers.
    :param thinking: whether the request enables thinking (adds the interleaved beta).
    :param static: the provider's configured headers (catalog ``headers``).
    :param extra: the call's ``extra_headers``, applied last.
    """
    headers: Dict[str, str] = {"anthropic-version": _ANTHROPIC_VERSION, "content-type": "application/json"}

    def put(name: str, value: str) -> None:
        key = name.lower()
        if key == "anthropic-beta" and key in headers:
            headers[key] = _merge_beta(headers[key], value)
        else:
            headers[key] = value

    for name, value in auth:
        put(name, value)
    if thinking:
        put("anthropic-beta", _INTERLEAVED_THINKING_BETA)
    for name, value in static.items():
        put(name, value)
    for name, value in (extra or {}).items():
        put(name, value)
    return headers


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


# --- request building -------------------------------------------------------------------


@dataclass
class _Sampling:
    """The length and sampling fields of one request, after the API's rules (A12)."""

    max_tokens: int
    thinking_budget: Optional[int]
    temperature: Optional[float]
    top_p: Optional[float]

    @property
    def thinking(self) -> bool:
        return self.thinking_budget is not None


def _sampling(params: Optional[ModelParameters]) -> _Sampling:
    """Apply steer's defaults and the documented thinking constraints to the parameters."""
    params = params or ModelParameters()
    config = params.thinking_config
    thinking = config is not None and config.enabled
    max_tokens = params.max_output_tokens
    if max_tokens is None:
        max_tokens = _DEFAULT_THINKING_MAX_TOKENS if thinking else _DEFAULT_MAX_TOKENS
    budget: Optional[int] = None
    if thinking and config is not None:
        budget = config.budget_tokens if config.budget_tokens is not None else _DEFAULT_THINKING_BUDGET
        budget = max(budget, _MIN_THINKING_BUDGET)
        if budget >= max_tokens:
            if max_tokens > _MIN_THINKING_BUDGET:
                budget = max_tokens - 1
            else:
                _log.warning(
                    "max_tokens=%d leaves no room for the minimum thinking budget of %d; "
                    "sending this request without thinking",
                    max_tokens,
                    _MIN_THINKING_BUDGET,
                )
                budget = None
    temperature = params.temperature
    top_p = params.top_p
    if budget is not None:
        low, high = _THINKING_TOP_P_RANGE
        if top_p is not None and not low <= top_p <= high:
            _log.debug("dropping top_p=%s: with thinking the API allows only %s..%s", top_p, low, high)
            top_p = None
        if temperature is not None and temperature != _THINKING_TEMPERATURE:
            _log.debug("sending temperature 1 instead of %s: the only value allowed with thinking", temperature)
        temperature = None if top_p is not None else _THINKING_TEMPERATURE
    elif temperature is None and top_p is None:
        temperature = _DEFAULT_TEMPERATURE
    return _Sampling(max_tokens, budget, temperature, top_p)


def _image_block(image: ImageContent, provider: str) -> Dict[str, Any]:
    """An image block for a data URL or URL source (spec 1.4, 1.13).

    :raises InvalidRequest: for a malformed or non-base64 data URL.
    :raises UnsupportedFeature: for a non-image media type or a session-file source.
    """
    source = image.source
    if isinstance(source, UrlSource):
        return {"type": "image", "source": {"type": "url", "url": source.url}}
    if isinstance(source, SessionFileSource):
        raise UnsupportedFeature(
            provider,
            "image input source",
            f"Anthropic adapter cannot access session file '{source.relative_path}' directly; use data URLs",
        )
    if not isinstance(source, DataUrlSource):
        raise UnsupportedFeature(provider, "image input source", f"unknown image source {type(source).__name__}")
    media_type, payload = split_image_data_url(source.data_url, provider, "Anthropic")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": payload}}


def _text_block(text: str) -> Dict[str, Any]:
    return {"type": "text", "text": text}


def _user_blocks(message: Message, data: UserMessage, provider: str) -> List[Dict[str, Any]]:
    blocks: List[Dict[str, Any]] = []
    for content in data.content:
        if isinstance(content, TextContent):
            if content.text.strip():
                blocks.append(_text_block(content.text))
        elif isinstance(content, ImageContent):
            blocks.append(_image_block(content, provider))
        elif isinstance(content, CommandExecution):
            text = content.as_xml()
            if text.strip():
                blocks.append(_text_block(text))
    if not blocks:
        raise InvalidRequest(provider, f"User message ID {message.id} resulted in no valid content blocks")
    return blocks


def _assistant_block(content: AssistantContent, thinking: bool) -> Optional[Dict[str, Any]]:
    if isinstance(content, TextContent):
        return _text_block(content.text) if content.text.strip() else None
    if isinstance(content, ToolCallContent):
        call = content.tool_call
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parameters}
    if isinstance(content, SignedThought):
        return {"type": "thinking", "thinking": content.text, "signature": content.signature}
    if isinstance(content, RedactedThought):
        return {"type": "redacted_thinking", "data": content.data}
    if isinstance(content, SimpleThought):
        if thinking:
            # An unsigned thought cannot be a thinking block, and as text it would put
            # invented words in the model's mouth (A5).
            _log.debug("dropping an unsigned thought from an assistant turn sent with thinking enabled")
            return None
        return _text_block(f"[Thought: {content.text}]")
    if isinstance(content, ImageContent):
        _log.debug("dropping an image from an assistant turn: Anthropic accepts images only from the user")
        return None
    return None


def _assistant_content(message: Message, data: AssistantMessage, thinking: bool, provider: str) -> Any:
    """The ``content`` of an assistant turn, or ``None`` when only droppable blocks made it up.

    :raises InvalidRequest: if the turn has nothing to send at all.
    """
    blocks = [b for b in (_assistant_block(c, thinking) for c in data.content) if b is not None]
    if not blocks:
        if any(isinstance(c, (ImageContent, SimpleThought)) for c in data.content):
            # Only images or unsigned thoughts (say, from another provider's model): leave
            # the turn out rather than fail the whole conversation.
            _log.debug("leaving out assistant message %s: nothing in it can be sent to Anthropic", message.id)
            return None
        raise InvalidRequest(provider, f"Assistant message ID {message.id} resulted in no valid content blocks")
    has_thinking = any(b["type"] in _THINKING_TYPES for b in blocks)
    if has_thinking and blocks[0]["type"] not in _THINKING_TYPES:
        # The API wants a turn's thinking first; reorder only when it is not already (A16).
        blocks = [b for b in blocks if b["type"] in _THINKING_TYPES] + [
            b for b in blocks if b["type"] not in _THINKING_TYPES
        ]
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return blocks[0]["text"]
    return blocks


def _tool_result_block(data: ToolMessage) -> Dict[str, Any]:
    result = data.result
    text = result.llm_format()
    block: Dict[str, Any] = {"type": "tool_result", "tool_use_id": data.tool_use_id}
    if result.is_error:
        # The model is told through is_error; the text is the bare error (spec 1.4).
        if text.startswith("Error: "):
            text = text[len("Error: ") :]
        block["content"] = [_text_block(text)]
        block["is_error"] = True
    else:
        block["content"] = [_text_block(text if text.strip() else "(No output)")]
    return block


def _convert_messages(messages: Sequence[Message], *, thinking: bool, provider: str) -> List[Dict[str, Any]]:
    """Convert the conversation to Messages-API turns (spec 1.4 with A11, A15, A16).

    :raises InvalidRequest: for a message that converts to nothing, or no messages at all.
    :raises UnsupportedFeature: for an image the API cannot take.
    """
    out: List[Dict[str, Any]] = []
    # True while the last turn in ``out`` is a user turn made of tool results (A11).
    open_results = False
    for message in messages:
        data = message.data
        if isinstance(data, ToolMessage):
            block = _tool_result_block(data)
            if open_results:
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
                open_results = True
        elif isinstance(data, UserMessage):
            blocks = _user_blocks(message, data, provider)
            if open_results:
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": "user", "content": blocks})
            open_results = False
        elif isinstance(data, AssistantMessage):
            content = _assistant_content(message, data, thinking, provider)
            if content is not None:
                out.append({"role": "assistant", "content": content})
                open_results = False
        else:  # pragma: no cover - MessageData is closed
            raise InvalidRequest(provider, f"unknown message kind {type(data).__name__}")
    out = [m for m in out if not (isinstance(m["content"], str) and not m["content"].strip())]
    if not out:
        raise InvalidRequest(provider, "No messages provided")
    return out


def _add_message_cache_breakpoint(messages: List[Dict[str, Any]]) -> None:
    """Mark the conversation prefix for prompt caching (spec 1.7).

    Only an agent-loop turn ending in tool results, or a plain-text assistant turn, gets
    a breakpoint; a final plain user turn does not (steer's rule).
    """
    last = messages[-1]
    content = last["content"]
    if isinstance(content, str):
        last["content"] = [{"type": "text", "text": content, "cache_control": dict(_EPHEMERAL)}]
        return
    results = [block for block in content if block.get("type") == "tool_result"]
    if results:
        results[-1]["cache_control"] = dict(_EPHEMERAL)


def _tool_to_wire(tool: ToolSchema) -> Dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": sanitize_tool_schema(tool.input_schema)}


def _build_request(
    model_id: ModelId,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    stream: bool,
    directive: Optional[AnthropicAuth] = None,
    provider: str = "anthropic",
) -> Dict[str, Any]:
    """Build the JSON body of a Messages request (spec 1.3-1.7).

    :param model_id: the model; its ``id`` is sent verbatim.
    :param messages: the conversation.
    :param system: the system prompt, shaped by the directive's instruction policy.
    :param tools: the tools, or ``None``; an empty list is omitted.
    :param params: the merged model parameters.
    :param stream: add ``"stream": true``.
    :param directive: the auth directive, for its instruction policy.
    :param provider: the provider id used in errors.
    :returns: the body, a fresh dict.
    :raises InvalidRequest: if the conversation cannot be sent.
    :raises UnsupportedFeature: for an image the API cannot take.
    """
    sampling = _sampling(params)
    body: Dict[str, Any] = {
        "model": model_id.id,
        "messages": _convert_messages(messages, thinking=sampling.thinking, provider=provider),
        "max_tokens": sampling.max_tokens,
    }
    _add_message_cache_breakpoint(body["messages"])
    policy = directive.instruction_policy if directive is not None else None
    system_text = apply_instruction_policy(system, policy)
    if system_text:
        body["system"] = [{"type": "text", "text": system_text, "cache_control": dict(_EPHEMERAL)}]
    if tools:
        body["tools"] = [_tool_to_wire(tool) for tool in tools]
    if sampling.temperature is not None:
        body["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        body["top_p"] = sampling.top_p
    if stream:
        body["stream"] = True
    if sampling.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": sampling.thinking_budget}
    return body


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


def _preview(value: Any, limit: int = 500) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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


# --- streaming --------------------------------------------------------------------------


@dataclass
class _Block:
    """One content block being streamed."""

    kind: str  # "text" | "thinking" | "tool_use" | "redacted_thinking" | "unknown"
    parts: List[str] = field(default_factory=list)
    signature: Optional[str] = None
    id: str = ""
    name: str = ""
    initial_input: Any = None
    data: str = ""

    def finish(self) -> Optional[AssistantContent]:
        """The finished content, or ``None`` for a block that carries nothing."""
        text = "".join(self.parts)
        if self.kind == "text":
            return TextContent(text) if text else None
        if self.kind == "thinking":
            if self.signature is not None:
                return SignedThought(text, self.signature)
            return SimpleThought(text) if text else None
        if self.kind == "redacted_thinking":
            return RedactedThought(self.data) if self.data else None
        if self.kind == "tool_use":
            if not self.id or not self.name:
                return None
            return ToolCallContent(ToolCall(self.id, self.name, self._parameters(text)))
        return None

    def _parameters(self, text: str) -> Any:
        if not text:
            return self.initial_input if isinstance(self.initial_input, dict) else {}
        try:
            return json.loads(text)
        except ValueError:
            # steer sends {} for unparseable arguments; keep that, but say so (A4).
            _log.warning("tool call %s (%s) has arguments that are not valid JSON; using {}", self.id, self.name)
            return {}


def _index(event: Mapping[str, Any]) -> Optional[int]:
    index = event.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    return index


def _stream_error_kind(raw: Optional[str]) -> ProviderStreamErrorKind:
    if raw is None:
        return ProviderStreamErrorKind.STREAM_ERROR
    return _STREAM_ERROR_KINDS.get(raw) or ProviderStreamErrorKind.from_provider_error_type(raw)


class _StreamState:
    """Folds Messages stream events into chunks and the final response (spec 1.9, A2-A8)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.blocks: Dict[int, _Block] = {}
        self.completed: List[AssistantContent] = []
        self.usage: Dict[str, Any] = {}
        self.stop_reason: Optional[str] = None
        #: Set once message_stop or an error event ended the stream.
        self.done = False

    def handle(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        """Apply one decoded event and return the chunks it produces."""
        kind = event.get("type")
        handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            return []  # ping, and event types this version does not know
        chunks: List[StreamChunk] = handler(event)
        return chunks

    def _on_message_start(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        message = event.get("message")
        if isinstance(message, dict) and isinstance(message.get("usage"), dict):
            self._merge_usage(message["usage"])
        return []

    def _merge_usage(self, usage: Mapping[str, Any]) -> None:
        for name, value in usage.items():
            if _count(value) is not None:
                self.usage[name] = value

    def _on_content_block_start(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        index, start = _index(event), event.get("content_block")
        if index is None or not isinstance(start, dict):
            return []
        kind = start.get("type")
        chunks: List[StreamChunk] = []
        if kind == "text":
            block = _Block("text")
            text = start.get("text")
            if isinstance(text, str) and text:
                block.parts.append(text)
                chunks.append(TextDelta(text))
        elif kind == "thinking":
            block = _Block("thinking")
            text = start.get("thinking")
            if isinstance(text, str) and text:
                block.parts.append(text)
                chunks.append(ThinkingDelta(text))
            signature = start.get("signature")
            if isinstance(signature, str) and signature:
                block.signature = signature
        elif kind == "tool_use":
            tool_id, name = start.get("id"), start.get("name")
            block = _Block(
                "tool_use",
                id=tool_id if isinstance(tool_id, str) else "",
                name=name if isinstance(name, str) else "",
                initial_input=start.get("input"),
            )
            if block.id and block.name:
                chunks.append(ToolUseStart(block.id, block.name))
        elif kind == "redacted_thinking":
            data = start.get("data")
            block = _Block("redacted_thinking", data=data if isinstance(data, str) else "")
        else:
            block = _Block("unknown")  # server tools, web search results...
        self.blocks[index] = block
        return chunks

    def _on_content_block_delta(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        index, delta = _index(event), event.get("delta")
        if index is None or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        block = self.blocks.get(index)
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            text = delta["text"]
            if block is None or block.kind != "text":
                block = self.blocks[index] = _Block("text")
            block.parts.append(text)
            return [TextDelta(text)] if text else []
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            text = delta["thinking"]
            if block is None or block.kind != "thinking":
                block = self.blocks[index] = _Block("thinking")
            block.parts.append(text)
            return [ThinkingDelta(text)] if text else []
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            if block is not None and block.kind == "thinking":
                block.signature = delta["signature"]
            return []
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            partial = delta["partial_json"]
            if block is None or block.kind != "tool_use":
                return []
            block.parts.append(partial)
            return [ToolUseInputDelta(block.id, partial)] if block.id and partial else []
        return []  # citations_delta and future delta types

    def _on_content_block_stop(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        index = _index(event)
        if index is None:
            return []
        block = self.blocks.pop(index, None)
        if block is not None:
            content = block.finish()
            if content is not None:
                self.completed.append(content)
        return [ContentBlockStop(index)]

    def _on_message_delta(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        delta = event.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self.stop_reason = delta["stop_reason"]
        if isinstance(event.get("usage"), dict):
            self._merge_usage(event["usage"])
        return []

    def _on_message_stop(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        self.done = True
        if self.blocks:
            _log.warning("message_stop arrived with %d unfinished content blocks; dropping them", len(self.blocks))
            if self.stop_reason == "max_tokens" and any(b.kind == "tool_use" for b in self.blocks.values()):
                _log.warning("a tool call was cut off by max_tokens")
        response = CompletionResponse(
            tuple(self.completed), _map_usage(self.usage) if self.usage else None, self.stop_reason
        )
        return [MessageComplete(response)]

    def _on_error(self, event: Mapping[str, Any]) -> List[StreamChunk]:
        self.done = True
        error = event.get("error")
        if not isinstance(error, dict):
            error = {}
        raw_type, message = error.get("type"), error.get("message")
        raw = raw_type if isinstance(raw_type, str) and raw_type else None
        if not isinstance(message, str):
            message = ""
        return [ErrorChunk(ProviderStreamError(self.provider, _stream_error_kind(raw), raw, message))]


#: json.loads without its per-call argument checks: this runs once per streamed event.
_json_decode = json.JSONDecoder().decode


def _decode_event(data: str) -> Optional[Dict[str, Any]]:
    try:
        parsed = _json_decode(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _convert_stream(events: Iterable[Any], provider: str = "anthropic") -> Iterator[StreamChunk]:
    """Convert decoded SSE events of a Messages stream into chunks (spec 1.9, A2-A8).

    Dispatches on the JSON ``type`` inside ``data`` (as steer does; the ``event:`` name
    is redundant). Events that do not parse are skipped. The stream ends after
    ``MessageComplete`` or after an error event; a body that ends first yields a
    retryable transport error. Cancellation is the transport's: it interrupts ``events``.

    :param events: ``SseEvent`` values (anything with a ``data`` string).
    :param provider: the provider id for error values.
    """
    state = _StreamState(provider)
    blocks = state.blocks
    for event in events:
        decoded = _decode_event(event.data)
        if decoded is None:
            _log.debug("skipping an Anthropic stream event that is not a JSON object")
            continue
        # Fast path for the event that is nearly every event of a stream: a text delta
        # for an open text block. Anything unusual goes through the general handler.
        if decoded.get("type") == "content_block_delta":
            delta = decoded.get("delta")
            if type(delta) is dict and delta.get("type") == "text_delta":
                text = delta.get("text")
                index = decoded.get("index")
                block = blocks.get(index) if type(index) is int else None
                if type(text) is str and block is not None and block.kind == "text":
                    block.parts.append(text)
                    if text:
                        yield TextDelta(text)
                    continue
        yield from state.handle(decoded)
        if state.done:
            return
    yield ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before message_stop"))


def _is_keepalive(event: Any) -> bool:
    """Whether an event is a ``ping`` (it keeps the idle watchdog quiet, nothing more)."""
    if event.event == "ping":
        return True
    if event.event is None and "ping" in event.data:
        decoded = _decode_event(event.data)
        return decoded is not None and decoded.get("type") == "ping"
    return False


# --- the provider -------------------------------------------------------------------------


class _MergedBetaHeaders(AuthHeaderProvider):
    """A directive's header provider whose ``anthropic-beta`` also lists our beta flags.

    The shared directive send lets later header layers replace earlier ones; Anthropic
    beta flags add up instead, so they are merged into the directive's own header here.
    """

    def __init__(self, inner: AuthHeaderProvider, betas: str) -> None:
        self._inner = inner
        self._betas = betas

    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        pairs = list(self._inner.headers(context))
        current = next((p.value for p in pairs if p.name.lower() == "anthropic-beta"), None)
        merged = _merge_beta(current, self._betas)
        out = [p for p in pairs if p.name.lower() != "anthropic-beta"]
        if merged:
            out.append(HeaderPair("anthropic-beta", merged))
        return out

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        return self._inner.on_auth_error(context)


class AnthropicProvider(Provider):
    """The Anthropic Messages API (``api_format = "anthropic"``).

    Authenticates with an API key (``x-api-key``) or with an auth directive, whose header
    provider is asked for fresh headers on every attempt, whose query parameters are added
    to the URL and whose instruction policy shapes the system prompt; a directive gets one
    refresh-and-retry on 401/403. ``stream_complete`` sends the request and checks the
    status before it returns; ``complete`` uses the non-streaming endpoint.

    Thread-safe: one instance serves every thread; its configuration never changes after
    construction. It owns one transport (a pooled HTTP session), released by :meth:`close`.

    Usage::

        provider = AnthropicProvider(api_key="sk-ant-...")
        response = provider.complete(ModelId("anthropic", "claude-sonnet-4-5"), [Message.user("hi")],
                                     None, None, None, CancellationToken())
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        directive: Optional[AnthropicAuth] = None,
        provider_id: str = "anthropic",
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
    ) -> None:
        """
        :param api_key: the API key; ignored when ``directive`` is given; ``None`` sends no
            key (a gateway that needs none).
        :param base_url: the API base (default ``https://api.anthropic.com``); the endpoint is
            ``<base>/v1/messages``, and a base already ending in ``/v1`` is not doubled.
        :param directive: an auth plugin's directive, used instead of the key.
        :param provider_id: the provider id errors carry (a catalog provider's own id).
        :param headers: headers sent with every request, after the provider's own.
        :param timeouts: connect, read, stream-idle and total timeouts.
        :raises ConfigurationError: if ``base_url`` is not an http(s) URL.
        """
        self._provider_id = str(provider_id)
        try:
            self._url = _endpoint_url(base_url)
        except ConfigurationError as error:
            raise ConfigurationError(error.details or str(error), provider=self._provider_id) from None
        self._api_key = api_key
        self._directive = directive
        self._static_headers = dict(headers)
        self._transport = Transport(self._provider_id, timeouts=timeouts)

    @property
    def name(self) -> str:
        """Always ``"anthropic"``."""
        return "anthropic"

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

        :raises ApiError: ``InvalidRequest``/``UnsupportedFeature`` before sending for a
            conversation the API cannot take, the mapped HTTP error for a non-2xx status,
            ``Cancelled``, ``NetworkError``, ``ApiTimeout``, or ``ResponseParsingError``.
        """
        body = _build_request(
            model_id,
            messages,
            system,
            tools,
            call_options,
            stream=False,
            directive=self._directive,
            provider=self._provider_id,
        )
        response = self._send(body, model_id, RequestKind.COMPLETE, token, extra_headers, stream=False)
        return _parse_response(response.json(), self._provider_id)

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

        :raises ApiError: as :meth:`complete`, for failures before the body streams; later
            failures arrive as an ``ErrorChunk``.
        """
        body = _build_request(
            model_id,
            messages,
            system,
            tools,
            call_options,
            stream=True,
            directive=self._directive,
            provider=self._provider_id,
        )
        response = self._send(body, model_id, RequestKind.STREAM, token, extra_headers, stream=True)
        provider = self._provider_id
        return open_chunk_stream(response, lambda events: _convert_stream(events, provider), is_keepalive=_is_keepalive)

    def _send(
        self,
        body: Dict[str, Any],
        model_id: ModelId,
        kind: RequestKind,
        token: CancellationToken,
        extra_headers: Optional[Mapping[str, str]],
        *,
        stream: bool,
    ) -> HttpResponse:
        thinking = "thinking" in body
        directive = self._directive
        if directive is None:
            auth = [("x-api-key", self._api_key)] if self._api_key else []
            headers = _build_headers(auth, thinking=thinking, static=self._static_headers, extra=extra_headers)
            return self._transport.post(
                self._url, body, headers=headers, token=token, stream=stream, describe_error=_describe_error
            )
        # Directive mode: the shared send fetches fresh headers per attempt and retries a
        # 401/403 once; beta flags from every layer are merged into the directive's header.
        base = _build_headers((), thinking=False, static=self._static_headers)
        betas = [_INTERLEAVED_THINKING_BETA] if thinking else []
        static_beta = base.pop("anthropic-beta", None)
        if static_beta:
            betas.append(static_beta)
        extra: Dict[str, str] = {}
        for name, value in (extra_headers or {}).items():
            if name.lower() == "anthropic-beta":
                betas.append(value)
            else:
                extra[name] = value
        params = {param.name: param.value for param in directive.query_params}
        return send_with_directive(
            self._transport,
            self._url,
            body,
            base_headers=base,
            directive_headers=_MergedBetaHeaders(directive.headers, ",".join(betas)),
            request_kind=kind,
            model_id=model_id.id,
            token=token,
            params=params or None,
            stream=stream,
            describe_error=_describe_error,
            extra_headers=extra,
        )

    def close(self) -> None:
        """Release the pooled connections. Calls in flight may still finish."""
        self._transport.close()

    def __repr__(self) -> str:
        auth = "directive" if self._directive is not None else ("api-key" if self._api_key else "none")
        return f"AnthropicProvider(provider_id={self._provider_id!r}, url={self._url!r}, auth={auth})"
