"""xAI-only behaviour end to end over loopback (the shared Chat Completions cases are in
``test_openai_chat_loopback.py``, which runs them for xAI too)."""

from __future__ import annotations

from typing import Iterator

import pytest

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import MessageComplete, ThinkingDelta, ToolUseInputDelta, ToolUseStart
from steer_sync._errors import AuthenticationFailed, InvalidRequest, NoChoices
from steer_sync._providers.openai_chat._xai import XaiProvider
from steer_sync._types import (
    Message,
    ModelId,
    ModelParameters,
    SimpleThought,
    ThinkingConfig,
    ThinkingEffort,
    TokenUsage,
    ToolCall,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Reply, ToolCallSpec, Turn

MINI = ModelId("xai", "grok-3-mini")
GROK4 = ModelId("xai", "grok-4-1-fast-reasoning")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def provider(server: LoopbackServer) -> Iterator[XaiProvider]:
    made = XaiProvider(api_key="xai-test", base_url=server.url)
    yield made
    made.close()


def test_client_creation_names_the_provider_xai() -> None:
    provider = XaiProvider(api_key="test_key")
    try:
        assert provider.name == "xai"
        assert provider.url == "https://api.x.ai/v1/chat/completions"
    finally:
        provider.close()


def test_a_bad_key_answered_with_400_is_authentication_failed(provider: XaiProvider, server: LoopbackServer) -> None:
    # steer's orphaned test_xai_client_provider_trait: a fake key (and no messages) is an error.
    server.queue(
        ErrorReply(400, "Incorrect API key provided: te***ey. You can obtain an API key from https://console.x.ai.")
    )
    with pytest.raises(AuthenticationFailed) as caught:
        provider.complete(MINI, [], None, None, None, CancellationToken())
    error = caught.value
    assert error.status_code == 400
    assert error.provider == "xai"
    assert "Incorrect API key provided" in str(error) and "check the API key" in str(error)
    assert server.requests[0].json["messages"] == []


def test_a_bad_key_on_the_stream_path_is_raised_before_streaming(provider: XaiProvider, server: LoopbackServer) -> None:
    server.queue(ErrorReply(400, "Incorrect%20API%20key%20provided:%20xa***st."))
    with pytest.raises(AuthenticationFailed, match="Incorrect API key provided: xa"):
        provider.stream_complete(MINI, [Message.user("hi")], None, None, None, CancellationToken())


def test_other_400s_stay_invalid_requests(provider: XaiProvider, server: LoopbackServer) -> None:
    server.queue(ErrorReply(400, "Model grok-9 does not exist"))
    with pytest.raises(InvalidRequest, match=r"grok-9 does not exist \(Client specified an invalid argument\)"):
        provider.complete(MINI, [Message.user("hi")], None, None, None, CancellationToken())


def test_reasoning_effort_is_sent_only_to_models_that_accept_it(provider: XaiProvider, server: LoopbackServer) -> None:
    params = ModelParameters(thinking_config=ThinkingConfig(True, ThinkingEffort.MEDIUM))
    server.queue(Turn(text="a"), Turn(text="b", format="xai"))
    provider.complete(MINI, [Message.user("hi")], None, None, params, CancellationToken())
    provider.complete(GROK4, [Message.user("hi")], None, None, params, CancellationToken())
    assert server.requests[0].json["reasoning_effort"] == "high"
    assert "reasoning_effort" not in server.requests[1].json


def test_defaults_on_the_wire(provider: XaiProvider, server: LoopbackServer) -> None:
    server.queue(Turn(text="a"))
    provider.complete(MINI, [Message.user("hi")], None, None, None, CancellationToken())
    body = server.requests[0].json
    assert (body["max_completion_tokens"], body["temperature"]) == (32768, 1.0)
    assert "stream" not in body and "max_tokens" not in body and "top_p" not in body


def test_reasoning_then_tool_call_with_xai_usage_accounting(provider: XaiProvider, server: LoopbackServer) -> None:
    server.queue(
        Turn(
            thinking="First, the user is asking",
            tool_calls=[ToolCallSpec("call_55117580", "weather", {"location": "SF"})],
            usage=(291, 30),
        )
    )
    with provider.stream_complete(MINI, [Message.user("weather?")], None, None, None, CancellationToken()) as chunks:
        items = list(chunks)
    assert next(c for c in items if isinstance(c, ThinkingDelta)) == ThinkingDelta("First,")
    assert ToolUseStart("call_55117580", "weather") in items
    # xAI sends the whole call in one chunk: the start and one argument delta.
    assert [c for c in items if isinstance(c, ToolUseInputDelta)] == [
        ToolUseInputDelta("call_55117580", '{"location":"SF"}')
    ]
    complete = items[-1]
    assert isinstance(complete, MessageComplete)
    assert complete.response.content[0] == SimpleThought("First, the user is asking")
    assert complete.response.extract_tool_calls() == [ToolCall("call_55117580", "weather", {"location": "SF"})]
    # completion_tokens on the wire is 30 - 5 reasoning tokens; output counts both again.
    assert complete.response.usage == TokenUsage(291, 30, 321, reasoning_tokens=5)


def test_no_choices_raises_no_choices(provider: XaiProvider, server: LoopbackServer) -> None:
    server.queue(
        Reply.from_json({"id": "x", "object": "chat.completion", "created": 1, "model": "grok-3-mini", "choices": []})
    )
    with pytest.raises(NoChoices):
        provider.complete(MINI, [Message.user("hi")], None, None, None, CancellationToken())
