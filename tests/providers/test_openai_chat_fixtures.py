"""Replay recorded OpenAI Chat Completions traffic (shared wire fixtures) through the real provider.

Each ``openai_chat/*.http`` recording is served verbatim over loopback, whole and split at
random byte offsets, and what :class:`OpenAIChatProvider` yields is checked against what the
recording says.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from _outside import recordings_dir

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import (
    ErrorChunk,
    MessageComplete,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import ApiError, AuthenticationFailed, InvalidRequest, ProviderStreamError, RateLimited
from steer_sync._providers.openai_chat._openai import OpenAIChatProvider
from steer_sync._types import CompletionResponse, Message, ModelId, TextContent, TokenUsage, ToolCall
from steer_sync.testing import LoopbackServer, Reply

pytestmark = pytest.mark.conformance  # reads the recordings (tests/conftest.py)
FIXTURES = recordings_dir() / "openai_chat"
MODEL = ModelId("openai", "gpt-4o")
SPLITS: List[Optional[int]] = [None, 1, 2, 3]


def load(name: str) -> Reply:
    return Reply.from_recording(FIXTURES / f"{name}.http")


def reply(name: str, seed: Optional[int]) -> Reply:
    if seed is None:
        return load(name)
    return Reply.from_recording(FIXTURES / f"{name}.http", split="random", seed=seed)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[OpenAIChatProvider]:
    made = OpenAIChatProvider(api_key="sk-test", base_url=server.url)
    yield made
    made.close()


def stream_fixture(
    provider: OpenAIChatProvider, server: LoopbackServer, name: str, seed: Optional[int]
) -> List[StreamChunk]:
    server.queue(reply(name, seed))
    with provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken()) as chunks:
        return list(chunks)


def recorded_chunks(name: str) -> List[Dict[str, Any]]:
    body = load(name).body
    out = []
    for line in body.decode("utf-8").splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[len("data: ") :]))
    return out


def recorded_text(name: str, field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in recorded_chunks(name) if c.get("choices"))


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    return chunks[-1].response


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_text_include_usage(provider: OpenAIChatProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    chunks = stream_fixture(provider, server, "stream_text_include_usage", seed)
    expected = recorded_text("stream_text_include_usage")
    assert expected.startswith("I'm unable to provide real-time weather")
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == expected
    assert len([c for c in chunks if isinstance(c, TextDelta)]) == 30  # the empty opener delta is not emitted
    response = final(chunks)
    assert response.content == (TextContent(expected),)
    assert response.usage == TokenUsage(14, 30, 44)
    assert response.stop_reason == "stop"


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_parallel_tool_calls(provider: OpenAIChatProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    chunks = stream_fixture(provider, server, "stream_parallel_tool_calls", seed)
    first, second = "call_JMW1whyEaYG438VE1OIflxA2", "call_DNYTawLBoN8fj3KN6qU9N1Ou"
    assert [c for c in chunks if isinstance(c, ToolUseStart)] == [
        ToolUseStart(first, "GetWeatherArgs"),
        ToolUseStart(second, "get_stock_price"),
    ]
    weather = "".join(c.delta for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == first)
    stock = "".join(c.delta for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == second)
    assert weather == '{"city": "Edinburgh", "country": "GB", "units": "c"}'
    assert stock == '{"ticker": "AAPL", "exchange": "NASDAQ"}'
    response = final(chunks)
    assert response.extract_tool_calls() == [
        ToolCall(first, "GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"}),
        ToolCall(second, "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}),
    ]
    assert response.extract_text() == ""
    assert response.usage == TokenUsage(149, 60, 209)
    assert response.stop_reason == "tool_calls"


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_refusal(provider: OpenAIChatProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    chunks = stream_fixture(provider, server, "stream_refusal", seed)
    expected = recorded_text("stream_refusal", "refusal")
    assert expected == "I'm sorry, I can't assist with that request."
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == expected
    response = final(chunks)
    assert response.content == (TextContent(expected),)
    assert response.usage == TokenUsage(79, 11, 90)


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_sse_comments_then_inline_error(
    provider: OpenAIChatProvider, server: LoopbackServer, seed: Optional[int]
) -> None:
    chunks = stream_fixture(provider, server, "stream_sse_comments_then_inline_error", seed)
    # OpenRouter's "reasoning" deltas stream as thinking; the error object inside the 4th chunk ends it.
    assert chunks[:-1] == [ThinkingDelta("We need"), ThinkingDelta(" to respond to a greeting. The user")]
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, ProviderStreamError)
    assert last.error.message == "Token limit reached"
    assert last.error.raw_error_type == "400"
    assert not last.error.kind.is_retryable()
    assert last.error.provider == "openai"


@pytest.mark.parametrize("seed", SPLITS)
def test_complete_text(provider: OpenAIChatProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    server.queue(reply("complete_text", seed))
    response = provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    body = load("complete_text").body
    recorded = json.loads(body)
    assert response.content == (TextContent(recorded["choices"][0]["message"]["content"]),)
    assert response.usage == TokenUsage(109, 118, 227)
    assert response.stop_reason == "stop"


ERRORS: Dict[str, Tuple[type, int, str]] = {
    "error_401_invalid_api_key": (AuthenticationFailed, 401, "Incorrect API key provided: bad-key-**********test."),
    "error_404_model_not_found": (
        InvalidRequest,
        404,
        "The model `gpt-5.2-proo` does not exist or you do not have access to it.",
    ),
    "error_429_tokens_request_too_large": (RateLimited, 429, "Request too large for gpt-4o in organization"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_http_errors(provider: OpenAIChatProvider, server: LoopbackServer, name: str, streaming: bool) -> None:
    cls, status, message = ERRORS[name]
    server.queue(reply(name, None))
    call: Callable[[], Any]
    if streaming:
        call = lambda: provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())  # noqa: E731
    else:
        call = lambda: provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())  # noqa: E731
    with pytest.raises(cls) as caught:
        call()
    error = caught.value
    assert isinstance(error, ApiError)
    assert error.status_code == status
    assert error.provider == "openai"
    assert str(error.details).startswith(message)
    # The error code is kept, the raw JSON body is not.
    assert "{" not in str(error.details)


def test_every_recording_is_replayed() -> None:
    covered = set(ERRORS) | {
        "stream_text_include_usage",
        "stream_parallel_tool_calls",
        "stream_refusal",
        "stream_sse_comments_then_inline_error",
        "complete_text",
    }
    assert {p.stem for p in FIXTURES.glob("*.http")} == covered
