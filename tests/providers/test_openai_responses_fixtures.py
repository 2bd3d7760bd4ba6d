"""Replay recorded OpenAI Responses traffic (shared wire fixtures) through the real provider.

Each ``openai_responses/*.http`` recording is served verbatim over loopback, whole and split at
random byte offsets, and what :class:`OpenAIResponsesProvider` yields is checked twice: against
what the recording itself says (its deltas, its finished items, its usage, read here with a
separate tiny parser) and against a few facts written out by hand for each recording.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

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
from steer_sync._errors import (
    ApiError,
    AuthenticationFailed,
    InvalidRequest,
    ProviderStreamError,
    ProviderStreamErrorKind,
)
from steer_sync._providers.openai_responses._provider import OpenAIResponsesProvider
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    SignedThought,
    SimpleThought,
    TextContent,
    TokenUsage,
    ToolCall,
    ToolCallContent,
)
from steer_sync.testing import LoopbackServer, Reply

pytestmark = pytest.mark.conformance  # reads the recordings (tests/conftest.py)
FIXTURES = recordings_dir() / "openai_responses"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.http"))
STREAMS = [n for n in NAMES if n.startswith("stream_")]
MODEL = ModelId("openai", "gpt-4.1")
#: ``None``: the body in one piece; an int: split at random byte offsets with that seed.
SPLITS: List[Optional[int]] = [None, 0, 1, 2, 3]


def load(name: str) -> Reply:
    return Reply.from_recording(FIXTURES / f"{name}.http")


def reply(name: str, seed: Optional[int]) -> Reply:
    if seed is None:
        return load(name)
    return Reply.from_recording(FIXTURES / f"{name}.http", split="random", seed=seed)


def recorded_events(name: str) -> List[Tuple[str, Dict[str, Any]]]:
    """The recording's events as ``(event name, data)``: a parser independent of steer_sync._sse."""
    body = load(name).body
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields.get("event", ""), json.loads(fields["data"])))
    return events


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[OpenAIResponsesProvider]:
    made = OpenAIResponsesProvider(api_key="sk-test-key-123456789", base_url=server.url)
    yield made
    made.close()


def replay_stream(
    provider: OpenAIResponsesProvider, server: LoopbackServer, name: str, seed: Optional[int]
) -> List[StreamChunk]:
    server.queue(reply(name, seed))
    with provider.stream_complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken()) as chunks:
        return list(chunks)


def test_the_recordings_are_all_covered() -> None:
    assert set(NAMES) == set(EXPECTED_STREAMS) | set(EXPECTED_COMPLETIONS) | set(EXPECTED_ERRORS)


# --- streams: checked against the recording ----------------------------------------------------------------


@pytest.mark.parametrize("seed", SPLITS)
@pytest.mark.parametrize("name", STREAMS)
def test_stream_agrees_with_the_recording(
    provider: OpenAIResponsesProvider, server: LoopbackServer, name: str, seed: Optional[int]
) -> None:
    chunks = replay_stream(provider, server, name, seed)
    events = recorded_events(name)
    terminal_name, terminal = events[-1]
    assert sum(isinstance(c, (MessageComplete, ErrorChunk)) for c in chunks) == 1
    if terminal_name in ("error", "response.failed"):
        assert isinstance(chunks[-1], ErrorChunk) and isinstance(chunks[-1].error, ProviderStreamError)
        return

    response = terminal["response"]
    final = chunks[-1]
    assert isinstance(final, MessageComplete)
    text = "".join(d["delta"] for e, d in events if e == "response.output_text.delta")
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == text
    assert final.response.extract_text() == text
    for item in response["output"]:
        if item["type"] == "message":
            assert item["content"][0]["text"] == text

    parts = [d["text"] for e, d in events if e == "response.reasoning_summary_text.done"]
    streamed_thinking = "".join(c.text for c in chunks if isinstance(c, ThinkingDelta))
    assert streamed_thinking == "\n\n".join(parts)
    reasoning = [item for item in response["output"] if item["type"] == "reasoning"]
    thoughts = [block for block in final.response.content if isinstance(block, SignedThought)]
    assert [t.signature for t in thoughts] == ["openai-responses:" + item["encrypted_content"] for item in reasoning]
    assert [t.text for t in thoughts] == ["\n\n".join(s["text"] for s in item["summary"]) for item in reasoning]

    done_calls = [
        d["item"] for e, d in events if e == "response.output_item.done" and d["item"]["type"] == "function_call"
    ]
    assert [c for c in chunks if isinstance(c, ToolUseStart)] == [
        ToolUseStart(i["call_id"], i["name"]) for i in done_calls
    ]
    for item in done_calls:
        assert (
            "".join(c.delta for c in chunks if isinstance(c, ToolUseInputDelta) and c.id == item["call_id"])
            == item["arguments"]
        )
    assert final.response.extract_tool_calls() == [
        ToolCall(i["call_id"], i["name"], json.loads(i["arguments"])) for i in done_calls
    ]

    usage = response["usage"]
    assert final.response.usage == TokenUsage(
        usage["input_tokens"],
        usage["output_tokens"],
        usage["total_tokens"],
        cache_read_input_tokens=usage["input_tokens_details"]["cached_tokens"],
        reasoning_tokens=usage["output_tokens_details"]["reasoning_tokens"],
    )
    assert final.response.stop_reason == (response["incomplete_details"] or {}).get("reason", "completed")


# --- streams: facts written out by hand ---------------------------------------------------------------------

_SUMMARY_START = "**Providing street crossing instructions**\n\nThe user is asking how to cross the street"
_ANSWER_START = "I'm not a road safety professional, but here are some generally accepted guidelines"

EXPECTED_STREAMS: Dict[str, Any] = {
    "stream_text": CompletionResponse(
        (TextContent("Hello! 🌍 How can I assist you today?"),), TokenUsage(9, 12, 21), "completed"
    ),
    "stream_function_call": CompletionResponse(
        (ToolCallContent(ToolCall("call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital", {"country": "France"})),),
        TokenUsage(255, 16, 271),
        "completed",
    ),
    "stream_incomplete_max_output_tokens": CompletionResponse(
        (TextContent("In the bustling city of Detroit, a sleek, metallic blue sedan rolled off the"),),
        TokenUsage(0, 0, 0),
        "max_output_tokens",
    ),
    "stream_error_event": ProviderStreamError(
        "openai",
        ProviderStreamErrorKind.from_provider_error_type("ERR_SOMETHING"),
        "ERR_SOMETHING",
        "Something went wrong",
    ),
    "stream_response_failed": ProviderStreamError(
        "openai", ProviderStreamErrorKind.RESPONSE_FAILED, "server_error", "The model failed to generate a response."
    ),
    "stream_reasoning_summary": None,  # checked below (long texts)
    "stream_reasoning_then_function_call": None,  # checked below (long signature)
}


@pytest.mark.parametrize("seed", SPLITS)
@pytest.mark.parametrize("name", [n for n in STREAMS if EXPECTED_STREAMS.get(n) is not None])
def test_stream_facts(
    provider: OpenAIResponsesProvider, server: LoopbackServer, name: str, seed: Optional[int]
) -> None:
    expected = EXPECTED_STREAMS[name]
    last = replay_stream(provider, server, name, seed)[-1]
    if isinstance(expected, ProviderStreamError):
        assert last == ErrorChunk(expected)
        # Q8: a server error is retryable; an unknown code is not.
        assert expected.kind.is_retryable() == (name == "stream_response_failed")
    else:
        assert last == MessageComplete(expected)


@pytest.mark.parametrize("seed", SPLITS)
def test_reasoning_summary_stream(
    provider: OpenAIResponsesProvider, server: LoopbackServer, seed: Optional[int]
) -> None:
    chunks = replay_stream(provider, server, "stream_reasoning_summary", seed)
    thinking = [c.text for c in chunks if isinstance(c, ThinkingDelta)]
    assert thinking[0] == "**Providing"
    assert sum(t.startswith("\n\n**") for t in thinking) == 3  # four summary parts, three separators
    response = chunks[-1].response  # type: ignore[attr-defined]
    thought, text = response.content
    assert isinstance(thought, SignedThought) and thought.text.startswith(_SUMMARY_START)
    assert thought.signature.startswith("openai-responses:gAAAAABoxC0n")  # response.completed's, not the first
    assert isinstance(text, TextContent) and text.text.startswith(_ANSWER_START)
    assert response.usage == TokenUsage(13, 1680, 1693, reasoning_tokens=1408)


@pytest.mark.parametrize("seed", SPLITS)
def test_reasoning_then_function_call_stream(
    provider: OpenAIResponsesProvider, server: LoopbackServer, seed: Optional[int]
) -> None:
    chunks = replay_stream(provider, server, "stream_reasoning_then_function_call", seed)
    assert [c for c in chunks if not isinstance(c, ToolUseInputDelta)][:-1] == [
        ToolUseStart("call_CWXgs68YprAjp6t0371hiPOI", "final_result")
    ]
    response = chunks[-1].response  # type: ignore[attr-defined]
    thought, call = response.content
    assert isinstance(thought, SignedThought) and thought.text == ""
    assert thought.signature.startswith("openai-responses:gAAAAABoyXvy")  # from response.completed
    assert call == ToolCallContent(ToolCall("call_CWXgs68YprAjp6t0371hiPOI", "final_result", {"result": 6666}))
    assert response.usage == TokenUsage(53, 469, 522, reasoning_tokens=448)
    # The reasoning goes back on the next turn, without its item id.
    server.queue(
        Reply(
            status=400,
            headers=[("content-type", "application/json")],
            body=b'{"error":{"message":"stop here","code":null}}',
        )
    )
    with pytest.raises(InvalidRequest):
        provider.complete(
            MODEL,
            [Message.user("hi"), Message.assistant(list(response.content))],
            None,
            None,
            None,
            CancellationToken(),
        )
    sent = server.requests[-1].json["input"]
    assert sent[1] == {
        "type": "reasoning",
        "summary": [],
        "encrypted_content": thought.signature[len("openai-responses:") :],
    }
    assert sent[2] == {
        "type": "function_call",
        "call_id": "call_CWXgs68YprAjp6t0371hiPOI",
        "name": "final_result",
        "arguments": '{"result":6666}',
    }


# --- non-streaming and errors ---------------------------------------------------------------------------------

EXPECTED_COMPLETIONS = {
    "complete_text": CompletionResponse(
        (
            TextContent(
                "The 2020 World Series was played at Globe Life Field in Arlington, Texas. This was the first time the "
                "World Series was held at a neutral site due to the COVID-19 pandemic."
            ),
        ),
        TokenUsage(53, 40, 93),
        "completed",
    ),
    "complete_function_call": CompletionResponse(
        (
            ToolCallContent(
                ToolCall(
                    "call_tjEzTywkXuBUO42ugPFnQYqi",
                    "get_current_weather",
                    {"location": "Boston, MA", "unit": "celsius"},
                )
            ),
        ),
        TokenUsage(75, 23, 98),
        "completed",
    ),
}


@pytest.mark.parametrize("seed", SPLITS)
@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("complete_")])
def test_completion(provider: OpenAIResponsesProvider, server: LoopbackServer, name: str, seed: Optional[int]) -> None:
    server.queue(reply(name, seed))
    response = provider.complete(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    assert response == EXPECTED_COMPLETIONS[name]
    assert not any(isinstance(block, SimpleThought) for block in response.content)


EXPECTED_ERRORS = {
    "error_400_model_not_found": (
        InvalidRequest,
        400,
        "The requested model 'invalid-model' does not exist. (param: model)",
    ),
    "error_401_invalid_api_key": (
        AuthenticationFailed,
        401,
        "Incorrect API key provided: <not-a-r****key>. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
}


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("seed", SPLITS)
@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("error_")])
def test_http_error(
    provider: OpenAIResponsesProvider, server: LoopbackServer, name: str, seed: Optional[int], streaming: bool
) -> None:
    error_class, status, details = EXPECTED_ERRORS[name]
    server.queue(reply(name, seed))
    call = provider.stream_complete if streaming else provider.complete
    with pytest.raises(ApiError) as info:
        call(MODEL, [Message.user("hi")], None, None, None, CancellationToken())
    assert type(info.value) is error_class
    assert info.value.status_code == status
    assert info.value.details == details
    assert info.value.provider == "openai"
