"""Bad call arguments are refused before anything is sent (issue 18, items 4 and 10).

Each case runs a real Client against the loopback server and checks both the error (its
class and that it names the argument) and that the server saw no request.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

from steer_sync import (
    ConfigurationError,
    Message,
    ModelParameters,
    TextContent,
    ToolCall,
    ToolCallContent,
)
from steer_sync._client import Client
from steer_sync._transport import json_dumps
from steer_sync._validate import check_call_arguments
from steer_sync.testing import LoopbackServer, Turn
from steer_sync.testing._client import client_for

MODELS = ["anthropic/claude-sonnet-4-5", "openai/gpt-5", "google/gemini-2.5-pro", "xai/grok-4"]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer) -> Iterator[Client]:
    with client_for(server.url) as c:
        yield c


@pytest.mark.parametrize("model", MODELS)
def test_a_dict_as_call_options_is_refused_naming_model_parameters(
    client: Client, server: LoopbackServer, model: str
) -> None:
    with pytest.raises(TypeError, match=r"call_options must be a ModelParameters.*ModelParameters\(\*\*options\)"):
        client.complete(model, [Message.user("hi")], call_options={"temperature": 0.2})  # type: ignore[arg-type]
    assert server.requests == []


@pytest.mark.parametrize("model", MODELS)
def test_none_as_messages_is_refused(client: Client, server: LoopbackServer, model: str) -> None:
    with pytest.raises(TypeError, match=r"messages must be a list of Message.*got NoneType"):
        client.complete(model, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"messages must be a list of Message"):
        client.stream_complete(model, None)  # type: ignore[arg-type]
    assert server.requests == []


@pytest.mark.parametrize("headers", [{"x-retries": 3}, {"x-token": b"abc"}])
def test_a_non_str_extra_header_value_is_refused_naming_the_header(
    client: Client, server: LoopbackServer, headers: Dict[str, Any]
) -> None:
    (name,) = headers
    with pytest.raises(TypeError, match=rf"extra_headers\['{name}'\] must be a str"):
        client.complete(MODELS[0], [Message.user("hi")], extra_headers=headers)
    assert server.requests == []


@pytest.mark.parametrize("model", [MODELS[0], MODELS[2]])  # formats that nest arguments as JSON objects
def test_nan_in_a_tool_call_argument_is_refused_before_sending(
    client: Client, server: LoopbackServer, model: str
) -> None:
    # ToolCall parameters are not checked when built (they come back from providers), so
    # the shell's body check refuses them, naming the field in the request body.
    call = ToolCall("call_1", "clamp", {"value": float("nan")})
    history = [
        Message.user("clamp it"),
        Message.assistant([ToolCallContent(call)]),
        Message.tool_result("call_1", "done"),
    ]
    with pytest.raises(ConfigurationError, match=r"request field '.*\.value' is not a finite number"):
        client.complete(model, history)
    assert server.requests == []


@pytest.mark.parametrize("model", MODELS)
def test_a_lone_surrogate_in_assistant_text_is_refused_before_sending(
    client: Client, server: LoopbackServer, model: str
) -> None:
    history = [Message.user("hi"), Message.assistant([TextContent("bad \udcff")]), Message.user("again")]
    with pytest.raises(ConfigurationError, match=r"holds a lone surrogate '\\udcff'"):
        client.complete(model, history)
    assert server.requests == []


def test_valid_arguments_still_reach_the_server(client: Client, server: LoopbackServer) -> None:
    server.queue(Turn(text="fine"))
    response = client.complete(
        MODELS[0],
        [Message.user("hi")],
        call_options=ModelParameters(temperature=0.5),
        extra_headers={"x-trace": "abc"},
    )
    assert response.extract_text() == "fine"
    assert server.requests[0].headers["x-trace"] == "abc"


def test_json_dumps_refuses_nan_and_infinity_naming_the_path() -> None:
    with pytest.raises(ConfigurationError, match=r"holds inf at generationConfig.temperature"):
        json_dumps({"generationConfig": {"temperature": float("inf")}})
    with pytest.raises(ConfigurationError, match=r"holds nan at a\[1\]"):
        json_dumps({"a": [1, float("nan")]})


def test_json_dumps_refuses_values_json_cannot_encode() -> None:
    with pytest.raises(ConfigurationError, match=r"holds a value of type object at tools\[0\]"):
        json_dumps({"tools": [object()]})


def test_json_dumps_keeps_non_ascii_text_as_is() -> None:
    assert json_dumps({"t": "café ☕", "n": 1.5}) == '{"t":"café ☕","n":1.5}'


def test_check_call_arguments_accepts_what_the_client_documents() -> None:
    check_call_arguments([Message.user("hi")], None, None)
    check_call_arguments((Message.user("hi"),), ModelParameters(), {"x-a": "b"})
    with pytest.raises(TypeError, match=r"extra_headers must be a dict"):
        check_call_arguments([Message.user("hi")], None, [("x-a", "b")])
