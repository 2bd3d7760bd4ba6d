"""OpenAI Responses API: server-sent events -> stream chunks, a small state machine; pure (layer L2)."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple, Union

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
from steer_sync._providers._pieces import Pieces
from steer_sync._providers.openai_responses._response import (
    _SUMMARY_SEPARATOR,
    _TOOL_ITEM_TYPES,
    _classify,
    _failed_error,
    _log,
    _parse_args,
    _parse_output,
    _parse_usage,
    _stop_reason,
    _summary_text,
    _thought,
)
from steer_sync._providers.openai_responses._wire import _NAME, JsonObject, _first_str, _loads, _str
from steer_sync._sse import SseEvent
from steer_sync._types import (
    AssistantContent,
    CompletionResponse,
    TextContent,
    ToolCall,
    ToolCallContent,
)


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


def _response_failed_event(data: Optional[JsonObject], raw_data: str, provider: str) -> ProviderStreamError:
    if data is None:
        return ProviderStreamError(provider, ProviderStreamErrorKind.RESPONSE_FAILED, "response_failed", raw_data)
    response = data.get("response")
    return _failed_error(response if isinstance(response, Mapping) else data, provider)


# --- stream ----------------------------------------------------------------------------------


class _TextBlock:
    __slots__ = ("pieces",)

    def __init__(self, text: str = "") -> None:
        self.pieces = Pieces()
        if text:
            self.pieces.add(text)

    @property
    def text(self) -> str:
        return self.pieces.text()


class _ThinkingBlock:
    __slots__ = ("encrypted", "part", "pieces")

    def __init__(self) -> None:
        self.pieces = Pieces()
        #: The last summary part appended (a new part gets a separator).
        self.part: Optional[int] = None
        #: The reasoning item's encrypted content, when it sent one.
        self.encrypted: Optional[str] = None

    @property
    def text(self) -> str:
        return self.pieces.text()


class _CallBlock:
    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


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


class _StreamState:
    """What the stream converter remembers between events (spec 4.7.1)."""

    def __init__(self) -> None:
        self.blocks: List[_Block] = []
        #: key (call id, or an item id not yet mapped) -> [name, arguments]; read through
        #: :meth:`entry`, which adds the argument deltas still in ``growing``.
        self.calls: Dict[str, List[str]] = {}
        self.growing: Dict[str, Pieces] = {}
        self.call_blocks: Dict[str, _CallBlock] = {}
        self.started: Set[str] = set()
        self.item_to_call: Dict[str, str] = {}
        self.pending: Dict[str, List[str]] = {}
        #: reasoning item id -> its thinking block.
        self.reasoning: Dict[str, _ThinkingBlock] = {}
        self.summary_seen: Set[str] = set()
        self.summary_done: Set[str] = set()
        self.summary_items_seen: Set[str] = set()
        self.summary_items_done: Set[str] = set()
        self.any_summary_delta = False
        self.last_keyless_summary: Optional[str] = None
        #: message item ids that streamed text, and whether any text came without an item id.
        self.text_items: Set[str] = set()
        self.anonymous_text = False

    # text and thinking ------------------------------------------------------------------

    def append_text(self, delta: str) -> TextDelta:
        last = self.blocks[-1] if self.blocks else None
        if isinstance(last, _TextBlock):
            last.pieces.add(delta)
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
        if block.pieces and part is not None and part != block.part:
            delta = _SUMMARY_SEPARATOR + delta
        block.pieces.add(delta)
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

    def entry(self, key: str) -> List[str]:
        """The ``[name, arguments]`` of a call, with every argument delta so far."""
        entry = self.calls.setdefault(key, ["", ""])
        growing = self.growing.pop(key, None)
        if growing is not None:
            entry[1] += growing.text()
        return entry

    def add_args(self, key: str, delta: str, resolved: bool) -> List[StreamChunk]:
        # Not entry[1] += delta: that copies the whole argument string on every delta.
        self.calls.setdefault(key, ["", ""])
        growing = self.growing.get(key)
        if growing is None:
            growing = self.growing[key] = Pieces()
        growing.add(delta)
        self.ensure_placeholder(key)
        if resolved and key in self.started:
            return [ToolUseInputDelta(key, delta)]
        self.pending.setdefault(key, []).append(delta)
        return []

    def finish_args(self, key: str, arguments: str) -> List[StreamChunk]:
        """A ``.done`` event's full arguments replace the accumulated ones (Q15)."""
        entry = self.entry(key)
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
        entry = self.entry(call_id)
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
            name, args = self.entry(provisional)
            del self.calls[provisional]
            entry = self.entry(call_id)
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
                name, args = self.entry(block.key) if block.key in self.calls else ("", "")
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
        if text and not block.pieces:
            block.pieces.add(text)
            yield ThinkingDelta(text)
    elif kind == "message":
        item_id = _str(item, "id")
        if item_id is None or item_id in state.text_items or state.anonymous_text:
            return
        for part in _parse_output([item]):
            if isinstance(part, TextContent):
                state.text_items.add(item_id)
                yield state.append_text(part.text)
