"""Anthropic stream state machine: blocks still open when the message ends (issue 18, item 2)."""

from __future__ import annotations

import json
from typing import Any, List

from steer_sync import Message, ModelId, RetryPolicy
from steer_sync._chunks import ContentBlockStop, MessageComplete, StreamChunk, TextDelta
from steer_sync._providers.anthropic._stream import _convert_stream
from steer_sync._sse import SseEvent
from steer_sync._types import SignedThought, TextContent, ToolCall, ToolCallContent
from steer_sync.testing import LoopbackServer, Reply, sse_event

SONNET = ModelId("anthropic", "claude-sonnet-4-5")


def convert(*payloads: Any) -> List[StreamChunk]:
    return list(_convert_stream([SseEvent(event=None, data=json.dumps(p)) for p in payloads], "anthropic"))


def start(index: int, block: Any) -> Any:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: Any) -> Any:
    return {"type": "content_block_delta", "index": index, "delta": body}


MESSAGE_START = {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}}
END_TURN = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}
STOP = {"type": "message_stop"}


def test_a_text_block_never_stopped_is_kept_at_message_stop() -> None:
    chunks = convert(
        MESSAGE_START,
        start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Hello"}),
        delta(0, {"type": "text_delta", "text": " world"}),
        END_TURN,
        STOP,
    )
    final = chunks[-1]
    assert isinstance(final, MessageComplete)
    assert final.response.content == (TextContent("Hello world"),)
    # Consumers that track blocks see the block close before the message does.
    assert chunks[-2] == ContentBlockStop(0)


def test_open_blocks_are_closed_in_index_order_after_the_stopped_ones() -> None:
    chunks = convert(
        MESSAGE_START,
        start(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "mull"}),
        delta(0, {"type": "signature_delta", "signature": "sig"}),
        {"type": "content_block_stop", "index": 0},
        # Parallel tool calls, the later index started first; neither is ever stopped.
        start(2, {"type": "tool_use", "id": "toolu_2", "name": "time", "input": {}}),
        start(1, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"tz": "UTC"}'}),
        END_TURN,
        STOP,
    )
    final = chunks[-1]
    assert isinstance(final, MessageComplete)
    assert final.response.content == (
        SignedThought("mull", "sig"),
        ToolCallContent(ToolCall("toolu_1", "weather", {"city": "Paris"})),
        ToolCallContent(ToolCall("toolu_2", "time", {"tz": "UTC"})),
    )
    assert [c.index for c in chunks if isinstance(c, ContentBlockStop)] == [0, 1, 2]


def test_complete_returns_the_text_of_a_block_that_was_never_stopped() -> None:
    body = [
        sse_event(MESSAGE_START, "message_start"),
        sse_event(start(0, {"type": "text", "text": ""}), "content_block_start"),
        sse_event(delta(0, {"type": "text_delta", "text": "streamed"}), "content_block_delta"),
        sse_event(delta(0, {"type": "text_delta", "text": " text"}), "content_block_delta"),
        sse_event(END_TURN, "message_delta"),
        sse_event(STOP, "message_stop"),
    ]
    with LoopbackServer() as server, server.client(retry_policy=RetryPolicy(base_delay=0)) as client:
        server.queue(Reply.event_stream(body), Reply.event_stream(body))
        response = client.complete(SONNET, [Message.user("hi")])
        with client.stream_complete(SONNET, [Message.user("hi")]) as stream:
            streamed = list(stream)
        assert len(server.requests) == 2  # complete() succeeded first time: nothing was retried
    assert response.extract_text() == "streamed text"
    assert "".join(c.text for c in streamed if isinstance(c, TextDelta)) == "streamed text"
    final = streamed[-1]
    assert isinstance(final, MessageComplete)
    assert final.response.extract_text() == "streamed text"


def test_a_thousand_text_and_argument_deltas_assemble_in_order() -> None:
    # More deltas than one joined piece holds (steer_sync._providers._pieces).
    words = [f"w{i} " for i in range(1000)]
    pieces = ['{"text": "'] + [f"p{i:04d}" for i in range(1000)] + ['"}']
    chunks = convert(
        MESSAGE_START,
        start(0, {"type": "text", "text": ""}),
        *[delta(0, {"type": "text_delta", "text": w}) for w in words],
        {"type": "content_block_stop", "index": 0},
        start(1, {"type": "tool_use", "id": "toolu_1", "name": "write", "input": {}}),
        *[delta(1, {"type": "input_json_delta", "partial_json": p}) for p in pieces],
        {"type": "content_block_stop", "index": 1},
        END_TURN,
        STOP,
    )
    final = chunks[-1]
    assert isinstance(final, MessageComplete)
    assert final.response.content == (
        TextContent("".join(words)),
        ToolCallContent(ToolCall("toolu_1", "write", {"text": "".join(pieces[1:-1])})),
    )
