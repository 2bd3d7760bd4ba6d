"""The Client: the front of layer L3, wiring a call's options, provider cache and attempts.

Layer L3 is the only place that retries, caches providers, falls back from a plugin's
credential to an API key, and decides that a failure was a cancel rather than a
transport error; providers below it only translate. Its concerns live in their own
modules: ``_call_options`` (per-call keywords, deadlines, the checked request),
``_provider_cache`` (entries, leases, retirement, the credential fallback, fork reset),
``_attempts`` (retries, stream restarts, the attempt budget, the rate limiter) and
``_listeners``; this module keeps the public ``Client``.
"""

from __future__ import annotations

import enum
import os
from dataclasses import replace
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Mapping,
    Optional,
    Sequence,
    Type,
    Union,
)

from steer_sync._attempts import complete_retrying, open_stream
from steer_sync._call_options import PerCallOptions, build_request, structured_options
from steer_sync._cancellation import CancellationToken
from steer_sync._errors import ConfigurationError
from steer_sync._events import Listener
from steer_sync._listeners import ListenerRegistry, ListenerSet
from steer_sync._observe import CallRecorder, configure_logging_from_env, wants_recorder
from steer_sync._provider import check_call_options
from steer_sync._provider_cache import CacheState, ProviderCache
from steer_sync._retry import RetryPolicy
from steer_sync._stream import CompletionStream
from steer_sync._timeouts import Timeouts
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    SystemContext,
    ToolSchema,
)

if TYPE_CHECKING:
    from steer_sync._auth import AuthPlugin, AuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._ratelimit import RateLimiter
    from steer_sync._types._structured import StructuredOptions, ToolChoice

__all__ = ["Client"]

#: The policy a Client uses unless it is given one.
DEFAULT_RETRY_POLICY = RetryPolicy()


class _Unset(enum.Enum):
    """A keyword that was not given (``None`` is a value: "no limit")."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


class Client(ProviderCache, ListenerRegistry):
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
        :param provider_options: extra keyword arguments for every provider class (for
            example ``{"max_response_body": 256 * 2**20}``); for time limits prefer
            :meth:`with_options` (``timeout=``).
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
        # One holder shared with every with_options() client, emptied once per fork.
        self._cache = CacheState()
        # Copy-on-write: add_listener swaps in a new tuple, so a call reads it without a lock.
        # One holder shared with every with_options() client.
        self._listener_set = ListenerSet()
        for listener in listeners:
            self.add_listener(listener)
        configure_logging_from_env()
        #: Per-call defaults set by :meth:`with_options`.
        self._default_timeout: Optional[Union[float, Timeouts]] = None
        self._default_headers: Optional[Mapping[str, str]] = None

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
        options = PerCallOptions(timeout, retry_policy, extra_body, extra_query)
        policy = replace(retry_policy or self.retry_policy, retry_after_output=True)
        structured = structured_options(response_format, tool_choice, parallel_tool_calls)
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
        options = PerCallOptions(timeout, retry_policy, extra_body, extra_query)
        policy = retry_policy or self.retry_policy
        if retry_after_output is not None:
            policy = replace(policy, retry_after_output=retry_after_output)
        structured = structured_options(response_format, tool_choice, parallel_tool_calls)
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
        options = PerCallOptions(timeout, retry_policy, extra_body, extra_query)
        model_id = self._resolve_model(model)
        structured = structured_options(response_format, tool_choice, parallel_tool_calls)
        request = build_request(
            self._model_registry,
            self._default_headers,
            self._default_timeout,
            model_id,
            messages,
            system,
            tools,
            None,
            extra_headers,
            structured=structured,
            options=options,
        )
        policy = replace(retry_policy or self.retry_policy, max_attempts=max(1, max_attempts))
        rec = self._recorder(model_id, streamed=False)
        return complete_retrying(self, self.rate_limiter, request, token, policy, rec)

    def with_options(
        self,
        *,
        timeout: Union[float, Timeouts, _Unset, None] = _Unset.UNSET,
        retry_policy: Optional[RetryPolicy] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> Client:
        """A client with other defaults that shares this one's providers and connection pools.

        Creating it opens no connection and loads no catalog: it uses this client's
        registries, credentials, rate limiter and provider cache (closing either closes the
        shared providers), and its listeners: a listener added to (or removed from) either
        client, before or after this call, hears the calls of both (so
        ``contrib.opentelemetry.instrument(client)`` also covers derived clients). Options
        not given keep this client's values; a call's own keywords still win over them.

        :param timeout: the default ``timeout`` of every call (see :meth:`complete`).
            Not given: this client's default is kept. ``None``: no default deadline or
            limits, clearing an inherited one (as httpx tells "not given" from ``None``).
        :param retry_policy: the retry policy of every call.
        :param extra_headers: headers for every request, under a call's own ``extra_headers``.
        :returns: the new client.
        :raises TypeError, ConfigurationError: for a bad option.

        Usage::

            web = client.with_options(timeout=25, retry_policy=RetryPolicy(max_attempts=2))
        """
        default_timeout = self._default_timeout if isinstance(timeout, _Unset) else timeout
        check_call_options(None, timeout=default_timeout, retry_policy=retry_policy, extra_headers=extra_headers)
        if extra_headers:
            from steer_sync._providers._checks import check_headers

            check_headers(extra_headers, None)
        derived = object.__new__(Client)
        derived.__dict__.update(self.__dict__)  # the same cache holder: shared providers
        if retry_policy is not None:
            derived.retry_policy = retry_policy
        derived._default_timeout = default_timeout
        if extra_headers:
            derived._default_headers = {**(self._default_headers or {}), **extra_headers}
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

    def _recorder(self, model_id: ModelId, streamed: bool) -> Optional[CallRecorder]:
        """The recorder of one call, or ``None`` when nobody listens (the usual, free case)."""
        listeners = self._listeners
        if not wants_recorder(listeners):
            return None
        config = self._model_registry.get(model_id)
        pricing = config.pricing if config is not None else None
        return CallRecorder(listeners, str(model_id.provider), model_id.id, streamed, pricing)

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
        options: Optional[PerCallOptions] = None,
    ) -> CompletionStream:
        model_id = self._resolve_model(model)
        request = build_request(
            self._model_registry,
            self._default_headers,
            self._default_timeout,
            model_id,
            messages,
            system,
            tools,
            call_options,
            extra_headers,
            structured=structured,
            options=options,
        )
        rec = self._recorder(model_id, streamed)
        return open_stream(self, self.rate_limiter, request, token, policy, rec)
