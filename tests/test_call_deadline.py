"""The call's deadline against one attempt's own limits, stream restarts and the recorder, over
the loopback server; and what a derived client (``with_options``) shares with its parent."""

from __future__ import annotations

import os
import pickle
from typing import Any, Iterator, List

import pytest

from steer_sync import (
    ApiTimeout,
    AttemptFailed,
    CallFinished,
    Client,
    ErrorChunk,
    Message,
    ProviderId,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    RetryPolicy,
    Timeouts,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

HI = [Message.user("hi")]
MODEL = "anthropic/claude-sonnet-4-5"
FAST = RetryPolicy(base_delay=0, jitter=0)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def heard() -> List[Any]:
    return []


@pytest.fixture
def client(server: LoopbackServer, heard: List[Any]) -> Iterator[Client]:
    made = server.client(retry_policy=FAST, listeners=[heard.append])
    yield made
    made.close()


def finished(heard: List[Any]) -> CallFinished:
    calls = [event for event in heard if isinstance(event, CallFinished)]
    assert len(calls) == 1, heard
    return calls[0]


def failures(heard: List[Any]) -> List[AttemptFailed]:
    return [event for event in heard if isinstance(event, AttemptFailed)]


def test_one_attempts_total_limit_is_retried_under_a_call_deadline(server: LoopbackServer, heard: List[Any]) -> None:
    # Timeouts.total bounds one attempt; the call's 30 s deadline is far away, so the stalled
    # first attempt is retried as it is without a call deadline.
    with server.client(
        retry_policy=FAST, listeners=[heard.append], provider_options={"timeouts": Timeouts(total=0.5)}
    ) as client:
        server.queue(Turn(text="late", stall_after=-1), Turn(text="second"))
        assert client.complete(MODEL, HI, timeout=30).extract_text() == "second"
    assert len(server.requests) == 2
    [failed] = failures(heard)
    assert isinstance(failed.error, ApiTimeout) and failed.retry_in is not None
    assert finished(heard).attempts == 2 and finished(heard).error is None


def test_a_passed_call_deadline_is_reported_once_to_the_listeners(
    server: LoopbackServer, client: Client, heard: List[Any]
) -> None:
    server.queue(*[Turn(text="late", stall_after=-1)] * 3)
    with pytest.raises(ApiTimeout):
        client.complete_with_retry(MODEL, HI, timeout=0.3)
    assert len(server.requests) == 1
    [failed] = failures(heard)
    assert isinstance(failed.error, ApiTimeout) and failed.retry_in is None
    assert isinstance(finished(heard).error, ApiTimeout)


def test_a_deadline_during_a_stream_restart_is_a_deadline_exceeded_chunk(
    server: LoopbackServer, client: Client, heard: List[Any]
) -> None:
    # Output, a break, then a restart refused with a Retry-After past the 20 s deadline.
    server.queue(Turn(text="Once upon a time", drop_after=1), ErrorReply(503, "busy", retry_after=30))
    stream = client.stream_complete(MODEL, HI, timeout=20, retry_after_output=True)
    chunks = list(stream)
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, ProviderStreamError)
    assert last.error.error_type == "deadline_exceeded"
    assert len(server.requests) == 2
    assert isinstance(finished(heard).error, ApiTimeout)


def test_collect_raises_api_timeout_for_a_deadline_during_a_restart(server: LoopbackServer, client: Client) -> None:
    server.queue(Turn(text="Once upon a time", drop_after=1), ErrorReply(503, "busy", retry_after=30))
    with pytest.raises(ApiTimeout):
        client.complete(MODEL, HI, timeout=20)


def test_a_restart_that_runs_out_of_attempts_raises_the_real_error(server: LoopbackServer, heard: List[Any]) -> None:
    two = RetryPolicy(max_attempts=2, base_delay=0, jitter=0)
    with server.client(retry_policy=two, listeners=[heard.append]) as client:
        server.queue(Turn(text="Once upon a time", drop_after=1), ErrorReply(429, "slow down", retry_after=7))
        stream = client.stream_complete(MODEL, HI, retry_after_output=True)
        with pytest.raises(RateLimited) as caught:
            stream.collect()
    assert caught.value.retry_after == 7
    assert isinstance(finished(heard).error, RateLimited)


def test_the_cause_of_a_stream_error_is_neither_compared_nor_shown() -> None:
    cause = RateLimited("anthropic", "slow down", retry_after=7)
    with_cause = ProviderStreamError(
        "anthropic", ProviderStreamErrorKind.STREAM_RETRY, "stream_retry", "x", cause=cause
    )
    plain = ProviderStreamError("anthropic", ProviderStreamErrorKind.STREAM_RETRY, "stream_retry", "x")
    assert with_cause == plain and hash(with_cause) == hash(plain)
    assert "cause" not in repr(with_cause)
    assert pickle.loads(pickle.dumps(with_cause)).cause.retry_after == 7


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_derived_client_still_shares_its_parents_cache_in_a_forked_child(
    server: LoopbackServer, client: Client
) -> None:
    derived = client.with_options(timeout=30)
    server.queue(Turn(text="parent"), Turn(text="child"))
    assert client.complete(MODEL, HI).extract_text() == "parent"
    inherited = client._providers[ProviderId("anthropic")].provider
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        verdict = "error"
        try:
            os.close(read_end)
            empty = not client._providers and not derived._providers
            text = derived.complete(MODEL, HI).extract_text()
            entry = client._providers.get(ProviderId("anthropic"))
            fresh = entry is not None and entry.provider is not inherited
            shared = entry is not None and derived._providers.get(ProviderId("anthropic")) is entry
            verdict = f"{empty} {text} {fresh} {shared}"
        finally:
            os.write(write_end, verdict.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        seen = pipe.read()
    os.waitpid(pid, 0)
    assert seen == "True child True True"
    assert client._providers[ProviderId("anthropic")].provider is inherited  # the parent keeps its own


def test_a_listener_added_to_the_parent_after_with_options_hears_the_derived_client(server: LoopbackServer) -> None:
    with server.client(retry_policy=FAST) as parent:
        derived = parent.with_options(timeout=30)
        heard: List[Any] = []
        remove = parent.add_listener(heard.append)
        server.queue(Turn(text="through the derived client"))
        derived.complete(MODEL, HI)
        assert finished(heard).error is None
        remove()  # removed through the parent: the derived client's calls stop reaching it too
        server.queue(Turn(text="again"))
        derived.complete(MODEL, HI)
        assert len(heard) == 1


def test_a_listener_added_to_the_derived_client_hears_the_parent(server: LoopbackServer) -> None:
    with server.client(retry_policy=FAST) as parent:
        derived = parent.with_options(retry_policy=FAST)
        heard: List[Any] = []
        derived.add_listener(heard.append)
        server.queue(Turn(text="through the parent"))
        parent.complete(MODEL, HI)
        assert finished(heard).error is None


def test_with_options_timeout_none_clears_an_inherited_deadline(server: LoopbackServer, client: Client) -> None:
    web = client.with_options(timeout=0.3)
    assert web.with_options(retry_policy=FAST)._default_timeout == 0.3  # not given: kept
    cleared = web.with_options(timeout=None)
    assert cleared._default_timeout is None
    # The cleared client waits past 0.3 s for an answer that comes after a stall of its own.
    server.queue(Turn(text="late", stall_after=-1), Turn(text="ok"))
    with pytest.raises(ApiTimeout):
        web.complete(MODEL, HI)
    assert cleared.complete(MODEL, HI).extract_text() == "ok"
