"""CancellationToken: flag, callbacks, children, waits."""

from __future__ import annotations

import threading
from typing import List

from steer_sync import CancellationToken


def test_cancel_sets_the_flag_and_runs_callbacks_once() -> None:
    token = CancellationToken()
    calls: List[str] = []
    token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    assert not token.is_cancelled()
    token.cancel()
    token.cancel()
    assert token.is_cancelled() and calls == ["a", "b"]


def test_unregistered_callbacks_do_not_run() -> None:
    token = CancellationToken()
    calls: List[int] = []
    unregister = token.on_cancel(lambda: calls.append(1))
    unregister()
    unregister()
    token.cancel()
    assert calls == []


def test_on_cancel_after_cancel_runs_at_once() -> None:
    token = CancellationToken()
    token.cancel()
    calls: List[int] = []
    token.on_cancel(lambda: calls.append(1))()
    assert calls == [1]


def test_a_failing_callback_does_not_stop_the_others() -> None:
    token = CancellationToken()
    calls: List[int] = []

    def boom() -> None:
        raise RuntimeError("boom")

    token.on_cancel(boom)
    token.on_cancel(lambda: calls.append(1))
    token.cancel()
    assert calls == [1]


def test_child_is_cancelled_with_its_parent_but_not_the_reverse() -> None:
    parent = CancellationToken()
    child = parent.child_token()
    other = parent.child_token()
    child.cancel()
    assert child.is_cancelled() and not parent.is_cancelled() and not other.is_cancelled()
    parent.cancel()
    assert other.is_cancelled()


def test_cancelled_children_unregister_from_the_parent() -> None:
    parent = CancellationToken()
    for _ in range(100):
        parent.child_token().cancel()
    assert len(parent._callbacks) == 0


def test_wait_returns_when_another_thread_cancels() -> None:
    token = CancellationToken()
    waiting = threading.Event()
    result: List[bool] = []

    def waiter() -> None:
        waiting.set()
        result.append(token.wait(60))

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait()
    token.cancel()
    thread.join(10)
    assert result == [True]
    assert CancellationToken().wait(0) is False


def test_abandoned_children_do_not_pile_up_on_a_long_lived_token() -> None:
    import gc

    caller = CancellationToken()
    kept = caller.child_token()
    for _ in range(1000):
        child = caller.child_token()
        child.on_cancel(lambda: None)  # like the socket shutdown a response registers
    del child
    gc.collect()
    assert len(caller._callbacks) == 1  # only the child still referenced
    caller.cancel()
    assert kept.is_cancelled()


def test_a_child_collected_while_the_parent_lock_is_held_is_purged_later() -> None:
    import gc

    caller = CancellationToken()
    child = caller.child_token()
    with caller._lock:  # the collector may run in a thread that holds the lock
        del child
        gc.collect()
    assert len(caller._dead_keys) == 1
    caller.on_cancel(lambda: None)  # the next registration purges the dead entry
    assert len(caller._callbacks) == 1 and caller._dead_keys == []


def test_a_child_of_a_cancelled_token_starts_cancelled() -> None:
    caller = CancellationToken()
    caller.cancel()
    assert caller.child_token().is_cancelled()
