"""Listeners over the loopback server: the exact events of each way a call can end, cost, the INFO line."""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any, Iterator, List, Optional, Tuple

import pytest

import steer_sync._observe
from steer_sync import (
    ApiStreamError,
    AttemptFailed,
    CallFinished,
    CancellationToken,
    Cancelled,
    Client,
    CompletionStream,
    ErrorChunk,
    InvalidRequest,
    Message,
    MessageComplete,
    RetryPolicy,
    ServerError,
    StreamCancelled,
    TextDelta,
    TokenUsage,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

HI = [Message.user("hi")]
SONNET = "anthropic/claude-sonnet-4-5"
OVERLOADED = ErrorReply(529, "Overloaded", error_type="overloaded_error")
#: Sonnet's catalog prices: 3 in, 15 out, 0.3 cache read, 3.75 cache write (USD per million tokens).
SONNET_10_IN_5_OUT = (10 * 3.0 + 5 * 15.0) / 1e6


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


class Recorder:
    """A listener that keeps every event, and the thread it arrived in."""

    def __init__(self) -> None:
        self.events: List[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def kinds(self) -> List[Tuple[str, Optional[int], Any]]:
        """Each event as (class, attempt number, retry_in or error class), the sequence tests compare."""
        out: List[Tuple[str, Optional[int], Any]] = []
        for event in self.events:
            if isinstance(event, AttemptFailed):
                out.append(("AttemptFailed", event.attempt, event.retry_in))
            else:
                out.append(("CallFinished", event.attempts, type(event.error).__name__ if event.error else None))
        return out

    @property
    def finished(self) -> CallFinished:
        last = self.events[-1]
        assert isinstance(last, CallFinished)
        return last


@pytest.fixture
def heard() -> Recorder:
    return Recorder()


@pytest.fixture
def client(server: LoopbackServer, heard: Recorder) -> Iterator[Client]:
    with server.client(retry_policy=RetryPolicy(max_attempts=3, base_delay=0, jitter=0), listeners=[heard]) as built:
        yield built


def test_a_call_that_succeeds_sends_one_call_finished(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="Hello there", usage=(10, 5)))
    response = client.complete(SONNET, HI)
    assert heard.kinds() == [("CallFinished", 1, None)]
    event = heard.finished
    assert (event.provider, event.model, event.streamed) == ("anthropic", "claude-sonnet-4-5", False)
    assert event.usage == response.usage and event.usage == TokenUsage(10, 5, 15)
    assert event.stop_reason == "end_turn" and event.error is None and event.ok
    assert event.time_to_first_chunk is None  # not a streamed call
    assert event.duration >= 0
    assert event.cost == pytest.approx(SONNET_10_IN_5_OUT)


def test_two_retries_then_success(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(OVERLOADED, OVERLOADED, Turn(text="ok"))
    client.complete(SONNET, HI)
    assert heard.kinds() == [("AttemptFailed", 1, 0.0), ("AttemptFailed", 2, 0.0), ("CallFinished", 3, None)]
    failed = heard.events[0]
    assert isinstance(failed.error, ServerError) and failed.error.status_code == 529
    assert (failed.provider, failed.model) == ("anthropic", "claude-sonnet-4-5")


def test_a_call_that_gives_up(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(OVERLOADED, OVERLOADED, OVERLOADED)
    with pytest.raises(ServerError) as raised:
        client.complete(SONNET, HI)
    assert heard.kinds() == [
        ("AttemptFailed", 1, 0.0),
        ("AttemptFailed", 2, 0.0),
        ("AttemptFailed", 3, None),  # None: the call gives up
        ("CallFinished", 3, "ServerError"),
    ]
    assert heard.finished.error is raised.value and heard.finished.cost is None and heard.finished.usage is None


def test_a_request_error_is_not_retried_and_finishes_once(
    server: LoopbackServer, client: Client, heard: Recorder
) -> None:
    server.queue(ErrorReply(400, "bad request"))
    with pytest.raises(InvalidRequest):
        client.complete(SONNET, HI)
    assert heard.kinds() == [("AttemptFailed", 1, None), ("CallFinished", 1, "InvalidRequest")]


def test_a_stream_consumed_to_the_end(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="one two three", usage=(10, 5)))
    seen = []
    with client.stream_complete(SONNET, HI) as stream:
        for chunk in stream:
            seen.append(chunk)
            assert heard.events == [], "nothing is reported before the stream ends"
        # Reported when iteration ended, before the with block closed the stream.
        assert heard.kinds() == [("CallFinished", 1, None)]
    assert heard.kinds() == [("CallFinished", 1, None)]
    event = heard.finished
    assert event.streamed and isinstance(seen[-1], MessageComplete)
    assert event.time_to_first_chunk is not None and 0 <= event.time_to_first_chunk <= event.duration
    assert event.usage == seen[-1].response.usage and event.cost == pytest.approx(SONNET_10_IN_5_OUT)


def test_a_stream_closed_after_two_chunks_is_a_cancel(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="one two three four five six seven"))
    stream = client.stream_complete(SONNET, HI)
    assert isinstance(next(stream), TextDelta) and isinstance(next(stream), TextDelta)
    stream.close()
    stream.close()  # idempotent: still one event
    assert heard.kinds() == [("CallFinished", 1, "Cancelled")]
    assert heard.finished.usage is None and heard.finished.time_to_first_chunk is not None


def test_a_stream_closed_before_its_first_chunk(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="never read"))
    client.stream_complete(SONNET, HI).close()
    assert heard.kinds() == [("CallFinished", 1, "Cancelled")]
    assert heard.finished.time_to_first_chunk is None


def test_a_cancelled_stream(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="one two three four five", stall_after=6))
    token = CancellationToken()
    with client.stream_complete(SONNET, HI, token=token) as stream:
        chunks = [next(stream)]
        token.cancel()
        chunks.extend(stream)
    assert isinstance(chunks[-1], ErrorChunk) and isinstance(chunks[-1].error, StreamCancelled)
    assert heard.kinds() == [("CallFinished", 1, "Cancelled")]


def test_a_stream_closed_from_another_thread_while_blocked(
    server: LoopbackServer, client: Client, heard: Recorder
) -> None:
    server.queue(Turn(text="one two three four five", stall_after=6))
    stream = client.stream_complete(SONNET, HI)
    first = threading.Event()

    def read() -> None:
        for _ in stream:
            first.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(10)
    stream.close()  # the reader may or may not be blocked yet: either way, one event
    reader.join(10)
    assert not reader.is_alive()
    assert heard.kinds() == [("CallFinished", 1, "Cancelled")]


def test_a_stream_dropped_without_close_reports_when_collected(
    server: LoopbackServer, client: Client, heard: Recorder
) -> None:
    server.queue(Turn(text="one two three four five"))
    stream = client.stream_complete(SONNET, HI)
    next(stream)
    del stream
    gc.collect()
    assert heard.kinds() == [("CallFinished", 1, "Cancelled")]


def test_a_stream_dropped_before_its_first_chunk_reports_when_collected(
    server: LoopbackServer, client: Client, heard: Recorder
) -> None:
    server.queue(Turn(text="never read"))
    client.stream_complete(SONNET, HI)  # dropped at once, never iterated nor closed
    gc.collect()
    assert heard.kinds() == [("CallFinished", 1, "Cancelled")]


def test_a_stream_that_fails_mid_way_reports_the_error(server: LoopbackServer, heard: Recorder) -> None:
    policy = RetryPolicy(max_attempts=1, base_delay=0, jitter=0)
    with server.client(retry_policy=policy, listeners=[heard]) as client:
        server.queue(Turn(text="one two three four", error_after=3))
        chunks = list(client.stream_complete(SONNET, HI))
    assert isinstance(chunks[-1], ErrorChunk)
    assert heard.kinds() == [("AttemptFailed", 1, None), ("CallFinished", 1, "ApiStreamError")]
    assert isinstance(heard.finished.error, ApiStreamError)


def test_a_stream_restarted_after_a_break(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="one two three four", error_after=1), Turn(text="again", usage=(10, 5)))
    response = client.stream_complete(SONNET, HI).collect()
    assert response.extract_text() == "again"
    assert heard.kinds() == [("AttemptFailed", 1, 0.0), ("CallFinished", 2, None)]


def test_complete_with_retry(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(OVERLOADED, Turn(text="ok", usage=(10, 5)))
    client.complete_with_retry(SONNET, HI, max_attempts=2)
    assert heard.kinds() == [("AttemptFailed", 1, 0.0), ("CallFinished", 2, None)]
    assert not heard.finished.streamed and heard.finished.cost == pytest.approx(SONNET_10_IN_5_OUT)

    heard.events.clear()
    server.queue(OVERLOADED, OVERLOADED)
    with pytest.raises(ServerError):
        client.complete_with_retry(SONNET, HI, max_attempts=2)
    assert heard.kinds() == [("AttemptFailed", 1, 0.0), ("AttemptFailed", 2, None), ("CallFinished", 2, "ServerError")]


def test_a_missing_key_is_a_finished_call_with_its_error(heard: Recorder, server: LoopbackServer) -> None:
    from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry

    providers = ProviderRegistry.load([], discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env=lambda name: None, provider_registry=providers)
    client = Client(config, providers, ModelRegistry.load([], discover=False), listeners=[heard])
    with pytest.raises(Exception, match="ANTHROPIC_API_KEY"):
        client.complete(SONNET, HI)
    assert heard.kinds() == [("CallFinished", 0, "ConfigurationError")]


def test_cost_counts_anthropic_cache_reads_and_writes(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    # Anthropic reports input_tokens without the cache: 300 uncached + 600 read + 100 written.
    server.queue(Turn(text="ok", usage=(300, 20), cache_read_input_tokens=600, cache_creation_input_tokens=100))
    response = client.complete(SONNET, HI)
    assert response.usage is not None and response.usage.input_tokens == 1000
    expected = (300 * 3.0 + 600 * 0.3 + 100 * 3.75 + 20 * 15.0) / 1e6
    assert heard.finished.cost == pytest.approx(expected)


def test_cost_of_openai_cached_prompt_tokens(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    # gpt-5.4: 2.5 in, 15 out, 0.25 cached. The loopback reports no cached tokens: plain input.
    server.queue(Turn(text="ok", usage=(1000, 100)))
    client.complete("openai/gpt-5.4", HI)
    assert heard.finished.cost == pytest.approx((1000 * 2.5 + 100 * 15.0) / 1e6)


def test_cost_is_none_for_a_model_without_prices(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="ok", usage=(10, 5)))
    client.complete("anthropic/claude-not-in-the-catalog", HI)
    assert heard.finished.usage is not None and heard.finished.cost is None


def test_cost_is_none_without_usage(server: LoopbackServer, client: Client, heard: Recorder) -> None:
    server.queue(Turn(text="ok", usage=None))  # Responses omits usage; Anthropic always sends it
    client.complete("openai/gpt-5.4", HI)
    assert heard.finished.usage is None and heard.finished.cost is None


def test_a_raising_listener_is_logged_and_ignored(
    server: LoopbackServer, heard: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("listener bug")

    server.queue(Turn(text="fine"))
    with server.client(listeners=[broken, heard]) as client, caplog.at_level(logging.WARNING, "steer_sync"):
        assert client.complete(SONNET, HI).extract_text() == "fine"
    assert heard.kinds() == [("CallFinished", 1, None)]  # the next listener still heard it
    failures = [record for record in caplog.records if "listener" in record.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.WARNING
    assert failures[0].exc_info is not None and "listener bug" in caplog.text


def test_add_listener_returns_a_remover(server: LoopbackServer, heard: Recorder) -> None:
    server.queue(Turn(text="a"), Turn(text="b"))
    with server.client() as client:
        remove = client.add_listener(heard)
        client.complete(SONNET, HI)
        remove()
        remove()  # idempotent
        client.complete(SONNET, HI)
    assert heard.kinds() == [("CallFinished", 1, None)]
    with pytest.raises(TypeError, match="listener must be callable"):
        client.add_listener("not a function")  # type: ignore[arg-type]


def test_listeners_added_and_removed_from_many_threads(server: LoopbackServer) -> None:
    with server.client() as client:
        barrier = threading.Barrier(8)
        removers: List[Any] = []
        lock = threading.Lock()

        def register() -> None:
            barrier.wait()
            for _ in range(50):
                remove = client.add_listener(lambda event: None)
                with lock:
                    removers.append(remove)

        threads = [threading.Thread(target=register) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(client._listeners) == 400  # no registration lost to a race
        for remove in removers:
            remove()
        assert client._listeners == ()


def test_the_same_listener_twice_hears_twice_and_is_removed_once(server: LoopbackServer, heard: Recorder) -> None:
    server.queue(Turn(text="a"), Turn(text="b"))
    with server.client(listeners=[heard]) as client:
        remove = client.add_listener(heard)
        client.complete(SONNET, HI)
        assert len(heard.events) == 2
        remove()
        client.complete(SONNET, HI)
    assert len(heard.events) == 3


def test_the_request_id_comes_from_the_error(heard: Recorder) -> None:
    recorder = steer_sync._observe.CallRecorder([heard], "anthropic", "claude-x", False, None)
    recorder.attempts = 1
    recorder.raised(ServerError("anthropic", 500, "boom", request_id="req_42"))
    assert heard.finished.request_id == "req_42"
    recorder.raised(ServerError("anthropic", 500, "again"))  # once only
    assert len(heard.events) == 1


def test_without_listeners_or_info_logging_no_event_is_built(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a recorder was built with nobody listening")

    monkeypatch.setattr("steer_sync._client.CallRecorder", refuse)
    logging.getLogger("steer_sync.client").setLevel(logging.WARNING)
    try:
        server.queue(Turn(text="a"), Turn(text="b"), Turn(text="c"))
        with server.client() as client:
            client.complete(SONNET, HI)
            assert list(client.stream_complete(SONNET, HI))
            client.complete_with_retry(SONNET, HI)
    finally:
        logging.getLogger("steer_sync.client").setLevel(logging.NOTSET)


def test_the_info_line(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    server.queue(Turn(text="ok", usage=(10, 5)), OVERLOADED)
    with server.client(retry_policy=RetryPolicy(max_attempts=1)) as client, caplog.at_level(logging.INFO):
        client.complete(SONNET, HI)
        with pytest.raises(ServerError):
            client.complete(SONNET, HI)
    lines = [r.getMessage() for r in caplog.records if r.name == "steer_sync.client" and r.levelno == logging.INFO]
    assert len(lines) == 2
    ok, failed = lines
    assert ok.startswith("call anthropic/claude-sonnet-4-5 ok in ")
    assert "attempts=1 tokens=10+5 cost=$0.000105 request_id=" in ok
    assert failed.startswith("call anthropic/claude-sonnet-4-5 error ServerError in ")
    assert "attempts=1 tokens=-" in failed and "Overloaded" in failed


def test_the_retry_warning_matches_the_attempt_failed(
    server: LoopbackServer, client: Client, heard: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(OVERLOADED, Turn(text="ok"))
    with caplog.at_level(logging.WARNING, "steer_sync.client"):
        client.complete(SONNET, HI)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    failed = heard.events[0]
    assert warnings == [
        f"anthropic/claude-sonnet-4-5 attempt 1 of 3 failed (ServerError), retrying in 0.00s: {failed.error}"
    ]


def test_events_are_frozen_values() -> None:
    event = CallFinished("p", "m", False, 1, 0.5, None, None, None, None, Cancelled("p"), None)
    with pytest.raises(AttributeError):
        event.attempts = 2  # type: ignore[misc]
    assert not event.ok
    assert CompletionStream  # the stream type the client returns is unchanged
