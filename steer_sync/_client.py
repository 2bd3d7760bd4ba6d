"""The Client: provider cache, retries, credential fallback and cancellation wiring (layer L3).

This is the only place that retries, caches providers, falls back from a plugin's
credential to an API key, and decides that a failure was a cancel rather than a
transport error. Providers below it only translate.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, replace
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, Reset, StreamChunk
from steer_sync._errors import (
    ApiAuthError,
    ApiError,
    ApiTimeout,
    AuthError,
    Cancelled,
    ConfigurationError,
    ProviderStreamError,
    ProviderStreamErrorKind,
    StreamCancelled,
)
from steer_sync._events import Listener
from steer_sync._observe import CallRecorder, configure_logging_from_env, log_retry, wants_recorder
from steer_sync._provider import (
    CompletionRequest,
    Provider,
    call_complete,
    call_stream_complete,
    check_call_options,
)
from steer_sync._retry import RetryPolicy, should_invalidate_provider, should_retry_stream_error
from steer_sync._stream import DEADLINE_EXCEEDED, CompletionStream, stream_error_to_api_error
from steer_sync._timeouts import Timeouts
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    ProviderId,
    SystemContext,
    ToolSchema,
)
from steer_sync._validate import check_call_arguments

if TYPE_CHECKING:
    from steer_sync._auth import AuthPlugin, AuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._provider import Provider
    from steer_sync._ratelimit import RateLimiter, Reservation
    from steer_sync._types._structured import StructuredOptions, ToolChoice

__all__ = ["Client"]

_log = logging.getLogger("steer_sync.client")

T = TypeVar("T")

#: The policy a Client uses unless it is given one.
DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclass(frozen=True)
class _Entry:
    """A cached provider and where its credential came from."""

    provider: Provider
    #: True when the credential came from an auth plugin (the API-key fallback applies).
    from_plugin: bool


@dataclass(frozen=True)
class _Options:
    """A call's own per-call keywords, checked before anything is sent."""

    timeout: Optional[Union[float, Timeouts]] = None
    retry_policy: Optional[RetryPolicy] = None
    extra_body: Optional[Mapping[str, Any]] = None
    extra_query: Optional[Mapping[str, str]] = None

    def __post_init__(self) -> None:
        check_call_options(
            None,
            timeout=self.timeout,
            retry_policy=self.retry_policy,
            extra_body=self.extra_body,
            extra_query=self.extra_query,
        )


_NO_OPTIONS = _Options()


def _past(deadline: Optional[float]) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _deadline_error(provider: str, request: Optional[CompletionRequest]) -> ApiTimeout:
    timeout = request.timeout if request is not None else None
    budget = f"{timeout:g} s " if isinstance(timeout, (int, float)) else ""
    return ApiTimeout(provider, f"the call's {budget}deadline passes before the next attempt could start")


def _deadline_chunk(provider: str, error: ApiError) -> ErrorChunk:
    kind = ProviderStreamErrorKind.from_provider_error_type(DEADLINE_EXCEEDED)
    return ErrorChunk(ProviderStreamError(provider, kind, DEADLINE_EXCEEDED, error.details or str(error)))


class _Attempts:
    """The requests one call has sent: a single budget for start retries and stream restarts.

    One per call, used only by that call's thread, so ``policy.max_attempts`` bounds the
    requests of a whole call however its failures alternate (issue 18 item 9).
    """

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made = 0


def _stream_once(request: CompletionRequest, provider: Provider, token: CancellationToken) -> CompletionStream:
    return call_stream_complete(provider, request.with_token(token))


def _complete_once(request: CompletionRequest, provider: Provider, token: CancellationToken) -> CompletionResponse:
    if provider.requires_streaming:
        return _stream_once(request, provider, token).collect(str(request.model.provider))
    return call_complete(provider, request.with_token(token))


def _estimated_tokens(request: CompletionRequest) -> int:
    """The size a rate limiter books for ``request``: a quarter of the characters of the
    messages, system prompt and tools (their repr, close to their JSON size), plus
    ``max_output_tokens`` (1024 when unset); settled later from the reported usage."""
    chars = len(repr(request.messages)) + len(repr(request.system)) + len(repr(request.tools))
    params = request.call_options
    output = params.max_output_tokens if params is not None else None
    return chars // 4 + (output if output else 1024)


def _limited(
    limiter: RateLimiter,
    key: str,
    tokens: int,
    token: CancellationToken,
    call: Callable[[], T],
    deadline: Optional[float] = None,
) -> Callable[[], T]:
    """Wrap one attempt: wait for a turn, show the limiter the response headers, settle usage.

    A failed attempt generated nothing, so its token booking is refunded (the request
    itself still counts). A stream is settled when its ``MessageComplete`` passes.
    """
    from steer_sync._transport import observing_headers

    def observe(status: int, headers: Mapping[str, str]) -> None:
        limiter.observe_headers(key, headers, status=status)

    def attempt() -> T:
        reservation = limiter.acquire(key, tokens, token, deadline)
        try:
            with observing_headers(observe):
                result = call()
        except ApiError:
            _settle_quietly(limiter, reservation, 0)
            raise
        if isinstance(result, CompletionResponse):
            _settle_quietly(limiter, reservation, _used_tokens(result))
        elif isinstance(result, CompletionStream):
            return _settling(result, limiter, reservation)  # type: ignore[return-value]
        return result

    return attempt


def _settle_quietly(limiter: RateLimiter, reservation: Reservation, tokens: Optional[int]) -> None:
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


def _used_tokens(response: CompletionResponse) -> Optional[int]:
    usage = response.usage
    return None if usage is None else usage.input_tokens + usage.output_tokens


def _settling(stream: CompletionStream, limiter: RateLimiter, reservation: Reservation) -> CompletionStream:
    """The same stream, settling the reservation from the usage of its final message."""

    def chunks() -> Iterator[StreamChunk]:
        try:
            for chunk in stream.chunk_source():
                if type(chunk) is MessageComplete:
                    _settle_quietly(limiter, reservation, _used_tokens(chunk.response))
                yield chunk
        finally:
            stream.close()

    # Sharing the inner stream's private token keeps close() from another thread able to
    # wake a reader blocked on the network; on_close releases the inner stream even when
    # the wrapper is closed before its generator ever started.
    return CompletionStream(chunks(), token=stream._token, on_close=stream.close, provider=stream.provider)


def _structured(
    response_format: Any, tool_choice: Optional[ToolChoice], parallel_tool_calls: Optional[bool]
) -> Optional[StructuredOptions]:
    """Check a call's structured-output and tool-choice arguments; ``None`` when none is set."""
    if response_format is None and tool_choice is None and parallel_tool_calls is None:
        return None
    # Imported on first use, so that `import steer_sync` does not load the schema machinery.
    from steer_sync._types._structured import StructuredOptions

    options = StructuredOptions.build(response_format, tool_choice, parallel_tool_calls)
    return None if options.is_empty() else options


def _all_clients_after_fork() -> None:
    for client in list(_LIVE_CLIENTS):
        client._forget_providers()


_LIVE_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_all_clients_after_fork)


class Client:
    """A blocking client for every configured LLM provider; share one per process.

    Thread safety: all methods may be called from any number of threads at once.
    Providers are created on first use and cached; each holds one connection pool.
    A ``CompletionStream`` is consumed by one thread, but may be closed (and any call
    cancelled through its token) from another. After ``os.fork()`` the child starts
    with an empty cache, so no socket crosses a fork.

    Usage::

        from steer_sync import Client, Message

        with Client.from_env() as client:
            resp = client.complete("anthropic/claude-sonnet-4-5", [Message.user("Hello")])
            print(resp.extract_text())
    """

    def __init__(
        self,
        config_provider: LlmConfigProvider,
        provider_registry: ProviderRegistry,
        model_registry: ModelRegistry,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        provider_options: Optional[Mapping[str, Any]] = None,
        rate_limiter: Optional[RateLimiter] = None,
        listeners: Sequence[Listener] = (),
    ) -> None:
        """
        :param config_provider: resolves credentials (plugins, environment, store).
        :param provider_registry: the known providers.
        :param model_registry: the known models and aliases.
        :param retry_policy: how calls are retried.
        :param provider_options: extra keyword arguments for every provider class
            (for example ``{"timeouts": Timeouts(read=30)}``).
        :param rate_limiter: consulted before every attempt (a ``LocalRateLimiter``, or a
            ``RedisRateLimiter`` shared by many processes); ``None`` for no client-side limit.
        :param listeners: callables given an ``AttemptFailed`` or ``CallFinished`` for every
            call (see :meth:`add_listener`).
        :raises TypeError: if a listener is not callable.
        """
        self._config = config_provider
        self._provider_registry = provider_registry
        self._model_registry = model_registry
        #: The retry policy every call uses.
        self.retry_policy = retry_policy
        self._provider_options = dict(provider_options or {})
        #: The rate limiter consulted before every attempt, or ``None``.
        self.rate_limiter = rate_limiter
        self._lock = threading.RLock()
        self._providers: Dict[ProviderId, _Entry] = {}
        # Evicted providers (a refused credential, invalidate_provider) that calls in flight
        # may still use: close() releases their pooled connections too.
        self._retired: weakref.WeakSet[Provider] = weakref.WeakSet()
        #: id(provider) -> [provider, calls using it]: close() leaves these to their last call.
        self._in_use: Dict[int, List[Any]] = {}
        #: ids of providers close() found in use: the last call using one closes it.
        self._closing: Set[int] = set()
        self._pid = os.getpid()
        # Copy-on-write: add_listener swaps in a new tuple, so a call reads it without a lock.
        self._listeners: Tuple[Listener, ...] = ()
        for listener in listeners:
            self.add_listener(listener)
        configure_logging_from_env()
        #: Per-call defaults set by :meth:`with_options`.
        self._default_timeout: Optional[Union[float, Timeouts]] = None
        self._default_headers: Optional[Mapping[str, str]] = None
        _LIVE_CLIENTS.add(self)

    @classmethod
    def new_with_deps(
        cls,
        config_provider: LlmConfigProvider,
        provider_registry: ProviderRegistry,
        model_registry: ModelRegistry,
    ) -> Client:
        """Build a client from its dependencies (the Rust ``new_with_deps``)."""
        return cls(config_provider, provider_registry, model_registry)

    @classmethod
    def from_env(
        cls,
        catalogs: Sequence[Union[str, os.PathLike[str]]] = (),
        *,
        storage: Optional[AuthStorage] = None,
        discover_catalogs: bool = True,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        provider_options: Optional[Mapping[str, Any]] = None,
        auth_plugins: Sequence[AuthPlugin] = (),
        rate_limiter: Optional[RateLimiter] = None,
        listeners: Sequence[Listener] = (),
    ) -> Client:
        """Build a client from the built-in catalog, discovered and given catalogs,
        environment variables and the credential store.

        Nothing reads a credential until a call needs one, so this succeeds with no
        key set; the call then raises a ``ConfigurationError`` naming the variable.

        :param catalogs: extra catalog files, merged over the built-in and discovered ones.
        :param storage: the credential store (default: the user's credentials file).
        :param discover_catalogs: also read ``./.steer/catalog.toml`` and the user catalog.
        :param auth_plugins: auth plugins (at most one per provider), used before API keys and
            before a catalog provider's own ``auth`` table.
        :param rate_limiter: requests/tokens per minute shared by every call of this client
            (and, for ``RedisRateLimiter``, by every process using the same Redis).
        :param listeners: callables given an ``AttemptFailed`` or ``CallFinished`` for every
            call (see :meth:`add_listener`).
        :raises ConfigurationError: if a catalog is invalid (the message names file and entry).
        :raises AuthError: if two plugins are for the same provider.
        """
        from steer_sync._auth import AuthPluginRegistry, FileAuthStorage, LlmConfigProvider
        from steer_sync._catalog import load_registries

        if isinstance(catalogs, (str, os.PathLike)):
            raise TypeError("catalogs must be a list of paths, e.g. catalogs=['my_catalog.toml']")
        paths = [os.fspath(path) for path in catalogs]
        for path in paths:
            # Discovered catalogs may be absent; a file the caller names must exist.
            if not os.path.isfile(path):
                raise ConfigurationError(None, f"catalog file {path!r} does not exist; check the path")
        provider_registry, model_registry = load_registries(paths, discover=discover_catalogs)
        config = LlmConfigProvider(
            storage if storage is not None else FileAuthStorage.default(),
            AuthPluginRegistry(auth_plugins),
            provider_registry=provider_registry,
        )
        return cls(
            config,
            provider_registry,
            model_registry,
            retry_policy=retry_policy,
            provider_options=provider_options,
            rate_limiter=rate_limiter,
            listeners=listeners,
        )

    # --- public calls -------------------------------------------------------------------

    def complete(
        self,
        model: Union[ModelId, str],
        messages: Sequence[Message],
        system: Union[str, SystemContext, None] = None,
        tools: Optional[Sequence[ToolSchema]] = None,
        call_options: Optional[ModelParameters] = None,
        token: Optional[CancellationToken] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        response_format: Any = None,
        tool_choice: Optional[ToolChoice] = None,
        parallel_tool_calls: Optional[bool] = None,
        timeout: Optional[Union[float, Timeouts]] = None,
        retry_policy: Optional[RetryPolicy] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_query: Optional[Mapping[str, str]] = None,
    ) -> CompletionResponse:
        """Run a completion and return the whole response.

        Runs through the streaming path, so it gets start retries, mid-stream restarts
        (``Reset`` is invisible here) and the credential fallback.

        :param model: a ``ModelId``, ``"provider/model-id"`` or a catalog alias.
        :param messages: the conversation.
        :param system: a system prompt (``str`` or ``SystemContext``).
        :param tools: tools the model may call.
        :param call_options: parameters merged over the catalog's for this model.
        :param token: cancels the call from any thread.
        :param extra_headers: headers for this request only.
        :param response_format: a ``JsonSchema`` or a dataclass type the answer must follow
            (read it with ``resp.parse(...)``).
        :param tool_choice: ``ToolChoice.auto()``, ``none()``, ``required()`` or ``tool(name)``.
        :param parallel_tool_calls: ``False`` asks for at most one tool call.
        :param timeout: a number: the deadline in seconds for the whole call, every attempt,
            backoff and rate-limit wait included (``ApiTimeout`` when it passes); a
            ``Timeouts``: replaces the client's limits for this call.
        :param retry_policy: replaces the client's retry policy for this call.
        :param extra_body: merged into the JSON request body after the library's own fields
            (top-level keys replace; nothing is validated).
        :param extra_query: added to the request URL's query string.
        :raises ApiError: the failure, once retries are spent (``UnsupportedFeature`` or
            ``ConfigurationError`` before sending for a choice the format cannot express).
        :raises TypeError, ConfigurationError: for a bad option, before anything is sent.
        """
        options = _Options(timeout, retry_policy, extra_body, extra_query)
        policy = replace(retry_policy or self.retry_policy, retry_after_output=True)
        structured = _structured(response_format, tool_choice, parallel_tool_calls)
        stream = self._stream(
            model,
            messages,
            system,
            tools,
            call_options,
            token,
            extra_headers,
            policy,
            structured=structured,
            streamed=False,
            options=options,
        )
        return stream.collect()

    def stream_complete(
        self,
        model: Union[ModelId, str],
        messages: Sequence[Message],
        system: Union[str, SystemContext, None] = None,
        tools: Optional[Sequence[ToolSchema]] = None,
        call_options: Optional[ModelParameters] = None,
        token: Optional[CancellationToken] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        retry_after_output: Optional[bool] = None,
        response_format: Any = None,
        tool_choice: Optional[ToolChoice] = None,
        parallel_tool_calls: Optional[bool] = None,
        timeout: Optional[Union[float, Timeouts]] = None,
        retry_policy: Optional[RetryPolicy] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_query: Optional[Mapping[str, str]] = None,
    ) -> CompletionStream:
        """Start a streamed completion.

        The request is sent and its status checked before this returns, so failures
        before any output raise here (after retries). Later failures arrive as an
        ``ErrorChunk``. A transport failure before any output is retried invisibly;
        after output it is passed on unless ``retry_after_output`` is true, in which
        case a ``Reset`` chunk precedes the restarted answer.

        :param retry_after_output: overrides the policy's ``retry_after_output``.
        :param response_format: see :meth:`complete`.
        :param tool_choice: see :meth:`complete`.
        :param parallel_tool_calls: see :meth:`complete`.
        :param timeout: a number: the deadline for the whole call (a ``deadline_exceeded``
            ``ErrorChunk`` when it passes while streaming, ``ApiTimeout`` before); a
            ``Timeouts``: the limits for this call. See :meth:`complete`.
        :param retry_policy: replaces the client's retry policy for this call.
        :param extra_body: merged into the JSON request body (top-level keys replace).
        :param extra_query: added to the request URL's query string.
        :returns: a ``CompletionStream``; close it (or use ``with``) to release the connection.
        :raises ApiError: if the request fails before the body streams.
        :raises TypeError, ConfigurationError: for a bad option, before anything is sent.

        Usage::

            with client.stream_complete("sonnet", [Message.user("Hi")]) as stream:
                for chunk in stream:
                    if isinstance(chunk, TextDelta):
                        print(chunk.text, end="", flush=True)
        """
        options = _Options(timeout, retry_policy, extra_body, extra_query)
        policy = retry_policy or self.retry_policy
        if retry_after_output is not None:
            policy = replace(policy, retry_after_output=retry_after_output)
        structured = _structured(response_format, tool_choice, parallel_tool_calls)
        return self._stream(
            model,
            messages,
            system,
            tools,
            call_options,
            token,
            extra_headers,
            policy,
            structured=structured,
            options=options,
        )

    def complete_with_retry(
        self,
        model: Union[ModelId, str],
        messages: Sequence[Message],
        system: Union[str, SystemContext, None] = None,
        tools: Optional[Sequence[ToolSchema]] = None,
        token: Optional[CancellationToken] = None,
        max_attempts: int = 3,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        response_format: Any = None,
        tool_choice: Optional[ToolChoice] = None,
        parallel_tool_calls: Optional[bool] = None,
        timeout: Optional[Union[float, Timeouts]] = None,
        retry_policy: Optional[RetryPolicy] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_query: Optional[Mapping[str, str]] = None,
    ) -> CompletionResponse:
        """Run a non-streamed completion, retrying up to ``max_attempts`` times.

        Uses the catalog's parameters for the model (no call options) and also
        retries ``NoChoices``. ``response_format``, ``tool_choice``, ``parallel_tool_calls``,
        ``timeout``, ``retry_policy`` (whose ``max_attempts`` gives way to this call's),
        ``extra_body`` and ``extra_query`` work as in :meth:`complete`.

        :raises ApiError: the last failure.
        :raises TypeError, ConfigurationError: for a bad option, before anything is sent.
        """
        token = token if token is not None else CancellationToken()
        options = _Options(timeout, retry_policy, extra_body, extra_query)
        model_id = self._resolve_model(model)
        structured = _structured(response_format, tool_choice, parallel_tool_calls)
        request = self._request(
            model_id, messages, system, tools, None, extra_headers, structured=structured, options=options
        )
        policy = replace(retry_policy or self.retry_policy, max_attempts=max(1, max_attempts))
        rec = self._recorder(model_id, streamed=False)
        # One budget for the whole call: the API-key fallback continues it (and still gets
        # one attempt when the plugin's credential spent it), as _stream's restarts do.
        budget = _Attempts()

        def attempt(provider: Provider) -> CompletionResponse:
            return self._with_retry(
                provider,
                token,
                policy,
                lambda: _complete_once(request, provider, token),
                True,
                request=request,
                budget=budget,
                rec=rec,
            )

        try:
            entry = self._lease_entry(model_id.provider)
            try:
                try:
                    response = attempt(entry.provider)
                except ApiError as error:
                    response, fallback = self._fall_back(model_id.provider, entry, error, attempt)
                    self._let_go(fallback.provider)
            finally:
                self._let_go(entry.provider)
        except BaseException as exc:
            if rec is not None:
                rec.raised(exc)
            raise
        if rec is not None:
            rec.returned(response)
        return response

    def with_options(
        self,
        *,
        timeout: Optional[Union[float, Timeouts]] = None,
        retry_policy: Optional[RetryPolicy] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> Client:
        """A client with other defaults that shares this one's providers and connection pools.

        Creating it opens no connection and loads no catalog: it uses this client's
        registries, credentials, rate limiter and provider cache (closing either closes the
        shared providers). Options not given keep this client's values; a call's own
        keywords still win over them.

        :param timeout: the default ``timeout`` of every call (see :meth:`complete`).
        :param retry_policy: the retry policy of every call.
        :param extra_headers: headers for every request, under a call's own ``extra_headers``.
        :returns: the new client.
        :raises TypeError, ConfigurationError: for a bad option.

        Usage::

            web = client.with_options(timeout=25, retry_policy=RetryPolicy(max_attempts=2))
        """
        check_call_options(None, timeout=timeout, retry_policy=retry_policy, extra_headers=extra_headers)
        if extra_headers:
            from steer_sync._providers._checks import check_headers

            check_headers(extra_headers, None)
        derived = object.__new__(Client)
        derived.__dict__.update(self.__dict__)  # the same cache dict and lock: shared providers
        if retry_policy is not None:
            derived.retry_policy = retry_policy
        if timeout is not None:
            derived._default_timeout = timeout
        if extra_headers:
            derived._default_headers = {**(self._default_headers or {}), **extra_headers}
        _LIVE_CLIENTS.add(derived)
        return derived

    # --- accessors ----------------------------------------------------------------------

    def resolve_model(self, model: Union[ModelId, str]) -> ModelId:
        """Turn ``"provider/id"``, an alias or a ``ModelId`` into a ``ModelId``.

        :raises ConfigurationError: for an unknown provider or alias (naming the known ones).
        """
        return self._resolve_model(model)

    def model_context_window_tokens(self, model: Union[ModelId, str]) -> Optional[int]:
        """The catalog's context window for ``model``, if it lists one."""
        config = self._model_registry.get(self._resolve_model(model))
        return config.context_window_tokens if config is not None else None

    def model_max_output_tokens(self, model: Union[ModelId, str]) -> Optional[int]:
        """The catalog's ``max_output_tokens`` for ``model``, if it lists one."""
        config = self._model_registry.get(self._resolve_model(model))
        if config is None or config.parameters is None:
            return None
        return config.parameters.max_output_tokens

    @property
    def provider_registry(self) -> ProviderRegistry:
        """The providers this client knows."""
        return self._provider_registry

    @property
    def model_registry(self) -> ModelRegistry:
        """The models and aliases this client knows."""
        return self._model_registry

    @property
    def config_provider(self) -> LlmConfigProvider:
        """Where credentials come from."""
        return self._config

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with an event value for every call of this client from now on.

        Events are ``AttemptFailed`` (an attempt failed; the call retries or gives up) and
        ``CallFinished`` (once per call, however it ended). A listener runs synchronously in
        the thread where the event happened (for a stream, the thread that reads or closes
        it), so it should be quick; one that raises is logged at WARNING and ignored.
        Thread-safe; a call already running keeps the listeners it started with.

        :param listener: a callable taking one event.
        :returns: a callable that removes this registration (idempotent).
        :raises TypeError: if ``listener`` is not callable.

        Usage::

            remove = client.add_listener(lambda event: print(event))
            ...
            remove()
        """
        if not callable(listener):
            raise TypeError(f"a listener must be callable (a function taking one event), got {listener!r}")
        with self._lock:
            self._listeners = (*self._listeners, listener)
        removed = False

        def remove() -> None:
            nonlocal removed
            with self._lock:
                if removed:
                    return
                removed = True
                listeners = list(self._listeners)
                for index, registered in enumerate(listeners):
                    if registered is listener:
                        del listeners[index]
                        break
                self._listeners = tuple(listeners)

        return remove

    def invalidate_provider(self, provider_id: Union[ProviderId, str]) -> None:
        """Drop the cached provider so the next call re-reads its credential."""
        with self._lock:
            entry = self._providers.pop(ProviderId(provider_id), None)
            if entry is not None:
                self._retired.add(entry.provider)

    def insert_test_provider(self, provider_id: Union[ProviderId, str], provider: Provider) -> None:
        """Install ``provider`` for ``provider_id`` (tests; no credential fallback)."""
        with self._lock:
            self._providers[ProviderId(provider_id)] = _Entry(provider, from_plugin=False)

    def close(self) -> None:
        """Release every cached provider's connections.

        Calls in flight finish, retries and stream restarts included: a provider still
        in use is closed when the last call using it ends. The client stays usable: a
        later call builds its provider again (like ``requests.Session``).
        """
        with self._lock:
            providers = [entry.provider for entry in self._providers.values()]
            providers.extend(self._retired)
            self._providers.clear()
            self._retired.clear()
            idle = []
            for provider in providers:
                if id(provider) in self._in_use:
                    self._closing.add(id(provider))
                else:
                    idle.append(provider)
        for provider in idle:
            provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._lock:
            cached = sorted(self._providers)
        return f"<steer_sync.Client providers={cached} retry_policy={self.retry_policy!r}>"

    # --- provider cache -----------------------------------------------------------------

    def _forget_providers(self) -> None:
        # After fork the inherited sessions share sockets with the parent: drop them
        # without closing (closing would shut the parent's connections down).
        self._lock = threading.RLock()
        self._providers = {}
        self._retired = weakref.WeakSet()
        self._in_use = {}
        self._closing = set()
        self._pid = os.getpid()

    def _get_entry(self, provider_id: ProviderId) -> _Entry:
        if self._pid != os.getpid():
            self._forget_providers()
        with self._lock:
            entry = self._providers.get(provider_id)
        if entry is not None:
            return entry
        config = self._provider_config(provider_id)
        # Resolving a credential may read a file or a keyring: never under the lock.
        try:
            resolved = self._config.resolve_auth_for_provider(provider_id)
        except AuthError as error:
            # A corrupt credential store or a login that must be redone: say so, with
            # the provider, rather than the Rust "Unexpected internal error".
            raise ApiAuthError(str(provider_id), f"could not read the credential for {provider_id}: {error}") from error
        with self._lock:
            entry = self._providers.get(provider_id)
            if entry is None:
                entry = self._build_entry(config, resolved)
                self._providers[provider_id] = entry
            return entry

    def _lease_entry(self, provider_id: ProviderId) -> _Entry:
        """The cached entry, marked in use until :meth:`_let_go`: ``close()`` spares it till then."""
        while True:
            entry = self._get_entry(provider_id)
            with self._lock:
                # Still cached means close() has not closed it; otherwise fetch again.
                if self._providers.get(provider_id) is entry:
                    self._hold(entry.provider)
                    return entry

    def _hold(self, provider: Provider) -> None:
        """Mark ``provider`` in use by one more call (released by :meth:`_let_go`)."""
        with self._lock:
            held = self._in_use.get(id(provider))
            if held is None:
                self._in_use[id(provider)] = [provider, 1]
            else:
                held[1] += 1

    def _let_go(self, provider: Provider) -> None:
        """End one call's use of ``provider``; the last call closes it if ``close()`` retired it."""
        with self._lock:
            held = self._in_use.get(id(provider))
            if held is None or held[0] is not provider:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del self._in_use[id(provider)]
            if id(provider) not in self._closing:
                return
            self._closing.discard(id(provider))
        provider.close()

    def _provider_config(self, provider_id: ProviderId) -> Any:
        config = self._provider_registry.get(provider_id)
        if config is None:
            known = ", ".join(sorted(str(c.id) for c in self._provider_registry.all()))
            raise ConfigurationError(
                str(provider_id),
                f"No provider configuration found for {provider_id!r}; known providers: {known}. "
                "Add it to a catalog file ([[providers]]) to use it.",
            )
        return config

    def _build_entry(self, config: Any, resolved: Any) -> _Entry:
        from steer_sync._factory import create_provider

        base_url = self._base_url(config)
        if resolved.directive is not None:
            provider = create_provider(
                config, api_key=None, directive=resolved.directive, base_url=base_url, **self._provider_options
            )
            return _Entry(provider, from_plugin=True)
        if resolved.api_key is None and not resolved.key_required:
            provider = create_provider(config, api_key=None, base_url=base_url, **self._provider_options)
            return _Entry(provider, from_plugin=False)
        if resolved.api_key is not None:
            self._warn_if_keys_disagree(config, resolved.api_key)
        if resolved.api_key is None:
            token = self._auth_token(config)
            if token is None:
                raise self._missing_key_error(config.id)
            # As the anthropic SDK does: a bearer token when no API key is set.
            options = {**self._provider_options, "auth_token": token}
            return _Entry(create_provider(config, api_key=None, base_url=base_url, **options), from_plugin=False)
        provider = create_provider(config, api_key=resolved.api_key, base_url=base_url, **self._provider_options)
        return _Entry(provider, from_plugin=False)

    def _base_url(self, config: Any) -> Optional[str]:
        from steer_sync._catalog import base_url_env_vars  # the catalog loads with the first provider

        for variable in base_url_env_vars(str(config.id), config):
            value = (self._config.env(variable) or "").strip()
            if value:
                return value
        base_url: Optional[str] = config.base_url
        return base_url

    def _warn_if_keys_disagree(self, config: Any, used: str) -> None:
        # As google-genai does for GOOGLE_API_KEY and GEMINI_API_KEY: say which one won.
        present = [(name, self._config.env(name)) for name in self._config.key_env_vars(config.id)]
        present = [(name, value) for name, value in present if value]
        if len(present) > 1 and present[0][1] == used and any(value != used for _, value in present[1:]):
            others = " and ".join(name for name, _ in present[1:])
            _log.warning("Both %s and %s are set. Using %s.", present[0][0], others, present[0][0])

    def _auth_token(self, config: Any) -> Optional[str]:
        from steer_sync._catalog import auth_token_env_vars

        for variable in auth_token_env_vars(str(config.id)):
            value = (self._config.env(variable) or "").strip()
            if value:
                return value
        return None

    def _missing_key_error(self, provider_id: ProviderId) -> ConfigurationError:
        variables = self._config.key_env_vars(provider_id)
        if variables:
            names = " or ".join(variables)
            how = f"set {names}"
        else:
            how = "store an API key for it"
        return ConfigurationError(
            str(provider_id),
            f"No API key for provider {str(provider_id)!r}: {how} (or store a key in the credential store).",
        )

    def _invalidate_if_same(self, provider_id: ProviderId, entry: _Entry) -> None:
        # Only evict the entry that failed: another thread may already have installed
        # a fresh one, which must survive.
        with self._lock:
            if self._providers.get(provider_id) is entry:
                del self._providers[provider_id]
                self._retired.add(entry.provider)

    def _fall_back(
        self,
        provider_id: ProviderId,
        entry: _Entry,
        error: ApiError,
        attempt: Callable[[Provider], T],
    ) -> Tuple[T, _Entry]:
        """Handle a failure that survived retries: evict, then maybe retry with an API key.

        :returns: the fallback's result and its entry, leased: the caller lets it go with
            :meth:`_let_go` once it no longer uses the provider (a stream: when it ends).
        """
        if not should_invalidate_provider(error):
            raise error
        self._invalidate_if_same(provider_id, entry)
        if not entry.from_plugin:
            raise error
        key = self._config.resolve_api_key_for_provider(provider_id)
        if key is None:
            raise error
        from steer_sync._factory import create_provider

        config = self._provider_config(provider_id)
        fallback = _Entry(
            create_provider(config, api_key=key[0], base_url=self._base_url(config), **self._provider_options),
            from_plugin=False,
        )
        _log.warning("auth plugin credential for %s was refused; falling back to the API key", provider_id)
        self._hold(fallback.provider)
        try:
            result = attempt(fallback.provider)
        except BaseException as exc:
            # Nobody else has seen this provider: release its pool now.
            self._let_go(fallback.provider)
            fallback.provider.close()
            if isinstance(exc, ApiError):
                raise exc from error
            raise
        with self._lock:
            current = self._providers.get(provider_id)
            if current is None or current is entry:
                self._providers[provider_id] = fallback
                return result, fallback
            # Another thread installed a fresh entry meanwhile: it stays cached, and ours
            # serves only this call, closed when the call lets it go.
            self._closing.add(id(fallback.provider))
        return result, fallback

    # --- calls --------------------------------------------------------------------------

    def _resolve_model(self, model: Union[ModelId, str]) -> ModelId:
        if isinstance(model, ModelId):
            return model
        if not isinstance(model, str):
            raise TypeError(
                f"model must be a ModelId or a str like 'anthropic/claude-sonnet-4-5', got {type(model).__name__}"
            )
        resolved: ModelId = self._model_registry.resolve(model)
        return resolved

    def _request(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Union[str, SystemContext, None],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        extra_headers: Optional[Mapping[str, str]],
        *,
        structured: Optional[StructuredOptions] = None,
        options: Optional[_Options] = None,
    ) -> CompletionRequest:
        check_call_arguments(messages, call_options, extra_headers)
        options = options if options is not None else _NO_OPTIONS
        if isinstance(messages, (Message, str)):
            raise TypeError("messages must be a list of Message, e.g. [Message.user('hi')]")
        message_tuple = tuple(messages)
        for message in message_tuple:
            if not isinstance(message, Message):
                raise TypeError(f"messages must contain Message objects, got {type(message).__name__}")
        if not message_tuple:
            raise ValueError("messages must not be empty")
        tool_tuple = tuple(tools) if tools else None
        for tool in tool_tuple or ():
            if not isinstance(tool, ToolSchema):
                raise TypeError(f"tools must contain ToolSchema objects, got {type(tool).__name__}")
        # Checked here too, so a third-party provider never sends (or retries) a header that cannot be sent;
        # imported here because a bare `import steer_sync` loads no provider package.
        from steer_sync._providers._checks import check_headers

        check_headers(extra_headers, str(model_id.provider))
        if self._default_headers:
            extra_headers = {**self._default_headers, **(extra_headers or {})}
        timeout = options.timeout if options.timeout is not None else self._default_timeout
        config = self._model_registry.get(model_id)
        params = config.effective_parameters(call_options) if config is not None else call_options
        if structured is not None and config is not None and config.structured_output is False:
            # The catalog says the model has no native structured output: force a tool instead.
            forced_tools, structured = structured.with_forced_tool(tool_tuple or (), str(model_id.provider))
            tool_tuple = tuple(forced_tools) or None
        # The deadline starts now: every attempt, backoff and rate-limit wait shares it.
        number = timeout is not None and not isinstance(timeout, Timeouts) and not isinstance(timeout, bool)
        return CompletionRequest(
            model_id,
            message_tuple,
            SystemContext.coerce(system),
            tool_tuple,
            params,
            extra_headers=dict(extra_headers) if extra_headers else None,
            timeout=timeout,
            retry_policy=options.retry_policy,
            extra_body=options.extra_body,
            extra_query=options.extra_query,
            deadline=time.monotonic() + float(timeout) if number else None,  # type: ignore[arg-type]
            **(structured.request_fields() if structured is not None else {}),
        )

    def _recorder(self, model_id: ModelId, streamed: bool) -> Optional[CallRecorder]:
        """The recorder of one call, or ``None`` when nobody listens (the usual, free case)."""
        listeners = self._listeners
        if not wants_recorder(listeners):
            return None
        config = self._model_registry.get(model_id)
        pricing = config.pricing if config is not None else None
        return CallRecorder(listeners, str(model_id.provider), model_id.id, streamed, pricing)

    def _with_retry(
        self,
        provider: Provider,
        token: CancellationToken,
        policy: RetryPolicy,
        call: Callable[[], T],
        include_no_choices: bool = False,
        *,
        request: Optional[CompletionRequest] = None,
        budget: Optional[_Attempts] = None,
        rec: Optional[CallRecorder] = None,
    ) -> T:
        """Run ``call`` with the policy's retries and cancellable backoff.

        With a rate limiter, every attempt first waits for its turn (see ``_limited``).
        ``budget`` counts the attempts of the whole call (shared with stream restarts).
        ``rec`` (when someone listens) counts the attempts and hears of each failure.
        """
        limiter = self.rate_limiter if request is not None else None
        if limiter is not None and request is not None:
            key = limiter.key_for(str(request.model.provider), str(request.model))
            call = _limited(limiter, key, _estimated_tokens(request), token, call, request.deadline)
        deadline = request.deadline if request is not None else None
        # The provider id (a catalog provider's own, not its format's class name).
        name = str(request.model.provider) if request is not None else provider.name
        attempts = budget if budget is not None else _Attempts()
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
                if deadline is not None and isinstance(error, ApiTimeout) and error.status_code is None:
                    raise  # the call's deadline passed, or the rate limiter has no turn before it (not a 408)
                if not policy.should_retry(error, attempts.made, include_no_choices=include_no_choices):
                    if rec is not None:
                        rec.attempt_failed(error, None)
                    raise
                delay = policy.delay(attempts.made - 1, error.retry_after)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    # Waiting would end past the deadline: give up now, saying why.
                    if rec is not None:
                        rec.attempt_failed(error, None)
                    raise _deadline_error(name, request) from error
                model = request.model.id if request is not None else "?"
                log_retry(name, model, attempts.made, policy.max_attempts, error, delay)
                if rec is not None:
                    rec.attempt_failed(error, delay)
                if token.wait(delay):
                    raise Cancelled(name) from error

    def _stream(
        self,
        model: Union[ModelId, str],
        messages: Sequence[Message],
        system: Union[str, SystemContext, None],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: Optional[CancellationToken],
        extra_headers: Optional[Mapping[str, str]],
        policy: RetryPolicy,
        *,
        structured: Optional[StructuredOptions] = None,
        streamed: bool = True,
        options: Optional[_Options] = None,
    ) -> CompletionStream:
        model_id = self._resolve_model(model)
        request = self._request(
            model_id, messages, system, tools, call_options, extra_headers, structured=structured, options=options
        )
        rec = self._recorder(model_id, streamed)
        # A private child token: closing the stream cancels it (waking a blocked read)
        # without cancelling the caller's token.
        stream_token = (token if token is not None else CancellationToken()).child_token()
        budget = _Attempts()
        entry: Optional[_Entry] = None
        try:
            entry = self._lease_entry(model_id.provider)
            if stream_token.is_cancelled():
                raise Cancelled(str(model_id.provider))

            def start(provider: Provider) -> CompletionStream:
                return self._with_retry(
                    provider,
                    stream_token,
                    policy,
                    lambda: _stream_once(request, provider, stream_token),
                    request=request,
                    budget=budget,
                    rec=rec,
                )

            try:
                first = start(entry.provider)
            except ApiError as error:
                refused, entry = entry, None
                try:
                    first, entry = self._fall_back(model_id.provider, refused, error, start)
                finally:
                    self._let_go(refused.provider)
        except BaseException as exc:
            stream_token.cancel()  # unregisters it from the caller's token
            if entry is not None:
                self._let_go(entry.provider)
            if rec is not None:
                rec.raised(exc)
            raise
        # The provider the stream actually uses (the fallback's after a refused plugin credential).
        used = entry.provider
        chunks = self._restarting(used, request, first, stream_token, policy, budget, rec)
        # The stream uses the provider until it is released; a stream dropped unread
        # lets go when its generator is collected.
        let_go = weakref.finalize(chunks, self._let_go, used)
        if rec is None:
            return CompletionStream(chunks, token=stream_token, provider=str(model_id.provider), on_close=let_go)
        recorder = rec

        def released() -> None:
            let_go()
            recorder.stream_ended()

        # Released streams report through on_close, which also covers a stream closed before
        # its first next(); watch() covers one dropped unclosed (its generator's finalizer).
        return CompletionStream(
            rec.watch(chunks), token=stream_token, on_close=released, provider=str(model_id.provider)
        )

    def _restarting(
        self,
        provider: Provider,
        request: CompletionRequest,
        first: CompletionStream,
        token: CancellationToken,
        policy: RetryPolicy,
        budget: Optional[_Attempts] = None,
        rec: Optional[CallRecorder] = None,
    ) -> Iterator[StreamChunk]:
        """Yield the chunks of ``first``, restarting the request after retryable failures.

        Restarts and their start retries spend ``budget``, the attempts the call has made.
        """
        stream: Optional[CompletionStream] = first
        name = str(request.model.provider)  # the provider id, not the format's class name
        if budget is None:
            budget = _Attempts()
            budget.made = 1
        try:
            while True:
                if stream is None:
                    if token.is_cancelled():
                        yield ErrorChunk(StreamCancelled())
                        return
                    try:
                        stream = self._with_retry(
                            provider,
                            token,
                            policy,
                            lambda: _stream_once(request, provider, token),
                            request=request,
                            budget=budget,
                            rec=rec,
                        )
                    except Cancelled:
                        yield ErrorChunk(StreamCancelled())
                        return
                    except ApiError as error:
                        if isinstance(error, ApiTimeout) and _past(request.deadline):
                            yield _deadline_chunk(name, error)
                            return
                        yield ErrorChunk(
                            ProviderStreamError(name, ProviderStreamErrorKind.STREAM_RETRY, "stream_retry", str(error))
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
                    yield _deadline_chunk(name, _deadline_error(name, request))
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
