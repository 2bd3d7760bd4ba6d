"""The Provider interface every wire format implements, and the request value it takes (layer L1)."""

from __future__ import annotations

import abc
import inspect
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import MessageComplete
from steer_sync._errors import ConfigurationError
from steer_sync._stream import CompletionStream
from steer_sync._types import CompletionResponse, Message, ModelId, ModelParameters, SystemContext, ToolSchema

if TYPE_CHECKING:  # only for annotations: importing them here would load requests
    from steer_sync._retry import RetryPolicy
    from steer_sync._transport import Timeouts

__all__ = [
    "CompletionRequest",
    "Provider",
    "call_complete",
    "call_stream_complete",
    "check_call_options",
    "coerce_request",
]


@dataclass(frozen=True)
class CompletionRequest:
    """Everything one completion call sends, as one immutable value.

    The client builds one per call and hands the same value to every attempt (with that
    attempt's token, see :meth:`with_token`); a :class:`Provider` turns it into its wire
    request. Fields after ``extra_headers`` are per-call options; a provider that does not
    support one yet ignores it (``None`` means "not set").

    Usage::

        request = CompletionRequest(ModelId("anthropic", "claude-sonnet-4-5"), [Message.user("hi")])
        response = provider.complete(request)
    """

    #: The model to call.
    model: ModelId
    #: The conversation, oldest first (stored as a tuple).
    messages: Tuple[Message, ...]
    #: The system prompt, or ``None``.
    system: Optional[SystemContext] = None
    #: The tools the model may call (stored as a tuple), or ``None``.
    tools: Optional[Tuple[ToolSchema, ...]] = None
    #: Sampling and thinking parameters, already merged with the model's catalog defaults.
    call_options: Optional[ModelParameters] = None
    #: The call's cancellation token (a fresh one when not given).
    token: CancellationToken = field(default_factory=CancellationToken, compare=False)
    #: Headers for this request only, applied after the provider's and the catalog's.
    #: Left out of ``repr``: an auth plugin's ``Authorization`` travels here.
    extra_headers: Optional[Mapping[str, str]] = field(default=None, repr=False)
    #: A deadline in seconds for the whole call, or a ``Timeouts`` for this call (per-call options).
    timeout: Optional[Union[float, Timeouts]] = None
    #: The retry policy for this call, replacing the client's.
    retry_policy: Optional[RetryPolicy] = None
    #: Merged into the JSON body after the library's own fields.
    extra_body: Optional[Mapping[str, Any]] = None
    #: Added to the request URL's query string. Left out of ``repr``: it may carry a key.
    extra_query: Optional[Mapping[str, str]] = field(default=None, repr=False)
    #: The shape the answer must take: a ``JsonSchema`` or a dataclass type (the client
    #: passes a ``JsonSchema``); sent in the format's native form.
    response_format: Optional[Any] = None
    #: Which tool the model must (or must not) call: a ``ToolChoice``.
    tool_choice: Optional[Any] = None
    #: Whether the model may call several tools in one turn (``False``: at most one).
    parallel_tool_calls: Optional[bool] = None
    #: The ``time.monotonic()`` value by which the whole call must end: set by the client
    #: from a number ``timeout`` when the call starts, so every attempt shares one deadline.
    #: ``None`` with a number ``timeout``: the deadline starts when the request is sent.
    deadline: Optional[float] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Tuples keep the value immutable whatever sequence the caller passed.
        object.__setattr__(self, "messages", tuple(self.messages))
        if self.tools is not None:
            object.__setattr__(self, "tools", tuple(self.tools))
        check_call_options(
            str(self.model.provider) if isinstance(self.model, ModelId) else None,
            timeout=self.timeout,
            retry_policy=self.retry_policy,
            extra_body=self.extra_body,
            extra_query=self.extra_query,
        )
        # Private copies: a caller changing its dict later cannot change what is sent.
        if self.extra_body is not None:
            object.__setattr__(self, "extra_body", dict(self.extra_body))
        if self.extra_query is not None:
            object.__setattr__(self, "extra_query", dict(self.extra_query))

    def with_token(self, token: CancellationToken) -> CompletionRequest:
        """The same request carrying ``token`` (each attempt or stream has its own).

        :param token: the token for this attempt.
        :returns: a new request.
        """
        return replace(self, token=token)

    @classmethod
    def from_arguments(
        cls,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext] = None,
        tools: Optional[Sequence[ToolSchema]] = None,
        call_options: Optional[ModelParameters] = None,
        token: Optional[CancellationToken] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionRequest:
        """Build a request from the positional arguments of the old ``Provider`` signature.

        :returns: the request.
        """
        return cls(
            model_id,
            tuple(messages),
            system,
            tuple(tools) if tools is not None else None,
            call_options,
            token if token is not None else CancellationToken(),
            extra_headers,
        )


def check_call_options(
    provider: Optional[str],
    *,
    timeout: Any = None,
    retry_policy: Any = None,
    extra_body: Any = None,
    extra_query: Any = None,
    extra_headers: Any = None,
) -> None:
    """Check the per-call options of a call before anything is sent.

    :param provider: the provider id, for the message.
    :raises ConfigurationError: for a negative, NaN or infinite ``timeout``.
    :raises TypeError: for an option of the wrong type (a ``bool`` timeout, an ``extra_body``
        that is not a mapping, an ``extra_query`` key or value that is not a string, a
        ``retry_policy`` that is not a ``RetryPolicy``).
    """
    if (
        timeout is None
        and retry_policy is None
        and extra_body is None
        and extra_query is None
        and extra_headers is None
    ):
        return  # every attempt's request passes here: keep the common case free
    from steer_sync._timeouts import Timeouts

    if timeout is not None and not isinstance(timeout, Timeouts):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(
                f"timeout must be a number of seconds, a Timeouts or None, got {type(timeout).__name__}; "
                "e.g. timeout=30 or timeout=Timeouts(read=30)"
            )
        if not math.isfinite(timeout) or timeout < 0:
            raise ConfigurationError(
                provider, f"timeout must be a finite number of seconds >= 0, got {timeout!r}; e.g. timeout=30"
            )
    if retry_policy is not None:
        from steer_sync._retry import RetryPolicy

        if not isinstance(retry_policy, RetryPolicy):
            raise TypeError(
                f"retry_policy must be a RetryPolicy, got {type(retry_policy).__name__}; "
                "e.g. retry_policy=RetryPolicy(max_attempts=1)"
            )
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise TypeError(
            f"extra_body must be a mapping of top-level JSON fields, got {type(extra_body).__name__}; "
            'e.g. extra_body={"metadata": {"user_id": "u1"}}'
        )
    if extra_body is not None:
        for key in extra_body:
            if not isinstance(key, str):
                raise TypeError(f"extra_body keys must be strings, got {key!r}")
    for name, value in (("extra_query", extra_query), ("extra_headers", extra_headers)):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a mapping of strings to strings, got {type(value).__name__}")
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise TypeError(
                    f"{name} keys and values must be strings, got {key!r}: {item!r}; convert them with str()"
                )


def coerce_request(request: Any, legacy: Tuple[Any, ...], keywords: Mapping[str, Any]) -> CompletionRequest:
    """Accept both call shapes of :meth:`Provider.complete`: a request, or the old arguments.

    :param request: a :class:`CompletionRequest`, or the model id of an old-style call.
    :param legacy: the remaining positional arguments of an old-style call.
    :param keywords: its keywords (``extra_headers``).
    :returns: the request.
    :raises TypeError: for a request given together with old-style arguments.
    """
    if isinstance(request, CompletionRequest):
        if legacy or keywords:
            raise TypeError("pass either a CompletionRequest or the model id, messages, ... arguments, not both")
        return request
    return CompletionRequest.from_arguments(request, *legacy, **keywords)


class Provider(abc.ABC):
    """One provider API: builds requests, sends them, and reads the answers.

    Providers only translate. The :class:`~steer_sync.Client` owns retries, caching,
    credential fallback and cancellation wiring. Implementations must be thread-safe:
    one instance serves every thread of a process.

    ``complete`` and ``stream_complete`` take one :class:`CompletionRequest`. A provider
    written against the older signature ``complete(model_id, messages, system, tools,
    call_options, token, *, extra_headers=None)`` keeps working: the client sees the
    signature and calls it the old way (see :func:`call_complete`).

    ``stream_complete`` sends the request and checks the HTTP status before it
    returns (raising ``ApiError``); only failures while reading the body arrive as
    ``ErrorChunk``.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The implementation's name: ``"anthropic"``, ``"openai"``, ``"google"`` or ``"xai"``."""

    @abc.abstractmethod
    def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Run one completion and return the whole response.

        :param request: what to send.
        :raises ApiError: on any failure.
        """

    def stream_complete(self, request: CompletionRequest) -> CompletionStream:
        """Start a streamed completion.

        The default runs :meth:`complete` first (so its errors raise here) and returns
        a one-chunk stream.

        :param request: what to send.
        :raises ApiError: when the request fails before the body streams.
        """
        response = call_complete(self, request)
        return CompletionStream.single(MessageComplete(response), provider=self.name)

    @property
    def requires_streaming(self) -> bool:
        """Whether only the streaming endpoint works with this provider's credentials."""
        return False

    def close(self) -> None:
        """Release the provider's connections. Calls in flight may still finish.

        Providers without connections (test stubs) need not override this.
        """
        return None


_LEGACY: Dict[Any, Tuple[bool, bool]] = {}


def _legacy_shape(method: Callable[..., Any]) -> Tuple[bool, bool]:
    """``(is_old_signature, accepts_extra_headers)`` for a bound ``complete``/``stream_complete``."""
    function = getattr(method, "__func__", method)
    known = _LEGACY.get(function)
    if known is not None:
        return known
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):  # a builtin or an odd callable: call it the new way
        parameters = []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    star = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    # The old shape takes six positional arguments; a bare *args also predates the request value.
    legacy = len(required) >= 2 or (not positional and star)
    accepts = any(p.name == "extra_headers" or p.kind is p.VAR_KEYWORD for p in parameters)
    shape = (legacy, accepts)
    _LEGACY[function] = shape
    return shape


def _call(method: Callable[..., Any], request: CompletionRequest) -> Any:
    legacy, accepts = _legacy_shape(method)
    if not legacy:
        return method(request)
    arguments = (request.model, request.messages, request.system, request.tools, request.call_options, request.token)
    return method(*arguments, **({"extra_headers": request.extra_headers} if accepts else {}))


def call_complete(provider: Provider, request: CompletionRequest) -> CompletionResponse:
    """Call ``provider.complete`` with ``request``, the old way for an old-style provider.

    :param provider: any provider, written against either signature.
    :param request: what to send.
    :returns: the provider's response.
    """
    response: CompletionResponse = _call(provider.complete, request)
    return response


def call_stream_complete(provider: Provider, request: CompletionRequest) -> CompletionStream:
    """Call ``provider.stream_complete`` with ``request``, the old way for an old-style provider.

    :param provider: any provider, written against either signature.
    :param request: what to send.
    :returns: the provider's stream.
    """
    stream: CompletionStream = _call(provider.stream_complete, request)
    return stream
