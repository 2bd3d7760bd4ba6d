"""CompletionStream.next_chunk / iter_with_idle: a read that wakes up without ending the stream.

Pure cases drive the stream with a generator gated by events; socket cases use the loopback
server as a silent or stalled provider. No test measures time: the only waits are generous
backstops, and "silence" is a source blocked on an event the test sets after it saw idle ticks.
"""

from __future__ import annotations

import threading
from typing import Iterator, List, Optional

import pytest

from steer_sync import (
    ErrorChunk,
    Message,
    MessageComplete,
    RetryPolicy,
    SseParse,
    StreamChunk,
    TextDelta,
    _stream,
)
from steer_sync._stream import CompletionStream
from steer_sync._transport import Timeouts
from steer_sync.testing import LoopbackServer, Turn

GUARD = 10.0  # a backstop for a broken test, never a measurement
READER = "steer_sync-stream-reader"


def _readers() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == READER]


def _gated(gate: threading.Event, released: threading.Event) -> Iterator[StreamChunk]:
    try:
        yield TextDelta("before")
        gate.wait(GUARD)  # the silent upstream
        yield TextDelta("after")
        yield TextDelta("end")
    finally:
        released.set()


class _SignallingCondition(threading.Condition):
    """A condition that sets ``waiting`` when a thread starts to wait on it (its lock still held,
    so a ``notify`` from another thread can only come once the waiter really waits)."""

    def __init__(self, waiting: threading.Event) -> None:
        super().__init__(threading.Lock())
        self.waiting = waiting

    def wait(self, timeout: Optional[float] = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set whenever a reader starts waiting on a stream's reader thread (clear it before a wait)."""
    event = threading.Event()

    class WatchedPump(_stream._ChunkPump):
        def __init__(self, source: Iterator[StreamChunk]) -> None:
            super().__init__(source)
            self._ready = _SignallingCondition(event)

    monkeypatch.setattr(_stream, "_ChunkPump", WatchedPump)
    return event


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


def test_next_chunk_returns_none_while_silent_and_then_delivers_everything() -> None:
    gate, released = threading.Event(), threading.Event()
    stream = CompletionStream(_gated(gate, released))
    assert stream.next_chunk(GUARD) == TextDelta("before")
    ticks = 0
    while ticks < 3:
        chunk = stream.next_chunk(0.01)
        assert chunk is None  # the source is blocked on the gate: nothing can arrive
        ticks += 1
    assert not stream.closed
    gate.set()
    seen: List[Optional[StreamChunk]] = []
    while True:
        try:
            seen.append(stream.next_chunk(GUARD))
        except StopIteration:
            break
    assert seen == [TextDelta("after"), TextDelta("end")]
    assert stream.closed
    assert released.wait(GUARD)
    with pytest.raises(StopIteration):
        stream.next_chunk(0.01)


def test_plain_next_after_next_chunk_reads_the_same_queue_in_order() -> None:
    gate, released = threading.Event(), threading.Event()
    stream = CompletionStream(_gated(gate, released))
    assert stream.next_chunk(GUARD) == TextDelta("before")
    assert stream.next_chunk(0.01) is None
    gate.set()
    assert list(stream) == [TextDelta("after"), TextDelta("end")]
    assert released.wait(GUARD)


def test_iter_with_idle_yields_none_for_every_silent_interval() -> None:
    gate, released = threading.Event(), threading.Event()
    out: List[Optional[StreamChunk]] = []
    with CompletionStream(_gated(gate, released)) as stream:
        for chunk in stream.iter_with_idle(0.01):
            out.append(chunk)
            # Count only the silence after "before" (the source is then blocked on the gate):
            # a reader thread slow to start may also tick before it.
            if TextDelta("before") in out and out[out.index(TextDelta("before")) :].count(None) == 4:
                gate.set()
    assert out[out.index(TextDelta("before")) :].count(None) >= 4
    assert [c for c in out if c is not None] == [TextDelta("before"), TextDelta("after"), TextDelta("end")]


def test_close_from_another_thread_ends_a_waiting_next_chunk(waiting: threading.Event) -> None:
    gate, released = threading.Event(), threading.Event()
    stream = CompletionStream(_gated(gate, released))
    assert stream.next_chunk(GUARD) == TextDelta("before")
    waiting.clear()

    def close_once_waiting() -> None:
        if waiting.wait(GUARD):  # the next next_chunk() is inside its wait
            stream.close()

    closer = threading.Thread(target=close_once_waiting)
    closer.start()
    with pytest.raises(StopIteration):
        stream.next_chunk(GUARD)  # woken by close(), not by the guard
    closer.join(GUARD)
    assert waiting.is_set()
    gate.set()  # the blocked source yields; the reader then closes it and ends
    assert released.wait(GUARD)


def test_close_wakes_a_plain_next_waiting_on_a_source_that_cannot_be_woken(waiting: threading.Event) -> None:
    gate = threading.Event()

    def blocking() -> Iterator[StreamChunk]:
        yield TextDelta("a")
        gate.wait(GUARD)  # deaf to the stream's token, like any plain iterable
        yield TextDelta("b")

    stream = CompletionStream.from_iterable(blocking())
    try:
        assert stream.next_chunk(GUARD) == TextDelta("a")  # a reader thread now pumps the source
        waiting.clear()
        outcome: List[object] = []

        def read() -> None:
            try:
                outcome.append(next(stream))
            except StopIteration:
                outcome.append(StopIteration)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert waiting.wait(GUARD)  # the reader is inside next(), waiting on the pump
        stream.close()
        reader.join(GUARD)
        assert outcome == [StopIteration]
        assert stream.closed
    finally:
        gate.set()


def _held(entered: threading.Event, gate: threading.Event) -> Iterator[StreamChunk]:
    entered.set()
    gate.wait(GUARD)
    yield TextDelta("a")
    yield TextDelta("b")


def test_next_chunk_while_another_thread_is_in_next_is_refused_and_harms_nothing() -> None:
    entered, gate = threading.Event(), threading.Event()
    stream = CompletionStream(_held(entered, gate))
    got: List[object] = []
    first = threading.Thread(target=lambda: got.append(next(stream)), daemon=True)
    first.start()
    try:
        assert entered.wait(GUARD)  # the first reader is inside the source
        with pytest.raises(RuntimeError, match=r"next_chunk\(\) refused.*one consumer"):
            stream.next_chunk(0.01)
        with pytest.raises(RuntimeError, match="one consumer"):
            stream.next_chunk(None)
    finally:
        gate.set()
    first.join(GUARD)
    assert got == [TextDelta("a")]
    assert not stream.closed
    assert list(stream) == [TextDelta("b")]


def test_a_second_reader_of_a_waiting_next_chunk_is_refused(waiting: threading.Event) -> None:
    entered, gate = threading.Event(), threading.Event()
    stream = CompletionStream(_held(entered, gate))
    got: List[object] = []
    first = threading.Thread(target=lambda: got.append(stream.next_chunk(GUARD)), daemon=True)
    first.start()
    try:
        assert waiting.wait(GUARD)  # the first reader waits on the reader thread
        with pytest.raises(RuntimeError, match="one consumer"):
            stream.next_chunk(0)
        with pytest.raises(RuntimeError, match="one consumer"):
            next(stream)
    finally:
        gate.set()
    first.join(GUARD)
    assert got == [TextDelta("a")]
    assert stream.next_chunk(GUARD) == TextDelta("b")
    with pytest.raises(StopIteration):
        stream.next_chunk(GUARD)


def test_racing_next_chunk_calls_start_one_reader_thread() -> None:
    entered, gate = threading.Event(), threading.Event()
    before = set(_readers())
    stream = CompletionStream(_held(entered, gate))
    barrier = threading.Barrier(8)
    outcomes: List[object] = []

    def poll() -> None:
        barrier.wait()
        try:
            outcomes.append(stream.next_chunk(0))
        except RuntimeError:
            outcomes.append(RuntimeError)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
    try:
        assert len(outcomes) == 8 and set(outcomes) <= {None, RuntimeError}
        assert len([t for t in _readers() if t not in before]) == 1
    finally:
        gate.set()
        stream.close()


def test_a_failing_source_raises_in_the_reader_and_ends_the_stream() -> None:
    def failing() -> Iterator[StreamChunk]:
        yield TextDelta("x")
        raise RuntimeError("boom")

    stream = CompletionStream(failing())
    assert stream.next_chunk(GUARD) == TextDelta("x")
    with pytest.raises(RuntimeError, match="boom"):
        stream.next_chunk(GUARD)
    assert stream.closed
    with pytest.raises(StopIteration):
        stream.next_chunk(GUARD)


def test_bad_timeouts_are_rejected_before_anything_starts() -> None:
    stream = CompletionStream([TextDelta("x")])
    with pytest.raises(ValueError, match="timeout"):
        stream.next_chunk(-1)
    with pytest.raises(ValueError, match="interval"):
        stream.iter_with_idle(0)
    assert list(stream) == [TextDelta("x")]


def test_plain_iteration_and_next_chunk_without_timeout_start_no_thread() -> None:
    before = len(_readers())
    stream = CompletionStream([TextDelta("a"), TextDelta("b")])
    assert stream.next_chunk(None) == TextDelta("a")
    assert list(stream) == [TextDelta("b")]
    assert len(_readers()) == before


# --- through a real socket ---------------------------------------------------------------


def test_a_silent_provider_gives_idle_ticks_and_the_whole_answer_after(server: LoopbackServer) -> None:
    # Three-word text: the server pauses 0.3 s between events, far above the 0.02 s tick.
    server.queue(Turn(text="one two three", delay=0.3))
    with server.client() as client, client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")]) as s:
        out = list(s.iter_with_idle(0.02))
    chunks = [c for c in out if c is not None]
    assert out.count(None) >= 1
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "one two three"
    assert isinstance(chunks[-1], MessageComplete)


def test_the_stall_limit_still_ends_a_polled_stream(server: LoopbackServer) -> None:
    server.queue(Turn(text="one two three", stall_after=2))
    options = {"timeouts": Timeouts(stream_idle=0.5)}
    client = server.client(provider_options=options, retry_policy=RetryPolicy(max_attempts=1))
    with client, client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")]) as stream:
        out = list(stream.iter_with_idle(0.05))
    assert out.count(None) >= 1
    last = out[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, SseParse)
    assert "stream_idle" in str(last.error)
    assert server.wait_connections_closed(GUARD)


def test_closing_a_polled_stream_during_a_stall_drops_the_upstream_connection(server: LoopbackServer) -> None:
    server.queue(Turn(text="one two three", stall_after=2))
    with server.client() as client:
        stream = client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")])
        server.wait_for_stalls(1, GUARD)
        ticks = 0
        for chunk in stream.iter_with_idle(0.02):
            if chunk is None:
                ticks += 1
                if ticks == 2:
                    stream.close()  # what a web helper does when the browser left
        assert stream.closed
        assert server.wait_connections_closed(GUARD)
