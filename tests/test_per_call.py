"""Per-call control over the loopback server, for each of the five wire formats (issue 12):
a whole-call deadline, a per-call retry policy, extra body and query fields on the wire,
``with_options`` sharing its parent's connections, the User-Agent, and bad options refused
before anything is sent."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Iterator

import pytest

import steer_sync
from steer_sync import (
    ApiTimeout,
    Client,
    CompletionResponse,
    ConfigurationError,
    ErrorChunk,
    Message,
    MessageComplete,
    ProviderStreamError,
    RetryPolicy,
    ServerError,
    TextDelta,
    Timeouts,
)
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

HI = [Message.user("hi")]

#: One model per wire format; "gw" is a keyless OpenAI-compatible (Chat Completions) gateway.
MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai_responses": "openai/gpt-5.4",
    "openai_chat": "gw/m1",
    "gemini": "google/gemini-3-flash-preview",
    "xai": "xai/grok-4-1-fast-reasoning",
}
FORMATS = sorted(MODELS)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer, tmp_path: Path) -> Iterator[Client]:
    catalog = tmp_path / "gw.toml"
    catalog.write_text(
        '[[providers]]\nid = "gw"\nname = "Gateway"\napi_format = "openai-chat"\nauth_schemes = []\n'
        f'base_url = "{server.url}/v1"\nquery = {{ "api-version" = "2025-01-01", "tag" = "catalog" }}\n'
        '[[models]]\nprovider = "gw"\nid = "m1"\n[models.parameters]\nmax_output_tokens = 100\n'
    )
    made = server.client(catalogs=[str(catalog)], retry_policy=RetryPolicy(base_delay=0, jitter=0))
    yield made
    made.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_per_call_deadline_ends_a_stalled_stream(fmt: str, client: Client, server: LoopbackServer) -> None:
    client.complete(MODELS[fmt], HI)  # the provider exists: the deadline is all the stream's
    server.queue(Turn(text="Once upon a time there was", stall_after=1))
    # 3 s: the deadline also covers connect and headers, which a loaded machine can slow
    # down; the server stalls forever after the first chunk, so only the deadline ends it.
    with client.stream_complete(MODELS[fmt], HI, timeout=3) as stream:
        chunks = list(stream)
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and isinstance(last.error, ProviderStreamError)
    assert last.error.error_type == "deadline_exceeded"
    assert "3 s" in last.error.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_per_call_deadline_ends_a_call_whose_headers_never_come(
    fmt: str, client: Client, server: LoopbackServer
) -> None:
    # The server stalls before the status line on every attempt: the deadline covers them all.
    server.queue(*[Turn(text="late", stall_after=-1)] * 5)
    with pytest.raises(ApiTimeout):
        client.complete(MODELS[fmt], HI, timeout=0.3)


def test_a_number_timeout_bounds_retries_and_backoff(client: Client, server: LoopbackServer) -> None:
    # A long Retry-After would keep the call waiting well past its deadline: it gives up at once.
    server.queue(ErrorReply(503, "busy", retry_after=30), Turn(text="never used"))
    with pytest.raises(ApiTimeout) as caught:
        client.complete_with_retry(MODELS["anthropic"], HI, timeout=5)
    assert isinstance(caught.value.__cause__, ServerError)
    assert len(server.requests) == 1


def test_a_timeouts_value_replaces_the_clients_limits_for_the_call(client: Client, server: LoopbackServer) -> None:
    client.complete(MODELS["anthropic"], HI)
    server.queue(Turn(text="Once upon a time there was", stall_after=1))
    one = RetryPolicy(max_attempts=1)
    with client.stream_complete(MODELS["anthropic"], HI, timeout=Timeouts(stream_idle=0.3), retry_policy=one) as stream:
        last = list(stream)[-1]
    assert isinstance(last, ErrorChunk)
    assert "stream_idle" in str(last.error)


@pytest.mark.parametrize("fmt", FORMATS)
def test_retry_policy_with_one_attempt_sends_exactly_one_request(
    fmt: str, client: Client, server: LoopbackServer
) -> None:
    server.queue(ErrorReply(503, "overloaded"), Turn(text="second attempt"))
    with pytest.raises(ServerError):
        client.complete(MODELS[fmt], HI, retry_policy=RetryPolicy(max_attempts=1))
    assert len(server.requests) == 1
    # Without it the client's own policy retries.
    server.clear()
    server.queue(ErrorReply(503, "overloaded"), Turn(text="second attempt"))
    assert client.complete(MODELS[fmt], HI).extract_text() == "second attempt"
    assert len(server.requests) == 2


def test_complete_with_retry_max_attempts_wins_over_the_policy(client: Client, server: LoopbackServer) -> None:
    server.queue(ErrorReply(503, "a"), ErrorReply(503, "b"), Turn(text="third"))
    response = client.complete_with_retry(
        MODELS["anthropic"], HI, max_attempts=3, retry_policy=RetryPolicy(max_attempts=1, base_delay=0)
    )
    assert response.extract_text() == "third"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streamed", [False, True])
def test_extra_body_and_extra_query_reach_the_wire(
    fmt: str, streamed: bool, client: Client, server: LoopbackServer
) -> None:
    extra_body = {"metadata": {"user_id": "u-42"}, "x_custom": [1, 2]}
    extra_query = {"tag": "call", "trace": "t 1"}
    if streamed:
        with client.stream_complete(MODELS[fmt], HI, extra_body=extra_body, extra_query=extra_query) as stream:
            stream.collect()
    else:
        client.complete_with_retry(MODELS[fmt], HI, extra_body=extra_body, extra_query=extra_query)
    (request,) = server.requests
    assert request.json["metadata"] == {"user_id": "u-42"} and request.json["x_custom"] == [1, 2]
    assert request.query["tag"] == "call"  # over the catalog's "tag" for gw
    assert request.query["trace"] == "t 1"
    if fmt == "openai_chat":
        assert request.query["api-version"] == "2025-01-01"  # the catalog query stays
    if fmt == "gemini" and streamed:
        assert request.query["alt"] == "sse"  # the format's own parameter stays


def test_extra_body_replaces_a_library_field(client: Client, server: LoopbackServer) -> None:
    client.complete(MODELS["anthropic"], HI, extra_body={"max_tokens": 7})
    assert server.requests[0].json["max_tokens"] == 7


def test_the_catalog_query_is_sent_without_extra_query(client: Client, server: LoopbackServer) -> None:
    client.complete(MODELS["openai_chat"], HI)
    assert server.requests[0].query == {"api-version": "2025-01-01", "tag": "catalog"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_with_options_shares_the_parents_connection(fmt: str, client: Client, server: LoopbackServer) -> None:
    client.complete(MODELS[fmt], HI)
    derived = client.with_options(timeout=30, retry_policy=RetryPolicy(max_attempts=1), extra_headers={"X-Team": "a"})
    assert derived is not client and derived.retry_policy.max_attempts == 1
    assert client.retry_policy.max_attempts != 1
    derived.complete(MODELS[fmt], HI)
    client.complete(MODELS[fmt], HI)
    assert server.connection_count == 1
    first, second, third = server.requests
    assert second.headers["x-team"] == "a"
    assert "x-team" not in first.headers and "x-team" not in third.headers


def test_with_options_defaults_give_way_to_the_calls_own(client: Client, server: LoopbackServer) -> None:
    derived = client.with_options(retry_policy=RetryPolicy(max_attempts=1), extra_headers={"X-Team": "a"})
    assert server.connection_count == 0  # creating it opened nothing
    server.queue(ErrorReply(503, "a"), Turn(text="retried"))
    response = derived.complete(
        MODELS["anthropic"], HI, retry_policy=RetryPolicy(max_attempts=2, base_delay=0), extra_headers={"x-team": "b"}
    )
    assert response.extract_text() == "retried"
    assert [r.headers["x-team"] for r in server.requests] == ["b", "b"]


def test_with_options_timeout_is_the_default_deadline(client: Client, server: LoopbackServer) -> None:
    server.queue(*[Turn(text="late", stall_after=-1)] * 5)
    with pytest.raises(ApiTimeout):
        client.with_options(timeout=0.3).complete(MODELS["anthropic"], HI)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_request_carries_the_user_agent(fmt: str, client: Client, server: LoopbackServer) -> None:
    client.complete(MODELS[fmt], HI)
    client.complete(MODELS[fmt], HI, extra_headers={"User-Agent": "my-app/2"})
    major, minor = sys.version_info[:2]
    assert server.requests[0].headers["user-agent"] == f"steer-sync/{steer_sync.__version__} python/{major}.{minor}"
    assert server.requests[1].headers["user-agent"] == "my-app/2"


BAD_OPTIONS = [
    ({"timeout": -1}, ConfigurationError, "timeout"),
    ({"timeout": math.nan}, ConfigurationError, "timeout"),
    ({"timeout": math.inf}, ConfigurationError, "timeout"),
    ({"timeout": True}, TypeError, "timeout"),
    ({"timeout": "30"}, TypeError, "timeout"),
    ({"extra_body": [("a", 1)]}, TypeError, "extra_body"),
    ({"extra_body": {1: "x"}}, TypeError, "extra_body"),
    ({"extra_query": {"n": 1}}, TypeError, "extra_query"),
    ({"extra_query": {1: "x"}}, TypeError, "extra_query"),
    ({"extra_query": "a=b"}, TypeError, "extra_query"),
    ({"retry_policy": 3}, TypeError, "retry_policy"),
]


@pytest.mark.parametrize("options, error, word", BAD_OPTIONS)
@pytest.mark.parametrize("call", ["complete", "stream_complete", "complete_with_retry"])
def test_bad_options_raise_before_anything_is_sent(
    options: dict, error: type, word: str, call: str, client: Client, server: LoopbackServer
) -> None:
    with pytest.raises(error, match=word):
        getattr(client, call)(MODELS["anthropic"], HI, **options)
    assert server.requests == [] and server.connection_count == 0


def test_with_options_refuses_bad_options(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        client.with_options(timeout=-5)
    with pytest.raises(TypeError, match="retry_policy"):
        client.with_options(retry_policy="never")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="extra_headers"):
        client.with_options(extra_headers={"X-N": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize("fmt", FORMATS)
def test_to_dict_survives_json(fmt: str, client: Client, server: LoopbackServer) -> None:
    response = client.complete(MODELS[fmt], HI)
    again = CompletionResponse.from_dict(json.loads(json.dumps(response.to_dict())))
    assert again == response
    assert (again.request_id, again.response_id, again.model) == (
        response.request_id,
        response.response_id,
        response.model,
    )
    assert response.response_id and response.model


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_complete_json_answer_to_a_stream_request_is_streamed_out(
    fmt: str, client: Client, server: LoopbackServer
) -> None:
    # LiteLLM's mock answers `stream: true` with the whole message as application/json.
    def whole_answer(request):  # type: ignore[no-untyped-def]
        from steer_sync.testing import Reply

        rendered = _render_non_stream(fmt, request)
        return Reply(200, [("content-type", "application/json"), ("x-request-id", "req_whole")], rendered)

    server.queue(whole_answer)
    with client.stream_complete(MODELS[fmt], HI) as stream:
        chunks = list(stream)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Hello from the loopback"
    assert isinstance(chunks[-1], MessageComplete)
    assert chunks[-1].response.extract_text() == "Hello from the loopback"


def _render_non_stream(fmt: str, request) -> bytes:  # type: ignore[no-untyped-def]
    """The body the format would send for a non-streamed request (a proxy's whole answer)."""
    from dataclasses import replace as dc_replace

    from steer_sync.testing import _formats

    body = dict(request.json_dict())
    body.pop("stream", None)
    body.pop("stream_options", None)
    path = request.path.replace(":streamGenerateContent", ":generateContent")
    plain = dc_replace(request, path=path, query={}, body=json.dumps(body).encode(), json=body)
    reply = _formats.render(Turn(text="Hello from the loopback"), plain)
    return b"".join(reply.body) if isinstance(reply.body, (list, tuple)) else reply.body


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_html_answer_to_a_stream_request_names_its_content_type(
    fmt: str, client: Client, server: LoopbackServer
) -> None:
    from steer_sync import ResponseParsingError
    from steer_sync.testing import Reply

    page = b"<!DOCTYPE html><html><title>Sign in to the proxy</title></html>"
    server.queue(Reply(200, [("content-type", "text/html; charset=utf-8")], page))
    with pytest.raises(ResponseParsingError) as caught:
        client.stream_complete(MODELS[fmt], HI, retry_policy=RetryPolicy(max_attempts=1))
    message = str(caught.value)
    assert "text/html" in message and "Sign in to the proxy" in message
    assert "stream ended" not in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_sse_framed_error_body_is_described_by_its_message(fmt: str, client: Client, server: LoopbackServer) -> None:
    from steer_sync.testing import Reply

    framed = b'data: {"error": {"message": "upstream model crashed", "type": "server_error", "code": 500}}\n\n'
    server.queue(Reply(500, [("content-type", "text/event-stream")], framed))
    with pytest.raises(ServerError) as caught:
        client.complete(MODELS[fmt], HI, retry_policy=RetryPolicy(max_attempts=1))
    assert "upstream model crashed" in str(caught.value)
    assert "data:" not in str(caught.value)


def test_the_readme_timeout_example_names_web_timeouts() -> None:
    # The README's timeouts section points web views at WEB_TIMEOUTS; keep the name real.
    from steer_sync.contrib.wsgi import WEB_TIMEOUTS

    assert isinstance(WEB_TIMEOUTS, Timeouts)
    readme = (Path(__file__).resolve().parents[1] / "README.rst").read_text()
    assert "WEB_TIMEOUTS" in readme and re.search(r"timeout=\d", readme)


# --- environment conventions of the official SDKs ------------------------------------------


def _client_with_env(env: dict) -> Client:
    from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry

    providers = ProviderRegistry.load([], discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
    return Client(config, providers, ModelRegistry.load([], discover=False), retry_policy=RetryPolicy(max_attempts=1))


def test_google_api_key_wins_over_gemini_api_key_as_in_google_genai(server: LoopbackServer) -> None:
    env = {"GOOGLE_API_KEY": "google-key", "GEMINI_API_KEY": "gemini-key", "GEMINI_BASE_URL": f"{server.url}/v1beta"}
    with _client_with_env(env) as client:
        client.complete(MODELS["gemini"], HI)
    assert server.requests[0].headers["x-goog-api-key"] == "google-key"


def test_google_gemini_base_url_is_read_too(server: LoopbackServer) -> None:
    env = {"GEMINI_API_KEY": "gemini-key", "GOOGLE_GEMINI_BASE_URL": f"{server.url}/v1beta"}
    with _client_with_env(env) as client:
        assert client.complete(MODELS["gemini"], HI).extract_text()
    assert len(server.requests) == 1


def test_anthropic_auth_token_is_a_bearer_token_when_no_key_is_set(server: LoopbackServer) -> None:
    env = {"ANTHROPIC_AUTH_TOKEN": "tok-123", "ANTHROPIC_BASE_URL": server.url}
    with _client_with_env(env) as client:
        client.complete(MODELS["anthropic"], HI)
    with _client_with_env({**env, "ANTHROPIC_API_KEY": "sk-ant-key"}) as client:
        client.complete(MODELS["anthropic"], HI)
    token_request, key_request = server.requests
    assert token_request.headers["authorization"] == "Bearer tok-123" and "x-api-key" not in token_request.headers
    assert key_request.headers["x-api-key"] == "sk-ant-key" and "authorization" not in key_request.headers


def test_without_key_or_token_the_error_names_the_variables() -> None:
    with _client_with_env({}) as client, pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        client.complete(MODELS["anthropic"], HI)


def test_the_rate_limiters_wait_counts_against_the_deadline(server: LoopbackServer) -> None:
    from steer_sync import LocalRateLimiter

    limiter = LocalRateLimiter(requests_per_minute=1)
    with server.client(rate_limiter=limiter) as client:
        client.complete(MODELS["anthropic"], HI)  # takes the minute's only turn
        with pytest.raises(ApiTimeout, match="rate limit"):
            client.complete(MODELS["anthropic"], HI, timeout=0.2)
    assert len(server.requests) == 1


def test_a_provider_called_directly_honours_the_requests_options(server: LoopbackServer) -> None:
    from steer_sync import CompletionRequest, ModelId
    from steer_sync._providers.anthropic._provider import AnthropicProvider

    provider = AnthropicProvider(api_key="sk-ant-test", base_url=server.url)
    model = ModelId("anthropic", "claude-sonnet-4-5")
    try:
        provider.complete(CompletionRequest(model, HI, extra_body={"top_k": 3}, extra_query={"beta": "true"}))
        server.queue(Turn(text="late", stall_after=-1))
        with pytest.raises(ApiTimeout, match=r"0\.3 s"):
            provider.complete(CompletionRequest(model, HI, timeout=0.3))
    finally:
        provider.close()
    first = server.requests[0]
    assert first.json["top_k"] == 3 and first.query == {"beta": "true"}


def test_a_request_value_refuses_bad_options() -> None:
    from steer_sync import CompletionRequest, ModelId

    model = ModelId("anthropic", "claude-sonnet-4-5")
    with pytest.raises(ConfigurationError, match="timeout"):
        CompletionRequest(model, HI, timeout=-0.5)
    with pytest.raises(TypeError, match="extra_query"):
        CompletionRequest(model, HI, extra_query={"n": 2})  # type: ignore[dict-item]


def test_two_different_key_variables_are_reported_once_as_google_genai_does(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"GOOGLE_API_KEY": "google-key", "GEMINI_API_KEY": "gemini-key", "GEMINI_BASE_URL": f"{server.url}/v1beta"}
    with caplog.at_level("WARNING", logger="steer_sync.client"), _client_with_env(env) as client:
        client.complete(MODELS["gemini"], HI)
        client.complete(MODELS["gemini"], HI)
    warnings = [r.getMessage() for r in caplog.records if "are set" in r.getMessage()]
    assert warnings == ["Both GOOGLE_API_KEY and GEMINI_API_KEY are set. Using GOOGLE_API_KEY."]
    assert "google-key" not in caplog.text and "gemini-key" not in caplog.text


def test_a_complete_json_answer_streams_out_thinking_and_tool_calls(client: Client, server: LoopbackServer) -> None:
    from steer_sync import ThinkingDelta, ToolUseInputDelta, ToolUseStart
    from steer_sync.testing import Reply, ToolCallSpec

    turn = Turn(thinking="Let me look.", thinking_signature="c2ln", tool_calls=[ToolCallSpec("t1", "lookup", {"q": 1})])

    def whole_answer(request):  # type: ignore[no-untyped-def]
        body = dict(request.json_dict())
        body.pop("stream", None)
        from dataclasses import replace as dc_replace

        from steer_sync.testing import _formats

        plain = dc_replace(request, body=json.dumps(body).encode(), json=body)
        reply = _formats.render(turn, plain)
        return Reply(200, [("content-type", "application/json")], reply.body)

    server.queue(whole_answer)
    with client.stream_complete(MODELS["anthropic"], HI) as stream:
        chunks = list(stream)
    assert [c.text for c in chunks if isinstance(c, ThinkingDelta)] == ["Let me look."]
    assert [(c.id, c.name) for c in chunks if isinstance(c, ToolUseStart)] == [("t1", "lookup")]
    assert json.loads("".join(c.delta for c in chunks if isinstance(c, ToolUseInputDelta))) == {"q": 1}
    final = chunks[-1]
    assert isinstance(final, MessageComplete) and final.response.extract_tool_calls()[0].parameters == {"q": 1}


def test_a_408_is_still_retried_under_a_deadline(client: Client, server: LoopbackServer) -> None:
    server.queue(ErrorReply(408, "request timeout"), Turn(text="second"))
    assert client.complete(MODELS["anthropic"], HI, timeout=30).extract_text() == "second"
    assert len(server.requests) == 2


def test_per_call_options_repr_shows_no_extra_query_or_body() -> None:
    from steer_sync._call_options import PerCallOptions

    options = PerCallOptions(
        timeout=5.0, extra_body={"api_key": "sk-body-0123456789"}, extra_query={"key": "sk-q-98765"}
    )
    assert "sk-body-0123456789" not in repr(options) and "sk-q-98765" not in repr(options)
    assert "timeout=5.0" in repr(options)
