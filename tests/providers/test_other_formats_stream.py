"""The other formats keep content whose block was never closed when the stream ends (issue 18, item 2).

Anthropic closes blocks explicitly (``content_block_stop``) and used to drop unclosed ones;
these formats have no per-block close, so what was streamed must reach ``MessageComplete``.
"""

from __future__ import annotations

import json
from typing import Any, List

from steer_sync._chunks import MessageComplete, StreamChunk
from steer_sync._providers.gemini._stream import _convert_stream as gemini_stream
from steer_sync._providers.openai_chat._stream import convert_chat_stream
from steer_sync._providers.openai_chat._wire import ChatDialect
from steer_sync._providers.openai_responses._stream import _convert_stream as responses_stream
from steer_sync._sse import SseEvent
from steer_sync._types import CompletionResponse, SimpleThought, TextContent, ToolCall, ToolCallContent


def _events(*payloads: Any, event: Any = None) -> List[SseEvent]:
    return [SseEvent(event=event, data=p if isinstance(p, str) else json.dumps(p)) for p in payloads]


def _final(chunks: List[StreamChunk]) -> CompletionResponse:
    last = chunks[-1]
    assert isinstance(last, MessageComplete), last
    return last.response


def test_chat_keeps_text_and_an_unfinished_tool_call_at_done() -> None:
    def delta(body: Any) -> Any:
        return {"choices": [{"index": 0, "delta": body}]}

    chunks = list(
        convert_chat_stream(
            _events(
                delta({"reasoning_content": "hmm"}),
                delta({"content": "Checking"}),
                delta({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a":'}}]}),
                delta({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                "[DONE]",  # no finish_reason ever came
            ),
            ChatDialect("openai"),
        )
    )
    assert _final(chunks).content == (
        SimpleThought("hmm"),
        TextContent("Checking"),
        ToolCallContent(ToolCall("c1", "f", {"a": 1})),
    )


def test_responses_keeps_streamed_text_without_done_events() -> None:
    chunks = list(
        responses_stream(
            _events(
                {"type": "response.output_item.added", "item": {"type": "message", "id": "m1"}},
                {"type": "response.output_text.delta", "item_id": "m1", "delta": "Hello"},
                {"type": "response.output_text.delta", "item_id": "m1", "delta": " there"},
                # no output_text.done / output_item.done, and a terminal event without output
                {"type": "response.completed", "response": {"status": "completed", "output": []}},
            )
        )
    )
    assert _final(chunks).content == (TextContent("Hello there"),)


def test_gemini_keeps_every_part_streamed_before_the_finish_reason() -> None:
    def part(text: str, finish: Any = None) -> Any:
        candidate: Any = {"content": {"role": "model", "parts": [{"text": text}]}}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate]}

    chunks = list(gemini_stream(_events(part("Hel"), part("lo"), part("", "STOP"))))
    assert _final(chunks).content == (TextContent("Hello"),)


#: More argument and text deltas than one joined piece holds (steer_sync._providers._pieces).
_MANY = 1000


def _many_pieces() -> List[str]:
    return ['{"text": "'] + [f"p{i:04d}" for i in range(_MANY)] + ['"}']


def test_chat_assembles_a_thousand_argument_and_text_deltas() -> None:
    def delta(body: Any) -> Any:
        return {"choices": [{"index": 0, "delta": body}]}

    words = [f"w{i} " for i in range(_MANY)]
    pieces = _many_pieces()
    payloads: List[Any] = [delta({"content": word}) for word in words]
    payloads.append(delta({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}))
    payloads += [delta({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces]
    payloads.append("[DONE]")
    response = _final(list(convert_chat_stream(_events(*payloads), ChatDialect("openai"))))
    expected = {"text": "".join(f"p{i:04d}" for i in range(_MANY))}
    assert response.content == (TextContent("".join(words)), ToolCallContent(ToolCall("c1", "f", expected)))


def test_responses_assembles_a_thousand_argument_and_text_deltas() -> None:
    words = [f"w{i} " for i in range(_MANY)]
    payloads: List[Any] = [{"type": "response.output_item.added", "item": {"type": "message", "id": "m1"}}]
    payloads += [{"type": "response.output_text.delta", "item_id": "m1", "delta": w} for w in words]
    payloads.append(
        {
            "type": "response.output_item.added",
            "item": {"type": "function_call", "id": "fc1", "call_id": "c1", "name": "f", "arguments": ""},
        }
    )
    payloads += [
        {"type": "response.function_call_arguments.delta", "item_id": "fc1", "delta": p} for p in _many_pieces()
    ]
    payloads.append({"type": "response.completed", "response": {"status": "completed", "output": []}})
    response = _final(list(responses_stream(_events(*payloads))))
    expected = {"text": "".join(f"p{i:04d}" for i in range(_MANY))}
    assert response.content == (TextContent("".join(words)), ToolCallContent(ToolCall("c1", "f", expected)))
