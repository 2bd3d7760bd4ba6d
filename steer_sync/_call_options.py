"""A call's own keywords: per-call options, deadlines, and the checked request (layer L3).

The client checks every argument of a call here and builds the one ``CompletionRequest``
all its attempts send; the helpers for the call's deadline live here too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from steer_sync._chunks import ErrorChunk
from steer_sync._errors import ApiError, ApiTimeout, ProviderStreamError, ProviderStreamErrorKind
from steer_sync._provider import CompletionRequest, check_call_options
from steer_sync._retry import RetryPolicy
from steer_sync._stream import DEADLINE_EXCEEDED
from steer_sync._timeouts import Timeouts
from steer_sync._types import Message, ModelId, ModelParameters, SystemContext, ToolSchema
from steer_sync._validate import check_call_arguments

if TYPE_CHECKING:
    from steer_sync._catalog import ModelRegistry
    from steer_sync._types._structured import StructuredOptions, ToolChoice

__all__ = [
    "NO_OPTIONS",
    "PerCallOptions",
    "build_request",
    "deadline_chunk",
    "deadline_error",
    "is_call_deadline",
    "is_past",
    "mark_call_deadline",
    "structured_options",
]


@dataclass(frozen=True)
class PerCallOptions:
    """A call's own per-call keywords, checked before anything is sent."""

    timeout: Optional[Union[float, Timeouts]] = None
    retry_policy: Optional[RetryPolicy] = None
    #: Left out of ``repr`` (like ``CompletionRequest``'s): a gateway may take a key here.
    extra_body: Optional[Mapping[str, Any]] = field(default=None, repr=False)
    #: Left out of ``repr``: a gateway may take a key in the query.
    extra_query: Optional[Mapping[str, str]] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_call_options(
            None,
            timeout=self.timeout,
            retry_policy=self.retry_policy,
            extra_body=self.extra_body,
            extra_query=self.extra_query,
        )


NO_OPTIONS = PerCallOptions()


def is_past(deadline: Optional[float]) -> bool:
    """Whether the ``time.monotonic()`` ``deadline`` (``None``: no deadline) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def deadline_error(provider: str, request: Optional[CompletionRequest]) -> ApiTimeout:
    """The ``ApiTimeout`` of a call whose deadline passes before its next attempt could start."""
    timeout = request.timeout if request is not None else None
    budget = f"{timeout:g} s " if isinstance(timeout, (int, float)) else ""
    return mark_call_deadline(
        ApiTimeout(provider, f"the call's {budget}deadline passes before the next attempt could start")
    )


#: The transport ends a read this much before the deadline it was bound to (its ``EPSILON``).
_TRANSPORT_EARLY = 0.001


def mark_call_deadline(error: ApiTimeout) -> ApiTimeout:
    """Mark ``error`` as ending the whole call (its deadline), not one attempt; returns it."""
    error._call_deadline = True  # type: ignore[attr-defined]
    return error


def is_call_deadline(error: ApiError, deadline: Optional[float]) -> bool:
    """Whether ``error`` means the call's ``deadline`` is spent, so no attempt may follow.

    True for an error marked by :func:`mark_call_deadline`, or a status-less ``ApiTimeout``
    once the deadline has really passed; a single attempt's own limit (``Timeouts.total``,
    ``read``) before then is an ordinary, retryable timeout, and a 408 never counts.
    """
    if deadline is None or not isinstance(error, ApiTimeout) or error.status_code is not None:
        return False
    if getattr(error, "_call_deadline", False):
        return True
    return time.monotonic() >= deadline - _TRANSPORT_EARLY


def deadline_chunk(provider: str, error: ApiError) -> ErrorChunk:
    """The ``deadline_exceeded`` ``ErrorChunk`` that ends a stream whose deadline passed."""
    kind = ProviderStreamErrorKind.from_provider_error_type(DEADLINE_EXCEEDED)
    return ErrorChunk(ProviderStreamError(provider, kind, DEADLINE_EXCEEDED, error.details or str(error)))


def structured_options(
    response_format: Any, tool_choice: Optional[ToolChoice], parallel_tool_calls: Optional[bool]
) -> Optional[StructuredOptions]:
    """Check a call's structured-output and tool-choice arguments; ``None`` when none is set."""
    if response_format is None and tool_choice is None and parallel_tool_calls is None:
        return None
    # Imported on first use, so that `import steer_sync` does not load the schema machinery.
    from steer_sync._types._structured import StructuredOptions

    options = StructuredOptions.build(response_format, tool_choice, parallel_tool_calls)
    return None if options.is_empty() else options


def build_request(
    model_registry: ModelRegistry,
    default_headers: Optional[Mapping[str, str]],
    default_timeout: Optional[Union[float, Timeouts]],
    model_id: ModelId,
    messages: Sequence[Message],
    system: Union[str, SystemContext, None],
    tools: Optional[Sequence[ToolSchema]],
    call_options: Optional[ModelParameters],
    extra_headers: Optional[Mapping[str, str]],
    *,
    structured: Optional[StructuredOptions] = None,
    options: Optional[PerCallOptions] = None,
) -> CompletionRequest:
    """Check a call's arguments and build its request, merged over the client's defaults.

    Everything is checked before anything is sent; a number ``timeout`` starts the call's
    deadline now.
    """
    check_call_arguments(messages, call_options, extra_headers)
    options = options if options is not None else NO_OPTIONS
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
    if default_headers:
        extra_headers = {**default_headers, **(extra_headers or {})}
    timeout = options.timeout if options.timeout is not None else default_timeout
    config = model_registry.get(model_id)
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
