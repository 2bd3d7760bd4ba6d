"""One call's attempts: the retry loop, stream restarts, the attempt budget and the rate limiter (layer L3).

Retrying lives only here (STYLE 2.1): :func:`with_retry` re-runs a failed start with the
policy's cancellable backoff, :func:`restarting` restarts a stream that broke, and both
spend one :class:`AttemptBudget` per call. With a rate limiter every attempt first waits
for its turn and settles its booking afterwards (:func:`limited`).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Optional, TypeVar

from steer_sync._call_options import deadline_chunk, deadline_error, is_call_deadline, mark_call_deadline
from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, Reset, StreamChunk
from steer_sync._errors import (
    ApiError,
    ApiTimeout,
    Cancelled,
    ProviderStreamError,
    ProviderStreamErrorKind,
    StreamCancelled,
)
from steer_sync._observe import CallRecorder, log_retry
from steer_sync._provider import CompletionRequest, Provider, call_complete, call_stream_complete
from steer_sync._retry import RetryPolicy, should_retry_stream_error
from steer_sync._stream import CompletionStream, stream_error_to_api_error
from steer_sync._types import CompletionResponse

if TYPE_CHECKING:
    from steer_sync._provider_cache import ProviderCache, ProviderEntry
    from steer_sync._ratelimit import RateLimiter, Reservation

__all__ = [
    "AttemptBudget",
    "complete_once",
    "complete_retrying",
    "estimated_tokens",
    "limited",
    "open_stream",
    "restarting",
    "settle_quietly",
    "settling",
    "stream_once",
    "used_tokens",
    "with_retry",
]

_log = logging.getLogger("steer_sync.client")

T = TypeVar("T")


class AttemptBudget:
    """The requests one call has sent: a single budget for start retries and stream restarts.

    One per call, used only by that call's thread, so ``policy.max_attempts`` bounds the
    requests of a whole call however its failures alternate (issue 18 item 9).
    """

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made = 0


def stream_once(request: CompletionRequest, provider: Provider, token: CancellationToken) -> CompletionStream:
    """Start one streamed attempt of ``request`` on ``provider`` with ``token``."""
    return call_stream_complete(provider, request.with_token(token))


def complete_once(request: CompletionRequest, provider: Provider, token: CancellationToken) -> CompletionResponse:
    """Run one non-streamed attempt (collected from a stream when the provider requires it)."""
    if provider.requires_streaming:
        return stream_once(request, provider, token).collect(str(request.model.provider))
    return call_complete(provider, request.with_token(token))


def estimated_tokens(request: CompletionRequest) -> int:
    """The size a rate limiter books for ``request``: a quarter of the characters of the
    messages, system prompt and tools (their repr, close to their JSON size), plus
    ``max_output_tokens`` (1024 when unset); settled later from the reported usage."""
    chars = len(repr(request.messages)) + len(repr(request.system)) + len(repr(request.tools))
    params = request.call_options
    output = params.max_output_tokens if params is not None else None
    return chars // 4 + (output if output else 1024)


def limited(
    limiter: RateLimiter,
    key: str,
    tokens: int,
    token: CancellationToken,
    call: Callable[[], T],
    deadline: Optional[float] = None,
) -> Callable[[], T]:
    """Wrap one attempt: wait for a turn, show the limiter the response headers, settle usage.

    A failed attempt generated nothing, so its token booking is refunded (the request
    itself still counts). A stream is settled when its ``MessageComplete`` passes, and
    refunded when it ends, fails or is closed without one.
    """
    from steer_sync._transport import observing_headers

    def observe(status: int, headers: Mapping[str, str]) -> None:
        limiter.observe_headers(key, headers, status=status)

    def attempt() -> T:
        try:
            reservation = limiter.acquire(key, tokens, token, deadline)
        except ApiTimeout as error:
            if deadline is not None:
                mark_call_deadline(error)  # no turn before the call's deadline: the call is over
            raise
        try:
            with observing_headers(observe):
                result = call()
        except ApiError:
            settle_quietly(limiter, reservation, 0)
            raise
        if isinstance(result, CompletionResponse):
            settle_quietly(limiter, reservation, used_tokens(result))
        elif isinstance(result, CompletionStream):
            return settling(result, limiter, reservation)  # type: ignore[return-value]
        return result

    return attempt


def settle_quietly(limiter: RateLimiter, reservation: Reservation, tokens: Optional[int]) -> None:
    """Settle ``reservation``; a limiter that fails (a shared store that is down) is logged.

    The attempt's own outcome wins: a failed settle must neither turn a received answer into
    a retryable error (the request would be sent again), escape a stream's iteration, nor
    hide the error the attempt raised. Only the exception's class is logged, since a store's
    message may name its URL and password.
    """
    try:
        limiter.settle(reservation, tokens)
    except Exception as exc:  # whatever the limiter's backend raises
        _log.warning(
            "rate limiter %s could not settle a reservation (%s); the booking stays as estimated",
            type(limiter).__name__,
            type(exc).__name__,
        )


def used_tokens(response: CompletionResponse) -> Optional[int]:
    """The tokens ``response`` reports (input + output), or ``None`` without usage."""
    usage = response.usage
    return None if usage is None else usage.input_tokens + usage.output_tokens


def settling(stream: CompletionStream, limiter: RateLimiter, reservation: Reservation) -> CompletionStream:
    """The same stream, settling the reservation from the usage of its final message.

    A stream that ends without ``MessageComplete`` (it broke midway, or was closed) is
    refunded, as a failed non-streamed attempt is: the reservation is settled exactly once.
    """
    lock = threading.Lock()
    settled = False

    def settle(tokens: Optional[int]) -> None:
        nonlocal settled
        # close() from another thread may race the reader's MessageComplete: first one wins.
        with lock:
            if settled:
                return
            settled = True
        settle_quietly(limiter, reservation, tokens)

    def chunks() -> Iterator[StreamChunk]:
        try:
            for chunk in stream.chunk_source():
                if type(chunk) is MessageComplete:
                    settle(used_tokens(chunk.response))
                yield chunk
        finally:
            settle(0)
            stream.close()

    def close() -> None:
        settle(0)
        stream.close()

    # Sharing the inner stream's private token keeps close() from another thread able to
    # wake a reader blocked on the network; on_close releases the inner stream (and refunds)
    # even when the wrapper is closed before its generator ever started.
    return CompletionStream(chunks(), token=stream._token, on_close=close, provider=stream.provider)


def with_retry(
    rate_limiter: Optional[RateLimiter],
    provider: Provider,
    token: CancellationToken,
    policy: RetryPolicy,
    call: Callable[[], T],
    include_no_choices: bool = False,
    *,
    request: Optional[CompletionRequest] = None,
    budget: Optional[AttemptBudget] = None,
    rec: Optional[CallRecorder] = None,
) -> T:
    """Run ``call`` with the policy's retries and cancellable backoff.

    ``rate_limiter`` is the client's (``None`` for none).
    With a rate limiter, every attempt first waits for its turn (see ``limited``).
    ``budget`` counts the attempts of the whole call (shared with stream restarts).
    ``rec`` (when someone listens) counts the attempts and hears of each failure.
    """
    limiter = rate_limiter if request is not None else None
    if limiter is not None and request is not None:
        key = limiter.key_for(str(request.model.provider), str(request.model))
        call = limited(limiter, key, estimated_tokens(request), token, call, request.deadline)
    deadline = request.deadline if request is not None else None
    # The provider id (a catalog provider's own, not its format's class name).
    name = str(request.model.provider) if request is not None else provider.name
    attempts = budget if budget is not None else AttemptBudget()
    while True:
        if token.is_cancelled():
            raise Cancelled(name)
        attempts.made += 1
        if rec is not None:
            rec.attempts += 1
        try:
            return call()
        except ApiError as error:
            if token.is_cancelled() or isinstance(error, Cancelled):
                raise Cancelled(name) from error
            if is_call_deadline(error, deadline):
                # The call's deadline passed, or the rate limiter has no turn before it; one
                # attempt's own limit (Timeouts.total) before then is retried like any timeout.
                if rec is not None:
                    rec.attempt_failed(error, None)
                raise
            if not policy.should_retry(error, attempts.made, include_no_choices=include_no_choices):
                if rec is not None:
                    rec.attempt_failed(error, None)
                raise
            delay = policy.delay(attempts.made - 1, error.retry_after)
            if deadline is not None and time.monotonic() + delay >= deadline:
                # Waiting would end past the deadline: give up now, saying why.
                if rec is not None:
                    rec.attempt_failed(error, None)
                raise deadline_error(name, request) from error
            model = request.model.id if request is not None else "?"
            log_retry(name, model, attempts.made, policy.max_attempts, error, delay)
            if rec is not None:
                rec.attempt_failed(error, delay)
            if token.wait(delay):
                raise Cancelled(name) from error


def restarting(
    rate_limiter: Optional[RateLimiter],
    provider: Provider,
    request: CompletionRequest,
    first: CompletionStream,
    token: CancellationToken,
    policy: RetryPolicy,
    budget: Optional[AttemptBudget] = None,
    rec: Optional[CallRecorder] = None,
) -> Iterator[StreamChunk]:
    """Yield the chunks of ``first``, restarting the request after retryable failures.

    Restarts and their start retries spend ``budget``, the attempts the call has made.
    """
    stream: Optional[CompletionStream] = first
    name = str(request.model.provider)  # the provider id, not the format's class name
    if budget is None:
        budget = AttemptBudget()
        budget.made = 1
    try:
        while True:
            if stream is None:
                if token.is_cancelled():
                    yield ErrorChunk(StreamCancelled())
                    return
                try:
                    stream = with_retry(
                        rate_limiter,
                        provider,
                        token,
                        policy,
                        lambda: stream_once(request, provider, token),
                        request=request,
                        budget=budget,
                        rec=rec,
                    )
                except Cancelled:
                    yield ErrorChunk(StreamCancelled())
                    return
                except ApiError as error:
                    # with_retry gives up before the deadline passes when the wait would end
                    # past it: the marked error says so, not the clock.
                    if is_call_deadline(error, request.deadline):
                        yield deadline_chunk(name, error)
                        return
                    yield ErrorChunk(
                        ProviderStreamError(
                            name,
                            ProviderStreamErrorKind.STREAM_RETRY,
                            "stream_retry",
                            str(error),
                            request_id=error.request_id,
                            cause=error,
                        )
                    )
                    return
            saw_output = False
            failure: Optional[ErrorChunk] = None
            # Iterate the provider's chunk source directly: this loop already owns the
            # stream and closes it below, so the inner wrapper's per-chunk bookkeeping
            # would only add a frame to every delta.
            for chunk in stream.chunk_source():
                if type(chunk) is ErrorChunk:
                    failure = chunk
                    break
                saw_output = True
                yield chunk
            stream.close()
            stream = None
            if failure is None:
                return
            if token.is_cancelled() or isinstance(failure.error, StreamCancelled):
                yield ErrorChunk(StreamCancelled())
                return
            retryable = should_retry_stream_error(failure.error) and budget.made < policy.max_attempts
            if not retryable or (saw_output and not policy.retry_after_output):
                if rec is not None:
                    rec.attempt_failed(stream_error_to_api_error(failure.error, name), None)
                yield failure
                return
            delay = policy.delay(budget.made - 1)
            broke = stream_error_to_api_error(failure.error, name)
            if request.deadline is not None and time.monotonic() + delay >= request.deadline:
                if rec is not None:
                    rec.attempt_failed(broke, None)
                yield deadline_chunk(name, deadline_error(name, request))
                return
            log_retry(name, request.model.id, budget.made, policy.max_attempts, broke, delay)
            if rec is not None:
                rec.attempt_failed(broke, delay)
            if saw_output:
                yield Reset()
            # Back off before restarting so an overloaded provider is not hammered.
            if token.wait(delay):
                yield ErrorChunk(StreamCancelled())
                return
    finally:
        if stream is not None:
            stream.close()


def open_stream(
    cache: ProviderCache,
    rate_limiter: Optional[RateLimiter],
    request: CompletionRequest,
    token: Optional[CancellationToken],
    policy: RetryPolicy,
    rec: Optional[CallRecorder],
) -> CompletionStream:
    """Start ``request`` as a stream on a leased provider, with retries, restarts and the fallback.

    The stream holds its provider (the API key's after a refused plugin credential) until it
    is closed or collected; ``rec`` (when someone listens) hears of its attempts and end.
    """
    # A private child token: closing the stream cancels it (waking a blocked read)
    # without cancelling the caller's token.
    stream_token = (token if token is not None else CancellationToken()).child_token()
    budget = AttemptBudget()
    entry: Optional[ProviderEntry] = None
    try:
        entry = cache._lease_entry(request.model.provider)
        if stream_token.is_cancelled():
            raise Cancelled(str(request.model.provider))

        def start(provider: Provider) -> CompletionStream:
            return with_retry(
                rate_limiter,
                provider,
                stream_token,
                policy,
                lambda: stream_once(request, provider, stream_token),
                request=request,
                budget=budget,
                rec=rec,
            )

        try:
            first = start(entry.provider)
        except ApiError as error:
            refused, entry = entry, None
            try:
                first, entry = cache._fall_back(request.model.provider, refused, error, start)
            finally:
                cache._let_go(refused.provider)
    except BaseException as exc:
        stream_token.cancel()  # unregisters it from the caller's token
        if entry is not None:
            cache._let_go(entry.provider)
        if rec is not None:
            rec.raised(exc)
        raise
    # The provider the stream actually uses (the fallback's after a refused plugin credential).
    used = entry.provider
    chunks = restarting(rate_limiter, used, request, first, stream_token, policy, budget, rec)
    # The stream uses the provider until it is released; a stream dropped unread
    # lets go when its generator is collected.
    let_go = weakref.finalize(chunks, cache._let_go, used)

    def released() -> None:
        # A stream closed before its first next() never ran restarting's cleanup: close
        # the first attempt here, which also refunds its rate-limit booking. Once restarting
        # has started it owns the first attempt (maybe being read in a pump thread now).
        source = first.chunk_source()
        if inspect.isgenerator(source) and inspect.getgeneratorstate(source) == inspect.GEN_CREATED:
            first.close()
        let_go()
        if rec is not None:
            rec.stream_ended()

    if rec is None:
        return CompletionStream(chunks, token=stream_token, provider=str(request.model.provider), on_close=released)

    # Released streams report through on_close, which also covers a stream closed before
    # its first next(); watch() covers one dropped unclosed (its generator's finalizer).
    return CompletionStream(
        rec.watch(chunks), token=stream_token, on_close=released, provider=str(request.model.provider)
    )


def complete_retrying(
    cache: ProviderCache,
    rate_limiter: Optional[RateLimiter],
    request: CompletionRequest,
    token: CancellationToken,
    policy: RetryPolicy,
    rec: Optional[CallRecorder],
) -> CompletionResponse:
    """Run ``request`` non-streamed on a leased provider, with retries (``NoChoices`` too) and the fallback."""
    # One budget for the whole call: the API-key fallback continues it (and still gets
    # one attempt when the plugin's credential spent it), as open_stream's restarts do.
    budget = AttemptBudget()

    def attempt(provider: Provider) -> CompletionResponse:
        return with_retry(
            rate_limiter,
            provider,
            token,
            policy,
            lambda: complete_once(request, provider, token),
            True,
            request=request,
            budget=budget,
            rec=rec,
        )

    try:
        entry = cache._lease_entry(request.model.provider)
        try:
            try:
                response = attempt(entry.provider)
            except ApiError as error:
                response, fallback = cache._fall_back(request.model.provider, entry, error, attempt)
                cache._let_go(fallback.provider)
        finally:
            cache._let_go(entry.provider)
    except BaseException as exc:
        if rec is not None:
            rec.raised(exc)
        raise
    if rec is not None:
        rec.returned(response)
    return response
