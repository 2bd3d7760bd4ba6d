"""CompletionStream: closing, collecting, and thread-safe close."""

from __future__ import annotations

import threading
from typing import Iterator, List

import pytest

from steer_sync import (
    ApiStreamError,
    ApiTimeout,
    CancellationToken,
    Cancelled,
    CompletionResponse,
    CompletionStream,
    ErrorChunk,
    MessageComplete,
    ProviderStreamError,
    ProviderStreamErrorKind,
    StreamCancelled,
    StreamChunk,
    TextContent,
    TextDelta,
)
from steer_sync._stream import DEADLINE_EXCEEDED

RESPONSE = CompletionResponse([TextContent("ok")])


def test_collect_returns_the_message_complete_response_and_closes() -> None:
    closed: List[bool] = []
    stream = CompletionStream(
        [TextDelta("o"), MessageComplete(RESPONSE), TextDelta("late")], on_close=lambda: closed.append(True)
    )
    assert stream.collect("p") == RESPONSE
    assert closed == [True] and stream.closed
    assert list(stream) == []


@pytest.mark.parametrize(
    ("error", "cls", "text"),
    [
        (StreamCancelled(), Cancelled, "Request cancelled for p"),
        (
            ProviderStreamError("p", ProviderStreamErrorKind.STREAM_ERROR, None, "upstream failed"),
            ApiStreamError,
            "upstream failed",
        ),
        (
            ProviderStreamError(
                "p", ProviderStreamErrorKind.from_provider_error_type(DEADLINE_EXCEEDED), DEADLINE_EXCEEDED, "10 s"
            ),
            ApiTimeout,
            "Request timed out for p",
        ),
    ],
)
def test_collect_raises_the_matching_error(error: object, cls: type, text: str) -> None:
    stream = CompletionStream([TextDelta("x"), ErrorChunk(error)])  # type: ignore[arg-type]
    with pytest.raises(cls, match=text) as info:
        stream.collect("p")
    assert info.value.stream_error == error  # type: ignore[attr-defined]


def test_collect_without_message_complete_is_an_error() -> None:
    with pytest.raises(ApiStreamError, match="Stream ended without completion response"):
        CompletionStream([TextDelta("partial")], provider="stub").collect()


def test_close_closes_the_generator_and_is_idempotent() -> None:
    finished: List[str] = []

    def chunks() -> Iterator[StreamChunk]:
        try:
            yield TextDelta("a")
            yield TextDelta("b")
        finally:
            finished.append("closed")

    closes: List[int] = []
    with CompletionStream(chunks(), on_close=lambda: closes.append(1)) as stream:
        assert next(stream) == TextDelta("a")
    stream.close()
    assert finished == ["closed"] and closes == [1]
    with pytest.raises(StopIteration):
        next(stream)


def test_close_from_another_thread_wakes_the_reader_through_the_token() -> None:
    token = CancellationToken()
    reading = threading.Event()
    finished: List[str] = []

    def chunks() -> Iterator[StreamChunk]:
        try:
            yield TextDelta("first")
            reading.set()
            # Stands in for a blocked socket read that the token's callback unblocks.
            token.wait()
            yield ErrorChunk(StreamCancelled())
        finally:
            finished.append("released")

    stream = CompletionStream(chunks(), token=token)
    seen: List[StreamChunk] = []

    def consume() -> None:
        seen.extend(stream)

    thread = threading.Thread(target=consume)
    thread.start()
    reading.wait(10)
    stream.close()
    stream.close()
    thread.join(10)
    assert not thread.is_alive()
    assert finished == ["released"] and token.is_cancelled()
    assert seen[0] == TextDelta("first")


def test_exhausting_a_stream_unregisters_its_token_from_the_caller() -> None:
    caller = CancellationToken()
    for _ in range(50):
        list(CompletionStream([TextDelta("x")], token=caller.child_token()))
    assert len(caller._callbacks) == 0


def test_collect_turns_a_blocked_stream_into_request_blocked() -> None:
    from steer_sync import RequestBlocked
    from steer_sync._stream import REQUEST_BLOCKED

    kind = ProviderStreamErrorKind.from_provider_error_type(REQUEST_BLOCKED)
    stream = CompletionStream([ErrorChunk(ProviderStreamError("google", kind, REQUEST_BLOCKED, "SAFETY"))])
    with pytest.raises(RequestBlocked, match="Request blocked by google: SAFETY"):
        stream.collect("google")


def test_a_second_thread_iterating_gets_a_clear_error_and_the_first_is_unaffected() -> None:
    inside = threading.Event()
    release = threading.Event()

    def chunks() -> Iterator[StreamChunk]:
        yield TextDelta("a")
        inside.set()  # the first reader is now inside next(), blocked like a network read
        release.wait(10)
        yield TextDelta("b")
        yield MessageComplete(RESPONSE)

    token = CancellationToken()
    stream = CompletionStream(chunks(), token=token)
    start = threading.Barrier(2)
    first: List[StreamChunk] = []
    second: List[BaseException] = []

    def read_all() -> None:
        start.wait(10)
        first.extend(stream)

    def read_while_busy() -> None:
        start.wait(10)
        assert inside.wait(10)
        try:
            next(stream)
        except BaseException as exc:  # recorded for the assertions below
            second.append(exc)
        release.set()

    threads = [threading.Thread(target=read_all), threading.Thread(target=read_while_busy)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(second) == 1 and type(second[0]) is RuntimeError
    assert "already being iterated by another thread" in str(second[0])
    assert first == [TextDelta("a"), TextDelta("b"), MessageComplete(RESPONSE)]
    assert stream.closed
