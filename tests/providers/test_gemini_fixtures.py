"""Real recorded Gemini traffic replayed over loopback, whole and split at random byte offsets.

The recordings live in ``shared/wire-fixtures/gemini`` beside the checkout (read at run time,
never copied). Each case checks what the provider yields against what the recording says: the
text and thoughts are rebuilt from the recorded events themselves, the rest is spelled out.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

import pytest
from _outside import recordings_dir

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import MessageComplete, StreamChunk, TextDelta, ThinkingDelta, ToolUseInputDelta, ToolUseStart
from steer_sync._errors import ApiError, AuthenticationFailed, InvalidRequest, RateLimited, RequestBlocked
from steer_sync._providers.gemini._provider import GeminiProvider
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    SignedThought,
    SimpleThought,
    TextContent,
    TokenUsage,
    ToolCallContent,
)
from steer_sync.testing import LoopbackServer, Reply

pytestmark = pytest.mark.conformance  # reads the recordings (tests/conftest.py)
FIXTURES = recordings_dir() / "gemini"
MODEL = ModelId("google", "gemini-2.5-flash")
SPLITS: List[Any] = [None, ("random", 1), ("random", 2), ("random", 3), ("random", 4)]


def load(case: str) -> Reply:
    return Reply.from_recording(FIXTURES / f"{case}.http")


def recorded_events(body: bytes) -> List[Dict[str, Any]]:
    """The JSON objects of a recorded ``alt=sse`` body (an independent, minimal reading)."""
    events = []
    for block in body.split(b"\r\n\r\n"):
        if block.startswith(b"data: "):
            events.append(json.loads(block[len(b"data: ") :].decode("utf-8")))
    return events


def recorded_text(events: List[Dict[str, Any]], *, thought: bool) -> str:
    return "".join(
        part.get("text", "")
        for event in events
        for part in event["candidates"][0]["content"]["parts"]
        if bool(part.get("thought")) is thought and "functionCall" not in part
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[GeminiProvider]:
    instance = GeminiProvider(api_key="AIza-fixture-key", base_url=f"{server.url}/v1beta")
    try:
        yield instance
    finally:
        instance.close()


def serve(server: LoopbackServer, case: str, split: Any) -> None:
    if split is None:
        server.queue(load(case))
    else:
        server.queue(Reply.from_recording(FIXTURES / f"{case}.http", split="random", seed=split[1]))


def complete(provider: GeminiProvider) -> CompletionResponse:
    return provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())


def stream(provider: GeminiProvider) -> List[StreamChunk]:
    with provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken()) as chunks:
        return list(chunks)


def final(chunks: List[StreamChunk]) -> CompletionResponse:
    last = chunks[-1]
    assert isinstance(last, MessageComplete), last
    return last.response


# --- generateContent ---------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_complete_text(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "complete_text", split)
    response = complete(provider)
    assert response.content == (TextContent("Hello! How can I help you today?"),)
    assert response.usage == TokenUsage(9, 43, 52, reasoning_tokens=34)
    assert response.stop_reason == "STOP"


@pytest.mark.parametrize("split", SPLITS)
def test_complete_code_execution_parts(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "complete_code_execution_parts", split)
    response = complete(provider)
    parts = json.loads(load("complete_code_execution_parts").body)["candidates"][0]["content"]["parts"]
    code, result = parts[1]["executableCode"], parts[2]["codeExecutionResult"]
    assert response.content == (
        TextContent(parts[0]["text"]),
        TextContent(f"```python\n{code['code']}\n```"),
        TextContent(f"```output\n{result['output']}\n```"),
        TextContent(parts[3]["text"]),
    )
    assert "5117" in response.extract_text()
    assert response.usage == TokenUsage(32 + 619, 575 + 199, 1425, reasoning_tokens=199)


@pytest.mark.parametrize("split", SPLITS)
def test_complete_function_call(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "complete_function_call", split)
    response = complete(provider)
    (block,) = response.content
    assert isinstance(block, ToolCallContent)
    assert (block.tool_call.name, block.tool_call.parameters, block.thought_signature) == ("get_user_country", {}, None)
    assert block.tool_call.id.startswith("gcall_")
    assert response.usage == TokenUsage(33, 5, 38)


@pytest.mark.parametrize("split", SPLITS)
def test_complete_finish_safety(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "complete_finish_safety", split)
    with pytest.raises(RequestBlocked) as caught:
        complete(provider)
    assert caught.value.details is not None
    assert caught.value.details.startswith("Response blocked due to SAFETY. Safety ratings: ")
    assert "HARM_CATEGORY_HATE_SPEECH=LOW (blocked)" in caught.value.details


@pytest.mark.parametrize("split", SPLITS)
def test_complete_prompt_blocked_vertex(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "complete_prompt_blocked_vertex", split)
    with pytest.raises(RequestBlocked) as caught:
        complete(provider)
    assert caught.value.details == (
        "Prompt blocked due to MODEL_ARMOR: The prompt violated Prompt Injection and Jailbreak filters."
    )


# --- HTTP errors (both endpoints) ----------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("streaming", [False, True])
def test_error_400_api_key_invalid(
    server: LoopbackServer, provider: GeminiProvider, split: Any, streaming: bool
) -> None:
    serve(server, "error_400_api_key_invalid", split)
    with pytest.raises(AuthenticationFailed) as caught:
        stream(provider) if streaming else complete(provider)
    assert caught.value.status_code == 400
    assert caught.value.details == "API key not valid. Please pass a valid API key. [INVALID_ARGUMENT, API_KEY_INVALID]"


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("streaming", [False, True])
def test_error_404_model_not_found(
    server: LoopbackServer, provider: GeminiProvider, split: Any, streaming: bool
) -> None:
    serve(server, "error_404_model_not_found", split)
    with pytest.raises(ApiError) as caught:
        stream(provider) if streaming else complete(provider)
    assert type(caught.value) is InvalidRequest
    assert caught.value.status_code == 404
    assert caught.value.details is not None
    assert caught.value.details.startswith("models/gemini-3.6-flahs is not found for API version v1beta")
    assert caught.value.details.endswith("[NOT_FOUND]")


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("streaming", [False, True])
def test_error_429_resource_exhausted_retryinfo(
    server: LoopbackServer, provider: GeminiProvider, split: Any, streaming: bool
) -> None:
    serve(server, "error_429_resource_exhausted_retryinfo", split)
    with pytest.raises(RateLimited) as caught:
        stream(provider) if streaming else complete(provider)
    assert caught.value.retry_after == 26.0
    assert caught.value.details is not None and caught.value.details.startswith("You exceeded your current quota")


# --- streamGenerateContent?alt=sse -----------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_stream_text(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "stream_text", split)
    chunks = stream(provider)
    assert chunks[:-1] == [TextDelta("The"), TextDelta(" capital of France"), TextDelta(" is Paris.\n")]
    response = final(chunks)
    assert response.content == (TextContent("The capital of France is Paris.\n"),)
    assert response.usage == TokenUsage(13, 8, 21)
    assert response.stop_reason == "STOP"


@pytest.mark.parametrize("split", SPLITS)
def test_stream_text_utf8_prompt_count_changes(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "stream_text_utf8_prompt_count_changes", split)
    response = final(stream(provider))
    assert response.extract_text() == "The temperature in Paris is 30\u00b0C.\n"
    assert response.usage == TokenUsage(79, 12, 91)


@pytest.mark.parametrize("split", SPLITS)
def test_stream_thinking(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "stream_thinking", split)
    events = recorded_events(load("stream_thinking").body)
    signature = next(
        part["thoughtSignature"]
        for event in events
        for part in event["candidates"][0]["content"]["parts"]
        if "thoughtSignature" in part
    )
    chunks = stream(provider)
    thoughts = recorded_text(events, thought=True)
    text = recorded_text(events, thought=False)
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == thoughts
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == text
    response = final(chunks)
    assert response.content == (SimpleThought(thoughts), SignedThought("", signature), TextContent(text))
    assert response.usage == TokenUsage(34, 469 + 787, 1290, reasoning_tokens=787)


@pytest.mark.parametrize("split", SPLITS)
def test_stream_function_call(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "stream_function_call", split)
    chunks = stream(provider)
    start, delta = chunks[:2]
    assert isinstance(start, ToolUseStart) and start.name == "get_capital"
    assert delta == ToolUseInputDelta(start.id, '{"country":"France"}')
    response = final(chunks)
    assert response.content == (ToolCallContent(response.extract_tool_calls()[0], None),)
    assert response.extract_tool_calls()[0].parameters == {"country": "France"}
    assert response.usage == TokenUsage(52, 5, 57)


@pytest.mark.parametrize("split", SPLITS)
def test_stream_function_call_thought_signature(server: LoopbackServer, provider: GeminiProvider, split: Any) -> None:
    serve(server, "stream_function_call_thought_signature", split)
    events = recorded_events(load("stream_function_call_thought_signature").body)
    signature = events[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    chunks = stream(provider)
    assert [type(c) for c in chunks] == [ToolUseStart, ToolUseInputDelta, MessageComplete]
    response = final(chunks)
    (block,) = response.content
    assert isinstance(block, ToolCallContent)
    assert (block.tool_call.name, block.tool_call.parameters, block.thought_signature) == ("get_country", {}, signature)
    assert response.usage == TokenUsage(29, 212, 241, reasoning_tokens=202)
    # The signature goes back on the call, verbatim.
    server.queue(Reply(status=200, headers=[("content-type", "application/json")], body=load("complete_text").body))
    provider.complete(
        MODEL, [Message.user("hi"), Message.assistant(response.content)], None, None, None, CancellationToken()
    )
    sent = server.requests[-1].json["contents"][1]["parts"][0]
    assert sent == {"functionCall": {"name": "get_country", "args": {}}, "thoughtSignature": signature}


def test_every_recording_is_covered() -> None:
    tested = {
        name[len("test_") :]
        for name in globals()
        if name.startswith("test_") and name != "test_every_recording_is_covered"
    }
    assert {path.stem for path in FIXTURES.glob("*.http")} <= tested
