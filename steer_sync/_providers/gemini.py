"""Google Gemini ``generateContent`` / ``streamGenerateContent`` wire format (layer L2).

Translates steer_sync's messages, tools and parameters into a Gemini request body, and Gemini's
answers (one JSON object, or ``alt=sse`` events that each hold a whole
``GenerateContentResponse`` fragment) back into a :class:`CompletionResponse` or stream chunks.
Behaviour follows steer's ``api/gemini/client.rs`` (spec/anthropic-gemini.md part 2); every
recommendation G1-G16 of section 2.9 is adopted (refinements under "Deviations"). The pure parts are :func:`_build_request`,
:func:`_parse_response` and :func:`_convert_stream`; :class:`GeminiProvider` only sends.

Endpoints and auth
    ``POST {base}/models/{model}:generateContent`` and ``...:streamGenerateContent?alt=sse``,
    with ``base`` the constructor's ``base_url`` (default
    ``https://generativelanguage.googleapis.com/v1beta``). The model id is percent-encoded as one
    path segment (a leading ``models/`` is dropped); the key travels in the ``x-goog-api-key``
    header, never in the URL (G8, G14).

Thought signatures (G10, 2.10)
    Gemini attaches an opaque ``thoughtSignature`` to a part (a function call, a text part, an
    empty trailing text part, ...) and wants it back on the same part. A function call keeps it
    on :attr:`ToolCallContent.thought_signature`. For every other part the signature is carried
    by a ``SignedThought(text="", signature=...)`` block placed immediately *before* the block it
    belongs to (the next text, thought or image block), or last when it arrived on an empty
    trailing part. When the history is sent back, that empty ``SignedThought`` puts its
    signature on the part built from the next block (a trailing one goes to the previous part
    without a signature). A ``SimpleThought`` right after such a carrier goes back as a
    ``{"thought": true}`` part; other thoughts are not sent, as in steer: unsigned Gemini
    thoughts carry nothing the model uses, and a ``SignedThought`` *with* text comes from
    another provider, whose signature Gemini would reject ("Corrupted thought signature").
    On Gemini 3 (which rejects replayed function calls without a signature), a model turn whose
    calls carry no signature at all (written by hand, or by another provider) gets Google's
    documented ``skip_thought_signature_validator`` sentinel on its first call.

Function-call ids (G13)
    ``functionCall.id`` is kept when Gemini sends one. Otherwise an id ``"gcall_" + 32 hex
    digits`` (random) is generated; ids with that prefix are never sent back to Gemini, others
    are echoed in ``functionCall.id`` and ``functionResponse.id`` (G1).

Tool results (G1, G2, G3)
    Consecutive tool results become one ``user`` content of ``functionResponse`` parts, in the
    order of the calls they answer. ``functionResponse.name`` is the *function* name (looked up
    from the call in the history; else the result's ``tool_name``; else the call id, steer's
    value). ``response`` is steer's ``{"content": <ToolResult JSON>}``, or
    ``{"content": "Error: ..."}`` for a failure.

Request shape (G7, G12)
    Roles are ``user`` and ``model`` only. Blank text parts are not sent and a content left
    with no parts is dropped. ``generationConfig`` always carries ``maxOutputTokens`` (default
    65536), ``temperature`` (1.0) and ``topP`` (0.95), like steer. Thinking: on Gemini 3 models
    (``gemini-3*`` and later) ``effort`` becomes ``thinkingLevel`` (low -> ``low``, medium ->
    ``medium`` on Flash models and ``high`` elsewhere, high and x-high -> ``high``); without an
    effort the ``budget_tokens`` is sent as ``thinkingBudget`` (the catalog's gemini-3-pro entry
    has only a budget). On older models ``budget_tokens`` is the ``thinkingBudget``. Thinking
    disabled sends ``thinkingBudget: 0`` to Gemini 2.5 Flash models, ``thinkingLevel:
    "minimal"`` to Gemini 3 Flash and ``"low"`` to other Gemini 3 models (they cannot turn it
    off), and nothing elsewhere (2.5 Pro cannot turn it off; older models have no thinking).
    Tool schemas: see ``_gemini_schema`` (G6, G16).

Parsing (G4, G5, G9, G11)
    Lenient in both paths, which share one fold (:class:`_Assembler`): unknown enum values are
    kept as strings, ``content``/``parts``/``args`` may be missing, unknown parts are skipped one
    by one. Thoughts (``thought: true``) become ``SimpleThought`` / ``ThinkingDelta``.
    Consecutive text (or thought) parts are merged into one block unless a signature starts a
    new one. ``executableCode`` and ``codeExecutionResult`` become fenced text blocks; inline
    and file data become :class:`ImageContent` for ``image/*`` types and a placeholder text
    otherwise (streamed as text deltas too, unlike steer). ``stop_reason`` is Gemini's
    ``finishReason``. ``complete()`` raises :class:`RequestBlocked` for
    ``promptFeedback.blockReason`` and for a blocking finish reason (SAFETY, RECITATION,
    BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, ...), also when part of an answer came
    first; :class:`NoChoices` when there is no candidate (never wrapped, unlike steer).

Usage
    ``input_tokens`` = ``promptTokenCount`` + ``toolUsePromptTokenCount``; ``output_tokens`` =
    ``candidatesTokenCount`` + ``thoughtsTokenCount`` (so, as for every provider, output
    includes reasoning, and input + output = ``totalTokenCount``; steer left thoughts out of the
    output); ``reasoning_tokens`` = ``thoughtsTokenCount``; ``cache_read_input_tokens`` =
    ``cachedContentTokenCount``. A missing side is derived from the total as in steer. In a
    stream the last reported usage wins (``promptTokenCount`` can change between chunks).

Streams
    ``MessageComplete`` comes at the end of the body, once a candidate has reported a
    ``finishReason``. A body that ends without one ends with
    ``ErrorChunk(SseParse(TRANSPORT, ...))`` (retryable: the answer was cut off; steer reported
    the truncated answer as complete). An ``{"error": {...}}`` object inside the stream ends it
    with ``ErrorChunk(ProviderStreamError)``: ``RESOURCE_EXHAUSTED`` -> ``rate_limit_exceeded``,
    ``UNAVAILABLE`` -> ``service_unavailable_error``, ``INTERNAL``/``ABORTED`` ->
    ``stream_error``, ``DEADLINE_EXCEEDED`` -> ``timeout_error`` (all retryable); anything else
    keeps Google's status as a non-retryable kind. A blocked prompt or answer ends the stream
    with ``ErrorChunk(ProviderStreamError(kind="request_blocked", raw_error_type=
    "request_blocked"))``, not retryable; ``collect()`` turns it into ``RequestBlocked`` once
    ``_stream.stream_error_to_api_error`` maps that raw type. Unparseable events are skipped,
    as in steer.

HTTP errors
    Google's error body ``{"error": {"code", "message", "status", "details"}}`` is summarised as
    ``"<message> [<status>, <reason>]"``. A 400 whose ``ErrorInfo.reason`` is
    ``API_KEY_INVALID`` (Gemini's answer to a wrong key) raises :class:`AuthenticationFailed`
    (status 400), so the user learns the key is wrong and the client drops the cached provider.
    ``RetryInfo.retryDelay`` becomes ``retry_after``.

Deviations and refinements (beyond steer, and where the recommendations were not enough)
    * G4: a blocking finish reason is ``RequestBlocked`` even when part of the answer was
      already produced (the answer is cut; returning it as a normal response would hide that).
    * G7: the one empty text part ever sent is a lone trailing signature with no unsigned part
      before it to carry it (rare; dropping it would lose the signature).
    * G10: thought text goes back only for Gemini's own signed thoughts (see above), because
      a foreign signature makes Gemini refuse the whole request.
    * G11: the non-streaming path also merges consecutive text parts (steer kept one block per
      part), so both paths give the same content for the same parts.
    * G12: Gemini 3 cannot turn thinking off; "disabled" asks for its lowest level instead.
    * 2.10 ("likely"): ``functionResponse.response`` keeps steer's ``content`` key rather than
      ``output``/``error``; Gemini treats any object as the output, and steer's live tests pass.
    * Not in the list: no ``tools`` for an empty tool list and no ``parameters`` for a tool
      without properties (Gemini rejects both), and the Gemini 3 signature sentinel above.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

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
    RequestBlocked,
    ResponseParsingError,
    SseParse,
    SseParseErrorKind,
    UnknownApiError,
    UnsupportedFeature,
    map_http_status,
)
from steer_sync._provider import Provider
from steer_sync._providers._common import split_image_data_url
from steer_sync._providers._gemini_retry_info import retry_info_delay
from steer_sync._providers._gemini_schema import function_declarations
from steer_sync._stream import REQUEST_BLOCKED as _REQUEST_BLOCKED
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
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    Thought,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolMessage,
    ToolResult,
    ToolSchema,
    UrlSource,
    UserMessage,
)

try:  # Protocol is in typing from 3.8.
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore[assignment]

__all__ = ["DEFAULT_BASE_URL", "GeminiProvider"]

_log = logging.getLogger("steer_sync.providers.gemini")

#: The Gemini API base URL used when the constructor gets none.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"

_NAME = "google"
_DEFAULT_MAX_OUTPUT_TOKENS = 65536
_DEFAULT_TEMPERATURE = 1.0
_DEFAULT_TOP_P = 0.95

#: Prefix of the ids generated for function calls Gemini sent without one.
_GENERATED_ID_PREFIX = "gcall_"
#: Google's documented stand-in for a missing signature on a replayed Gemini 3 function call.
_SKIP_SIGNATURE = "skip_thought_signature_validator"
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

_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")

Json = Dict[str, Any]


class _HasData(Protocol):
    """An SSE event as far as this module cares (``steer_sync._sse.SseEvent``)."""

    @property
    def data(self) -> str:
        """The event's data field."""


# --- request building ----------------------------------------------------------------------


def _model_name(model: str) -> str:
    # Google's canonical names read "models/<id>"; the endpoint already says "models/".
    return model[len("models/") :] if model.startswith("models/") else model


def _uses_thinking_level(model: str) -> bool:
    found = _GEMINI_MAJOR.search(_model_name(model).lower())
    return found is not None and int(found.group(1)) >= 3


def _is_flash(model: str) -> bool:
    return "flash" in _model_name(model).lower()


def _thinking_config(thinking: ThinkingConfig, model: str) -> Optional[Json]:
    """The ``thinkingConfig`` for ``model``, or ``None`` to leave the model's default (G12)."""
    level_model = _uses_thinking_level(model)
    if not thinking.enabled:
        if level_model:
            return {"thinkingLevel": "minimal" if _is_flash(model) else "low"}
        name = _model_name(model).lower()
        if "2.5" in name and _is_flash(model):
            return {"thinkingBudget": 0}
        return None
    config: Json = {}
    if thinking.include_thoughts is not None:
        config["includeThoughts"] = thinking.include_thoughts
    if level_model and thinking.effort is not None:
        config["thinkingLevel"] = _thinking_level(thinking.effort, model)
    elif thinking.budget_tokens is not None:
        config["thinkingBudget"] = thinking.budget_tokens
    return config


def _thinking_level(effort: ThinkingEffort, model: str) -> str:
    if effort is ThinkingEffort.LOW:
        return "low"
    if effort is ThinkingEffort.MEDIUM:
        # Gemini 3 Pro takes only "low" and "high"; round up rather than be refused.
        return "medium" if _is_flash(model) else "high"
    return "high"


def _generation_config(params: Optional[ModelParameters], model: str) -> Json:
    params = params or ModelParameters()
    config: Json = {
        "maxOutputTokens": params.max_output_tokens
        if params.max_output_tokens is not None
        else _DEFAULT_MAX_OUTPUT_TOKENS,
        "temperature": params.temperature if params.temperature is not None else _DEFAULT_TEMPERATURE,
        "topP": params.top_p if params.top_p is not None else _DEFAULT_TOP_P,
    }
    if params.thinking_config is not None:
        thinking = _thinking_config(params.thinking_config, model)
        if thinking is not None:
            config["thinkingConfig"] = thinking
    return config


def _build_request(
    model: str,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    provider: str = _NAME,
) -> Json:
    """Build the ``generateContent`` body (identical for the streaming endpoint).

    :param model: the model id (decides the thinking knobs and the Gemini 3 signature rule).
    :param messages: the conversation.
    :param system: the system prompt, if any.
    :param tools: the tools, if any (``[]`` sends none).
    :param params: the merged model parameters.
    :param provider: the provider id for errors.
    :returns: the JSON body.
    :raises UnsupportedFeature: for an image the API cannot take (a session file).
    :raises InvalidRequest: for a malformed image data URL.
    """
    body: Json = {"contents": _convert_messages(messages, provider, sentinel=_uses_thinking_level(model))}
    text = system.render() if system is not None else None
    if text is not None:
        body["systemInstruction"] = {"parts": [{"text": text}]}
    if tools:
        body["tools"] = [{"functionDeclarations": function_declarations(tools)}]
    body["generationConfig"] = _generation_config(params, model)
    return body


def _is_generated_id(call_id: str) -> bool:
    return call_id.startswith(_GENERATED_ID_PREFIX)


def _convert_messages(messages: Sequence[Message], provider: str, *, sentinel: bool = False) -> List[Json]:
    """Convert the history into Gemini ``contents`` (roles ``user`` and ``model`` only).

    :param messages: the conversation.
    :param provider: the provider id for errors.
    :param sentinel: add the skip-validator signature to unsigned replayed calls (Gemini 3).
    :returns: the contents, in order.
    """
    # Every call in the history, by id: its function name and its position (for ordering results).
    calls: Dict[str, Tuple[str, int]] = {}
    contents: List[Json] = []
    pending: List[Tuple[Tuple[int, int], Json]] = []

    def flush_results() -> None:
        if pending:
            pending.sort(key=lambda item: item[0])
            contents.append({"role": "user", "parts": [part for _, part in pending]})
            pending.clear()

    for message in messages:
        data = message.data
        if isinstance(data, ToolMessage):
            known = calls.get(data.tool_use_id)
            order = (known[1], 0) if known is not None else (len(calls) + len(pending), 1)
            name = known[0] if known is not None else _fallback_function_name(data)
            pending.append((order, _function_response_part(data, name)))
            continue
        flush_results()
        if isinstance(data, UserMessage):
            parts = [part for part in (_user_part(block, provider) for block in data.content) if part is not None]
            if parts:
                contents.append({"role": "user", "parts": parts})
        elif isinstance(data, AssistantMessage):
            for block in data.content:
                if isinstance(block, ToolCallContent):
                    calls.setdefault(block.tool_call.id, (block.tool_call.name, len(calls)))
            parts = _model_parts(data.content, provider)
            if sentinel:
                _add_signature_sentinel(parts)
            if parts:
                contents.append({"role": "model", "parts": parts})
    flush_results()
    return contents


def _fallback_function_name(data: ToolMessage) -> str:
    payload = data.result.payload
    if isinstance(payload, Mapping):
        name = payload.get("tool_name")
        if isinstance(name, str) and name:
            return name
    # steer's value: the call id (only reached for a result whose call is not in the history).
    return data.tool_use_id


def _function_response_part(data: ToolMessage, name: str) -> Json:
    result = data.result
    value: Any = result.llm_format() if result.is_error else _tool_result_json(result)
    response: Json = {"name": name, "response": {"content": value}}
    if not _is_generated_id(data.tool_use_id):
        response["id"] = data.tool_use_id
    return {"functionResponse": response}


def _tool_result_json(result: ToolResult) -> Any:
    value = result.to_dict()
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return result.llm_format()
    return value


def _user_part(block: Any, provider: str) -> Optional[Json]:
    if isinstance(block, TextContent):
        return {"text": block.text} if block.text.strip() else None
    if isinstance(block, CommandExecution):
        return {"text": block.as_xml()}
    if isinstance(block, ImageContent):
        return _image_part(block, provider)
    return None


def _image_part(image: ImageContent, provider: str) -> Json:
    source = image.source
    if isinstance(source, DataUrlSource):
        mime_type, payload = split_image_data_url(source.data_url, provider, "Gemini")
        return {"inlineData": {"mimeType": mime_type, "data": payload}}
    if isinstance(source, UrlSource):
        return {"fileData": {"mimeType": image.mime_type, "fileUri": source.url}}
    path = source.relative_path if isinstance(source, SessionFileSource) else repr(source)
    raise UnsupportedFeature(
        provider,
        "image input source",
        f"Gemini adapter cannot access session file '{path}' directly; use data URLs or URL sources",
    )


def _model_parts(content: Sequence[AssistantContent], provider: str) -> List[Json]:
    parts: List[Json] = []
    signature: Optional[str] = None  # a carrier's signature, waiting for the next part
    for block in content:
        if isinstance(block, SignedThought) and not block.text:
            if signature is not None:
                _attach_trailing_signature(parts, signature)
            signature = block.signature
            continue
        part: Optional[Json]
        if isinstance(block, SimpleThought):
            # Only a Gemini thought (one its carrier signed) goes back; see the module docstring.
            part = {"text": block.text, "thought": True} if signature is not None else None
        elif isinstance(block, Thought):
            part = None
        elif isinstance(block, TextContent):
            part = {"text": block.text} if block.text.strip() else None
        elif isinstance(block, ToolCallContent):
            part = _function_call_part(block)
        else:
            try:
                part = _image_part(block, provider)
            except ApiError as error:  # steer skips assistant images it cannot send
                _log.debug("skipping an assistant image Gemini cannot take: %s", error)
                part = None
        if part is None:
            continue
        if signature is not None and "thoughtSignature" not in part:
            part["thoughtSignature"] = signature
            signature = None
        parts.append(part)
    if signature is not None:
        _attach_trailing_signature(parts, signature)
    return parts


def _attach_trailing_signature(parts: List[Json], signature: str) -> None:
    # Gemini 3 sends a signature on an empty text part after the answer; empty text parts are
    # refused on the way back, so the signature rides on the last part that has none.
    for part in reversed(parts):
        if "thoughtSignature" not in part and not part.get("thought"):
            part["thoughtSignature"] = signature
            return
    parts.append({"text": "", "thoughtSignature": signature})


def _function_call_part(block: ToolCallContent) -> Json:
    call = block.tool_call
    function_call: Json = {"name": call.name, "args": call.parameters if call.parameters is not None else {}}
    if not _is_generated_id(call.id):
        function_call["id"] = call.id
    part: Json = {"functionCall": function_call}
    if block.thought_signature is not None:
        part["thoughtSignature"] = block.thought_signature
    return part


def _add_signature_sentinel(parts: List[Json]) -> None:
    calls = [part for part in parts if "functionCall" in part]
    if calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = _SKIP_SIGNATURE


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
    return map_http_status(provider, code, details, retry_after=_retry_delay(error))


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


def _convert_stream(
    events: Iterable[_HasData],
    provider: str = _NAME,
    *,
    new_id: Callable[[], str] = _new_call_id,
) -> Iterator[StreamChunk]:
    """Turn ``alt=sse`` events into chunks (each event's data is a whole response fragment).

    :param events: the decoded SSE events.
    :param provider: the provider id for errors.
    :param new_id: makes ids for function calls Gemini sent without one.
    :returns: chunks ending with ``MessageComplete`` or an ``ErrorChunk``.
    """
    assembler = _Assembler(new_id)
    usage: Optional[TokenUsage] = None
    finish_reason: Optional[str] = None
    for event in events:
        try:
            body = json.loads(event.data)
        except ValueError:
            _log.debug("skipping a Gemini stream event that is not JSON: %.200r", event.data)
            continue
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        if not isinstance(body, Mapping):
            _log.debug("skipping a Gemini stream event that is not an object: %.200r", event.data)
            continue
        error = body.get("error")
        if isinstance(error, Mapping):
            yield ErrorChunk(_stream_error(error, provider))
            return
        blocked = _prompt_block(body)
        if blocked is not None:
            yield _blocked_chunk(provider, blocked)
            return
        new_usage = _parse_usage(body.get("usageMetadata"))
        if new_usage is not None:
            usage = new_usage
        candidate = _first_candidate(body)
        if candidate is None:
            continue
        for part in _candidate_parts(candidate):
            yield from assembler.add(part)
        blocked = _answer_block(candidate)
        if blocked is not None:
            yield _blocked_chunk(provider, blocked)
            return
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            finish_reason = reason
    if finish_reason is None:
        yield ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before a candidate's finishReason"))
        return
    yield MessageComplete(CompletionResponse(tuple(assembler.blocks), usage, finish_reason))


# --- HTTP errors ----------------------------------------------------------------------------


def _parse_duration(value: Any) -> Optional[float]:
    # google.protobuf.Duration in JSON: "12s", "1.5s", "0.250s".
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
        return seconds if seconds >= 0 else None
    return None


def _details_list(error: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _retry_delay(error: Mapping[str, Any]) -> Optional[float]:
    for detail in _details_list(error):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _parse_duration(detail.get("retryDelay"))
    return None


def _error_reasons(error: Mapping[str, Any]) -> List[str]:
    return [
        str(detail["reason"])
        for detail in _details_list(error)
        if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo") and detail.get("reason")
    ]


def _describe_error_object(error: Mapping[str, Any]) -> str:
    message = error.get("message")
    text = message if isinstance(message, str) and message else json.dumps(error, ensure_ascii=False)[:500]
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


# --- the provider ---------------------------------------------------------------------------


class GeminiProvider(Provider):
    """The Google Gemini API (``generateContent``), authenticated with an API key.

    Thread-safe: one instance serves every thread. It owns one HTTP connection pool
    (released by :meth:`close`); each :class:`CompletionStream` it returns owns its response.

    Usage::

        provider = GeminiProvider(api_key=os.environ["GEMINI_API_KEY"])
        reply = provider.complete(ModelId("google", "gemini-2.5-flash"), [Message.user("hi")],
                                  None, None, None, CancellationToken())
    """

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[object] = None,
        provider_id: str = _NAME,
        headers: Mapping[str, str] = {},
        timeouts: Optional[Timeouts] = None,
    ) -> None:
        """
        :param api_key: the Gemini API key, sent as ``x-goog-api-key``; ``None`` sends none
            (a gateway that authenticates otherwise).
        :param base_url: the API base, ``.../v1beta`` included; default :data:`DEFAULT_BASE_URL`.
        :param directive: must be ``None``: Gemini has no auth-plugin directive.
        :param provider_id: the provider id used in errors.
        :param headers: static headers sent with every request (after the key).
        :param timeouts: connect/read/idle/total limits; ``None`` for the transport's defaults.
        :raises ConfigurationError: if a directive is given.
        """
        if directive is not None:
            raise ConfigurationError(
                f"the Gemini API takes an API key, not an auth plugin directive ({type(directive).__name__})",
                provider=provider_id,
            )
        self._provider_id = provider_id
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        static: Dict[str, str] = {}
        if api_key:
            static["x-goog-api-key"] = api_key
        static.update(headers)
        self._transport = Transport(
            provider_id, timeouts=timeouts or Timeouts(), static_headers=static, retry_hint=retry_info_delay
        )

    @property
    def name(self) -> str:
        """Always ``"google"``."""
        return _NAME

    def __repr__(self) -> str:
        return f"GeminiProvider(provider_id={self._provider_id!r}, base_url={self._base_url!r})"

    def _url(self, model: str, method: str) -> str:
        return f"{self._base_url}/models/{quote(_model_name(model), safe='')}:{method}"

    def _post(
        self,
        url: str,
        body: Json,
        token: CancellationToken,
        extra_headers: Optional[Mapping[str, str]],
        *,
        stream: bool,
    ) -> HttpResponse:
        errors: List[Optional[Mapping[str, Any]]] = []

        def describe(status: int, raw: bytes) -> Optional[str]:
            error = _error_body(raw)
            errors.append(error)
            return _describe_error_object(error) if error is not None else None

        try:
            return self._transport.post(
                url,
                body,
                headers=dict(extra_headers or {}),
                token=token,
                params={"alt": "sse"} if stream else None,
                stream=stream,
                describe_error=describe,
            )
        except InvalidRequest as error:
            # Gemini answers a wrong key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
            if error.status_code == 400 and errors and _is_bad_key(errors[-1]):
                raise AuthenticationFailed(
                    self._provider_id, error.details or "API key not valid", status_code=400
                ) from error
            raise

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
        """Run one completion through ``generateContent``.

        :raises RequestBlocked: if the prompt or the answer was blocked.
        :raises NoChoices: if Gemini answered with no candidate.
        :raises ApiError: on any other failure (see :func:`steer_sync.map_http_status`).
        """
        body = _build_request(model_id.id, messages, system, tools, call_options, provider=self._provider_id)
        response = self._post(self._url(model_id.id, "generateContent"), body, token, extra_headers, stream=False)
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
        """Start a completion through ``streamGenerateContent?alt=sse``.

        The request is sent and its status checked before this returns.

        :raises ApiError: when the request fails before the body streams.
        """
        body = _build_request(model_id.id, messages, system, tools, call_options, provider=self._provider_id)
        response = self._post(self._url(model_id.id, "streamGenerateContent"), body, token, extra_headers, stream=True)
        provider = self._provider_id
        return open_chunk_stream(response, lambda events: _convert_stream(events, provider))

    def close(self) -> None:
        """Release the connection pool. Calls in flight may still finish."""
        self._transport.close()
