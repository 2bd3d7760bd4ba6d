"""Replay recorded xAI traffic (shared wire fixtures) through the real provider.

Each ``xai/*.http`` recording is served verbatim over loopback, whole and split at random
byte offsets, and what :class:`XaiProvider` yields is checked against what the recording says.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional

import pytest
from _outside import recordings_dir

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import MessageComplete, StreamChunk, TextDelta, ThinkingDelta, ToolUseInputDelta, ToolUseStart
from steer_sync._errors import AuthenticationFailed
from steer_sync._providers.openai_chat._xai import XaiProvider
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    SimpleThought,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
)
from steer_sync.testing import LoopbackServer, Reply

pytestmark = pytest.mark.conformance  # reads the recordings (tests/conftest.py)
FIXTURES = recordings_dir() / "xai"
MODEL = ModelId("xai", "grok-3-mini")
SPLITS: List[Optional[int]] = [None, 1, 2, 3]


def load(name: str) -> Reply:
    return Reply.from_recording(FIXTURES / f"{name}.http")


def reply(name: str, seed: Optional[int]) -> Reply:
    if seed is None:
        return load(name)
    return Reply.from_recording(FIXTURES / f"{name}.http", split="random", seed=seed)


def recorded_chunks(name: str) -> List[Dict[str, Any]]:
    body = load(name).body
    return [
        json.loads(line[len("data: ") :])
        for line in body.decode("utf-8").splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def recorded_text(name: str, field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in recorded_chunks(name) if c["choices"])


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[XaiProvider]:
    made = XaiProvider(api_key="xai-test", base_url=server.url)
    yield made
    made.close()


def stream_fixture(provider: XaiProvider, server: LoopbackServer, name: str, seed: Optional[int]) -> List[StreamChunk]:
    server.queue(reply(name, seed))
    with provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken()) as chunks:
        return list(chunks)


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    return chunks[-1].response


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_reasoning_content(provider: XaiProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    chunks = stream_fixture(provider, server, "stream_reasoning_content", seed)
    thinking = recorded_text("stream_reasoning_content", "reasoning_content")
    assert thinking == "First, the user said"
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == thinking
    assert [c for c in chunks if isinstance(c, TextDelta)] == [TextDelta("Hello")]
    response = final(chunks)
    assert response.content == (SimpleThought(thinking), TextContent("Hello"))
    # completion_tokens 1 excludes the 290 reasoning tokens (total 303 = 12 + 1 + 290).
    assert response.usage == TokenUsage(12, 291, 303, cache_read_input_tokens=11, reasoning_tokens=290)
    assert response.stop_reason == "stop"


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_reasoning_then_tool_call(provider: XaiProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    chunks = stream_fixture(provider, server, "stream_reasoning_then_tool_call", seed)
    assert chunks[-3:-1] == [
        ToolUseStart("call_55117580", "weather"),
        ToolUseInputDelta("call_55117580", '{"location":"San Francisco"}'),
    ]
    response = final(chunks)
    assert response.content == (
        SimpleThought("First, the user is"),
        ToolCallContent(ToolCall("call_55117580", "weather", {"location": "San Francisco"})),
    )
    assert response.usage == TokenUsage(291, 222, 513, cache_read_input_tokens=290, reasoning_tokens=196)
    assert response.stop_reason == "tool_calls"


@pytest.mark.parametrize("seed", SPLITS)
def test_stream_text_usage_every_chunk(provider: XaiProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    chunks = stream_fixture(provider, server, "stream_text_usage_every_chunk", seed)
    expected = recorded_text("stream_text_usage_every_chunk", "content")
    deltas = [c for c in chunks if isinstance(c, TextDelta)]
    assert len(deltas) == len(recorded_chunks("stream_text_usage_every_chunk")) == 200
    assert "".join(d.text for d in deltas) == expected
    response = final(chunks)
    assert response.content == (TextContent(expected),)
    # grok-beta repeats a cumulative usage in every chunk: the last one, never the sum.
    assert response.usage == TokenUsage(38, 200, 238)
    assert response.stop_reason == "length"


@pytest.mark.parametrize("seed", SPLITS)
def test_complete_text(provider: XaiProvider, server: LoopbackServer, seed: Optional[int]) -> None:
    server.queue(reply("complete_text", seed))
    response = provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    body = load("complete_text").body
    recorded = json.loads(body)
    assert response.content == (TextContent(recorded["choices"][0]["message"]["content"]),)
    assert response.usage == TokenUsage(38, 200, 238)
    assert response.stop_reason == "length"


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_error_400_incorrect_api_key(provider: XaiProvider, server: LoopbackServer, streaming: bool) -> None:
    server.queue(reply("error_400_incorrect_api_key", None))
    with pytest.raises(AuthenticationFailed) as caught:
        if streaming:
            provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
        else:
            provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    error = caught.value
    assert error.status_code == 400
    assert error.provider == "xai"
    # The percent-encoded message is decoded; the gRPC status text is kept as the code.
    assert error.details == (
        "Incorrect API key provided: ba***na. You can obtain an API key from https://console.x.ai. "
        "(Client specified an invalid argument)"
    )


def test_every_recording_is_replayed() -> None:
    covered = {
        "complete_text",
        "error_400_incorrect_api_key",
        "stream_reasoning_content",
        "stream_reasoning_then_tool_call",
        "stream_text_usage_every_chunk",
    }
    assert {p.stem for p in FIXTURES.glob("*.http")} == covered
