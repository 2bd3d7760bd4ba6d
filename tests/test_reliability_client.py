"""Client reliability under faults (issue 18): one attempt budget per call, close() during
retries, provider ids in errors and logs. Real sockets through the loopback server."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

import pytest

from steer_sync import (
    ApiError,
    CancellationToken,
    Cancelled,
    Client,
    ErrorChunk,
    Message,
    MessageComplete,
    ModelId,
    ProviderId,
    ProviderStreamError,
    ProviderStreamErrorKind,
    Reset,
    RetryPolicy,
    StreamChunk,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

SONNET = ModelId("anthropic", "claude-sonnet-4-5")
HI = [Message.user("hi")]
FAST = RetryPolicy(base_delay=0, jitter=0, max_attempts=5)
T = TypeVar("T")


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


# --- item 3: close() while a call is between attempts --------------------------------------


@dataclass(frozen=True)
class _PausingPolicy(RetryPolicy):
    """Holds the calling thread inside its backoff until the test says go (a barrier)."""

    in_backoff: threading.Event = field(default_factory=threading.Event, compare=False)
    go_on: threading.Event = field(default_factory=threading.Event, compare=False)

    def delay(self, retry_index: int, retry_after: Optional[float] = None, rng: Any = None) -> float:
        self.in_backoff.set()
        if not self.go_on.wait(10):
            raise AssertionError("the test never released the backoff")
        return 0.0


def _close_during_backoff(server: LoopbackServer, call: Callable[[Client], T]) -> T:
    """Run ``call`` in a thread, close the client while it waits to retry, return its result.

    Also checks that close() spared the provider the call was using, and that the call
    closed it (and so its pooled connection) when it ended.
    """
    policy = _PausingPolicy(base_delay=0, jitter=0)
    client = server.client(retry_policy=policy)
    outcome: Dict[str, Any] = {}
    closes: List[bool] = []

    def run() -> None:
        try:
            outcome["result"] = call(client)
        except BaseException as error:  # reported below, in the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert policy.in_backoff.wait(10), "the call never reached its backoff"
        provider = client._providers[SONNET.provider].provider
        close_provider = provider.close

        def counting_close() -> None:
            closes.append(True)
            close_provider()

        provider.close = counting_close  # type: ignore[method-assign]
        client.close()
        assert closes == [], "close() closed a provider a call was still using"
    finally:
        policy.go_on.set()
        worker.join(10)
    assert not worker.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    assert closes == [True], "the call did not close the provider close() had retired"
    # ... and with it the pooled connection of the call's last request.
    assert server.wait_connection_closed(server.requests[-1].connection_id, 10)
    result: T = outcome["result"]
    return result


def test_close_lets_a_call_waiting_between_retries_finish(server: LoopbackServer) -> None:
    server.queue(ErrorReply(503, "busy"), Turn(text="after close"))
    response = _close_during_backoff(server, lambda client: client.complete(SONNET, HI))
    assert response.extract_text() == "after close"
    assert len(server.requests) == 2


def test_close_lets_a_stream_restart_finish(server: LoopbackServer) -> None:
    server.queue(_fails_after_output(), Turn(text="restarted"))

    def stream(client: Client) -> List[StreamChunk]:
        with client.stream_complete(SONNET, HI, retry_after_output=True) as chunks:
            return list(chunks)

    chunks = _close_during_backoff(server, stream)
    final = chunks[-1]
    assert isinstance(final, MessageComplete), final
    assert final.response.extract_text() == "restarted"
    assert len(server.requests) == 2
    assert server.wait_connections_closed(10)


def test_close_lets_complete_with_retry_finish(server: LoopbackServer) -> None:
    server.queue(ErrorReply(503, "busy"), Turn(text="after close"))
    response = _close_during_backoff(server, lambda client: client.complete_with_retry(SONNET, HI))
    assert response.extract_text() == "after close"


def test_an_open_stream_outlives_close_and_releases_its_provider_when_done(server: LoopbackServer) -> None:
    server.queue(Turn(text="first answer"), Turn(text="second"))
    client = server.client(retry_policy=FAST)
    with client.stream_complete(SONNET, HI) as stream:
        client.close()  # the stream is in flight: its provider stays open until it ends
        chunks = list(stream)
    final = chunks[-1]
    assert isinstance(final, MessageComplete)
    assert final.response.extract_text() == "first answer"
    assert server.wait_connections_closed(10)
    # The client stays usable: the next call builds its provider again.
    assert client.complete(SONNET, HI).extract_text() == "second"
    client.close()
    assert server.wait_connections_closed(10)


# --- item 13: a catalog provider is named by its id ----------------------------------------


@pytest.fixture
def gateway_catalog(server: LoopbackServer, tmp_path: Path) -> str:
    """A catalog with one provider, ``my-gw``, speaking Chat Completions to the server."""
    catalog = tmp_path / "gateway.toml"
    catalog.write_text(
        '[[providers]]\nid = "my-gw"\nname = "My Gateway"\napi_format = "openai-chat"\n'
        f'auth_schemes = ["api-key"]\napi_key_env = "OPENAI_API_KEY"\nbase_url = "{server.url}/v1"\n'
    )
    return str(catalog)


GATEWAY_MODEL = ModelId(ProviderId("my-gw"), "some-model")


@dataclass(frozen=True)
class _CancellingPolicy(RetryPolicy):
    """Cancels ``token`` when the client asks how long to back off (so: between attempts)."""

    token: CancellationToken = field(default_factory=CancellationToken, compare=False)

    def delay(self, retry_index: int, retry_after: Optional[float] = None, rng: Any = None) -> float:
        self.token.cancel()
        return 0.0


def test_retry_logs_name_the_catalog_provider_by_its_id(
    server: LoopbackServer, gateway_catalog: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(ErrorReply(503, "busy"), _fails_after_output(), Turn(text="ok"))
    client = server.client(catalogs=[gateway_catalog], retry_policy=FAST)
    with client, caplog.at_level(logging.WARNING, logger="steer_sync.client"):
        assert client.complete(GATEWAY_MODEL, HI).extract_text() == "ok"
    messages = [r.getMessage() for r in caplog.records if r.name == "steer_sync.client"]
    assert len(messages) == 2, messages  # one start retry, one stream restart
    assert all(m.startswith("my-gw ") for m in messages), messages


@pytest.mark.parametrize("call", ["complete", "complete_with_retry"])
def test_a_call_cancelled_between_attempts_names_the_catalog_provider(
    server: LoopbackServer, gateway_catalog: str, call: str
) -> None:
    server.queue(ErrorReply(503, "busy"), Turn(text="never sent"))
    token = CancellationToken()
    policy = _CancellingPolicy(base_delay=0, token=token)
    with server.client(catalogs=[gateway_catalog], retry_policy=policy) as client, pytest.raises(Cancelled) as raised:
        getattr(client, call)(GATEWAY_MODEL, HI, token=token)
    assert raised.value.provider == "my-gw"
    assert len(server.requests) == 1


def test_a_stream_cancelled_before_its_restart_names_the_catalog_provider(
    server: LoopbackServer, gateway_catalog: str
) -> None:
    server.queue(_fails_after_output(), Turn(text="never sent"))
    token = CancellationToken()
    policy = _CancellingPolicy(base_delay=0, token=token)
    with server.client(catalogs=[gateway_catalog], retry_policy=policy) as client, pytest.raises(Cancelled) as raised:
        client.complete(GATEWAY_MODEL, HI, token=token)
    assert raised.value.provider == "my-gw"


def test_a_cancelled_token_names_the_catalog_provider_before_sending(
    server: LoopbackServer, gateway_catalog: str
) -> None:
    token = CancellationToken()
    token.cancel()
    with server.client(catalogs=[gateway_catalog], retry_policy=FAST) as client:
        for call in (client.complete, client.complete_with_retry):
            with pytest.raises(Cancelled) as raised:
                call(GATEWAY_MODEL, HI, token=token)
            assert raised.value.provider == "my-gw"
    assert server.requests == []


def test_a_failed_restart_names_the_catalog_provider(server: LoopbackServer, gateway_catalog: str) -> None:
    server.queue(_fails_after_output(), ErrorReply(400, "bad request"))
    with (
        server.client(catalogs=[gateway_catalog], retry_policy=FAST) as client,
        client.stream_complete(GATEWAY_MODEL, HI, retry_after_output=True) as stream,
    ):
        last = list(stream)[-1]
    assert isinstance(last, ErrorChunk)
    assert isinstance(last.error, ProviderStreamError)
    assert last.error.kind == ProviderStreamErrorKind.STREAM_RETRY
    assert last.error.provider == "my-gw"
