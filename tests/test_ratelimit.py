"""Client-side rate limits: GCRA arithmetic with an injected clock, header parsing, and the
client waiting for its turn against the loopback server."""

from __future__ import annotations

import threading
import time
from typing import List, Optional, Tuple

import pytest

from steer_sync import (
    ApiTimeout,
    CancellationToken,
    Cancelled,
    ErrorChunk,
    InvalidRequest,
    LocalRateLimiter,
    Message,
    MessageComplete,
    ModelParameters,
    NetworkError,
    RateLimited,
    RateLimiter,
    RetryPolicy,
)
from steer_sync._ratelimit import parse_duration, parse_rate_limit_headers
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

HI = [Message.user("hi")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ClockToken(CancellationToken):
    """A token whose waits advance the fake clock instead of sleeping, and are recorded."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: List[float] = []

    def wait(self, timeout: Optional[float] = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        return self.is_cancelled()


def _limiter(**kwargs: object) -> tuple[LocalRateLimiter, FakeClock, ClockToken]:
    clock = FakeClock()
    return LocalRateLimiter(clock=clock, **kwargs), clock, ClockToken(clock)  # type: ignore[arg-type]


# --- arithmetic --------------------------------------------------------------------------


def test_a_limit_allows_one_seconds_share_at_once_then_spreads_the_rest() -> None:
    limiter, _clock, token = _limiter(requests_per_minute=600)  # 10 per second
    waits = [limiter.acquire("anthropic", 0, token).waited for _ in range(12)]
    assert waits[:10] == [0.0] * 10  # the burst: one second's share
    assert waits[10] == pytest.approx(0.1)
    assert waits[11] == pytest.approx(0.1)


def test_sustained_rate_matches_the_limit() -> None:
    limiter, clock, token = _limiter(requests_per_minute=120)  # 2 per second, burst 2
    start = clock.now
    for _ in range(122):
        limiter.acquire("p", 0, token)
    # 122 requests: 2 in the burst, then one every 0.5 s.
    assert clock.now - start == pytest.approx(60.0)


def test_a_low_limit_still_lets_one_request_through_at_once() -> None:
    limiter, _clock, token = _limiter(requests_per_minute=6)  # one per 10 s
    assert limiter.acquire("p", 0, token).waited == 0.0
    assert limiter.acquire("p", 0, token).waited == pytest.approx(10.0)


def test_tokens_are_booked_and_a_large_request_waits_for_an_empty_bucket() -> None:
    limiter, _clock, token = _limiter(tokens_per_minute=6000)  # 100 tokens per second
    assert limiter.acquire("p", 100, token).waited == 0.0
    # 500 tokens exceed the burst: they go once the first 100 have drained (1 s).
    assert limiter.acquire("p", 500, token).waited == pytest.approx(1.0)
    # The 500 took 5 s of budget.
    assert limiter.acquire("p", 100, token).waited == pytest.approx(5.0)


def test_settle_refunds_an_overestimate_and_charges_an_underestimate() -> None:
    limiter, _clock, token = _limiter(tokens_per_minute=6000)
    first = limiter.acquire("p", 600, token)  # 6 s of budget booked
    limiter.settle(first, 100)  # only 1 s used
    assert limiter.acquire("p", 100, token).waited == pytest.approx(1.0)  # not 6 s
    second = limiter.acquire("p", 100, token)
    limiter.settle(second, 1100)  # 10 s more than booked
    assert limiter.acquire("p", 100, token).waited == pytest.approx(11.0)


def test_budgets_are_per_provider_or_per_model() -> None:
    limiter, _clock, token = _limiter(requests_per_minute=6)
    assert limiter.key_for("openai", "openai/gpt-5") == "openai"
    limiter.acquire("openai", 0, token)
    assert limiter.acquire("anthropic", 0, token).waited == 0.0
    per_model = LocalRateLimiter(requests_per_minute=6, per="model")
    assert per_model.key_for("openai", "openai/gpt-5") == "openai/gpt-5"


def test_cancel_during_the_wait_raises_cancelled_and_gives_the_turn_back() -> None:
    limiter, clock, _ = _limiter(requests_per_minute=6)
    waiting = ClockToken(clock)
    limiter.acquire("p", 0, waiting)
    waiting.cancel()
    with pytest.raises(Cancelled):
        limiter.acquire("p", 0, waiting)
    fresh = ClockToken(clock)
    # The cancelled caller's slot was released: the next one waits one slot, not two.
    assert limiter.acquire("p", 0, fresh).waited == pytest.approx(10.0)


def test_a_turn_after_the_deadline_is_refused_without_booking() -> None:
    limiter, clock, token = _limiter(requests_per_minute=6)
    limiter.acquire("p", 0, token)
    with pytest.raises(ApiTimeout, match="deadline"):
        limiter.acquire("p", 0, token, deadline=clock.now + 5.0)
    assert token.waits == []
    assert limiter.acquire("p", 0, token, deadline=clock.now + 11.0).waited == pytest.approx(10.0)


def test_a_turn_beyond_max_wait_is_refused_as_rate_limited_without_booking() -> None:
    limiter, clock, token = _limiter(requests_per_minute=6)  # one per 10 s
    limiter.acquire("p", 0, token)
    with pytest.raises(RateLimited, match="max_wait") as caught:
        limiter.acquire("p", 0, token, max_wait=1.0)
    assert caught.value.retry_after == pytest.approx(10.0)
    assert caught.value.status_code is None  # no response said so: the limiter did
    assert token.waits == []
    clock.now += 9.5
    # Nothing was booked: the next turn is still the first one, now 0.5 s away.
    assert limiter.acquire("p", 0, token, max_wait=1.0).waited == pytest.approx(0.5)
    # A deadline nearer than max_wait is still the call's timeout, not a hand-off.
    with pytest.raises(ApiTimeout, match="deadline"):
        limiter.acquire("p", 0, token, deadline=clock.now + 2.0, max_wait=20.0)
    with pytest.raises(ValueError, match="max_wait must be"):
        limiter.acquire("p", 0, token, max_wait=-1)


def test_bad_limits_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="requests_per_minute must be a positive number"):
        LocalRateLimiter(requests_per_minute=0)
    with pytest.raises(ValueError, match="per must be 'provider' or 'model'"):
        LocalRateLimiter(per="machine")
    assert issubclass(LocalRateLimiter, RateLimiter)


# --- headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("20ms", 0.02), ("1.5s", 1.5), ("1h2m3s", 3723.0), ("12", 12.0), ("0.5", 0.5)],
)
def test_parse_duration_reads_openai_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "-1", "1m-3s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    assert parse_duration(text) is None


def test_openai_headers_are_read() -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    requests, tokens = parse_rate_limit_headers(headers)
    assert (requests.dimension, requests.remaining, requests.limit) == ("requests", 499, 500)
    assert requests.reset == pytest.approx(0.12)
    assert (tokens.dimension, tokens.remaining, tokens.reset, tokens.limit) == ("tokens", 1000, 360.0, None)


def test_anthropic_headers_are_read_with_rfc3339_resets() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z",
    }
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    (requests,) = parse_rate_limit_headers(headers, now_wall=now)
    assert (requests.remaining, requests.limit) == (0, 50)
    assert requests.reset == pytest.approx(30.0)


def test_a_429_retry_after_reads_as_no_requests_left() -> None:
    (seen,) = parse_rate_limit_headers({"retry-after": "3"}, status=429)
    assert (seen.dimension, seen.remaining, seen.reset) == ("requests", 0.0, 3.0)
    assert parse_rate_limit_headers({"retry-after": "3"}, status=503) == []


def test_zero_remaining_blocks_until_the_reset_even_without_a_configured_limit() -> None:
    limiter, _clock, token = _limiter()
    limiter.observe_headers("openai", {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"})
    assert limiter.acquire("openai", 0, token).waited == pytest.approx(2.0)
    assert limiter.acquire("anthropic", 0, token).waited == 0.0


def test_few_remaining_spreads_them_until_the_reset() -> None:
    limiter, clock, token = _limiter(requests_per_minute=600)  # 10/s would allow 100 in 10 s
    limiter.observe_headers("p", {"x-ratelimit-remaining-requests": "20", "x-ratelimit-reset-requests": "10s"})
    # 20 turns before the reset (spread at the configured 10/s); the 21st waits for it.
    for _ in range(20):
        limiter.acquire("p", 0, token)
    assert clock.now - 1000.0 == pytest.approx(1.0)
    assert limiter.acquire("p", 0, token).waited == pytest.approx(9.0)


def test_a_lower_reported_limit_replaces_the_configured_one_but_never_raises_it() -> None:
    limiter, _clock, token = _limiter(requests_per_minute=600)
    limiter.observe_headers("p", {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "60"})
    limiter.acquire("p", 0, token)
    assert limiter.acquire("p", 0, token).waited == pytest.approx(1.0)
    looser, _, token2 = _limiter(requests_per_minute=6)
    looser.observe_headers("p", {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "6000"})
    looser.acquire("p", 0, token2)
    assert looser.acquire("p", 0, token2).waited == pytest.approx(10.0)


# --- through the client and the loopback server ------------------------------------------


class RecordingLimiter(LocalRateLimiter):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.acquired: List[int] = []
        self.settled: List[Optional[int]] = []
        self.seen: List[int] = []
        self.waited: List[float] = []

    def acquire(self, key, tokens, token, deadline=None):  # type: ignore[no-untyped-def]
        self.acquired.append(tokens)
        reservation = super().acquire(key, tokens, token, deadline)
        self.waited.append(reservation.waited)
        return reservation

    def settle(self, reservation, actual_tokens):  # type: ignore[no-untyped-def]
        self.settled.append(actual_tokens)
        super().settle(reservation, actual_tokens)

    def observe_headers(self, key, headers, *, status=None):  # type: ignore[no-untyped-def]
        self.seen.append(status)
        super().observe_headers(key, headers, status=status)


def test_every_attempt_asks_the_limiter_and_usage_settles_it() -> None:
    limiter = RecordingLimiter(tokens_per_minute=1_000_000)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(ErrorReply(529, "Overloaded"), Turn(text="ok", usage=(12, 3)))
        params = ModelParameters(max_output_tokens=100)
        resp = client.complete("anthropic/claude-sonnet-4-5", HI, call_options=params)
        assert resp.extract_text() == "ok"
    assert len(limiter.acquired) == 2  # the failed attempt and the retry
    assert all(tokens > 100 for tokens in limiter.acquired)  # max_output_tokens is booked
    assert limiter.settled == [0, 15]  # the 529 generated nothing; the answer used 12 + 3
    assert limiter.seen == [529, 200]


def test_complete_with_retry_settles_from_the_response_usage() -> None:
    limiter = RecordingLimiter(tokens_per_minute=1_000_000)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="ok", usage=(7, 2)))
        client.complete_with_retry("openai/gpt-5", HI)
    assert limiter.settled == [9]


def test_the_client_waits_for_the_providers_reset_instead_of_collecting_a_429() -> None:
    # A clock that stands still: the limiter's answer is the reported reset, whatever the
    # machine's load (the client still waits it out for real, on the call's token).
    limiter = RecordingLimiter(clock=FakeClock())
    headers = [("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "300ms")]
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="first", headers=headers), Turn(text="second"))
        assert client.complete("openai/gpt-5", HI).extract_text() == "first"
        assert client.complete("openai/gpt-5", HI).extract_text() == "second"
        assert len(server.requests) == 2
    # The second call was held back for the reported reset.
    assert limiter.waited[0] == 0.0
    assert limiter.waited[1] == pytest.approx(0.3)


def test_cancel_while_waiting_for_a_turn_stops_the_call_without_sending() -> None:
    limiter = LocalRateLimiter(requests_per_minute=1)
    token = CancellationToken()
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        client.complete("anthropic/claude-sonnet-4-5", HI)
        errors: List[BaseException] = []
        waiting = threading.Event()
        original = limiter._reserve

        def reserve(key: str, tokens: int, max_wait: Optional[float]) -> Tuple[bool, float]:
            answer = original(key, tokens, max_wait)
            waiting.set()  # booked: the caller now waits on its token
            return answer

        limiter._reserve = reserve  # type: ignore[method-assign]

        def call() -> None:
            try:
                client.complete("anthropic/claude-sonnet-4-5", HI, token=token)
            except BaseException as error:
                errors.append(error)

        thread = threading.Thread(target=call)
        thread.start()
        assert waiting.wait(10)
        token.cancel()
        thread.join(10)
        assert not thread.is_alive()
        assert len(server.requests) == 1
    assert isinstance(errors[0], Cancelled)


def test_a_429_retry_after_is_fed_to_the_limiter_for_the_next_calls() -> None:
    limiter = RecordingLimiter()
    policy = RetryPolicy(max_attempts=1)
    with LoopbackServer() as server, server.client(rate_limiter=limiter, retry_policy=policy) as client:
        server.queue(ErrorReply(429, "slow down", retry_after=30))
        with pytest.raises(Exception, match="slow down"):
            client.complete("anthropic/claude-sonnet-4-5", HI)
        # The next call would wait 30 s: with a deadline it is refused at once, unsent.
        with pytest.raises(ApiTimeout):
            limiter.acquire("anthropic", 0, CancellationToken(), deadline=time.monotonic() + 1)
        assert len(server.requests) == 1


def test_a_stream_settles_from_the_usage_of_its_final_message() -> None:
    limiter = RecordingLimiter(tokens_per_minute=1_000_000)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="hello there", usage=(4, 6)))
        with client.stream_complete("openai/gpt-5", HI) as stream:
            assert [type(chunk).__name__ for chunk in stream][-1] == "MessageComplete"
    assert limiter.settled == [10]


def test_closing_a_limited_stream_before_reading_it_releases_the_connection() -> None:
    limiter = LocalRateLimiter(tokens_per_minute=1_000_000)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="never read", stall_after=1))
        stream = client.stream_complete("openai/gpt-5", HI)
        stream.close()
        assert server.wait_connections_closed(10)


def test_the_names_the_module_docstring_points_to_exist() -> None:
    import importlib
    import re

    from steer_sync import _ratelimit

    names = re.findall(r"``(steer_sync(?:\.\w+)+)``", _ratelimit.__doc__ or "")
    assert "steer_sync._attempts.estimated_tokens" in names
    for name in (n for n in names if not n.startswith("steer_sync.contrib.")):  # contrib needs its extra
        module, _, attribute = name.rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), name


class BrokenSettleLimiter(LocalRateLimiter):
    """A limiter whose shared store fails when settling (RedisRateLimiter with Redis down)."""

    def settle(self, reservation, actual_tokens):  # type: ignore[no-untyped-def]
        raise NetworkError(None, "redis://:store-password@127.0.0.1:1 is unreachable")


@pytest.mark.parametrize("how", ["complete", "stream", "complete_with_retry"])
def test_a_limiter_that_cannot_settle_neither_resends_nor_breaks_the_answer(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = BrokenSettleLimiter()
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="ok", usage=(3, 1)), Turn(text="sent twice"))
        if how == "stream":
            with client.stream_complete("anthropic/claude-sonnet-4-5", HI) as stream:
                chunks = list(stream)
            assert not [chunk for chunk in chunks if isinstance(chunk, ErrorChunk)], chunks
            assert isinstance(chunks[-1], MessageComplete) and chunks[-1].response.extract_text() == "ok"
        else:
            assert getattr(client, how)("anthropic/claude-sonnet-4-5", HI).extract_text() == "ok"
        assert len(server.requests) == 1, "a received answer was sent again"
    assert "could not settle" in caplog.text and "BrokenSettleLimiter" in caplog.text
    assert "store-password" not in caplog.text


def test_a_limiter_that_cannot_settle_does_not_hide_the_attempts_error() -> None:
    limiter = BrokenSettleLimiter()
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(ErrorReply(400, "bad request body", error_type="invalid_request_error"))
        with pytest.raises(InvalidRequest) as caught:
            client.complete("anthropic/claude-sonnet-4-5", HI)
    assert "bad request body" in str(caught.value)


def test_a_stream_that_breaks_midway_refunds_its_booking() -> None:
    # The clock stands still, so the token bucket shows exactly what stays booked.
    clock = FakeClock()
    limiter = RecordingLimiter(tokens_per_minute=1_000_000, clock=clock)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="Once upon a time", drop_after=1), Turn(text="hello there", usage=(4, 6)))
        with client.stream_complete("openai/gpt-5", HI, retry_after_output=True) as stream:
            assert [type(chunk).__name__ for chunk in stream][-1] == "MessageComplete"
    assert len(server.requests) == 2
    assert limiter.settled == [0, 10]  # the broken attempt generated nothing; the restart used 4 + 6
    tokens = limiter._budgets[("openai", "tokens")]
    assert tokens.tat == pytest.approx(clock.now + 10 * 60 / 1_000_000)


def test_a_stream_that_fails_for_good_midway_refunds_its_booking() -> None:
    limiter = RecordingLimiter(tokens_per_minute=1_000_000)
    one = RetryPolicy(max_attempts=1)
    with LoopbackServer() as server, server.client(rate_limiter=limiter, retry_policy=one) as client:
        server.queue(Turn(text="Once upon a time", drop_after=1))
        with client.stream_complete("openai/gpt-5", HI) as stream:
            assert [type(chunk).__name__ for chunk in stream][-1] == "ErrorChunk"
    assert limiter.settled == [0]


def test_a_limited_stream_closed_before_reading_is_refunded() -> None:
    limiter = RecordingLimiter(tokens_per_minute=1_000_000)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="never read", stall_after=1))
        client.stream_complete("openai/gpt-5", HI).close()
    assert limiter.settled == [0]
