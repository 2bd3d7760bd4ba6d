"""Request ids, response ids and the answering model, per wire format, over the loopback.

Each format reads its own header (``request-id`` for Anthropic, ``x-request-id`` for OpenAI
and xAI; Google sends none, so a proxy's ``x-request-id`` is read for Gemini), on streamed and
non-streamed calls, on success and on 4xx/5xx, and from the error body where the header is
missing (Anthropic's error bodies carry ``request_id``). Errors name the id in their message.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from steer_sync import (
    ApiError,
    ApiStreamError,
    Client,
    CompletionResponse,
    ErrorChunk,
    InvalidRequest,
    Message,
    RetryPolicy,
    ServerError,
)
from steer_sync.testing import ErrorReply, LoopbackServer, RecordedRequest, Reply, Turn
from steer_sync.testing._script import loopback_id

HI = [Message.user("hi")]
ONCE = RetryPolicy(max_attempts=1)

MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai_responses": "openai/gpt-5.4",
    "openai_chat": "gw/m1",
    "gemini": "google/gemini-3-flash-preview",
    "xai": "xai/grok-4-1-fast-reasoning",
}
FORMATS = sorted(MODELS)
#: Google's own answers carry no request id header; a proxy in front of it may add one.
PROXY_HEADERS: Tuple[Tuple[str, str], ...] = (("x-request-id", "proxy-3b9f0c1e"),)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer, tmp_path: Path) -> Iterator[Client]:
    catalog = tmp_path / "gw.toml"
    catalog.write_text(
        '[[providers]]\nid = "gw"\nname = "Gateway"\napi_format = "openai-chat"\nauth_schemes = []\n'
        f'base_url = "{server.url}/v1"\n'
        '[[models]]\nprovider = "gw"\nid = "m1"\n[models.parameters]\nmax_output_tokens = 100\n'
    )
    made = server.client(catalogs=[str(catalog)], retry_policy=RetryPolicy(base_delay=0, jitter=0))
    yield made
    made.close()


def expected_id(fmt: str, request: RecordedRequest, success: bool) -> str:
    """The request id the loopback server sent for ``request`` (as the real services shape them)."""
    if fmt == "anthropic":
        return loopback_id("req_", request)
    if fmt == "gemini":
        return PROXY_HEADERS[0][1]
    if fmt == "xai":  # xAI's request ids are UUIDs
        raw = loopback_id("", request, 32)
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
    return loopback_id("req_", request, 32)


def headers_for(fmt: str) -> Tuple[Tuple[str, str], ...]:
    return PROXY_HEADERS if fmt == "gemini" else ()


RESPONSE_ID_SHAPES = {
    "anthropic": "msg_",
    "openai_responses": "resp_",
    "openai_chat": "chatcmpl-",
    "gemini": "",
    "xai": "",
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_success_carries_the_request_id_response_id_and_model(
    fmt: str, streamed: bool, client: Client, server: LoopbackServer
) -> None:
    server.queue(Turn(text="hello", headers=headers_for(fmt), model="model-2026-01-01"))
    if streamed:
        with client.stream_complete(MODELS[fmt], HI) as stream:
            response = stream.collect()
    else:
        response = client.complete_with_retry(MODELS[fmt], HI)
    (request,) = server.requests
    assert response.request_id == expected_id(fmt, request, success=True)
    assert response.response_id and response.response_id.startswith(RESPONSE_ID_SHAPES[fmt])
    assert response.model == "model-2026-01-01"
    assert repr(response).count(response.request_id) == 1


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status, error_class", [(400, InvalidRequest), (500, ServerError)])
@pytest.mark.parametrize("streamed", [False, True])
def test_an_http_error_carries_the_request_id_in_its_message(
    fmt: str, status: int, error_class: type, streamed: bool, client: Client, server: LoopbackServer
) -> None:
    server.queue(ErrorReply(status, "something is wrong", headers=headers_for(fmt)))
    with pytest.raises(error_class) as caught:
        if streamed:
            client.stream_complete(MODELS[fmt], HI, retry_policy=ONCE)
        else:
            client.complete_with_retry(MODELS[fmt], HI, max_attempts=1)
    error = caught.value
    (request,) = server.requests
    wanted = expected_id(fmt, request, success=False)
    assert error.request_id == wanted
    assert str(error).endswith(f"(request id: {wanted})")
    # Rebuilt from its args and through pickle (Celery), it still names the id.
    for again in (type(error)(*error.args), pickle.loads(pickle.dumps(error))):
        assert again.request_id == wanted and str(again) == str(error)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_in_stream_error_surfaced_by_collect_carries_the_request_id(
    fmt: str, client: Client, server: LoopbackServer
) -> None:
    server.queue(Turn(text="partial answer here", error_after=1, headers=headers_for(fmt)))
    with client.stream_complete(MODELS[fmt], HI, retry_policy=ONCE) as stream:
        chunks = list(stream)
    failure = chunks[-1]
    assert isinstance(failure, ErrorChunk)
    (request,) = server.requests
    wanted = expected_id(fmt, request, success=True)
    assert getattr(failure.error, "request_id", None) == wanted

    server.clear()
    server.queue(Turn(text="partial answer here", error_after=1, headers=headers_for(fmt)))
    with pytest.raises(ApiError) as caught:
        client.complete(MODELS[fmt], HI, retry_policy=ONCE)
    (request,) = server.requests
    assert caught.value.request_id == wanted
    assert str(caught.value).endswith(f"(request id: {wanted})")


def test_anthropic_error_body_request_id_is_used_without_the_header(client: Client, server: LoopbackServer) -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad effort"},
        "request_id": "req_011Ca7jT9AHpgXgdv8igm4z9",
    }
    server.queue(Reply(400, [("content-type", "application/json")], json.dumps(body).encode()))
    with pytest.raises(InvalidRequest) as caught:
        client.complete(MODELS["anthropic"], HI)
    assert caught.value.request_id == "req_011Ca7jT9AHpgXgdv8igm4z9"
    assert str(caught.value).endswith("(request id: req_011Ca7jT9AHpgXgdv8igm4z9)")


def test_an_openai_error_without_a_header_has_no_request_id(client: Client, server: LoopbackServer) -> None:
    body = {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}
    server.queue(Reply(400, [("content-type", "application/json")], json.dumps(body).encode()))
    with pytest.raises(InvalidRequest) as caught:
        client.complete(MODELS["openai_responses"], HI)
    assert caught.value.request_id is None and "request id" not in str(caught.value)


def test_googles_own_answer_has_a_response_id_but_no_request_id(client: Client, server: LoopbackServer) -> None:
    response = client.complete(MODELS["gemini"], HI)
    assert response.request_id is None
    assert response.response_id and response.model


def test_to_dict_of_every_content_kind_survives_json() -> None:
    from steer_sync import (
        ImageContent,
        RedactedThought,
        SignedThought,
        SimpleThought,
        TextContent,
        TokenUsage,
        ToolCall,
        ToolCallContent,
    )

    content: List[object] = [
        SimpleThought("plain thinking"),
        SignedThought("signed thinking", "sig-abc"),
        RedactedThought("opaque-data"),
        TextContent("answer"),
        ToolCallContent(ToolCall("call_1", "lookup", {"q": "x", "n": [1, 2.5, None, True]})),
    ]
    content.append(ImageContent.from_url("https://example.com/cat.png", "image/png"))
    content.append(ImageContent.from_base64("iVBORw0KGgo=", "image/png"))
    response = CompletionResponse(
        content,  # type: ignore[arg-type]
        usage=TokenUsage(10, 20, 30, cache_read_input_tokens=3, cache_creation_input_tokens=2, reasoning_tokens=4),
        stop_reason="tool_use",
        request_id="req_1",
        response_id="msg_1",
        model="claude-sonnet-4-5-20250929",
    )
    text = json.dumps(response.to_dict())
    again = CompletionResponse.from_dict(json.loads(text))
    assert again == response
    assert (again.request_id, again.response_id, again.model) == ("req_1", "msg_1", "claude-sonnet-4-5-20250929")
    assert again.content == response.content and again.usage == response.usage


def test_an_sse_framed_5xx_body_is_unframed_for_its_message(client: Client, server: LoopbackServer) -> None:
    framed = b'data: {"error": {"message": "Internal error while streaming", "type": "server_error"}}\n\n'
    server.queue(Reply(503, [("content-type", "text/event-stream"), ("x-request-id", "req_sse503")], framed))
    with pytest.raises(ServerError) as caught:
        client.stream_complete(MODELS["openai_chat"], HI, retry_policy=ONCE)
    assert "Internal error while streaming" in str(caught.value)
    assert caught.value.request_id == "req_sse503"


def test_a_stream_error_rebuilt_from_its_value_keeps_the_id() -> None:
    from steer_sync._errors import ProviderStreamError, ProviderStreamErrorKind
    from steer_sync._stream import stream_error_to_api_error

    value = ProviderStreamError("anthropic", ProviderStreamErrorKind.OVERLOADED, "overloaded_error", "busy", "req_9")
    error = stream_error_to_api_error(value, "anthropic")
    assert isinstance(error, ApiStreamError) and error.request_id == "req_9"
    assert value == ProviderStreamError("anthropic", ProviderStreamErrorKind.OVERLOADED, "overloaded_error", "busy")
