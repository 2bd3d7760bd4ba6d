"""Client reliability under faults (issue 18): one attempt budget per call, close() during
retries, provider ids in errors and logs. Real sockets through the loopback server."""

from __future__ import annotations

from typing import Iterator, List

import pytest

from steer_sync import ApiError, Message, ModelId, Reset, RetryPolicy, StreamChunk
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

SONNET = ModelId("anthropic", "claude-sonnet-4-5")
HI = [Message.user("hi")]
FAST = RetryPolicy(base_delay=0, jitter=0, max_attempts=5)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started


def _fails_after_output() -> Turn:
    # message_start, content_block_start, then two text deltas reach the client before the drop.
    return Turn(text="one two three four five six", drop_after=4)


def _alternating(count: int) -> List[object]:
    items: List[object] = []
    for _ in range(count):
        items += [_fails_after_output(), ErrorReply(503, "busy")]
    return items


# --- item 9: one attempt budget per call ----------------------------------------------------


def test_complete_sends_at_most_max_attempts_requests_across_restarts_and_start_retries(
    server: LoopbackServer,
) -> None:
    server.queue(*_alternating(15))  # type: ignore[arg-type]
    with server.client(retry_policy=FAST) as client, pytest.raises(ApiError):
        client.complete(SONNET, HI)
    assert len(server.requests) == FAST.max_attempts


def test_a_restarted_stream_shares_the_calls_attempt_budget(server: LoopbackServer) -> None:
    server.queue(*_alternating(15))  # type: ignore[arg-type]
    with (
        server.client(retry_policy=FAST) as client,
        client.stream_complete(SONNET, HI, retry_after_output=True) as stream,
    ):
        chunks: List[StreamChunk] = list(stream)
    assert len(server.requests) == FAST.max_attempts
    assert any(isinstance(c, Reset) for c in chunks)


def test_the_last_attempt_of_the_budget_may_still_succeed(server: LoopbackServer) -> None:
    # Requests 1-4 fail (after output, 503, after output, 503); the fifth answers.
    server.queue(*_alternating(2), Turn(text="finally"))  # type: ignore[arg-type]
    with server.client(retry_policy=FAST) as client:
        assert client.complete(SONNET, HI).extract_text() == "finally"
    assert len(server.requests) == 5
