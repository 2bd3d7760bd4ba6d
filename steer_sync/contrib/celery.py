"""Celery tasks that call LLM providers: ``ProviderTask`` (layer L4).

Needs the extra ``steer-sync[celery]``. A task declared with ``base=ProviderTask`` gets
``self.client``: one :class:`~steer_sync.Client` per worker process, shared by every task
type of that process and created on first use after the fork (never inherited from the
parent). Only task classes that set their own client settings (``client_options``,
``rate_limiter``, ``retry_policy`` or an overridden ``make_client``) get a client of their
own, one per process as well. Waits belong to the broker, not the
worker: the task's client retries only on its own short backoff (at most about half a
second per wait), and an :class:`~steer_sync.ApiError` that may be retried and escapes the
task becomes ``self.retry(countdown=...)`` with the server's ``retry_after`` hint, else a
growing backoff, up to the task's ``max_retries``. A rate limiter's turn that is more than
a second away is handed to the broker the same way (as ``RateLimited`` with
``retry_after``). Any other error is raised as is.

Results cross the JSON result backend as plain data: return ``resp.to_dict()`` and rebuild
with ``CompletionResponse.from_dict(d)``. Errors come back as their own class (Celery
rebuilds an exception from its module, class name and ``args``).

Usage::

    from celery import Celery
    from steer_sync import CompletionResponse, Message
    from steer_sync.contrib.celery import ProviderTask

    app = Celery("app", broker="redis://localhost:6379/0", backend="redis://localhost:6379/0")

    @app.task(base=ProviderTask, bind=True, max_retries=5)
    def summarise(self, text):
        resp = self.client.complete("sonnet", [Message.user(f"Summarise: {text}")])
        return resp.to_dict()

    answer = CompletionResponse.from_dict(summarise.delay("...").get())
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple

import celery

from steer_sync._cancellation import CancellationToken
from steer_sync._client import Client
from steer_sync._errors import ApiError
from steer_sync._ratelimit import RateLimiter, RateLimitObservation, Reservation
from steer_sync._retry import RetryPolicy, should_retry_error

__all__ = ["BROKER_BACKOFF", "MAX_WAIT_IN_WORKER", "WORKER_RETRY_POLICY", "ProviderTask"]

#: The longest single wait a task may spend inside a worker, in seconds.
MAX_WAIT_IN_WORKER = 1.0

#: The policy of ``ProviderTask.client``: three attempts with waits of about 0.25 s and
#: 0.5 s (at most 0.6 s with jitter); a server hint longer than half a second is not
#: waited out in the worker but raised, and then handed to the broker.
WORKER_RETRY_POLICY = RetryPolicy(max_attempts=3, base_delay=0.25, max_exponent=1, jitter=0.2, max_retry_after=0.5)

#: The backoff for broker retries without a server hint: 1, 2, 4, ... up to 64 s (+/- 20 %).
BROKER_BACKOFF = RetryPolicy(base_delay=1.0, max_exponent=6, jitter=0.2, max_retry_after=3600.0)


class _BrokerHandoff(RateLimiter):
    """Wraps a limiter so that a turn more than ``max_wait`` away is raised as ``RateLimited``
    (booking nothing) instead of being waited for in the worker.

    Every public method is handed to the wrapped limiter whole; the hand-off is its
    ``acquire(..., max_wait=...)``, so the booking stays one atomic step of that limiter.
    """

    def __init__(self, inner: RateLimiter, max_wait: float) -> None:
        super().__init__(
            requests_per_minute=inner.requests_per_minute, tokens_per_minute=inner.tokens_per_minute, per=inner.per
        )
        self._inner = inner
        self._max_wait = max_wait

    def key_for(self, provider: str, model: str) -> str:
        return self._inner.key_for(provider, model)

    def acquire(
        self,
        key: str,
        tokens: int,
        token: CancellationToken,
        deadline: Optional[float] = None,
        *,
        max_wait: Optional[float] = None,
    ) -> Reservation:
        limit = self._max_wait if max_wait is None else min(max_wait, self._max_wait)
        return self._inner.acquire(key, tokens, token, deadline, max_wait=limit)

    def settle(self, reservation: Reservation, actual_tokens: Optional[int]) -> None:
        self._inner.settle(reservation, actual_tokens)

    def observe_headers(self, key: str, headers: Mapping[str, str], *, status: Optional[int] = None) -> None:
        self._inner.observe_headers(key, headers, status=status)

    # The bookkeeping below is the wrapped limiter's own: the public methods above never
    # reach these.
    def _reserve(self, key: str, tokens: int, max_wait: Optional[float]) -> Tuple[bool, float]:
        raise NotImplementedError("_BrokerHandoff books through its inner limiter's acquire()")

    def _release(self, key: str, tokens: int) -> None:
        raise NotImplementedError("_BrokerHandoff books through its inner limiter's acquire()")

    def _adjust(self, key: str, delta_tokens: int) -> None:
        raise NotImplementedError("_BrokerHandoff settles through its inner limiter's settle()")

    def _tighten(self, key: str, observations: List[RateLimitObservation]) -> None:
        raise NotImplementedError("_BrokerHandoff observes through its inner limiter's observe_headers()")


#: The class attributes that decide what client a task gets.
_CLIENT_SETTINGS = ("client_options", "rate_limiter", "retry_policy", "make_client")


class _ProcessClients:
    """The clients of this process, one per settings class; emptied in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: Dict[type, Client] = {}
        self._pid = os.getpid()

    def get(self, owner: type, make: Callable[[], Client]) -> Client:
        pid = os.getpid()
        client = self._clients.get(owner)
        if client is not None and self._pid == pid:
            return client
        with self._lock:
            if self._pid != pid:  # a child whose fork hook did not run: drop the parent's
                self._clients = {}
                self._pid = pid
            client = self._clients.get(owner)
            if client is None:
                client = self._clients[owner] = make()
            return client

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here, and its
        # clients' connections belong to the parent.
        self._lock = threading.Lock()
        self._clients = {}
        self._pid = os.getpid()


_PROCESS_CLIENTS = _ProcessClients()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PROCESS_CLIENTS._after_fork_in_child)


def _settings_owner(task_type: type) -> type:
    """The nearest class in ``task_type``'s bases that sets what its client is."""
    for klass in task_type.__mro__:
        if klass is ProviderTask or any(name in vars(klass) for name in _CLIENT_SETTINGS):
            return klass
    return ProviderTask


class ProviderTask(celery.Task):  # type: ignore[misc]
    """A Celery task base class with a per-process :class:`~steer_sync.Client` and broker retries.

    Declare tasks with ``@app.task(base=ProviderTask, bind=True, max_retries=...)`` and call
    providers through ``self.client``. Configure it by subclassing:

    * ``client_options``: keyword arguments for ``Client.from_env`` (catalogs, storage, ...);
    * ``rate_limiter``: a limiter shared by the worker's client (a ``RedisRateLimiter`` to
      share one quota between every worker and machine);
    * ``retry_policy``: the client's in-worker policy (default :data:`WORKER_RETRY_POLICY`;
      keep every wait at most :data:`MAX_WAIT_IN_WORKER`);
    * ``broker_backoff``: the countdown policy when the server gave no hint;
    * or override :meth:`make_client`.

    One client per worker process: every task type built on the same settings shares one
    :class:`~steer_sync.Client` (one connection pool, one rate-limit view). The settings
    belong to the nearest class in the task's bases that sets ``client_options``,
    ``rate_limiter`` or ``retry_policy`` or overrides :meth:`make_client`; tasks whose
    settings come from different classes get one client per such class, since they asked
    for different clients.

    Thread safety: ``self.client`` is created once per process under a module-level lock,
    so thread and prefork pools both work; a forked child makes its own on first use and
    never uses its parent's.
    """

    #: Keyword arguments for ``Client.from_env``.
    client_options: ClassVar[Dict[str, Any]] = {}
    #: A rate limiter for the client (``None``: none).
    rate_limiter: ClassVar[Optional[RateLimiter]] = None
    #: The in-worker retry policy of the client.
    retry_policy: ClassVar[RetryPolicy] = WORKER_RETRY_POLICY
    #: The countdown policy for broker retries without a server hint.
    broker_backoff: ClassVar[RetryPolicy] = BROKER_BACKOFF

    @property
    def client(self) -> Client:
        """This worker process's client, created on first use (after the fork).

        Shared by every task whose class takes its client settings from the same class (see
        :class:`ProviderTask`); built once per process even when many threads ask at once.
        """
        return _PROCESS_CLIENTS.get(_settings_owner(type(self)), self.make_client)

    def make_client(self) -> Client:
        """Build this process's client (override to build it differently).

        The client gets :attr:`retry_policy` and, when set, :attr:`rate_limiter` wrapped so
        that a turn more than :data:`MAX_WAIT_IN_WORKER` away is handed to the broker.
        """
        limiter = self.rate_limiter
        return Client.from_env(
            retry_policy=self.retry_policy,
            rate_limiter=_BrokerHandoff(limiter, MAX_WAIT_IN_WORKER) if limiter is not None else None,
            **self.client_options,
        )

    def retry_countdown(self, error: ApiError) -> float:
        """Seconds before the broker runs the task again after ``error``.

        The server's ``retry_after`` hint when it sent one, else :attr:`broker_backoff`'s
        delay for this retry number.
        """
        if error.retry_after is not None:
            return float(error.retry_after)
        return self.broker_backoff.delay(int(self.request.retries or 0))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ApiError as error:
            if not should_retry_error(error):
                raise
            # retry() raises celery's Retry, or the error itself once max_retries is spent.
            raise self.retry(exc=error, countdown=self.retry_countdown(error)) from None
