"""RedisRateLimiter against a real redis-server: one budget shared by separate limiters
(as separate processes and machines would hold), booked atomically by server-side scripts."""

from __future__ import annotations

import threading
import time
import uuid
from typing import List, Optional

import pytest
from _needs import need_module

from steer_sync import ApiTimeout, CancellationToken, Cancelled, Message, NetworkError, RateLimited

HI = [Message.user("hi")]


class NoSleepToken(CancellationToken):
    """Records the waits it is asked for and returns at once (the waits are the assertion)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: List[float] = []

    def wait(self, timeout: Optional[float] = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        return self.is_cancelled()


@pytest.fixture
def make(redis_url: str):  # type: ignore[no-untyped-def]
    need_module("redis", "pip install 'steer-sync[redis]'")
    from steer_sync.contrib.redis import RedisRateLimiter

    prefix = f"test-{uuid.uuid4().hex}"  # a fresh budget per test
    made = []

    def factory(**kwargs):  # type: ignore[no-untyped-def]
        limiter = RedisRateLimiter(redis_url, key_prefix=prefix, **kwargs)
        made.append(limiter)
        return limiter

    yield factory
    for limiter in made:
        limiter.close()


def test_two_limiters_share_one_budget(make) -> None:  # type: ignore[no-untyped-def]
    # One per 10 s, burst 1: far longer than any stall between two calls (the waits are not
    # slept, and the scripts use the Redis clock, so the bounds below are arithmetic).
    first, second = make(requests_per_minute=6), make(requests_per_minute=6)
    assert first.acquire("openai", 0, NoSleepToken()).waited == 0.0
    waited = second.acquire("openai", 0, NoSleepToken()).waited
    assert 0 < waited <= 10.0  # the other limiter's request took the current turn


def test_concurrent_bookings_never_share_a_turn(make) -> None:  # type: ignore[no-untyped-def]
    limiters = [make(requests_per_minute=6) for _ in range(4)]  # one turn per 10 s
    slots: List[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def book(index: int) -> None:
        barrier.wait()
        reservation = limiters[index % 4].acquire("anthropic", 0, NoSleepToken())
        # When the booked turn comes: known to within one Redis round trip.
        slot = time.monotonic() + reservation.waited
        with lock:
            slots.append(slot)

    threads = [threading.Thread(target=book, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ordered = sorted(slots)
    assert len(ordered) == 20
    # Twenty distinct ten-second slots: a read-modify-write race would hand two callers one
    # slot (a gap near 0); half a slot of margin absorbs any scheduling delay.
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:])]
    assert all(gap > 5.0 for gap in gaps), gaps


def test_tokens_are_settled_in_the_shared_budget(make) -> None:  # type: ignore[no-untyped-def]
    first, second = make(tokens_per_minute=6000), make(tokens_per_minute=6000)  # 100 tokens/s
    booked = first.acquire("p", 1000, NoSleepToken())  # 10 s of budget
    first.settle(booked, 50)  # half a second used
    assert second.acquire("p", 50, NoSleepToken()).waited <= 0.5


def test_headers_seen_by_one_limiter_hold_back_the_others(make) -> None:  # type: ignore[no-untyped-def]
    first, second = make(), make()
    first.observe_headers("openai", {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "60s"})
    waited = second.acquire("openai", 0, NoSleepToken()).waited
    assert 0 < waited <= 60.0  # held back until the reset the other limiter saw
    assert second.acquire("anthropic", 0, NoSleepToken()).waited == 0.0


def test_a_turn_after_the_deadline_is_refused_without_booking(make) -> None:  # type: ignore[no-untyped-def]
    limiter = make(requests_per_minute=6)  # one per 10 s
    limiter.acquire("p", 0, NoSleepToken())
    token = NoSleepToken()
    with pytest.raises(ApiTimeout, match="deadline"):
        limiter.acquire("p", 0, token, deadline=time.monotonic() + 2)
    assert token.waits == []
    assert 0 < limiter.acquire("p", 0, NoSleepToken()).waited <= 10.0  # nothing was booked (not 20 s)


def test_a_turn_beyond_max_wait_is_refused_as_rate_limited_without_booking(make) -> None:  # type: ignore[no-untyped-def]
    limiter = make(requests_per_minute=6)  # one per 10 s
    limiter.acquire("p", 0, NoSleepToken())
    token = NoSleepToken()
    with pytest.raises(RateLimited, match="max_wait") as caught:
        limiter.acquire("p", 0, token, max_wait=1.0)
    assert caught.value.retry_after is not None and caught.value.retry_after > 1.0
    assert token.waits == []
    # Nothing was booked: the next turn is still the first one after the first request's.
    later = limiter.acquire("p", 0, NoSleepToken()).waited
    assert 0 < later <= caught.value.retry_after


def test_a_cancelled_wait_gives_its_turn_back(make) -> None:  # type: ignore[no-untyped-def]
    limiter = make(requests_per_minute=6)
    limiter.acquire("p", 0, NoSleepToken())
    cancelled = NoSleepToken()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        limiter.acquire("p", 0, cancelled)
    waiting = NoSleepToken()

    def cancel_on_wait(timeout: Optional[float] = None) -> bool:
        waiting.cancel()
        return True

    waiting.wait = cancel_on_wait  # type: ignore[method-assign]
    with pytest.raises(Cancelled):
        limiter.acquire("p", 0, waiting)
    assert 0 < limiter.acquire("p", 0, NoSleepToken()).waited <= 10.0  # given back: not 20 s


def test_a_client_call_goes_through_the_shared_budget(make, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    import redis

    from steer_sync.testing import LoopbackServer, Turn

    limiter = make(requests_per_minute=600, tokens_per_minute=100_000)
    with LoopbackServer() as server, server.client(rate_limiter=limiter) as client:
        server.queue(Turn(text="ok", usage=(10, 5)))
        assert client.complete("anthropic/claude-sonnet-4-5", HI).extract_text() == "ok"
    stored = redis.Redis.from_url(redis_url).hgetall(f"{limiter.key_prefix}:ratelimit:anthropic")
    assert b"req_tat" in stored and b"tok_tat" in stored


def test_an_unreachable_redis_is_a_network_error_without_the_password() -> None:
    need_module("redis", "pip install 'steer-sync[redis]'")
    from _needs import free_port

    from steer_sync.contrib.redis import RedisRateLimiter

    limiter = RedisRateLimiter(f"redis://:hunter2@127.0.0.1:{free_port()}/0", requests_per_minute=10)
    with pytest.raises(NetworkError) as caught:
        limiter.acquire("openai", 0, NoSleepToken())
    assert "127.0.0.1" in str(caught.value) and "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(limiter)
    with pytest.raises(ValueError, match="Redis URL"):
        RedisRateLimiter("")
