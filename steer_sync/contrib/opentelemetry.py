"""OpenTelemetry spans and metrics for a client, by the GenAI semantic conventions (layer L4).

Needs the extra ``steer-sync[opentelemetry]`` (``opentelemetry-api`` only; the application
brings the SDK and exporters). Built on the client's listeners: each :class:`CallFinished`
becomes one CLIENT span ``chat {model}`` timed from the call's start to its end, and two
histogram records (``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``).
Failed attempts that were retried do not get spans of their own: the call's span covers
them, and its ``error.type`` tells a call that finally failed.

The span is recorded when the call ends (with explicit start and end times), so it is the
child of the span that is current where the call ended: for a non-streamed call and a
stream read in the thread that started it, the caller's span.

Usage::

    from steer_sync.contrib.opentelemetry import instrument

    client = Client.from_env()
    uninstrument = instrument(client)  # the global tracer and meter providers
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional, Union

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import steer_sync
from steer_sync import CallFinished, Client

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS", "instrument", "provider_name"]

#: ``gen_ai.client.operation.duration`` bucket boundaries the conventions recommend (seconds).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: ``gen_ai.client.token.usage`` bucket boundaries the conventions recommend (tokens).
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
#: Our provider ids whose ``gen_ai.provider.name`` is a different well-known value.
_PROVIDER_NAMES = {"google": "gcp.gemini", "xai": "x_ai"}

_Attributes = Dict[str, Union[str, int, List[str]]]


def provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` of one of our provider ids.

    ``anthropic`` and ``openai`` are the conventions' own names; ``google`` (Gemini's API)
    is ``gcp.gemini`` and ``xai`` is ``x_ai``; any other id (a catalog's gateway) is used as is.
    """
    return _PROVIDER_NAMES.get(provider, provider)


def _error_type(error: BaseException) -> str:
    cls = type(error)
    # The public name (steer_sync.RateLimited), not the private module it is defined in.
    if cls.__module__.startswith("steer_sync.") and getattr(steer_sync, cls.__name__, None) is cls:
        return f"steer_sync.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def instrument(
    client: Client,
    tracer_provider: Optional[trace.TracerProvider] = None,
    meter_provider: Optional[metrics.MeterProvider] = None,
) -> Callable[[], None]:
    """Record a span and metrics for every call ``client`` makes from now on.

    Span ``chat {model}`` (kind CLIENT) with ``gen_ai.operation.name``,
    ``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
    ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens``
    and ``gen_ai.usage.output_tokens`` (each when known); a failed call also gets
    ``error.type`` and status ERROR. Histograms ``gen_ai.client.operation.duration`` (s) and
    ``gen_ai.client.token.usage`` (``{token}``, one record per ``gen_ai.token.type`` input
    and output), with the conventions' bucket boundaries as advice.

    Thread-safe, like the client's listeners.

    :param client: the client to watch.
    :param tracer_provider: where spans go (default: the global one).
    :param meter_provider: where metrics go (default: the global one).
    :returns: a callable that stops recording (idempotent).
    """
    tracer = trace.get_tracer("steer_sync", steer_sync.__version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter("steer_sync", steer_sync.__version__, meter_provider=meter_provider)
    durations = meter.create_histogram(
        "gen_ai.client.operation.duration",
        unit="s",
        description="GenAI operation duration",
        explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
    )
    tokens = meter.create_histogram(
        "gen_ai.client.token.usage",
        unit="{token}",
        description="Number of input and output tokens used",
        explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
    )

    def on_event(event: object) -> None:
        if not isinstance(event, CallFinished):
            return
        end = time.time_ns()
        start = end - int(event.duration * 1e9)
        common: _Attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider_name(event.provider),
            "gen_ai.request.model": event.model,
        }
        if event.response_model:
            common["gen_ai.response.model"] = event.response_model
        measured: _Attributes = dict(common)
        if event.error is not None:
            measured["error.type"] = _error_type(event.error)
        span_attributes: _Attributes = dict(measured)
        if event.response_id:
            span_attributes["gen_ai.response.id"] = event.response_id
        if event.stop_reason:
            span_attributes["gen_ai.response.finish_reasons"] = [event.stop_reason]
        usage = event.usage
        if usage is not None:
            span_attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            span_attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        span = tracer.start_span(
            f"chat {event.model}", kind=SpanKind.CLIENT, start_time=start, attributes=span_attributes
        )
        if event.error is not None:
            span.set_status(Status(StatusCode.ERROR, str(event.error)))
        span.end(end_time=end)
        durations.record(event.duration, measured)
        if usage is not None:
            tokens.record(usage.input_tokens, {**common, "gen_ai.token.type": "input"})
            tokens.record(usage.output_tokens, {**common, "gen_ai.token.type": "output"})

    return client.add_listener(on_event)
