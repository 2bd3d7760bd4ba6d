"""The official SDKs parse what steer_sync.testing's loopback server sends (issue 18).

``anthropic``, ``openai`` (Responses, Chat Completions, and xAI through the OpenAI SDK)
and ``google-genai`` are pointed at :class:`~steer_sync.testing.LoopbackServer` on
127.0.0.1 with dummy keys and no retries, for text, thinking, tool and error turns, streamed
and not. The SDKs run in their default (lenient) parsing mode, as applications use them:
their strict mode requires fields that the recorded real traffic in the shared wire
fixtures does not carry either (e.g. OpenAI's ``input_tokens_details.cache_write_tokens``). Each test asserts that the SDK reads back what the turn scripted, so the loopback
server stays a faithful stand-in for the real services.

The SDKs are test extras (``pip install -e .[test]``). Outside CI a missing SDK skips its
tests with a reason naming what to install; with ``CI=true`` it is a failure.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import os
import sys
from typing import Any, Dict, Iterator, List

import pytest

from steer_sync.testing import ErrorReply, LoopbackServer, ToolCallSpec, Turn

#: A dummy key: the loopback server accepts any key; nothing here reaches a real service.
DUMMY_KEY = "conformance-dummy-key"
TEXT = "The capital of France is Paris."
THINKING = "The user asks for a capital. France's capital is Paris."
WEATHER = ToolCallSpec("call_weather_1", "get_weather", {"city": "Paris", "unit": "celsius"}, chunks=3)


#: The oldest Python each SDK release we test against supports (setup.cfg's markers).
_MIN_PYTHON = {"anthropic": (3, 10), "openai": (3, 10), "google-genai": (3, 11)}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package (``google``) is missing
        return False


def _require(module: str, package: str) -> Any:
    """Import an SDK, or skip naming the package to install (a failure under ``CI=true``).

    On a Python older than the SDK supports the test extra does not install it, so it is
    skipped even in CI (the oldest-Python run).
    """
    if not _installed(module):
        minimum = _MIN_PYTHON[package]
        if sys.version_info < minimum:
            pytest.skip(f"the official SDK {package!r} needs Python {minimum[0]}.{minimum[1]}+")
        message = f"the official SDK {package!r} is not installed; run 'pip install -e .[test]' (or '{package}')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return importlib.import_module(module)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours proxy variables; the loopback server must be reached directly.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv
        errors = srv.errors
    assert not errors, f"the loopback server could not render the script: {errors}"


# --- Anthropic Messages -------------------------------------------------------------------


@pytest.fixture
def anthropic_client(server: LoopbackServer) -> Iterator[Any]:
    anthropic = _require("anthropic", "anthropic")
    client = anthropic.Anthropic(api_key=DUMMY_KEY, base_url=server.url, max_retries=0, timeout=30)
    yield client
    client.close()


def _anthropic_request(client: Any, **extra: Any) -> Dict[str, Any]:
    return dict(model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "hi"}], **extra)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_anthropic_text_turn(anthropic_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(text=TEXT, usage=(21, 8)))
    if streamed:
        with anthropic_client.messages.stream(**_anthropic_request(anthropic_client)) as stream:
            pieces = list(stream.text_stream)
            message = stream.get_final_message()
        assert "".join(pieces) == TEXT and len(pieces) > 1
    else:
        message = anthropic_client.messages.create(**_anthropic_request(anthropic_client))
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == TEXT
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 8)
    assert message.stop_reason == "end_turn" and message.model == "claude-sonnet-4-5"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_anthropic_thinking_turn(anthropic_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(thinking=THINKING, thinking_signature="EqQBCkYIBxgC", text=TEXT, redacted_thinking="EmwKAhgB"))
    request = _anthropic_request(anthropic_client, thinking={"type": "enabled", "budget_tokens": 1024})
    if streamed:
        with anthropic_client.messages.stream(**request) as stream:
            message = stream.get_final_message()
    else:
        message = anthropic_client.messages.create(**request)
    assert [b.type for b in message.content] == ["thinking", "redacted_thinking", "text"]
    thinking, redacted, text = message.content
    assert (thinking.thinking, thinking.signature) == (THINKING, "EqQBCkYIBxgC")
    assert redacted.data == "EmwKAhgB"
    assert text.text == TEXT


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_anthropic_tool_turn(anthropic_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(text="Let me check.", tool_calls=(WEATHER, ToolCallSpec("call_2", "get_time", {}))))
    tools = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]
    request = _anthropic_request(anthropic_client, tools=tools)
    if streamed:
        with anthropic_client.messages.stream(**request) as stream:
            message = stream.get_final_message()
    else:
        message = anthropic_client.messages.create(**request)
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    call = message.content[1]
    assert (call.id, call.name, call.input) == ("call_weather_1", "get_weather", {"city": "Paris", "unit": "celsius"})
    assert message.content[2].input == {}
    assert message.stop_reason == "tool_use"


def test_anthropic_unknown_usage_stream(anthropic_client: Any, server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=None))
    with anthropic_client.messages.stream(**_anthropic_request(anthropic_client)) as stream:
        message = stream.get_final_message()
    assert message.content[0].text == TEXT
    assert (message.usage.input_tokens, message.usage.output_tokens) == (0, 0)


@pytest.mark.parametrize(
    ("status", "error_name"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (529, "InternalServerError"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_anthropic_error_turn(
    anthropic_client: Any, server: LoopbackServer, status: int, error_name: str, streamed: bool
) -> None:
    anthropic = importlib.import_module("anthropic")
    server.queue(ErrorReply(status, "scripted failure"))
    with pytest.raises(getattr(anthropic, error_name)) as info:
        if streamed:
            with anthropic_client.messages.stream(**_anthropic_request(anthropic_client)) as stream:
                stream.get_final_message()
        else:
            anthropic_client.messages.create(**_anthropic_request(anthropic_client))
    assert info.value.status_code == status
    assert "scripted failure" in str(info.value)
    assert info.value.body["error"]["message"] == "scripted failure"
    assert len(server.requests) == 1  # max_retries=0: the SDK did not retry


def test_anthropic_in_stream_error(anthropic_client: Any, server: LoopbackServer) -> None:
    anthropic = importlib.import_module("anthropic")
    server.queue(Turn(text=TEXT, error_after=3, error=ErrorReply(529, "Overloaded")))
    request = _anthropic_request(anthropic_client)
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"), anthropic_client.messages.stream(**request) as s:
        s.get_final_message()


# --- OpenAI Responses ---------------------------------------------------------------------

OPENAI_ERRORS = [
    (400, "BadRequestError"),
    (401, "AuthenticationError"),
    (403, "PermissionDeniedError"),
    (404, "NotFoundError"),
    (429, "RateLimitError"),
    (500, "InternalServerError"),
    (503, "InternalServerError"),
]


def _openai_client(server: LoopbackServer, path: str = "/v1") -> Any:
    openai = _require("openai", "openai")
    return openai.OpenAI(
        api_key=DUMMY_KEY,
        base_url=f"{server.url}{path}",
        max_retries=0,
        timeout=30,
    )


@pytest.fixture
def openai_client(server: LoopbackServer) -> Iterator[Any]:
    client = _openai_client(server)
    yield client
    client.close()


def _responses(client: Any, streamed: bool, **extra: Any) -> Any:
    request = dict(model="gpt-5", input="hi", **extra)
    if not streamed:
        return client.responses.create(**request)
    with client.responses.stream(**request) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert events[-1].type == "response.completed"
    return final


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_responses_text_turn(openai_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(text=TEXT, usage=(21, 8)))
    response = _responses(openai_client, streamed)
    assert response.output_text == TEXT
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (21, 8, 29)
    assert response.status == "completed" and response.model == "gpt-5"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_responses_thinking_turn(openai_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(thinking=THINKING, thinking_signature="gAAAAABencrypted", text=TEXT))
    response = _responses(openai_client, streamed, reasoning={"effort": "low", "summary": "auto"})
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"]
    reasoning = response.output[0]
    assert "".join(s.text for s in reasoning.summary) == THINKING
    assert reasoning.encrypted_content == "gAAAAABencrypted"
    assert response.output_text == TEXT


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_responses_tool_turn(openai_client: Any, server: LoopbackServer, streamed: bool) -> None:
    import json

    server.queue(Turn(tool_calls=(WEATHER, ToolCallSpec("call_2", "get_time", {}))))
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}]
    response = _responses(openai_client, streamed, tools=tools)
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.call_id, c.name) for c in calls] == [("call_weather_1", "get_weather"), ("call_2", "get_time")]
    assert json.loads(calls[0].arguments) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(calls[1].arguments) == {}


@pytest.mark.parametrize(("status", "error_name"), OPENAI_ERRORS)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_responses_error_turn(
    openai_client: Any, server: LoopbackServer, status: int, error_name: str, streamed: bool
) -> None:
    openai = importlib.import_module("openai")
    server.queue(ErrorReply(status, "scripted failure"))
    with pytest.raises(getattr(openai, error_name)) as info:
        _responses(openai_client, streamed)
    assert info.value.status_code == status
    assert "scripted failure" in str(info.value)
    assert len(server.requests) == 1


def test_responses_in_stream_error(openai_client: Any, server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, error_after=3, error=ErrorReply(500, "scripted stream failure")))
    with openai_client.responses.stream(model="gpt-5", input="hi") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-1] in ("error", "response.failed"), kinds
    assert "scripted stream failure" in str(events[-1])


# --- OpenAI Chat Completions and xAI ------------------------------------------------------


def _chat(client: Any, model: str, streamed: bool, **extra: Any) -> Any:
    request = dict(model=model, messages=[{"role": "user", "content": "hi"}], **extra)
    if not streamed:
        return client.chat.completions.create(**request)
    with client.chat.completions.stream(**request, stream_options={"include_usage": True}) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()


CHAT_MODELS = ["gpt-4.1", "grok-4"]  # a grok model gets xAI's chunks and errors


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_chat_text_turn(openai_client: Any, server: LoopbackServer, model: str, streamed: bool) -> None:
    server.queue(Turn(text=TEXT, usage=(21, 8)))
    completion = _chat(openai_client, model, streamed)
    (choice,) = completion.choices
    assert choice.message.content == TEXT and choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (21, 8, 29)


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_chat_thinking_turn(openai_client: Any, server: LoopbackServer, model: str, streamed: bool) -> None:
    server.queue(Turn(thinking=THINKING, text=TEXT))
    completion = _chat(openai_client, model, streamed)
    message = completion.choices[0].message
    assert message.content == TEXT
    extra = message.model_extra or {}
    reasoning = getattr(message, "reasoning_content", None) or extra.get("reasoning_content") or extra.get("reasoning")
    assert reasoning == THINKING


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_chat_tool_turn(openai_client: Any, server: LoopbackServer, model: str, streamed: bool) -> None:
    import json

    server.queue(Turn(tool_calls=(WEATHER, ToolCallSpec("call_2", "get_time", {}))))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    completion = _chat(openai_client, model, streamed, tools=tools)
    (choice,) = completion.choices
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.id, c.function.name) for c in calls] == [("call_weather_1", "get_weather"), ("call_2", "get_time")]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(calls[1].function.arguments) == {}


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize(("status", "error_name"), OPENAI_ERRORS)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_chat_error_turn(
    openai_client: Any, server: LoopbackServer, model: str, status: int, error_name: str, streamed: bool
) -> None:
    openai = importlib.import_module("openai")
    server.queue(ErrorReply(status, "scripted failure"))
    with pytest.raises(getattr(openai, error_name)) as info:
        _chat(openai_client, model, streamed)
    assert info.value.status_code == status
    if model.startswith("grok"):
        # xAI's own body, {"code": ..., "error": "<message>"}: the SDK keeps the "error"
        # string as the body but reads no message from it (as with the recorded real error).
        assert isinstance(info.value.body, str) and "scripted" in info.value.body
    else:
        assert "scripted failure" in str(info.value)
        assert info.value.body["message"] == "scripted failure"
    assert len(server.requests) == 1


def test_xai_through_the_openai_sdk_with_its_base_url(server: LoopbackServer) -> None:
    client = _openai_client(server, "/v1")
    try:
        server.queue(Turn(text=TEXT, format="xai"))
        completion = _chat(client, "grok-4", True)
        assert completion.choices[0].message.content == TEXT
        assert server.requests[0].path.startswith("/v1/chat/completions")
        assert server.requests[0].headers["authorization"] == f"Bearer {DUMMY_KEY}"
    finally:
        client.close()


# --- Google Gemini --------------------------------------------------------------------------


@pytest.fixture
def gemini_client(server: LoopbackServer) -> Iterator[Any]:
    genai = _require("google.genai", "google-genai")
    types = importlib.import_module("google.genai.types")
    options = types.HttpOptions(
        base_url=server.url, api_version="v1beta", timeout=30_000, retry_options=types.HttpRetryOptions(attempts=1)
    )
    client = genai.Client(api_key=DUMMY_KEY, http_options=options)
    yield client
    client.close()


def _generate(client: Any, streamed: bool, **config: Any) -> List[Any]:
    """The responses: one, or every chunk of a stream."""
    types = importlib.import_module("google.genai.types")
    kwargs: Dict[str, Any] = {"model": "gemini-2.5-flash", "contents": "hi"}
    if config:
        kwargs["config"] = types.GenerateContentConfig(**config)
    if streamed:
        return list(client.models.generate_content_stream(**kwargs))
    return [client.models.generate_content(**kwargs)]


def _parts(responses: List[Any]) -> List[Any]:
    return [part for r in responses for c in (r.candidates or []) for part in (c.content.parts or [])]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_gemini_text_turn(gemini_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(text=TEXT, usage=(21, 8)))
    responses = _generate(gemini_client, streamed)
    assert "".join(r.text or "" for r in responses) == TEXT
    usage = responses[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (21, 8, 29)
    assert responses[-1].candidates[0].finish_reason.name == "STOP"


@pytest.mark.parametrize("signature", ["sig-think", "EqQBCkYIBxgC"])
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_gemini_thinking_turn(gemini_client: Any, server: LoopbackServer, streamed: bool, signature: str) -> None:
    types = importlib.import_module("google.genai.types")
    server.queue(Turn(thinking=THINKING, thinking_signature=signature, text=TEXT))
    responses = _generate(gemini_client, streamed, thinking_config=types.ThinkingConfig(include_thoughts=True))
    parts = _parts(responses)
    assert "".join(p.text for p in parts if p.thought) == THINKING
    assert "".join(p.text for p in parts if not p.thought and p.text) == TEXT
    (signed,) = [p for p in parts if p.thought_signature]
    expected = signature.encode() if signature == "sig-think" else base64.b64decode(signature)
    assert signed.thought_signature == expected


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_gemini_tool_turn(gemini_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(thinking_signature="c2lnLWNhbGw=", tool_calls=(WEATHER, ToolCallSpec("", "get_time", {}))))
    responses = _generate(gemini_client, streamed)
    calls = [p.function_call for p in _parts(responses) if p.function_call]
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("call_weather_1", "get_weather", {"city": "Paris", "unit": "celsius"}),
        (None, "get_time", {}),
    ]
    assert responses[-1].function_calls[0].name in ("get_weather", "get_time")


@pytest.mark.parametrize(
    ("status", "error_name"), [(400, "ClientError"), (403, "ClientError"), (429, "ClientError"), (500, "ServerError")]
)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_gemini_error_turn(
    gemini_client: Any, server: LoopbackServer, status: int, error_name: str, streamed: bool
) -> None:
    errors = importlib.import_module("google.genai.errors")
    server.queue(ErrorReply(status, "scripted failure"))
    with pytest.raises(getattr(errors, error_name)) as info:
        _generate(gemini_client, streamed)
    assert info.value.code == status
    assert info.value.message == "scripted failure"
    assert len(server.requests) == 1


# --- unknown usage (Turn(usage=None)) in every format ----------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_every_sdk_reads_a_turn_with_unknown_usage(server: LoopbackServer, streamed: bool) -> None:
    anthropic = _require("anthropic", "anthropic").Anthropic(api_key=DUMMY_KEY, base_url=server.url, max_retries=0)
    openai_client = _openai_client(server)
    server.queue(*[Turn(text=TEXT, usage=None)] * 4)
    try:
        if streamed:
            with anthropic.messages.stream(**_anthropic_request(anthropic)) as stream:
                assert stream.get_final_message().content[0].text == TEXT
        else:
            assert anthropic.messages.create(**_anthropic_request(anthropic)).content[0].text == TEXT
        assert _responses(openai_client, streamed).output_text == TEXT
        assert _chat(openai_client, "gpt-4.1", streamed).choices[0].message.content == TEXT
        assert _chat(openai_client, "grok-4", streamed).choices[0].message.content == TEXT
    finally:
        anthropic.close()
        openai_client.close()


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_gemini_reads_a_turn_with_unknown_usage(gemini_client: Any, server: LoopbackServer, streamed: bool) -> None:
    server.queue(Turn(text=TEXT, usage=None))
    assert "".join(r.text or "" for r in _generate(gemini_client, streamed)) == TEXT
