"""Retry policy as a value, and the predicates that classify failures (layer L1).

The policy answers questions (should this be retried? how long to wait?) and never
sleeps: the client waits with ``token.wait(delay)`` so that a cancel cuts the wait short.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from steer_sync._errors import (
    ApiAuthError,
    ApiError,
    ApiTimeout,
    AuthenticationFailed,
    NetworkError,
    NoChoices,
    ProviderStreamError,
    RateLimited,
    ServerError,
    SseParse,
    SseParseErrorKind,
    StreamError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "retry_delay",
    "should_invalidate_provider",
    "should_retry_error",
    "should_retry_stream_error",
]

#: Server-error statuses worth retrying; 529 is Anthropic's "overloaded".
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def should_invalidate_provider(error: ApiError) -> bool:
    """Whether ``error`` means the cached provider's credential is bad (drop it)."""
    if isinstance(error, (AuthenticationFailed, ApiAuthError)):
        return True
    return isinstance(error, ServerError) and error.status_code in (401, 403)


def should_retry_error(error: ApiError, *, include_no_choices: bool = False) -> bool:
    """Whether a failed request may be sent again.

    A server's ``x-should-retry`` hint wins over the status-based rule.

    :param error: the failure.
    :param include_no_choices: also retry ``NoChoices`` (``complete_with_retry`` only).
    """
    if error.should_retry is not None:
        return error.should_retry
    if isinstance(error, (NetworkError, ApiTimeout, RateLimited)):
        return True
    if isinstance(error, ServerError):
        return error.status_code in RETRYABLE_STATUSES
    return include_no_choices and isinstance(error, NoChoices)


def should_retry_stream_error(error: StreamError) -> bool:
    """Whether a stream that failed with ``error`` may be restarted."""
    if isinstance(error, SseParse):
        return error.kind is SseParseErrorKind.TRANSPORT
    if isinstance(error, ProviderStreamError):
        return error.kind.is_retryable()
    return False


def retry_delay(retry_index: int, base_delay: float = 0.25, rng: Optional[random.Random] = None) -> float:
    """The default policy's backoff before retry number ``retry_index`` (0 for the first)."""
    return RetryPolicy(base_delay=base_delay).delay(retry_index, rng=rng)


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries: attempts, backoff and whether to restart after output.

    Immutable and shared by all threads; variants come from ``dataclasses.replace``.
    The delay before retry ``n`` (0-based) is ``base_delay * 2**min(n, max_exponent)``
    with +/- ``jitter``, and at least the server's ``Retry-After`` hint. A hint longer
    than ``max_retry_after`` is not waited out: the error is raised instead, so a
    request never sleeps for minutes unseen.

    Usage::

        Client(..., retry_policy=RetryPolicy(max_attempts=3, retry_after_output=True))
    """

    #: Total attempts for one call (1 disables retries).
    max_attempts: int = 5
    #: Seconds before the first retry.
    base_delay: float = 0.25
    #: The backoff stops growing after ``2**max_exponent``.
    max_exponent: int = 4
    #: Relative jitter: 0.2 spreads each delay over +/- 20 %.
    jitter: float = 0.20
    #: Restart a stream that fails after it produced output (emitting ``Reset``).
    retry_after_output: bool = False
    #: The longest server-requested wait that is honoured; longer ones are raised.
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or not 0 <= self.jitter < 1:
            raise ValueError("RetryPolicy.base_delay must be >= 0 and jitter in [0, 1)")

    def should_retry(self, error: ApiError, attempts_made: int, *, include_no_choices: bool = False) -> bool:
        """Whether to send again after ``attempts_made`` attempts ended with ``error``."""
        if attempts_made >= self.max_attempts:
            return False
        if not should_retry_error(error, include_no_choices=include_no_choices):
            return False
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    def delay(
        self, retry_index: int, retry_after: Optional[float] = None, rng: Optional[random.Random] = None
    ) -> float:
        """Seconds to wait before retry number ``retry_index`` (0 for the first).

        :param retry_after: the server's hint; the delay is never shorter.
        :param rng: a random source, for reproducible tests.
        """
        nominal = self.base_delay * (1 << min(max(retry_index, 0), self.max_exponent))
        spread = float((rng or random).uniform(1 - self.jitter, 1 + self.jitter)) if self.jitter else 1.0
        computed = nominal * spread
        if retry_after is not None:
            computed = max(computed, min(retry_after, self.max_retry_after))
        return computed
