"""Chat Completions format: ``chat.completion.chunk`` events -> stream chunks, a small state machine; pure (layer L2)."""

from __future__ import annotations

from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
)

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
    ProviderStreamError,
    ProviderStreamErrorKind,
    SseParse,
    SseParseErrorKind,
)
from steer_sync._providers._json import decode_event
from steer_sync._providers._pieces import Pieces
from steer_sync._providers.openai_chat._request import compact_json
from steer_sync._providers.openai_chat._response import _error_info, _reasoning_text, _str, map_usage, parse_arguments
from steer_sync._providers.openai_chat._wire import DONE, ChatDialect, _log
from steer_sync._sse import SseEvent
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    SimpleThought,
    TextContent,
    Thought,
    TokenUsage,
    ToolCall,
    ToolCallContent,
)

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


class _ToolSlot:
    """One tool call being assembled from deltas."""

    __slots__ = ("args", "call_id", "name", "started")

    def __init__(self) -> None:
        self.call_id = ""
        self.name = ""
        self.args = Pieces()
        self.started = False

    def arguments(self) -> str:
        return self.args.text()


class _Block:
    """One block of the message being assembled: text, thought, or a tool call slot."""

    __slots__ = ("kind", "parts", "slot")

    def __init__(self, kind: str, slot: int = -1) -> None:
        self.kind = kind  # "text" | "thought" | "tool"
        self.parts = Pieces()
        self.slot = slot


class _ChatStreamState:
    """The accumulation state of one Chat Completions stream (not thread-safe; one per stream)."""

    def __init__(self, dialect: ChatDialect) -> None:
        self.dialect = dialect
        self.blocks: List[_Block] = []
        self.slots: List[_ToolSlot] = []
        #: Wire ``index`` -> the slot currently assembled for it.
        self.by_index: Dict[int, int] = {}
        self.last_slot: Optional[int] = None
        self.usage: Optional[TokenUsage] = None
        self.finish_reason: Optional[str] = None

    def _append_text(self, kind: str, text: str) -> None:
        if self.blocks and self.blocks[-1].kind == kind:
            self.blocks[-1].parts.add(text)
        else:
            block = _Block(kind)
            block.parts.add(text)
            self.blocks.append(block)

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
            slot.args.add(piece)
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
                content.append(TextContent(block.parts.text()))
            elif block.kind == "thought":
                thought: Thought = SimpleThought(block.parts.text())
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
            payload = decode_event(data)
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
