"""steer_sync.contrib.opentelemetry: GenAI spans and metrics from the client's events, over the loopback."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from _needs import need_module

need_module("opentelemetry.sdk", "pip install 'steer-sync[test]' (opentelemetry-sdk)")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from steer_sync import Client, Message, RateLimited, RetryPolicy  # noqa: E402
from steer_sync.contrib.opentelemetry import DURATION_BUCKETS, TOKEN_BUCKETS, instrument, provider_name  # noqa: E402
from steer_sync.testing import ErrorReply, LoopbackServer, Turn  # noqa: E402

HI = [Message.user("hi")]


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def points(self) -> Dict[str, List[Any]]:
        data = self.reader.get_metrics_data()
        found: Dict[str, List[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    assert metric.unit in ("s", "{token}")
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    built = Telemetry()
    yield built
    built.tracer_provider.shutdown()
    built.meter_provider.shutdown()


@pytest.fixture
def client_and_server(telemetry: Telemetry) -> Iterator[Tuple[Client, LoopbackServer]]:
    with LoopbackServer() as server, server.client(retry_policy=RetryPolicy(max_attempts=1)) as client:
        remove = instrument(client, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
        yield client, server
        remove()
        assert not server.errors


def test_a_successful_call_is_one_client_span_with_genai_attributes(
    client_and_server: Tuple[Client, LoopbackServer], telemetry: Telemetry
) -> None:
    client, server = client_and_server
    server.queue(Turn(text="Hello", usage=(12, 7)))
    client.complete("anthropic/claude-sonnet-4-5", HI)
    (span,) = telemetry.spans.get_finished_spans()
    assert span.name == "chat claude-sonnet-4-5" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes.pop("gen_ai.response.model", "claude-sonnet-4-5") == "claude-sonnet-4-5"
    attributes.pop("gen_ai.response.id", None)  # present once responses carry their id
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
    }
    assert span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time

    points = telemetry.points()
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.count == 1 and tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert duration.attributes["gen_ai.provider.name"] == "anthropic" and "error.type" not in duration.attributes
    usage = {point.attributes["gen_ai.token.type"]: point for point in points["gen_ai.client.token.usage"]}
    assert usage["input"].sum == 12 and usage["output"].sum == 7
    assert tuple(usage["input"].explicit_bounds) == TOKEN_BUCKETS
    assert usage["input"].attributes["gen_ai.request.model"] == "claude-sonnet-4-5"


def test_a_failed_call_is_an_error_span_with_error_type(
    client_and_server: Tuple[Client, LoopbackServer], telemetry: Telemetry
) -> None:
    client, server = client_and_server
    server.queue(ErrorReply(429, "slow down"))
    with pytest.raises(RateLimited):
        client.complete("google/gemini-3-pro-preview", HI)
    (span,) = telemetry.spans.get_finished_spans()
    assert span.name == "chat gemini-3-pro-preview"
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "steer_sync.RateLimited"
    assert attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert "gen_ai.usage.input_tokens" not in attributes
    points = telemetry.points()
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "steer_sync.RateLimited"
    assert "gen_ai.client.token.usage" not in points


def test_a_stream_is_one_span_when_it_ends(
    client_and_server: Tuple[Client, LoopbackServer], telemetry: Telemetry
) -> None:
    client, server = client_and_server
    server.queue(Turn(text="one two three", usage=(3, 4)))
    with client.stream_complete("xai/grok-4-1-fast-reasoning", HI) as stream:
        for _ in stream:
            assert telemetry.spans.get_finished_spans() == ()
    (span,) = telemetry.spans.get_finished_spans()
    assert span.attributes is not None and span.attributes["gen_ai.provider.name"] == "x_ai"
    assert span.attributes["gen_ai.usage.output_tokens"] == 4


def test_the_remover_stops_recording(client_and_server: Tuple[Client, LoopbackServer], telemetry: Telemetry) -> None:
    client, server = client_and_server
    uninstrument = instrument(client, tracer_provider=telemetry.tracer_provider)
    server.queue(Turn(text="a"), Turn(text="b"))
    client.complete("openai/gpt-5.4", HI)
    assert len(telemetry.spans.get_finished_spans()) == 2  # two instrumentations
    uninstrument()
    uninstrument()
    client.complete("openai/gpt-5.4", HI)
    assert len(telemetry.spans.get_finished_spans()) == 3


def test_provider_names_follow_the_conventions() -> None:
    assert [provider_name(p) for p in ("anthropic", "openai", "google", "xai", "my-gateway")] == [
        "anthropic",
        "openai",
        "gcp.gemini",
        "x_ai",
        "my-gateway",
    ]


def test_importing_steer_sync_does_not_import_opentelemetry() -> None:
    code = "import sys, steer_sync; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
