"""Every API format end to end: Client.from_env, base URLs from the environment, the real wire.

These are the issues' "done when" checks, and the client-level retry behaviour over each
provider's real in-stream error events.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

from steer_sync import (
    CancellationToken,
    Client,
    ErrorChunk,
    Message,
    MessageComplete,
    ProviderStreamError,
    RateLimited,
    Reset,
    RetryPolicy,
    StreamCancelled,
    StreamChunk,
    TextDelta,
    ToolSchema,
)
from steer_sync.testing import ErrorReply, LoopbackServer, ToolCallSpec, Turn

MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai_responses": "openai/gpt-5.4",
    "openai_chat": "gateway/llama-3.1-8b",
    "gemini": "google/gemini-3-pro-preview",
    "xai": "xai/grok-4-1-fast-reasoning",
}
#: A retryable in-stream error for each format (Gemini's UNAVAILABLE arrives as an HTTP 503 body).
OVERLOADED = {
    "anthropic": ErrorReply(529, "Overloaded", error_type="overloaded_error"),
    "openai_responses": ErrorReply(500, "The server had an error", error_type="server_error", code="server_error"),
    "openai_chat": ErrorReply(503, "Service unavailable", error_type="server_error", code="server_error"),
    "gemini": ErrorReply(503, "The model is overloaded", error_type="UNAVAILABLE"),
    "xai": ErrorReply(503, "Service unavailable", error_type="server_error", code="server_error"),
}
WEATHER = ToolSchema(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoopbackServer]:
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as loopback:
        for name, value in loopback.environ.items():
            monkeypatch.setenv(name, value)
        yield loopback


@pytest.fixture
def client(server: LoopbackServer, tmp_path: Path) -> Iterator[Client]:
    """Client.from_env with one extra catalog: an OpenAI-compatible gateway with a base URL."""
    catalog = tmp_path / "gateway.toml"
    catalog.write_text(
        '[[providers]]\nid = "gateway"\nname = "Gateway"\napi_format = "openai-chat"\n'
        f'auth_schemes = ["api-key"]\nbase_url = "{server.url}/api/v1?tenant=t1"\n'
    )
    os.environ["GATEWAY_API_KEY"] = "gw-key"
    try:
        with Client.from_env([str(catalog)], retry_policy=RetryPolicy(base_delay=0.001)) as built:
            yield built
    finally:
        del os.environ["GATEWAY_API_KEY"]


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_complete_and_stream_end_to_end(wire: str, server: LoopbackServer, client: Client) -> None:
    server.queue(Turn(text="Hello there!", usage=(9, 4)), Turn(text="Streamed hello.", usage=(9, 3)))
    response = client.complete(MODELS[wire], [Message.user("hi")])
    assert response.extract_text() == "Hello there!"
    assert response.usage is not None and response.usage.input_tokens == 9
    with client.stream_complete(MODELS[wire], [Message.user("hi")]) as stream:
        chunks = list(stream)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Streamed hello."
    assert isinstance(chunks[-1], MessageComplete)
    assert chunks[-1].response.extract_text() == "Streamed hello."
    if wire == "openai_chat":
        first = server.requests[0]
        assert first.path == "/api/v1/chat/completions" and first.query == {"tenant": "t1"}
        assert first.headers["authorization"] == "Bearer gw-key"


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_a_tool_round_trip_end_to_end(wire: str, server: LoopbackServer, client: Client) -> None:
    server.queue(
        Turn(tool_calls=[ToolCallSpec("call_7", "get_weather", {"city": "Paris"}, chunks=3)], stop_reason="tool_use"),
        Turn(text="22C in Paris."),
    )
    messages = [Message.user("Weather in Paris?")]
    first = client.complete(MODELS[wire], messages, tools=[WEATHER])
    (call,) = first.extract_tool_calls()
    assert call.name == "get_weather" and call.parameters == {"city": "Paris"}
    messages += [Message.assistant(first.content), Message.tool_result(call.id, "22C")]
    assert client.complete(MODELS[wire], messages, tools=[WEATHER]).extract_text() == "22C in Paris."
    second = server.requests[-1].body.decode()
    assert "22C" in second and "get_weather" in second


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_an_in_stream_error_before_output_is_retried_transparently(
    wire: str, server: LoopbackServer, client: Client
) -> None:
    server.queue(Turn(text="never seen", error_after=0, error=OVERLOADED[wire]), Turn(text="Recovered."))
    with client.stream_complete(MODELS[wire], [Message.user("hi")]) as stream:
        chunks = list(stream)
    assert not any(isinstance(c, (Reset, ErrorChunk)) for c in chunks)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Recovered."
    assert len(server.requests) == 2


def _error_after_text(wire: str) -> Turn:
    # Enough events that the first text delta is out before the error event.
    return Turn(text="Partial answer that breaks", error_after=6, error=OVERLOADED[wire])


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_an_in_stream_error_after_output_is_an_error_chunk_by_default(
    wire: str, server: LoopbackServer, client: Client
) -> None:
    server.queue(_error_after_text(wire), Turn(text="unused"))
    with client.stream_complete(MODELS[wire], [Message.user("hi")]) as stream:
        chunks = list(stream)
    assert any(isinstance(c, TextDelta) for c in chunks)
    assert isinstance(chunks[-1], ErrorChunk) and isinstance(chunks[-1].error, ProviderStreamError)
    assert chunks[-1].error.kind.is_retryable()
    assert len(server.requests) == 1


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_retry_after_output_emits_reset_then_the_full_text(wire: str, server: LoopbackServer, client: Client) -> None:
    server.queue(_error_after_text(wire), Turn(text="The full answer."))
    with client.stream_complete(MODELS[wire], [Message.user("hi")], retry_after_output=True) as stream:
        chunks = list(stream)
    reset = next(i for i, c in enumerate(chunks) if isinstance(c, Reset))
    after = "".join(c.text for c in chunks[reset:] if isinstance(c, TextDelta))
    assert after == "The full answer." and isinstance(chunks[-1], MessageComplete)
    assert client.complete(MODELS["anthropic"], [Message.user("hi")]).extract_text()


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_a_rate_limit_waits_for_retry_after_then_succeeds(wire: str, server: LoopbackServer, client: Client) -> None:
    server.queue(ErrorReply(429, "slow down", retry_after=0.01), Turn(text="ok"))
    assert client.complete(MODELS[wire], [Message.user("hi")]).extract_text() == "ok"
    assert len(server.requests) == 2


def test_a_rate_limit_longer_than_the_policy_allows_is_raised(server: LoopbackServer, client: Client) -> None:
    server.queue(ErrorReply(429, "slow down", retry_after=600))
    with pytest.raises(RateLimited) as info:
        client.complete(MODELS["anthropic"], [Message.user("hi")])
    assert info.value.retry_after == 600 and len(server.requests) == 1


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_cancel_while_blocked_is_prompt_and_not_retried(wire: str, server: LoopbackServer, client: Client) -> None:
    server.queue(Turn(text="A long answer that stalls part way", stall_after=5))
    token = CancellationToken()
    stream = client.stream_complete(MODELS[wire], [Message.user("hi")], token=token)
    server.wait_for_stalls(1)
    seen: List[StreamChunk] = []
    reader = threading.Thread(target=lambda: seen.extend(stream))
    reader.start()
    token.cancel()
    reader.join(10)
    assert not reader.is_alive()
    assert seen[-1] == ErrorChunk(StreamCancelled())
    assert len(server.requests) == 1


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_cancel_between_events_stops_even_with_the_rest_buffered(
    wire: str, server: LoopbackServer, client: Client
) -> None:
    # Ports the Rust converters' cancellation tests: here the transport, not each
    # converter, stops a cancelled stream before its next event, buffered or not.
    words = " ".join(f"word{i}" for i in range(400))
    server.queue(Turn(text=words))
    token = CancellationToken()
    with client.stream_complete(MODELS[wire], [Message.user("hi")], token=token) as stream:
        first = next(chunk for chunk in stream if isinstance(chunk, TextDelta))
        token.cancel()
        rest = list(stream)
    assert first.text and first.text in words
    assert rest == [ErrorChunk(StreamCancelled())]
    assert len(server.requests) == 1
