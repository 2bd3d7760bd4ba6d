"""stream_body without a server: encoding of each chunk kind, validation, and who closes what."""

from __future__ import annotations

import logging
import threading
from typing import Iterator, List

import pytest

from steer_sync import (
    CompletionResponse,
    ContentBlockStop,
    ErrorChunk,
    Message,
    MessageComplete,
    ProviderStreamError,
    ProviderStreamErrorKind,
    Reset,
    StreamChunk,
    TextDelta,
    TokenUsage,
)
from steer_sync._stream import CompletionStream
from steer_sync.contrib.wsgi import SSE_HEADERS, WEB_TIMEOUTS, error_type, sse_event, stream_body
from steer_sync.testing import LoopbackServer, Turn

from .conftest import GUARD, parse_sse

DONE = MessageComplete(CompletionResponse((), usage=TokenUsage.from_input_output(3, 4), stop_reason="end_turn"))


def _stream(*chunks: StreamChunk) -> CompletionStream:
    return CompletionStream(list(chunks), provider="anthropic")


def test_every_chunk_kind_becomes_its_event_and_framing_is_dropped() -> None:
    body = b"".join(stream_body(_stream(TextDelta("a"), Reset(), ContentBlockStop(0), TextDelta("b"), DONE)))
    events = parse_sse(body)
    assert events[:3] == [("text", {"text": "a"}), ("reset", {}), ("text", {"text": "b"})]
    name, done = events[3]
    assert name == "done" and isinstance(done, dict)
    assert done["stop_reason"] == "end_turn" and done["request_id"] is None
    assert done["usage"]["input_tokens"] == 3 and done["usage"]["output_tokens"] == 4
    assert len(events) == 4


def test_a_stream_that_ends_without_a_final_message_is_an_error_event(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="steer_sync.contrib.wsgi"):
        events = parse_sse(b"".join(stream_body(_stream(TextDelta("a")))))
    assert events[-1] == (
        "error",
        {"type": "incomplete", "message": events[-1][1]["message"], "retryable": False},  # type: ignore[index]
    )
    assert "without a final message" in caplog.text


def test_text_format_raises_after_output_and_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    error = ProviderStreamError("anthropic", ProviderStreamErrorKind.OVERLOADED, "overloaded_error", "Overloaded")
    body = stream_body(_stream(TextDelta("partial"), ErrorChunk(error)), format="text")
    assert next(body) == b"partial"
    with (
        caplog.at_level(logging.WARNING, logger="steer_sync.contrib.wsgi"),
        pytest.raises(Exception, match="Overloaded"),
    ):
        next(body)
    assert "aborting it" in caplog.text
    with pytest.raises(StopIteration):
        next(body)


def test_text_format_writes_only_the_text() -> None:
    assert b"".join(stream_body(_stream(TextDelta("a"), Reset(), TextDelta("b"), DONE), format="text")) == b"ab"


def test_bad_arguments_fail_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="'sse' or 'text'"):
        stream_body(_stream(DONE), format="html")
    with pytest.raises(ValueError, match="heartbeat"):
        stream_body(_stream(DONE), heartbeat=0)
    with pytest.raises(TypeError, match="CompletionStream"):
        stream_body(iter([DONE]))  # type: ignore[arg-type]


def test_closing_the_body_before_it_is_iterated_closes_the_stream() -> None:
    released = threading.Event()

    def source() -> Iterator[StreamChunk]:
        try:
            yield TextDelta("never sent")
        finally:
            released.set()

    stream = CompletionStream(source(), on_close=released.set)
    body = stream_body(stream)
    body.close()  # type: ignore[attr-defined]
    assert stream.closed and released.is_set()
    assert list(body) == []


def test_error_types_name_the_failure() -> None:
    from steer_sync import SseParse, SseParseErrorKind, StreamCancelled

    assert error_type(StreamCancelled()) == "cancelled"
    assert error_type(SseParse(SseParseErrorKind.TRANSPORT, "stall")) == "transport"
    assert sse_event("x", {"a": "é\n"}) == 'event: x\ndata: {"a":"é\\n"}\n\n'.encode()


def test_web_timeouts_fit_inside_a_default_gunicorn_worker_timeout() -> None:
    assert WEB_TIMEOUTS.total is not None and WEB_TIMEOUTS.total < 30
    assert WEB_TIMEOUTS.stream_idle is not None and WEB_TIMEOUTS.stream_idle < WEB_TIMEOUTS.total
    assert dict(SSE_HEADERS)["Content-Type"].startswith("text/event-stream")


def test_heartbeats_flow_during_a_stall_and_close_drops_the_upstream() -> None:
    with LoopbackServer() as server:
        server.queue(Turn(text="one two three", stall_after=4))
        with server.client() as client:
            body = stream_body(
                client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")]), heartbeat=0.01
            )
            server.wait_for_stalls(1, GUARD)  # "one" was sent, then the provider went silent
            seen: List[bytes] = []
            while b"event: text" not in b"".join(seen) or seen[-2:] != [b": keep-alive\n\n"] * 2:
                seen.append(next(body))
            (upstream,) = server.wait_for_requests(1, GUARD)
            body.close()  # type: ignore[attr-defined]  # what the WSGI server does on a disconnect
            assert server.wait_connection_closed(upstream.connection_id, GUARD)
