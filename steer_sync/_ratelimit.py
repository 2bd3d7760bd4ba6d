"""Client-side rate limits: requests and tokens per minute, spread over the minute (layer L1).

The client asks its :class:`RateLimiter` for a turn before every attempt (first tries,
retries and stream restarts alike), waits for it on the call's cancellation token, and
afterwards corrects the token reservation from the usage the provider reported
(:meth:`RateLimiter.settle`) and passes the response's rate-limit headers on
(:meth:`RateLimiter.observe_headers`), so limits the caller set are tightened by what the
provider says is left.

The algorithm is GCRA (a leaky bucket kept as one "theoretical arrival time" per budget):
a budget of ``N`` per minute lets one unit through every ``60 / N`` seconds, with a burst
tolerance of about one second's share (``N / 60`` units, at least one request or the
request's own size). Waiting is by reservation: :meth:`RateLimiter.acquire` books the
next free slot at once and then sleeps until it, so callers queue in order and nobody polls.

Token reservations are estimates (see ``steer_sync._attempts.estimated_tokens``: a quarter
of the characters of the messages, system prompt and tools, plus ``max_output_tokens`` or
1024), corrected by :meth:`RateLimiter.settle` once the response's usage is known.

:class:`LocalRateLimiter` keeps the budgets in this process;
``steer_sync.contrib.redis.RedisRateLimiter`` keeps them in Redis for many processes and
machines, with the same arithmetic in a server-side script.
"""

from __future__ import annotations

import abc
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from steer_sync._cancellation import CancellationToken
from steer_sync._errors import ApiTimeout, Cancelled, RateLimited

__all__ = [
    "LocalRateLimiter",
    "RateLimitObservation",
    "RateLimiter",
    "Reservation",
    "parse_duration",
    "parse_rate_limit_headers",
]

#: The budgets a limiter keeps per key.
DIMENSIONS = ("requests", "tokens")

_PER_VALUES = ("provider", "model")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_DURATION_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Reservation:
    """A granted turn: what :meth:`RateLimiter.acquire` booked, for :meth:`RateLimiter.settle`."""

    #: The budget key (``"anthropic"``, or ``"anthropic/claude-sonnet-4-5"`` with ``per="model"``).
    key: str
    #: Tokens booked from the request's estimated size.
    tokens: int
    #: Seconds the caller waited for its turn.
    waited: float = 0.0


@dataclass(frozen=True)
class RateLimitObservation:
    """What one response's headers say about one budget (``requests`` or ``tokens``)."""

    #: ``"requests"`` or ``"tokens"``.
    dimension: str
    #: Units left in the provider's current window, if reported.
    remaining: Optional[float]
    #: Seconds until the provider's window resets (refills), if reported.
    reset: Optional[float]
    #: The provider's limit per minute, if reported.
    limit: Optional[float]


def parse_duration(value: str) -> Optional[float]:
    """Parse a rate-limit reset value into seconds.

    Accepts OpenAI's Go-style durations (``"6m0s"``, ``"20ms"``, ``"1.5s"``, ``"1h2m3s"``) and
    plain numbers of seconds (``"12"``, ``"0.5"``).

    :returns: seconds, or ``None`` when ``value`` is neither.
    """
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _DURATION_SCALE[match.group(2)]
        position = match.end()
    return total if position == len(text) and position > 0 else None


def _parse_timestamp(value: str, now_wall: float) -> Optional[float]:
    # Anthropic sends RFC 3339 instants; Python 3.9's fromisoformat does not take "Z".
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return max(0.0, instant.timestamp() - now_wall)


def _number(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_rate_limit_headers(
    headers: Mapping[str, str], *, status: Optional[int] = None, now_wall: Optional[float] = None
) -> List[RateLimitObservation]:
    """Read what a response's headers say about the provider's remaining budgets.

    Understood: Anthropic's ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``
    (reset as an RFC 3339 instant), OpenAI's and xAI's
    ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (reset as a duration such as
    ``"6m0s"`` or ``"20ms"``), and on a 429 the ``retry-after``/``retry-after-ms`` hint (read
    as "no requests left until then").

    :param headers: a case-insensitive mapping (as ``requests`` gives).
    :param status: the HTTP status, when known.
    :param now_wall: the wall-clock time (``time.time()``) for RFC 3339 instants.
    :returns: one observation per budget the headers mention.
    """
    wall = time.time() if now_wall is None else now_wall
    found: List[RateLimitObservation] = []
    for dimension in DIMENSIONS:
        anthropic = f"anthropic-ratelimit-{dimension}-"
        remaining = _number(headers.get(anthropic + "remaining"))
        limit = _number(headers.get(anthropic + "limit"))
        raw_reset = headers.get(anthropic + "reset")
        reset = _parse_timestamp(raw_reset, wall) if raw_reset else None
        if remaining is None and limit is None:
            remaining = _number(headers.get(f"x-ratelimit-remaining-{dimension}"))
            limit = _number(headers.get(f"x-ratelimit-limit-{dimension}"))
            raw_reset = headers.get(f"x-ratelimit-reset-{dimension}")
            reset = parse_duration(raw_reset) if raw_reset else None
        if remaining is not None or limit is not None:
            found.append(RateLimitObservation(dimension, remaining, reset, limit))
    if status == 429:
        hint = _number(headers.get("retry-after-ms"))
        hint = hint / 1000.0 if hint is not None else _number(headers.get("retry-after"))
        if hint is not None:
            found.append(RateLimitObservation("requests", 0.0, hint, None))
    return found


class RateLimiter(abc.ABC):
    """Decides when each attempt of a call may go out, per provider or per model.

    The client calls :meth:`acquire` before every attempt, :meth:`observe_headers` with every
    response's headers (success or error), and :meth:`settle` when the real token count is
    known. Implementations must be thread-safe; one limiter may be shared by many clients.

    Waiting happens inside :meth:`acquire`, on the call's :class:`CancellationToken`
    (never ``time.sleep``), so a cancel ends the wait at once; a wait that would pass the
    call's deadline is refused up front with :class:`ApiTimeout`.

    :param requests_per_minute: the request budget, or ``None`` for none (the provider's
        headers may still impose one).
    :param tokens_per_minute: the token budget (input plus output), or ``None``.
    :param per: ``"provider"`` (one budget per provider) or ``"model"`` (one per model).
    """

    def __init__(
        self,
        *,
        requests_per_minute: Optional[float] = None,
        tokens_per_minute: Optional[float] = None,
        per: str = "provider",
    ) -> None:
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and (isinstance(value, bool) or not value > 0 or not math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if per not in _PER_VALUES:
            raise ValueError(f"per must be 'provider' or 'model', got {per!r}")
        #: Requests per minute set by the caller (``None``: unlimited unless headers say otherwise).
        self.requests_per_minute = requests_per_minute
        #: Tokens per minute set by the caller.
        self.tokens_per_minute = tokens_per_minute
        #: ``"provider"`` or ``"model"``: what one budget covers.
        self.per = per

    def key_for(self, provider: str, model: str) -> str:
        """The budget key for a call to ``model`` (a ``"provider/model-id"`` string) at ``provider``."""
        return model if self.per == "model" else provider

    def acquire(
        self,
        key: str,
        tokens: int,
        token: CancellationToken,
        deadline: Optional[float] = None,
        *,
        max_wait: Optional[float] = None,
    ) -> Reservation:
        """Wait for a turn to send one request of about ``tokens`` tokens under ``key``.

        With ``max_wait``, a caller that must not wait long (a Celery worker, which hands long
        waits to its broker) learns how far away its turn is instead of waiting for it.

        :param key: the budget (see :meth:`key_for`).
        :param tokens: the request's estimated size in tokens (input plus maximum output).
        :param token: the call's token; cancelling it ends the wait.
        :param deadline: the call's deadline as a ``time.monotonic()`` value, or ``None``.
        :param max_wait: the longest wait accepted, in seconds (``None``: any wait up to
            ``deadline``).
        :returns: the reservation, for :meth:`settle`.
        :raises Cancelled: if ``token`` was cancelled before or during the wait.
        :raises RateLimited: if the turn is more than ``max_wait`` away; its ``retry_after`` is
            the wait, its ``status_code`` ``None`` (nothing is booked then).
        :raises ApiTimeout: if the turn comes after ``deadline`` (nothing is booked then).
        :raises ValueError: if ``max_wait`` is negative.
        """
        provider = key.split("/", 1)[0]
        if max_wait is not None and (isinstance(max_wait, bool) or not max_wait >= 0):
            raise ValueError(f"max_wait must be a number of seconds >= 0 or None, got {max_wait!r}")
        if token.is_cancelled():
            raise Cancelled(provider)
        limit = None if deadline is None else deadline - self._monotonic()
        if limit is not None and limit <= 0:
            raise ApiTimeout(provider, "the call's deadline passed before its rate-limit turn")
        if max_wait is not None:
            limit = max_wait if limit is None else min(limit, max_wait)
        booked, wait = self._reserve(key, max(0, int(tokens)), limit)
        if not booked and max_wait is not None and wait > max_wait:
            raise RateLimited(
                provider,
                f"the rate limit for {key} has no turn for {wait:.1f} s, longer than max_wait ({max_wait} s)",
                wait,
                status_code=None,
            )
        if not booked:
            raise ApiTimeout(
                provider,
                f"the rate limit for {key} has no free turn before the call's deadline; "
                "raise the deadline or the limit",
            )
        reservation = Reservation(key, max(0, int(tokens)), wait)
        if wait > 0 and token.wait(wait):
            self._release(key, reservation.tokens)
            raise Cancelled(provider)
        return reservation

    def settle(self, reservation: Reservation, actual_tokens: Optional[int]) -> None:
        """Correct a reservation with the tokens the provider reported.

        :param reservation: what :meth:`acquire` returned.
        :param actual_tokens: input plus output tokens used; ``None`` keeps the estimate.
        """
        if actual_tokens is None or actual_tokens == reservation.tokens:
            return
        self._adjust(reservation.key, int(actual_tokens) - reservation.tokens)

    def observe_headers(self, key: str, headers: Mapping[str, str], *, status: Optional[int] = None) -> None:
        """Tighten the budgets of ``key`` by what a response's rate-limit headers report.

        A reported limit lower than the configured one replaces it; "``R`` left until
        ``reset``" keeps the next turns from using more than ``R`` before then.
        Limits are only ever tightened here, never loosened beyond the caller's.

        :param key: the budget the request was made under.
        :param headers: the response headers (case-insensitive mapping).
        :param status: the HTTP status (a 429's ``retry-after`` counts as "none left").
        """
        observations = parse_rate_limit_headers(headers, status=status)
        if observations:
            self._tighten(key, observations)

    def _monotonic(self) -> float:
        return time.monotonic()

    @abc.abstractmethod
    def _reserve(self, key: str, tokens: int, max_wait: Optional[float]) -> Tuple[bool, float]:
        """Book one request of ``tokens`` unless its turn is more than ``max_wait`` away.

        :returns: whether it was booked, and the seconds until the turn.
        """

    @abc.abstractmethod
    def _release(self, key: str, tokens: int) -> None:
        """Give back a booking whose caller gave up while waiting."""

    @abc.abstractmethod
    def _adjust(self, key: str, delta_tokens: int) -> None:
        """Add (or refund, when negative) ``delta_tokens`` to the token budget of ``key``."""

    @abc.abstractmethod
    def _tighten(self, key: str, observations: List[RateLimitObservation]) -> None:
        """Apply what the provider reported."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(requests_per_minute={self.requests_per_minute!r}, "
            f"tokens_per_minute={self.tokens_per_minute!r}, per={self.per!r})"
        )


class _Budget:
    """One GCRA budget: its theoretical arrival time, a learned limit, and the provider's
    window (``window_left`` units may start before ``window_end``, then nothing until it)."""

    __slots__ = ("tat", "learned", "window_end", "window_left")

    def __init__(self) -> None:
        self.tat = 0.0
        self.learned: Optional[float] = None
        self.window_end = 0.0
        self.window_left = 0.0


def _interval(configured: Optional[float], learned: Optional[float]) -> Optional[float]:
    """Seconds per unit for a per-minute limit (the tighter of configured and learned)."""
    rates = [rate for rate in (configured, learned) if rate is not None and rate > 0]
    return 60.0 / min(rates) if rates else None


class LocalRateLimiter(RateLimiter):
    """A rate limiter for the threads of one process.

    Thread-safe: all state sits behind one lock, held only for arithmetic (never while
    waiting). Not shared across processes: after ``fork()`` each child has its own copy of
    the budgets; use ``steer_sync.contrib.redis.RedisRateLimiter`` for many processes.

    Usage::

        limiter = LocalRateLimiter(requests_per_minute=50, tokens_per_minute=40_000)
        client = Client.from_env(rate_limiter=limiter)

    :param requests_per_minute: the request budget per key, or ``None``.
    :param tokens_per_minute: the token budget per key, or ``None``.
    :param per: ``"provider"`` or ``"model"``.
    :param clock: a monotonic clock in seconds (tests inject a fake one).
    """

    def __init__(
        self,
        *,
        requests_per_minute: Optional[float] = None,
        tokens_per_minute: Optional[float] = None,
        per: str = "provider",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, per=per)
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: Dict[Tuple[str, str], _Budget] = {}

    def _monotonic(self) -> float:
        return self._clock()

    def _budget(self, key: str, dimension: str) -> _Budget:
        budget = self._budgets.get((key, dimension))
        if budget is None:
            budget = self._budgets[(key, dimension)] = _Budget()
        return budget

    def _configured(self, dimension: str) -> Optional[float]:
        return self.requests_per_minute if dimension == "requests" else self.tokens_per_minute

    def _reserve(self, key: str, tokens: int, max_wait: Optional[float]) -> Tuple[bool, float]:
        with self._lock:
            now = self._clock()
            plan: List[Tuple[_Budget, float, float]] = []
            windows: List[Tuple[_Budget, int]] = []
            wait = 0.0
            for dimension, cost in (("requests", 1), ("tokens", tokens)):
                budget = self._budget(key, dimension)
                if budget.window_end > now:
                    if budget.window_left >= cost:
                        windows.append((budget, cost))
                    else:
                        wait = max(wait, budget.window_end - now)
                interval = _interval(self._configured(dimension), budget.learned)
                if interval is None or cost <= 0:
                    continue
                burst = max(1.0, 1.0 / interval)  # one second's share
                tat = max(budget.tat, now)
                # A request larger than the burst goes once the bucket has drained.
                allow_at = tat - max(burst - cost, 0.0) * interval
                wait = max(wait, allow_at - now)
                plan.append((budget, tat, cost * interval))
            if max_wait is not None and wait > max_wait:
                return False, wait
            for budget, tat, increment in plan:
                budget.tat = tat + increment
            for budget, cost in windows:
                budget.window_left -= cost
            # Sub-microsecond waits are float noise from summing intervals.
            return True, (wait if wait > 1e-6 else 0.0)

    def _release(self, key: str, tokens: int) -> None:
        with self._lock:
            now = self._clock()
            for dimension, cost in (("requests", 1), ("tokens", tokens)):
                budget = self._budget(key, dimension)
                interval = _interval(self._configured(dimension), budget.learned)
                if interval is not None and cost > 0:
                    budget.tat = max(budget.tat - cost * interval, now)

    def _adjust(self, key: str, delta_tokens: int) -> None:
        with self._lock:
            now = self._clock()
            budget = self._budget(key, "tokens")
            interval = _interval(self.tokens_per_minute, budget.learned)
            if interval is not None:
                budget.tat = max(max(budget.tat, now) + delta_tokens * interval, now)

    def _tighten(self, key: str, observations: List[RateLimitObservation]) -> None:
        with self._lock:
            now = self._clock()
            for seen in observations:
                budget = self._budget(key, seen.dimension)
                if seen.limit is not None and seen.limit > 0:
                    configured = self._configured(seen.dimension)
                    if configured is None or seen.limit < configured:
                        budget.learned = seen.limit
                if seen.remaining is None or seen.reset is None or seen.reset <= 0:
                    continue
                # The latest report wins: at most `remaining` more may start before the reset.
                end = now + seen.reset
                if seen.remaining < 1:
                    end = max(end, budget.window_end)  # never shorten a block
                budget.window_end = end
                budget.window_left = seen.remaining
