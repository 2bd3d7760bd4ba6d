"""Anthropic Messages API: server-sent events -> stream chunks, a small state machine; pure (layer L2)."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

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
    ProviderStreamError,
    ProviderStreamErrorKind,
    SseParse,
    SseParseErrorKind,
)
from steer_sync._providers._json import decode_event
from steer_sync._providers._pieces import Pieces
from steer_sync._providers.anthropic._request import _log
from steer_sync._providers.anthropic._response import _count, _map_usage
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    RedactedThought,
    SignedThought,
    SimpleThought,
    TextContent,
    ToolCall,
    ToolCallContent,
)

#: The in-stream error types we classify differently from the shared table (A8).
_STREAM_ERROR_KINDS = {"api_error": ProviderStreamErrorKind.STREAM_ERROR}


# --- streaming --------------------------------------------------------------------------


class _Block:
    """One content block being streamed."""

    __slots__ = ("data", "id", "initial_input", "kind", "name", "parts", "signature")

    def __init__(self, kind: str, *, id: str = "", name: str = "", initial_input: Any = None, data: str = "") -> None:
        self.kind = kind  # "text" | "thinking" | "tool_use" | "redacted_thinking" | "unknown"
        self.parts = Pieces()
        self.signature: Optional[str] = None
        self.id = id
        self.name = name
        self.initial_input = initial_input
        self.data = data

    def finish(self) -> Optional[AssistantContent]:
        """The finished content, or ``None`` for a block that carries nothing."""
        text = self.parts.text()
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
                block.parts.add(text)
                chunks.append(TextDelta(text))
        elif kind == "thinking":
            block = _Block("thinking")
            text = start.get("thinking")
            if isinstance(text, str) and text:
                block.parts.add(text)
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
            block.parts.add(text)
            return [TextDelta(text)] if text else []
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            text = delta["thinking"]
            if block is None or block.kind != "thinking":
                block = self.blocks[index] = _Block("thinking")
            block.parts.add(text)
            return [ThinkingDelta(text)] if text else []
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            if block is not None and block.kind == "thinking":
                block.signature = delta["signature"]
            return []
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            partial = delta["partial_json"]
            if block is None or block.kind != "tool_use":
                return []
            block.parts.add(partial)
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
        chunks: List[StreamChunk] = []
        if self.blocks:
            # A gateway may end the message without closing its last block(s): what they
            # streamed is still part of the answer, so close them here (in index order)
            # instead of returning a response without it.
            _log.warning("message_stop arrived with %d unfinished content blocks; closing them", len(self.blocks))
            if self.stop_reason == "max_tokens" and any(b.kind == "tool_use" for b in self.blocks.values()):
                _log.warning("a tool call was cut off by max_tokens")
            for index in sorted(self.blocks):
                chunks.extend(self._on_content_block_stop({"index": index}))
        response = CompletionResponse(
            tuple(self.completed), _map_usage(self.usage) if self.usage else None, self.stop_reason
        )
        chunks.append(MessageComplete(response))
        return chunks

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


def _decode_event(data: str) -> Optional[Dict[str, Any]]:
    try:
        parsed = decode_event(data)
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
        # _decode_event, inlined: a call per event is a measurable part of the per-delta cost.
        try:
            decoded = decode_event(event.data)
        except ValueError:
            decoded = None
        if type(decoded) is not dict:
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
                    block.parts.add(text)
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
