"""RetryPolicy and the retry predicates (pure)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from steer_sync import (
    ApiAuthError,
    ApiTimeout,
    AuthenticationFailed,
    Cancelled,
    InvalidRequest,
    NetworkError,
    NoChoices,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    RetryPolicy,
    ServerError,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
)
from steer_sync._retry import retry_delay, should_invalidate_provider, should_retry_error, should_retry_stream_error


def test_invalidation_predicate() -> None:
    assert should_invalidate_provider(AuthenticationFailed("p", "x"))
    assert should_invalidate_provider(ApiAuthError(None, "x"))
    assert should_invalidate_provider(ServerError("p", 401, "x"))
    assert not should_invalidate_provider(ServerError("p", 500, "x"))
    assert not should_invalidate_provider(RateLimited("p", "x"))


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_server_statuses(status: int) -> None:
    assert should_retry_error(ServerError("p", status, "x"))


def test_retry_predicate() -> None:
    assert should_retry_error(NetworkError(None, "x"))
    assert should_retry_error(ApiTimeout("p"))
    assert should_retry_error(RateLimited("p", "x"))
    assert not should_retry_error(ServerError("p", 501, "x"))
    assert not should_retry_error(InvalidRequest("p", "x"))
    assert not should_retry_error(Cancelled("p"))
    assert not should_retry_error(NoChoices("p"))
    assert should_retry_error(NoChoices("p"), include_no_choices=True)


def test_server_hint_wins_over_the_status_rule() -> None:
    no = ServerError("p", 503, "x", should_retry=False)
    yes = InvalidRequest("p", "x", should_retry=True)
    assert not should_retry_error(no) and should_retry_error(yes)


def test_stream_error_predicate() -> None:
    assert should_retry_stream_error(SseParse(SseParseErrorKind.TRANSPORT, "reset"))
    assert not should_retry_stream_error(SseParse(SseParseErrorKind.UTF8, "bad"))
    assert not should_retry_stream_error(StreamCancelled())
    assert should_retry_stream_error(ProviderStreamError("p", ProviderStreamErrorKind.OVERLOADED, None, "m"))
    unknown = ProviderStreamErrorKind.from_provider_error_type("invalid_request_error")
    assert not should_retry_stream_error(ProviderStreamError("p", unknown, "invalid_request_error", "m"))


def test_delay_schedule_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(jitter=0)
    assert [policy.delay(n) for n in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = RetryPolicy()
    rng = random.Random(7)
    samples = [jittered.delay(0, rng=rng) for _ in range(500)]
    assert min(samples) >= 0.2 and max(samples) <= 0.3 and len(set(samples)) > 100
    assert retry_delay(2, base_delay=1.0, rng=random.Random(1)) == pytest.approx(4.0, rel=0.2)


def test_retry_after_sets_a_floor_and_long_hints_are_not_waited_out() -> None:
    policy = RetryPolicy(jitter=0, max_retry_after=30)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(4, retry_after=0.1) == 4.0
    assert policy.should_retry(RateLimited("p", "x", retry_after=10), 1)
    assert not policy.should_retry(RateLimited("p", "x", retry_after=167), 1)


def test_attempt_cap() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = NetworkError(None, "x")
    assert policy.should_retry(error, 1) and policy.should_retry(error, 2)
    assert not policy.should_retry(error, 3)
    assert not RetryPolicy(max_attempts=1).should_retry(error, 1)


def test_policy_is_an_immutable_value_with_a_readable_repr() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 2  # type: ignore[misc]
    assert replace(policy, base_delay=0).base_delay == 0 and policy.base_delay == 0.25
    assert "max_attempts=5" in repr(policy)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
