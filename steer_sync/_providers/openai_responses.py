"""Translate calls to and from the OpenAI Responses API, ``POST {base}/responses`` (layer L2).

The module has three parts: pure request building (:func:`_build_request`), pure response
parsing (:func:`_parse_response`, :func:`_convert_stream`, :func:`_describe_http_error`), and the
small :class:`OpenAIResponsesProvider` that sends through the shared transport. It follows
``spec/openai-xai.md`` sections 2-4 and steer's ``openai/responses.rs``; where the spec's
section 10 recommends improving on steer, this module does so:

* Q1: ``tool_choice`` is ``"auto"`` (steer sends ``null``); an empty tool list sends neither
  ``tools`` nor ``tool_choice``.
* Q2/Q3: ``top_p`` is sent when configured. ``temperature`` and ``top_p`` are left out when
  ``reasoning`` is sent, because OpenAI's reasoning models reject sampling parameters.
* Q4: ``store`` stays ``false``, so reasoning is kept client-side. Whenever ``reasoning`` is sent
  the request also asks for ``include: ["reasoning.encrypted_content"]`` (steer asks only in
  directive mode). A reasoning item with encrypted content becomes a
  ``SignedThought(summary text, "openai-responses:" + encrypted_content)``, and the next request
  sends it back as ``{"type": "reasoning", "summary": [...], "encrypted_content": ...}`` in its
  original position (without the item ``id``, which a ``store: false`` request must not
  reference). The ``openai-responses:`` prefix marks where the signature came from, so
  signatures from other providers in a mixed history are never sent to OpenAI (OpenAI would
  reject them), and other providers can recognise and skip OpenAI's. Other thoughts are
  dropped, as in steer.
* Assistant content keeps its order: consecutive text/image blocks form one ``message`` item
  and reasoning and ``function_call`` items stay where they were (steer sends all text first,
  then all calls; the two agree for every history steer itself produces).
* Q5: the final streamed response is built from the terminal event's ``response.output`` when
  that list yields content (the same parser as the non-streaming path), else from the deltas
  (the ChatGPT backend sends an empty ``output``).
* Q6: ``response.incomplete`` ends the stream with ``MessageComplete`` carrying what was
  generated and ``stop_reason`` = ``incomplete_details.reason`` (e.g. ``"max_output_tokens"``);
  the non-streaming path reports the same. A completed response has ``stop_reason``
  ``"completed"``.
* Q7/Q8: in-stream errors are classified by ``code`` first, then ``type``; ``server_error`` and
  ``internal_error`` map to a retryable kind (``stream_error`` for ``error`` events,
  ``response_failed`` for ``response.failed``), ``server_is_overloaded`` to ``overloaded_error``;
  unknown codes are not retryable. ``raw_error_type`` keeps the provider's code.
* Q9/Q10: error envelopes with ``code: null`` use their ``message``; usage and all other fields
  are read leniently (missing counts are 0, unknown fields and events are ignored).
  ``cached_tokens`` and ``reasoning_tokens`` fill ``TokenUsage``'s cache-read and reasoning counts.
* Q11: events are dispatched on the SSE ``event:`` name, falling back to the JSON ``type`` when
  the name is missing or ``message``.
* Q12: reasoning summary parts are joined with a blank line (``"\\n\\n"``) in both paths; the
  stream emits the separator as part of the first delta of each new part.
* Q13/Q14: empty deltas are skipped; a summary ``.done`` event whose key is incomplete is
  de-duplicated against the output item, or against its own text when it has no key at all.
* Q15: initial arguments on ``output_item.added`` and arguments that only a ``.done`` event
  completes are emitted as ``ToolUseInputDelta``, so the deltas always add up.
* Gateways that send only ``output_item.done`` (no deltas) still produce deltas.
* Directive mode: with ``require_streaming``, :meth:`OpenAIResponsesProvider.complete` reads a
  stream instead of raising steer's ``Configuration`` error. The 401/403 retry is the shared
  ``send_with_directive``; it consults ``on_auth_error`` again on a second refusal (steer's
  behaviour; Q27's "skip the hook" would belong there, not here).
* Q25: cancellation is uniform (the transport shuts the socket down while sending, waiting
  for headers or reading).
* Q26: :func:`_responses_url` tests suffixes on the URL path (query strings survive) and
  accepts any version segment; a base URL that is not an absolute http(s) URL is a
  ``ConfigurationError`` (steer appends to it blindly).
* Non-streaming reasoning items without a summary fall back to their raw ``content`` text.
* Q30: errors carry the configured provider id; :attr:`OpenAIResponsesProvider.name` stays
  ``"openai"``.
* A stream that ends before a terminal event yields
  ``ErrorChunk(SseParse(TRANSPORT, ...))`` (steer just ends); a non-streaming body whose
  ``status`` is ``"failed"`` raises the same error ``collect()`` would for ``response.failed``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from steer_sync._auth._directive import OpenAiResponsesAuth, RequestKind, apply_instruction_policy
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
    AuthenticationFailed,
    ConfigurationError,
    ProviderStreamError,
    ProviderStreamErrorKind,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    UnsupportedFeature,
)
from steer_sync._provider import Provider
from steer_sync._providers._common import merge_headers, normalize_endpoint_url, send_with_directive
from steer_sync._sse import SseEvent
from steer_sync._stream import CompletionStream, stream_error_to_api_error
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
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingEffort,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolMessage,
    ToolSchema,
    UrlSource,
    UserMessage,
)

__all__ = ["OpenAIResponsesProvider"]

_log = logging.getLogger("steer_sync.providers.openai_responses")

#: The implementation name (also for custom OpenAI-compatible providers).
_NAME = "openai"
_DEFAULT_URL = "https://api.openai.com/v1/responses"
#: Marks a SignedThought whose signature is an OpenAI ``encrypted_content``.
_SIGNATURE_PREFIX = "openai-responses:"
_ENCRYPTED_REASONING = "reasoning.encrypted_content"
_SUMMARY_SEPARATOR = "\n\n"
#: The most characters of a non-JSON error body kept as an error's details.
_RAW_DETAILS_MAX = 2000
_EFFORTS = {
    ThinkingEffort.LOW: "low",
    ThinkingEffort.MEDIUM: "medium",
    ThinkingEffort.HIGH: "high",
    ThinkingEffort.XHIGH: "xhigh",
}
_TOOL_ITEM_TYPES = frozenset({"function_call", "custom_tool_call", "mcp_call"})

JsonObject = Dict[str, Any]


# --- small lenient readers ---------------------------------------------------------------


def _str(obj: Mapping[str, Any], key: str) -> Optional[str]:
    """``obj[key]`` when it is a non-empty string."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _first_str(obj: Mapping[str, Any], keys: Sequence[str]) -> Optional[str]:
    for key in keys:
        value = _str(obj, key)
        if value is not None:
            return value
    return None


def _int(obj: Any, key: str) -> int:
    """``obj[key]`` as a non-negative int; 0 when missing or not a number."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return max(int(value), 0)


def _loads(data: str) -> Optional[JsonObject]:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _dumps(value: Any) -> str:
    # The bytes steer sends: compact, key order kept, non-ASCII raw.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- URL -------------------------------------------------------------------------------------


def _responses_url(base_url: Optional[str]) -> str:
    """Turn a configured base URL into the Responses endpoint (spec 2.1, improved per Q26).

    The rule reads the URL *path* only, so a query string (``?api-version=...``) survives:

    * a path ending in ``/responses`` is the endpoint already and is kept (the Codex URL);
    * a path ending in ``/chat/completions`` (copied from a Chat setup) loses that suffix first;
    * an empty path gets ``/v1/responses``;
    * a path with a version segment anywhere (``/v1``, ``/api/v1``, ``/v2``, ``/v1beta/openai``,
      ``/v1/<account>/<gateway>/openai``) gets ``/responses``;
    * any other path gets ``/v1/responses``.

    A trailing ``/`` is ignored. Give the full endpoint URL for a server that fits none of these.
    This is the same rule as the Chat Completions normaliser, so the two can share one helper.

    :param base_url: the configured base URL, or ``None``/blank for OpenAI's.
    :returns: the endpoint URL.
    :raises ConfigurationError: if ``base_url`` is not an absolute ``http``/``https`` URL.
    """
    return normalize_endpoint_url(base_url, _DEFAULT_URL, "/responses", replace=("/chat/completions",))


# --- request ---------------------------------------------------------------------------------


def _image_url(image: ImageContent, provider: str) -> str:
    source = image.source
    if isinstance(source, DataUrlSource):
        return source.data_url
    if isinstance(source, UrlSource):
        return source.url
    path = source.relative_path if isinstance(source, SessionFileSource) else repr(source)
    raise UnsupportedFeature(
        provider,
        "image input source",
        f"the OpenAI Responses API cannot read session file {path!r}; send the image as a data URL or a public URL",
    )


def _user_item(message: UserMessage, provider: str) -> Optional[JsonObject]:
    parts: List[JsonObject] = []
    for block in message.content:
        if isinstance(block, TextContent):
            parts.append({"type": "input_text", "text": block.text})
        elif isinstance(block, CommandExecution):
            parts.append({"type": "input_text", "text": block.as_xml()})
        elif isinstance(block, ImageContent):
            parts.append({"type": "input_image", "image_url": _image_url(block, provider), "detail": "auto"})
    return {"role": "user", "content": parts} if parts else None


def _reasoning_item(signature: str, text: str) -> JsonObject:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"type": "reasoning", "summary": summary, "encrypted_content": signature[len(_SIGNATURE_PREFIX) :]}


def _assistant_items(message: AssistantMessage) -> List[JsonObject]:
    items: List[JsonObject] = []
    parts: List[JsonObject] = []

    def flush() -> None:
        if parts:
            items.append({"role": "assistant", "content": list(parts)})
            parts.clear()

    for block in message.content:
        if isinstance(block, TextContent):
            parts.append({"type": "output_text", "text": block.text, "annotations": []})
        elif isinstance(block, ImageContent):
            parts.append({"type": "output_text", "text": f"[Image: {block.mime_type}]", "annotations": []})
        elif isinstance(block, ToolCallContent):
            flush()
            call = block.tool_call
            items.append(
                {"type": "function_call", "call_id": call.id, "name": call.name, "arguments": _dumps(call.parameters)}
            )
        elif isinstance(block, SignedThought) and block.signature.startswith(_SIGNATURE_PREFIX):
            flush()
            items.append(_reasoning_item(block.signature, block.text))
        # Any other thought is the provider's private reasoning (or another provider's): dropped.
    flush()
    return items


def _input_items(messages: Sequence[Message], provider: str) -> List[JsonObject]:
    """Convert the conversation to Responses ``input`` items (spec 4.3.2, with Q4).

    :raises UnsupportedFeature: for an image stored as a session file.
    """
    items: List[JsonObject] = []
    for message in messages:
        data = message.data
        if isinstance(data, UserMessage):
            item = _user_item(data, provider)
            if item is not None:
                items.append(item)
        elif isinstance(data, AssistantMessage):
            items.extend(_assistant_items(data))
        elif isinstance(data, ToolMessage):
            items.append(
                {"type": "function_call_output", "call_id": data.tool_use_id, "output": data.result.llm_format()}
            )
    return items


def _tool_to_wire(tool: ToolSchema) -> JsonObject:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.input_schema),
        "strict": False,
    }


def _reasoning(params: Optional[ModelParameters]) -> Optional[JsonObject]:
    thinking = params.thinking_config if params is not None else None
    if thinking is None or not thinking.enabled:
        return None
    effort = _EFFORTS.get(thinking.effort, "medium") if thinking.effort is not None else "medium"
    return {"effort": effort, "summary": "detailed"}


def _build_request(
    model_id: ModelId,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    directive: Optional[OpenAiResponsesAuth] = None,
    stream: bool = False,
    provider: str = _NAME,
) -> JsonObject:
    """Build the request body (spec 4.3; deviations in the module docstring).

    :param model_id: ``model_id.id`` is sent as ``model``.
    :param messages: the conversation.
    :param system: the system context, sent as ``instructions``.
    :param tools: the tools, or ``None``.
    :param params: the merged model parameters.
    :param directive: the auth directive, when one authenticates the call.
    :param stream: whether to ask for an event stream.
    :param provider: the provider id, for errors.
    :returns: the JSON body as a dict, keys in steer's order.
    :raises UnsupportedFeature: for an image stored as a session file.
    """
    body: JsonObject = {"model": model_id.id}
    items = _input_items(messages, provider)
    if items:
        body["input"] = items
    instructions = apply_instruction_policy(system, directive.instruction_policy if directive is not None else None)
    if instructions is not None:
        body["instructions"] = instructions
    reasoning = _reasoning(params)
    if params is not None:
        if reasoning is None:
            # Reasoning models reject sampling parameters, so they only go with non-reasoning calls.
            if params.temperature is not None:
                body["temperature"] = params.temperature
            if params.top_p is not None:
                body["top_p"] = params.top_p
        # The ChatGPT (Codex) backend rejects max_output_tokens.
        if params.max_output_tokens is not None and directive is None:
            body["max_output_tokens"] = params.max_output_tokens
    body["parallel_tool_calls"] = True
    body["store"] = False
    if stream:
        body["stream"] = True
    if tools:
        body["tools"] = [_tool_to_wire(tool) for tool in tools]
        body["tool_choice"] = "auto"
    include: List[str] = list(directive.include) if directive is not None else []
    if reasoning is not None:
        body["reasoning"] = reasoning
        if _ENCRYPTED_REASONING not in include:
            include.append(_ENCRYPTED_REASONING)
    if include:
        body["include"] = include
    return body


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
    # The raw body, like steer, but bounded: a proxy's HTML error page can be large.
    return text if len(text) <= _RAW_DETAILS_MAX else text[:_RAW_DETAILS_MAX] + "..."


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


def _error_event(data: Optional[JsonObject], raw_data: str, provider: str) -> ProviderStreamError:
    """Classify an ``error`` event (spec 4.7.4, Q7)."""
    error = data.get("error") if data is not None and isinstance(data.get("error"), Mapping) else data
    if error is None:
        return ProviderStreamError(provider, ProviderStreamErrorKind.STREAM_ERROR, "stream_error", raw_data)
    code = _str(error, "code")
    error_type = _str(error, "type")
    message = error.get("message")
    if code is None and not isinstance(message, str):
        return ProviderStreamError(provider, ProviderStreamErrorKind.STREAM_ERROR, "stream_error", raw_data)
    # The event's own "type" is the literal "error", which says nothing about the failure.
    specific_type = error_type if error_type != "error" else None
    raw = code or error_type or "error"
    kind = _classify((code, specific_type), ProviderStreamErrorKind.STREAM_ERROR)
    text = message.strip() if isinstance(message, str) else ""
    return ProviderStreamError(
        provider,
        kind or ProviderStreamErrorKind.from_provider_error_type(raw),
        raw,
        text or (f"OpenAI response error ({code})" if code else raw_data),
    )


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


def _response_failed_event(data: Optional[JsonObject], raw_data: str, provider: str) -> ProviderStreamError:
    if data is None:
        return ProviderStreamError(provider, ProviderStreamErrorKind.RESPONSE_FAILED, "response_failed", raw_data)
    response = data.get("response")
    return _failed_error(response if isinstance(response, Mapping) else data, provider)


# --- stream ----------------------------------------------------------------------------------


@dataclass(eq=False)
class _TextBlock:
    text: str = ""


@dataclass(eq=False)
class _ThinkingBlock:
    text: str = ""
    #: The last summary part appended (a new part gets a separator).
    part: Optional[int] = None
    #: The reasoning item's encrypted content, when it sent one.
    encrypted: Optional[str] = None


@dataclass(eq=False)
class _CallBlock:
    key: str


_Block = Union[_TextBlock, _ThinkingBlock, _CallBlock]


def _summary_index(data: Mapping[str, Any]) -> Optional[int]:
    for container in (data, data.get("part")):
        if not isinstance(container, Mapping):
            continue
        value = container.get("summary_index")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    return None


def _item_key(data: Mapping[str, Any]) -> Optional[str]:
    item_id = data.get("item_id")
    if isinstance(item_id, str):
        return item_id
    index = data.get("output_index")
    return f"output_{index}" if isinstance(index, int) and not isinstance(index, bool) else None


@dataclass
class _StreamState:
    """What the stream converter remembers between events (spec 4.7.1)."""

    blocks: List[_Block] = field(default_factory=list)
    #: key (call id, or an item id not yet mapped) -> [name, arguments].
    calls: Dict[str, List[str]] = field(default_factory=dict)
    call_blocks: Dict[str, _CallBlock] = field(default_factory=dict)
    started: Set[str] = field(default_factory=set)
    item_to_call: Dict[str, str] = field(default_factory=dict)
    pending: Dict[str, List[str]] = field(default_factory=dict)
    #: reasoning item id -> its thinking block.
    reasoning: Dict[str, _ThinkingBlock] = field(default_factory=dict)
    summary_seen: Set[str] = field(default_factory=set)
    summary_done: Set[str] = field(default_factory=set)
    summary_items_seen: Set[str] = field(default_factory=set)
    summary_items_done: Set[str] = field(default_factory=set)
    any_summary_delta: bool = False
    last_keyless_summary: Optional[str] = None
    #: message item ids that streamed text, and whether any text came without an item id.
    text_items: Set[str] = field(default_factory=set)
    anonymous_text: bool = False

    # text and thinking ------------------------------------------------------------------

    def append_text(self, delta: str) -> TextDelta:
        last = self.blocks[-1] if self.blocks else None
        if isinstance(last, _TextBlock):
            last.text += delta
        else:
            self.blocks.append(_TextBlock(delta))
        return TextDelta(delta)

    def thinking_block(self, item_id: Optional[str]) -> _ThinkingBlock:
        if item_id:
            block = self.reasoning.get(item_id)
            if block is None:
                block = self.reasoning[item_id] = _ThinkingBlock()
                self.blocks.append(block)
            return block
        last = self.blocks[-1] if self.blocks else None
        if isinstance(last, _ThinkingBlock):
            return last
        block = _ThinkingBlock()
        self.blocks.append(block)
        return block

    def append_thinking(self, delta: str, item_id: Optional[str], part: Optional[int]) -> ThinkingDelta:
        block = self.thinking_block(item_id)
        if block.text and part is not None and part != block.part:
            delta = _SUMMARY_SEPARATOR + delta
        block.text += delta
        if part is not None:
            block.part = part
        return ThinkingDelta(delta)

    def should_emit_summary_done(self, data: Mapping[str, Any], text: str) -> bool:
        # Q14: fall back to the item, then to the text, when the key is incomplete.
        item = _item_key(data)
        index = _summary_index(data)
        if item is not None and index is not None:
            key = f"{item}:{index}"
            emit = key not in self.summary_seen and key not in self.summary_done
            self.summary_done.add(key)
            self.summary_items_done.add(item)
            return emit
        if item is not None:
            emit = item not in self.summary_items_seen and item not in self.summary_items_done
            self.summary_items_done.add(item)
            return emit
        emit = not self.any_summary_delta and text != self.last_keyless_summary
        self.last_keyless_summary = text
        return emit

    # tool calls ---------------------------------------------------------------------------

    def ensure_placeholder(self, key: str) -> None:
        if key not in self.call_blocks:
            self.calls.setdefault(key, ["", ""])
            block = self.call_blocks[key] = _CallBlock(key)
            self.blocks.append(block)

    def resolve_for_event(self, data: Mapping[str, Any]) -> Optional[Tuple[str, bool]]:
        """``(key, resolved)``: a call id, or an unmapped item id (``resolved=False``)."""
        call_id = _str(data, "call_id")
        if call_id is not None:
            return call_id, True
        item_id = _str(data, "item_id")
        if item_id is not None:
            mapped = self.item_to_call.get(item_id)
            return (mapped, True) if mapped is not None else (item_id, False)
        any_id = _str(data, "id")
        if any_id is not None:
            return self.item_to_call.get(any_id, any_id), True
        return None

    def resolve_call_id(self, obj: Mapping[str, Any]) -> Optional[str]:
        call_id = _str(obj, "call_id")
        if call_id is not None:
            return call_id
        candidate = _first_str(obj, ("item_id", "id"))
        return self.item_to_call.get(candidate, candidate) if candidate is not None else None

    def add_args(self, key: str, delta: str, resolved: bool) -> List[StreamChunk]:
        self.calls.setdefault(key, ["", ""])[1] += delta
        self.ensure_placeholder(key)
        if resolved and key in self.started:
            return [ToolUseInputDelta(key, delta)]
        self.pending.setdefault(key, []).append(delta)
        return []

    def finish_args(self, key: str, arguments: str) -> List[StreamChunk]:
        """A ``.done`` event's full arguments replace the accumulated ones (Q15)."""
        entry = self.calls.setdefault(key, ["", ""])
        self.ensure_placeholder(key)
        previous, entry[1] = entry[1], arguments
        if previous == arguments:
            return []
        if key not in self.started:
            self.pending[key] = [arguments]
            return []
        if arguments.startswith(previous):
            return [ToolUseInputDelta(key, arguments[len(previous) :])]
        _log.debug("arguments of call %s were replaced by its done event", key)
        return []

    def register(self, call_id: str, name: Optional[str], args: Optional[str]) -> List[StreamChunk]:
        entry = self.calls.setdefault(call_id, ["", ""])
        if name and not entry[0]:
            entry[0] = name
        if args and not entry[1]:
            entry[1] = args
            self.pending[call_id] = [args]
        self.ensure_placeholder(call_id)
        chunks: List[StreamChunk] = []
        if entry[0] and call_id not in self.started:
            self.started.add(call_id)
            chunks.append(ToolUseStart(call_id, entry[0]))
        if call_id in self.started:
            chunks.extend(ToolUseInputDelta(call_id, d) for d in self.pending.pop(call_id, ()))
        return chunks

    def promote(self, provisional: str, call_id: str) -> None:
        """Merge what was collected under an item id into its call id (spec 4.7.1)."""
        if provisional == call_id:
            return
        if provisional in self.calls:
            name, args = self.calls.pop(provisional)
            entry = self.calls.setdefault(call_id, ["", ""])
            if not entry[0]:
                entry[0] = name
            if not entry[1] or len(args) > len(entry[1]):
                entry[1] = args
        if provisional in self.pending:
            self.pending.setdefault(call_id, []).extend(self.pending.pop(provisional))
        if provisional in self.started:
            self.started.discard(provisional)
            self.started.add(call_id)
        moved = self.call_blocks.pop(provisional, None)
        if moved is None:
            return
        existing = self.call_blocks.get(call_id)
        if existing is None:
            moved.key = call_id
            self.call_blocks[call_id] = moved
        elif self.blocks.index(moved) < self.blocks.index(existing):
            self.blocks.remove(existing)
            moved.key = call_id
            self.call_blocks[call_id] = moved
        else:
            self.blocks.remove(moved)

    def tool_item(self, item: Mapping[str, Any]) -> List[StreamChunk]:
        """``output_item.added`` / ``.done`` of a tool call item."""
        call_id = self.resolve_call_id(item)
        if call_id is None:
            _log.debug("ignoring a tool call item without an id")
            return []
        item_id = _first_str(item, ("id", "item_id"))
        if item_id is not None:
            self.item_to_call[item_id] = call_id
            self.promote(item_id, call_id)
        return self.register(call_id, _first_str(item, ("name", "tool_name")), _first_str(item, ("arguments", "input")))

    # final ------------------------------------------------------------------------------------

    def content(self) -> List[AssistantContent]:
        content: List[AssistantContent] = []
        for block in self.blocks:
            if isinstance(block, _TextBlock):
                if block.text:
                    content.append(TextContent(block.text))
            elif isinstance(block, _ThinkingBlock):
                thought = _thought(block.text, block.encrypted)
                if thought is not None:
                    content.append(thought)
            else:
                name, args = self.calls.get(block.key, ("", ""))
                if block.key and name:
                    content.append(ToolCallContent(ToolCall(block.key, name, _parse_args(args, name))))
                else:
                    _log.debug("dropping tool call %r without a name", block.key)
        return content


_TEXT_EVENTS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_REASONING_EVENTS = frozenset(
    {"response.reasoning.delta", "response.reasoning_text.delta", "response.reasoning_summary_text.delta"}
)
_SUMMARY_DONE_EVENTS = frozenset({"response.reasoning_summary_text.done", "response.reasoning_summary_part.done"})
_ARGS_DELTA_EVENTS = frozenset(
    {
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.mcp_call_arguments.delta",
    }
)
_ARGS_DONE_EVENTS = frozenset(
    {
        "response.function_call_arguments.done",
        "response.custom_tool_call_input.done",
        "response.mcp_call_arguments.done",
    }
)
_TERMINAL_EVENTS = {"response.completed": "completed", "response.incomplete": "incomplete"}


def _event_name(event: SseEvent, data: Optional[JsonObject]) -> Optional[str]:
    # Q11: servers that omit "event:" lines still say what the event is in the JSON "type".
    if event.event and event.event != "message":
        return event.event
    kind = data.get("type") if data is not None else None
    return kind if isinstance(kind, str) else event.event


def _convert_stream(events: Iterable[SseEvent], provider: str = _NAME) -> Iterator[StreamChunk]:
    """Turn Responses SSE events into stream chunks (spec 4.7, improved per the module docstring).

    Pure: no I/O. The transport interrupts ``events`` when the call is cancelled (before
    any further event, buffered or not) or the connection fails.

    :param events: decoded SSE events.
    :param provider: the provider id carried by errors.
    :returns: an iterator of chunks ending in ``MessageComplete`` or ``ErrorChunk``.
    """
    state = _StreamState()
    for event in events:
        data = _loads(event.data)
        name = _event_name(event, data)
        if name == "error":
            yield ErrorChunk(_error_event(data, event.data, provider))
            return
        if name == "response.failed":
            yield ErrorChunk(_response_failed_event(data, event.data, provider))
            return
        if data is None:
            _log.debug("skipping %s event whose data is not a JSON object", name)
            continue
        if name in _TERMINAL_EVENTS:
            yield MessageComplete(_final_response(state, data, _TERMINAL_EVENTS[name]))
            return
        yield from _handle(state, name, data)
    yield ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before response.completed"))


def _final_response(state: _StreamState, data: JsonObject, terminal: str) -> CompletionResponse:
    response = data.get("response")
    response = response if isinstance(response, Mapping) else {}
    usage = _parse_usage(response.get("usage") if "usage" in response else data.get("usage"))
    # Q5: the terminal event's output is authoritative when it carries content.
    content = _parse_output(response.get("output")) or state.content()
    return CompletionResponse(tuple(content), usage, _stop_reason(response, terminal))


def _handle(state: _StreamState, name: Optional[str], data: JsonObject) -> Iterator[StreamChunk]:
    """Apply one non-terminal event to ``state`` and yield its chunks."""
    if name in _TEXT_EVENTS:
        delta = data.get("delta")
        if isinstance(delta, str) and delta:
            item_id = _str(data, "item_id")
            if item_id is None:
                state.anonymous_text = True
            else:
                state.text_items.add(item_id)
            yield state.append_text(delta)
    elif name in _REASONING_EVENTS:
        delta = data.get("delta")
        if isinstance(delta, str) and delta:
            part = None
            if name == "response.reasoning_summary_text.delta":
                part = _summary_index(data)
                item = _item_key(data)
                state.any_summary_delta = True
                if item is not None:
                    state.summary_items_seen.add(item)
                    if part is not None:
                        state.summary_seen.add(f"{item}:{part}")
            yield state.append_thinking(delta, _str(data, "item_id"), part)
    elif name in _SUMMARY_DONE_EVENTS:
        text = data.get("text")
        if not isinstance(text, str):
            part_obj = data.get("part")
            text = (
                part_obj.get("text")
                if isinstance(part_obj, Mapping) and part_obj.get("type") == "summary_text"
                else None
            )
        if isinstance(text, str) and state.should_emit_summary_done(data, text) and text:
            yield state.append_thinking(text, _str(data, "item_id"), _summary_index(data))
    elif name in _ARGS_DELTA_EVENTS:
        delta = _first_str(data, ("delta", "input", "arguments"))
        target = state.resolve_for_event(data)
        if delta is not None and target is not None:
            yield from state.add_args(target[0], delta, target[1])
    elif name in _ARGS_DONE_EVENTS:
        target = state.resolve_for_event(data)
        arguments = _first_str(data, ("arguments", "input", "delta"))
        if target is not None and arguments is not None:
            yield from state.finish_args(target[0], arguments)
    elif name == "response.function_call.created":
        call_id = state.resolve_call_id(data)
        if call_id is not None:
            yield from state.register(
                call_id, _first_str(data, ("name", "tool_name")), _first_str(data, ("arguments", "input"))
            )
    elif name == "response.output_item.added":
        yield from _item_added(state, data.get("item"))
    elif name == "response.output_item.done":
        yield from _item_done(state, data.get("item"))
    else:
        # response.created / in_progress / queued, content_part.*, *.done, annotations,
        # built-in tool progress: nothing to show.
        _log.debug("ignoring %s event", name)


def _item_added(state: _StreamState, item: Any) -> Iterator[StreamChunk]:
    if not isinstance(item, Mapping):
        return
    kind = item.get("type")
    if kind in _TOOL_ITEM_TYPES:
        yield from state.tool_item(item)
    elif kind == "reasoning":
        block = state.thinking_block(_str(item, "id"))
        block.encrypted = _str(item, "encrypted_content") or block.encrypted


def _item_done(state: _StreamState, item: Any) -> Iterator[StreamChunk]:
    """Complete what deltas may have missed (servers that only send finished items)."""
    if not isinstance(item, Mapping):
        return
    kind = item.get("type")
    if kind in _TOOL_ITEM_TYPES:
        chunks = state.tool_item(item)
        call_id = state.resolve_call_id(item)
        arguments = _first_str(item, ("arguments", "input"))
        if call_id is not None and arguments is not None:
            chunks.extend(state.finish_args(call_id, arguments))
        yield from chunks
    elif kind == "reasoning":
        item_id = _str(item, "id")
        if item_id is None:
            return
        block = state.thinking_block(item_id)
        # The final encrypted content differs from the one announced when the item was added.
        block.encrypted = _str(item, "encrypted_content") or block.encrypted
        text = _summary_text(item)
        if text and not block.text:
            block.text = text
            yield ThinkingDelta(text)
    elif kind == "message":
        item_id = _str(item, "id")
        if item_id is None or item_id in state.text_items or state.anonymous_text:
            return
        for part in _parse_output([item]):
            if isinstance(part, TextContent):
                state.text_items.add(item_id)
                yield state.append_text(part.text)


# --- provider ----------------------------------------------------------------------------------


def _auth_header(api_key: Optional[str], provider: str) -> Dict[str, str]:
    if not api_key:
        return {}
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in api_key):
        # Never echo the key: say only what is wrong with it.
        raise AuthenticationFailed(
            provider,
            "Invalid API key: it contains whitespace, control or non-ASCII characters that cannot be sent "
            "in an HTTP header; check the key for stray newlines or quotes",
        )
    return {"Authorization": f"Bearer {api_key}"}


class OpenAIResponsesProvider(Provider):
    """The OpenAI Responses API (``POST /v1/responses``), or any server that speaks it.

    With an API key each request carries ``Authorization: Bearer <key>``. With an
    :class:`~steer_sync._auth._directive.OpenAiResponsesAuth` directive (the ChatGPT/Codex
    login) the directive's header provider supplies fresh headers for every attempt, its
    ``base_url_override`` replaces the endpoint, its instruction policy shapes
    ``instructions``, its ``include`` list is sent, ``max_output_tokens`` is not, and with
    ``require_streaming`` :meth:`complete` reads a stream (:attr:`requires_streaming` is true).

    Thread-safe: one instance serves every thread. It owns one transport (one connection
    pool), released by :meth:`close`; each stream owns its HTTP response.

    Usage::

        provider = OpenAIResponsesProvider(api_key=os.environ["OPENAI_API_KEY"])
        with provider.stream_complete(ModelId("openai", "gpt-5.4"), [Message.user("hi")],
                                      None, None, None, CancellationToken()) as stream:
            for chunk in stream:
                ...
    """

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[OpenAiResponsesAuth] = None,
        provider_id: str = _NAME,
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - a frozen value
    ) -> None:
        """
        :param api_key: the API key; ``None`` (or a directive) sends no ``Authorization`` of ours.
        :param base_url: the base or endpoint URL (see :func:`_responses_url`); ``None`` for
            ``https://api.openai.com/v1``. A directive's ``base_url_override`` wins.
        :param directive: an auth plugin's directive, used instead of the key.
        :param provider_id: the catalog id, carried by every error.
        :param headers: static headers sent with every request (they override ours).
        :param timeouts: connect / read / idle / total timeouts.
        :raises ConfigurationError: for a directive of another format, or an invalid base URL.
        :raises AuthenticationFailed: for a key that cannot be sent in a header.
        """
        if directive is not None and not isinstance(directive, OpenAiResponsesAuth):
            raise ConfigurationError(
                f"the OpenAI Responses API needs an OpenAiResponsesAuth directive, got {type(directive).__name__}",
                provider_id,
            )
        self._provider_id = provider_id
        self._directive = directive
        override = directive.base_url_override if directive is not None else None
        self._url = _responses_url(override or base_url)
        own = _auth_header(api_key, provider_id) if directive is None else {}
        self._transport = Transport(provider_id, timeouts=timeouts, static_headers=merge_headers(own, headers))

    @property
    def name(self) -> str:
        """Always ``"openai"``, also for a custom OpenAI-compatible provider."""
        return _NAME

    @property
    def url(self) -> str:
        """The endpoint URL requests go to."""
        return self._url

    @property
    def requires_streaming(self) -> bool:
        """True when the directive's endpoint accepts only streaming requests (ChatGPT login)."""
        return self._directive is not None and self._directive.require_streaming

    def _send(
        self,
        body: JsonObject,
        model_id: ModelId,
        token: CancellationToken,
        extra_headers: Optional[Mapping[str, str]],
        stream: bool,
    ) -> HttpResponse:
        directive = self._directive
        return send_with_directive(
            self._transport,
            self._url,
            body,
            base_headers={},
            directive_headers=directive.headers if directive is not None else None,
            request_kind=RequestKind.STREAM if stream else RequestKind.COMPLETE,
            model_id=model_id.id,
            token=token,
            stream=stream,
            describe_error=_describe_http_error,
            extra_headers=extra_headers,
        )

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
        """Run one completion: the non-streaming endpoint, or a collected stream when required.

        :raises ApiError: any failure (``Cancelled`` when ``token`` fires; a failed or
            truncated stream raises what :meth:`CompletionStream.collect` raises).
        """
        if self.requires_streaming:
            stream = self.stream_complete(
                model_id, messages, system, tools, call_options, token, extra_headers=extra_headers
            )
            return stream.collect(self._provider_id)
        body = _build_request(
            model_id, messages, system, tools, call_options, directive=self._directive, provider=self._provider_id
        )
        response = self._send(body, model_id, token, extra_headers, stream=False)
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

        :raises ApiError: when the request fails before the body streams.
        """
        body = _build_request(
            model_id,
            messages,
            system,
            tools,
            call_options,
            directive=self._directive,
            stream=True,
            provider=self._provider_id,
        )
        response = self._send(body, model_id, token, extra_headers, stream=True)
        provider = self._provider_id
        return open_chunk_stream(response, lambda events: _convert_stream(events, provider))

    def close(self) -> None:
        """Release the connection pool. Calls in flight may still finish."""
        self._transport.close()
