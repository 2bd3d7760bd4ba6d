"""Real recorded Anthropic traffic, replayed over loopback through AnthropicProvider.

Every ``shared/wire-fixtures/anthropic/*.http`` recording is served byte for byte (whole, and
re-cut at random byte offsets), and what the provider yields is checked against what the
recording itself says: the text, thinking, tool calls, usage and stop reason are re-derived
from the recorded events by a deliberately naive reader in this file.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from _outside import recordings_dir

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, StreamChunk, TextDelta, ThinkingDelta, ToolUseInputDelta
from steer_sync._errors import (
    ApiError,
    AuthenticationFailed,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    ServerError,
)
from steer_sync._providers.anthropic._provider import AnthropicProvider
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    RedactedThought,
    SignedThought,
    TextContent,
    TokenUsage,
    ToolCallContent,
)
from steer_sync.testing import LoopbackServer, Reply, ToolCallSpec, Turn

pytestmark = pytest.mark.conformance  # reads the recordings (tests/conftest.py)
FIXTURES = recordings_dir() / "anthropic"
MODEL = ModelId("anthropic", "claude-sonnet-4-5")
SEEDS = (1, 2, 3, 4)


def _cases(prefix: str) -> List[str]:
    return sorted(p.stem for p in FIXTURES.glob(f"{prefix}*.http"))


def load(case: str) -> Reply:
    return Reply.from_recording(FIXTURES / f"{case}.http")


def reply(case: str, split: Optional[int]) -> Reply:
    if split is None:
        return load(case)
    return Reply.from_recording(FIXTURES / f"{case}.http", split="random", seed=split)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def provider_for(server: LoopbackServer) -> AnthropicProvider:
    return AnthropicProvider(api_key="sk-ant-test", base_url=server.url)


def recorded_events(body: bytes) -> List[Dict[str, Any]]:
    """A naive reader of the recorded stream: the JSON of every ``data:`` line."""
    events = []
    for line in body.decode("utf-8").split("\n"):
        if line.startswith("data:"):
            events.append(json.loads(line[len("data:") :]))
    return events


def expected_from_recording(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What the recorded events say the message was."""
    text: Dict[int, str] = {}
    thinking: Dict[int, str] = {}
    signature: Dict[int, str] = {}
    tools: Dict[int, Tuple[str, str, str]] = {}
    redacted: Dict[int, str] = {}
    order: List[int] = []
    usage: Dict[str, int] = {}
    stop_reason = None
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            usage.update(event["message"]["usage"])
        elif kind == "content_block_start":
            block = event["content_block"]
            index = event["index"]
            if block["type"] == "text":
                text[index] = block["text"]
            elif block["type"] == "thinking":
                thinking[index] = block["thinking"]
            elif block["type"] == "tool_use":
                tools[index] = (block["id"], block["name"], "")
            elif block["type"] == "redacted_thinking":
                redacted[index] = block["data"]
        elif kind == "content_block_delta":
            index, delta = event["index"], event["delta"]
            if delta["type"] == "text_delta":
                text[index] += delta["text"]
            elif delta["type"] == "thinking_delta":
                thinking[index] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                signature[index] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                tool_id, name, args = tools[index]
                tools[index] = (tool_id, name, args + delta["partial_json"])
        elif kind == "content_block_stop":
            order.append(event["index"])
        elif kind == "message_delta":
            stop_reason = event["delta"]["stop_reason"]
            usage.update({k: v for k, v in event.get("usage", {}).items() if isinstance(v, int)})
    content: List[Any] = []
    for index in order:
        if index in text:
            content.append(TextContent(text[index]))
        elif index in thinking:
            content.append(SignedThought(thinking[index], signature[index]))
        elif index in redacted:
            content.append(RedactedThought(redacted[index]))
        elif index in tools:
            tool_id, name, args = tools[index]
            content.append(("tool", tool_id, name, json.loads(args)))
    prompt = (
        usage.get("input_tokens", 0)
        + usage.get("cache_read_input_tokens", 0)
        + usage.get("cache_creation_input_tokens", 0)
    )
    return {
        "content": content,
        "usage": TokenUsage(
            prompt,
            usage["output_tokens"],
            prompt + usage["output_tokens"],
            cache_read_input_tokens=usage.get("cache_read_input_tokens", 0),
            cache_creation_input_tokens=usage.get("cache_creation_input_tokens", 0),
        ),
        "stop_reason": stop_reason,
        "text": "".join(t for i, t in sorted(text.items())),
        "thinking": "".join(t for i, t in sorted(thinking.items())),
        "tool_input": {tools[i][0]: tools[i][2] for i in tools},
    }


def comparable(response: CompletionResponse) -> List[Any]:
    out: List[Any] = []
    for block in response.content:
        if isinstance(block, ToolCallContent):
            call = block.tool_call
            out.append(("tool", call.id, call.name, call.parameters))
        else:
            out.append(block)
    return out


def stream_chunks(server: LoopbackServer) -> List[StreamChunk]:
    provider = provider_for(server)
    try:
        with provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken()) as stream:
            return list(stream)
    finally:
        provider.close()


def test_the_fixture_folder_has_every_kind_of_recording() -> None:
    assert _cases("stream_") and _cases("complete_") and _cases("error_")


@pytest.mark.parametrize("split", [None, *SEEDS])
@pytest.mark.parametrize("case", [c for c in _cases("stream_") if c != "stream_error_overloaded"])
def test_recorded_streams_replay_to_what_they_recorded(server: LoopbackServer, case: str, split: Optional[int]) -> None:
    server.queue(reply(case, split))
    chunks = stream_chunks(server)
    expected = expected_from_recording(recorded_events(load(case).body))

    assert isinstance(chunks[-1], MessageComplete), chunks[-1]
    assert not any(isinstance(c, ErrorChunk) for c in chunks)
    response = chunks[-1].response
    assert comparable(response) == expected["content"]
    assert response.usage == expected["usage"]
    assert response.stop_reason == expected["stop_reason"]
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == expected["text"]
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == expected["thinking"]
    streamed_input: Dict[str, str] = {}
    for chunk in chunks:
        if isinstance(chunk, ToolUseInputDelta):
            streamed_input[chunk.id] = streamed_input.get(chunk.id, "") + chunk.delta
    assert streamed_input == {k: v for k, v in expected["tool_input"].items()}


def test_recorded_stream_spot_checks(server: LoopbackServer) -> None:
    server.queue(reply("stream_tool_use", None), reply("stream_redacted_thinking", 7), reply("stream_text", 9))
    tool_use = chunks_response(server)
    assert tool_use.extract_text() == "I'll check the current weather in Paris for you."
    assert [(c.id, c.name, c.parameters) for c in tool_use.extract_tool_calls()] == [
        ("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})
    ]
    # message_delta carries only output_tokens: input comes from message_start (A2).
    assert tool_use.usage == TokenUsage(377, 65, 442)
    assert tool_use.stop_reason == "tool_use"

    redacted = chunks_response(server)
    assert [type(b) for b in redacted.content] == [RedactedThought, RedactedThought, TextContent]
    assert redacted.usage == TokenUsage(92, 189, 281)

    text = chunks_response(server)
    assert text.stop_reason == "max_tokens"
    assert text.usage == TokenUsage(27, 15, 42)


def chunks_response(server: LoopbackServer) -> CompletionResponse:
    chunks = stream_chunks(server)
    assert isinstance(chunks[-1], MessageComplete)
    return chunks[-1].response


@pytest.mark.parametrize("split", [None, *SEEDS])
def test_recorded_in_stream_overload_is_a_retryable_provider_error(
    server: LoopbackServer, split: Optional[int]
) -> None:
    server.queue(reply("stream_error_overloaded", split))
    chunks = stream_chunks(server)
    assert chunks == [
        ErrorChunk(
            ProviderStreamError("anthropic", ProviderStreamErrorKind.OVERLOADED, "overloaded_error", "Overloaded")
        )
    ]
    assert chunks[0].error.kind.is_retryable()  # type: ignore[attr-defined]


@pytest.mark.parametrize("split", [None, *SEEDS])
@pytest.mark.parametrize("case", _cases("complete_"))
def test_recorded_messages_parse_to_what_they_recorded(server: LoopbackServer, case: str, split: Optional[int]) -> None:
    server.queue(reply(case, split))
    provider = provider_for(server)
    try:
        response = provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    finally:
        provider.close()
    recorded = json.loads(load(case).body)
    assert response.extract_text() == "".join(b["text"] for b in recorded["content"] if b["type"] == "text")
    usage = recorded["usage"]
    assert response.usage == TokenUsage(
        usage["input_tokens"], usage["output_tokens"], usage["input_tokens"] + usage["output_tokens"]
    )
    assert response.stop_reason == recorded["stop_reason"]
    assert "stream" not in server.requests[-1].json


ERRORS = {
    "error_400_invalid_request": (
        InvalidRequest,
        400,
        "invalid_request_error: messages.0: Input does not match the expected shape.",
    ),
    "error_400_invalid_request_with_request_id": (
        InvalidRequest,
        400,
        "invalid_request_error: This model does not support effort level 'xhigh'. Supported levels: high, low, "
        "max, medium. (request id: req_011Ca7jT9AHpgXgdv8igm4z9)",
    ),
    "error_401_authentication": (AuthenticationFailed, 401, "authentication_error: invalid x-api-key"),
    "error_404_not_found": (
        InvalidRequest,
        404,
        "not_found_error: model: claude-sonet-4-5 (request id: req_011CdufXo8Y2LVfY2veyuQWG)",
    ),
    "error_429_rate_limit": (RateLimited, 429, "rate_limit_error: This request would exceed"),
    "error_529_overloaded": (ServerError, 529, "overloaded_error: Overloaded"),
}


def test_every_recorded_error_has_an_expectation() -> None:
    assert sorted(ERRORS) == _cases("error_")


@pytest.mark.parametrize("split", [None, 5])
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_recorded_errors_raise_the_matching_api_error(
    server: LoopbackServer, case: str, streaming: bool, split: Optional[int]
) -> None:
    error_class, status, details = ERRORS[case]
    server.queue(reply(case, split))
    provider = provider_for(server)
    call = provider.stream_complete if streaming else provider.complete
    try:
        with pytest.raises(ApiError) as info:
            call(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    finally:
        provider.close()
    error = info.value
    assert type(error) is error_class
    assert error.provider == "anthropic"
    assert error.status_code == status
    assert (error.details or "").startswith(details)
    headers = load(case).headers
    hint = dict((k.lower(), v) for k, v in headers).get("x-should-retry")
    if hint is not None:
        assert error.should_retry is (hint == "true")


# --- the loopback server's Anthropic rendering has the recorded shapes ---------------------


def sse_pairs(body: bytes) -> List[Tuple[Optional[str], Dict[str, Any]]]:
    pairs = []
    for block in body.decode("utf-8").split("\n\n"):
        event, data = None, None
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data = json.loads(line[len("data:") :])
        if data is not None:
            pairs.append((event, data))
    return pairs


def shape(pairs: List[Tuple[Optional[str], Dict[str, Any]]]) -> List[Tuple[Optional[str], Optional[str]]]:
    """Event names with the delta / block type, consecutive repeats collapsed."""
    names: List[Tuple[Optional[str], Optional[str]]] = []
    for event, data in pairs:
        detail = (
            (data.get("delta") or data.get("content_block") or {}).get("type") if event != "message_delta" else None
        )
        item = (event, detail)
        if not names or names[-1] != item:
            names.append(item)
    return names


def rendered(turn: Turn) -> bytes:
    with LoopbackServer() as running:
        running.queue(turn)
        response = requests.post(f"{running.url}/v1/messages", json={"model": "m", "stream": True}, timeout=10)
        return response.content


@pytest.mark.parametrize(
    ("case", "turn_kwargs"),
    [
        ("stream_tool_use", {"text": "I'll check.", "tool_calls": "weather"}),
        ("stream_thinking", {"thinking": "Hmm, let me see.", "thinking_signature": "EvMC", "text": "Look both ways."}),
    ],
)
def test_rendered_streams_have_the_recorded_event_shape(case: str, turn_kwargs: Dict[str, Any]) -> None:
    if turn_kwargs.get("tool_calls") == "weather":
        turn_kwargs = dict(
            turn_kwargs, tool_calls=[ToolCallSpec("toolu_1", "get_weather", {"location": "Paris"}, chunks=4)]
        )
    ours = sse_pairs(rendered(Turn(**turn_kwargs)))
    real = sse_pairs(load(case).body)
    # Our empty leading input_json_delta collapses into the recorded one.
    assert shape(ours) == shape(real)
    for (_, mine), (_, recorded) in zip(ours, real):
        if mine["type"] == recorded["type"]:
            assert set(recorded) <= set(mine) | {"caller"}
    starts = [d["content_block"] for _, d in ours if d["type"] == "content_block_start"]
    real_starts = [d["content_block"] for _, d in real if d["type"] == "content_block_start"]
    assert [set(s) for s in starts] == [set(s) - {"caller"} for s in real_starts]
