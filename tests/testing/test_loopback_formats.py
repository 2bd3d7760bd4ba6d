"""Each wire format the loopback server speaks, checked over real sockets and against recordings.

The recorded provider traffic in ``shared/wire-fixtures`` (beside the checkout) is read at run
time to check that the rendered shapes match the real ones: same event sequence, same keys.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from _outside import recordings_dir

from steer_sync.testing import ErrorReply, LoopbackServer, Reply, Turn

FIXTURES = recordings_dir()  # tests reading it are marked conformance (tests/conftest.py)
TEXT = "The capital of France is Paris."
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def parse_sse(body: bytes, line_ending: bytes = b"\n") -> List[Tuple[Optional[str], str]]:
    """Split a body into ``(event, data)`` pairs, asserting the exact line ending."""
    events = []
    for block in body.split(line_ending * 2):
        if not block:
            continue
        event, data = None, []
        for line in block.split(line_ending):
            assert b"\r" not in line and b"\n" not in line, f"mixed line endings in {block!r}"
            name, _, value = line.decode("utf-8").partition(": ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        events.append((event, "\n".join(data)))
    return events


def post(server: LoopbackServer, path: str, body: Dict[str, Any], **params: str) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, params=params or None, timeout=10)


def read_fixture(provider: str, case: str) -> Tuple[int, Dict[str, str], bytes]:
    recording = Reply.from_recording(FIXTURES / provider / f"{case}.http")
    assert isinstance(recording.body, bytes)
    return recording.status, {name.lower(): value for name, value in recording.headers}, recording.body


def collapse(names: List[Optional[str]]) -> List[Optional[str]]:
    """Drop consecutive repeats (the number of deltas depends on the text)."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


# -- Anthropic -------------------------------------------------------------------------


def test_anthropic_stream_renders_a_text_turn_event_by_event(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(20, 7)))
    response = post(server, "/v1/messages", {"model": "claude-test", "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.content)
    names = [e for e, _ in events]
    assert collapse(names) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(d) for _, d in events]
    assert all(p["type"] == n for p, n in zip(payloads, names))
    assert payloads[0]["message"]["model"] == "claude-test"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 20
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert text == TEXT
    delta = payloads[-2]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (20, 7)


@pytest.mark.conformance
def test_anthropic_stream_matches_the_recorded_shape() -> None:
    _, headers, body = read_fixture("anthropic", "stream_text_short")
    recorded = parse_sse(body)
    with LoopbackServer() as server:
        server.queue(Turn(text="2"))
        ours = parse_sse(post(server, "/v1/messages", {"model": "m", "stream": True}).content)
    assert [e for e, _ in ours] == [e for e, _ in recorded]
    for (_, mine), (_, real) in zip(ours, recorded):
        mine_obj, real_obj = json.loads(mine), json.loads(real)
        assert real_obj.keys() <= mine_obj.keys()
        if "message" in real_obj:
            assert real_obj["message"].keys() <= mine_obj["message"].keys()
    assert headers["content-type"] == "text/event-stream; charset=utf-8"


@pytest.mark.conformance
def test_anthropic_non_stream_is_one_message_object(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(3, 4), stop_reason="max_tokens", model="claude-x"))
    message = post(server, "/v1/messages", {"model": "claude-test"}).json()
    _, _, recorded = read_fixture("anthropic", "complete_text_max_tokens")
    assert json.loads(recorded).keys() <= message.keys()
    assert message["content"] == [{"type": "text", "text": TEXT}]
    assert (message["model"], message["stop_reason"]) == ("claude-x", "max_tokens")
    assert (message["usage"]["input_tokens"], message["usage"]["output_tokens"]) == (3, 4)


def test_anthropic_error_has_its_type_and_retry_after(server: LoopbackServer) -> None:
    server.queue(ErrorReply(429, "slow down", retry_after=2))
    response = post(server, "/v1/messages", {"model": "m"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "rate_limit_error", "message": "slow down"}


# -- OpenAI Responses ------------------------------------------------------------------


def test_responses_stream_renders_a_text_turn(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(9, 12)))
    response = post(server, "/v1/responses", {"model": "gpt-4.1", "stream": True})
    events = parse_sse(response.content)
    payloads = [json.loads(d) for _, d in events]
    assert all(p["type"] == e for p, (e, _) in zip(payloads, events))
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    text = "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    assert text == TEXT
    completed = payloads[-1]["response"]
    assert (payloads[-1]["type"], completed["status"]) == ("response.completed", "completed")
    assert completed["output"][0]["content"][0]["text"] == TEXT
    assert completed["usage"]["total_tokens"] == 21


@pytest.mark.conformance
def test_responses_stream_matches_the_recorded_event_sequence() -> None:
    _, _, body = read_fixture("openai_responses", "stream_text")
    recorded = parse_sse(body)
    with LoopbackServer() as server:
        ours = parse_sse(post(server, "/v1/responses", {"model": "m", "stream": True}).content)
    assert collapse([e for e, _ in ours if e]) == collapse([e for e, _ in recorded if e])
    real_completed, our_completed = json.loads(recorded[-1][1]), json.loads(ours[-1][1])
    assert real_completed["response"].keys() <= our_completed["response"].keys()
    assert real_completed["response"]["usage"].keys() <= our_completed["response"]["usage"].keys()


@pytest.mark.conformance
def test_responses_non_stream_is_a_completed_response_object(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(53, 40)))
    body = post(server, "/v1/responses", {"model": "gpt-4.1"}).json()
    _, _, recorded = read_fixture("openai_responses", "complete_text")
    assert json.loads(recorded).keys() <= body.keys()
    assert body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == TEXT
    assert body["usage"]["total_tokens"] == 93


def test_responses_error_is_openai_shaped(server: LoopbackServer) -> None:
    server.queue(ErrorReply(401, "Incorrect API key provided"))
    response = post(server, "/v1/responses", {"model": "m"})
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "message": "Incorrect API key provided",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def test_responses_in_stream_error_event(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, error_after=1, error=ErrorReply(429, "Something went wrong", code="ERR_X")))
    events = parse_sse(post(server, "/v1/responses", {"model": "m", "stream": True}).content)
    assert [e for e, _ in events] == ["response.created", "error"]
    error = json.loads(events[1][1])
    assert (error["type"], error["code"], error["message"]) == ("error", "ERR_X", "Something went wrong")


# -- Chat Completions and xAI ----------------------------------------------------------


def _chat_chunks(body: bytes) -> Tuple[List[Dict[str, Any]], str]:
    events = parse_sse(body)
    assert all(event is None for event, _ in events)  # Chat Completions sends data: lines only
    return [json.loads(d) for _, d in events[:-1]], events[-1][1]


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream_renders_a_text_turn(server: LoopbackServer, include_usage: bool) -> None:
    server.queue(Turn(text=TEXT, usage=(14, 30)))
    body: Dict[str, Any] = {"model": "gpt-4o", "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    chunks, last = _chat_chunks(post(server, "/v1/chat/completions", body).content)
    assert last == "[DONE]"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == TEXT
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    usage_chunks = [c for c in chunks if "usage" in c]
    if include_usage:
        assert usage_chunks == [chunks[-1]]
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["total_tokens"] == 44
    else:
        assert usage_chunks == []


@pytest.mark.conformance
def test_chat_stream_matches_the_recorded_chunk_shape() -> None:
    _, _, body = read_fixture("openai_chat", "stream_text_include_usage")
    recorded, recorded_last = _chat_chunks(body)
    with LoopbackServer() as server:
        request = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
        ours, last = _chat_chunks(post(server, "/v1/chat/completions", request).content)
    assert last == recorded_last == "[DONE]"
    assert recorded[0].keys() <= ours[0].keys()
    assert ours[0]["choices"][0] == recorded[0]["choices"][0]  # the role opener
    assert ours[-2]["choices"] == recorded[-2]["choices"]  # the finish chunk
    assert recorded[-1].keys() <= ours[-1].keys()


@pytest.mark.conformance
def test_chat_non_stream_is_a_chat_completion(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(109, 118)))
    body = post(server, "/v1/chat/completions", {"model": "gpt-4o"}).json()
    _, _, recorded = read_fixture("openai_chat", "complete_text")
    assert json.loads(recorded).keys() - {"service_tier"} <= body.keys()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == TEXT
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 227


def test_chat_error_and_in_stream_error(server: LoopbackServer) -> None:
    server.queue(
        ErrorReply(429, "Rate limit reached", retry_after=0.5),
        Turn(text=TEXT, error_after=2, error=ErrorReply(500, "upstream failed")),
    )
    response = post(server, "/v1/chat/completions", {"model": "gpt-4o"})
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("1", "500")
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    events = parse_sse(post(server, "/v1/chat/completions", {"model": "gpt-4o", "stream": True}).content)
    assert len(events) == 3
    assert json.loads(events[-1][1])["error"]["message"] == "upstream failed"


@pytest.mark.conformance
def test_grok_models_get_xai_errors_and_chunks(server: LoopbackServer) -> None:
    server.queue(ErrorReply(400, "Incorrect API key provided"), Turn(text=TEXT))
    response = post(server, "/v1/chat/completions", {"model": "grok-3-mini"})
    assert response.status_code == 400
    _, _, recorded = read_fixture("xai", "error_400_incorrect_api_key")
    assert response.json().keys() == json.loads(recorded).keys() == {"code", "error"}
    assert response.json() == {"code": "Client specified an invalid argument", "error": "Incorrect API key provided"}
    chunks, last = _chat_chunks(post(server, "/v1/chat/completions", {"model": "grok-3-mini", "stream": True}).content)
    assert last == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"content": "The", "role": "assistant"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == TEXT


def test_format_xai_forces_the_xai_shape_for_any_model(server: LoopbackServer) -> None:
    server.queue(ErrorReply(500, "boom", format="xai"))
    assert post(server, "/v1/chat/completions", {"model": "my-gateway-model"}).json() == {
        "code": "Internal error",
        "error": "boom",
    }


# -- Gemini ----------------------------------------------------------------------------


def test_gemini_sse_stream_uses_crlf_and_finishes_on_the_last_chunk(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(13, 8)))
    response = post(server, f"{GEMINI_PATH}:streamGenerateContent", {"contents": []}, alt="sse")
    assert response.headers["content-type"] == "text/event-stream"
    events = parse_sse(response.content, b"\r\n")
    chunks = [json.loads(d) for _, d in events]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == TEXT
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    final = chunks[-1]["usageMetadata"]
    assert (final["promptTokenCount"], final["candidatesTokenCount"], final["totalTokenCount"]) == (13, 8, 21)
    assert chunks[-1]["modelVersion"] == "gemini-2.5-flash"


@pytest.mark.conformance
def test_gemini_stream_matches_the_recorded_bytes_layout() -> None:
    _, _, body = read_fixture("gemini", "stream_text")
    recorded = [json.loads(d) for _, d in parse_sse(body, b"\r\n")]
    with LoopbackServer() as server:
        raw = post(server, f"{GEMINI_PATH}:streamGenerateContent", {}, alt="sse").content
    ours = [json.loads(d) for _, d in parse_sse(raw, b"\r\n")]
    assert raw.startswith(b'data: {"candidates": [{"content": {"parts": [{"text": ')
    assert all(recorded[0].keys() <= c.keys() for c in ours)
    assert recorded[-1].keys() <= ours[-1].keys()
    assert recorded[-1]["candidates"][0].keys() <= ours[-1]["candidates"][0].keys()
    assert recorded[-1]["usageMetadata"].keys() - {"candidatesTokensDetails"} <= ours[-1]["usageMetadata"].keys()


def test_gemini_stream_without_alt_sse_is_a_json_array(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT))
    elements = post(server, f"{GEMINI_PATH}:streamGenerateContent", {}).json()
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in elements) == TEXT


@pytest.mark.conformance
def test_gemini_generate_content_is_one_response(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=(9, 9)))
    body = post(server, f"{GEMINI_PATH}:generateContent", {}).json()
    _, _, recorded = read_fixture("gemini", "complete_text")
    assert json.loads(recorded).keys() <= body.keys()
    candidate = body["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": TEXT}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"]["totalTokenCount"] == 18


@pytest.mark.conformance
def test_gemini_rate_limit_carries_retry_info_in_the_body_only(server: LoopbackServer) -> None:
    server.queue(ErrorReply(429, "You exceeded your current quota", retry_after=26))
    response = post(server, f"{GEMINI_PATH}:generateContent", {})
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    error = response.json()["error"]
    _, _, recorded = read_fixture("gemini", "error_429_resource_exhausted_retryinfo")
    assert json.loads(recorded)["error"].keys() <= error.keys()
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}]


def test_gemini_in_stream_error_is_a_crlf_data_event(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, error_after=1, error=ErrorReply(503, "The model is overloaded.")))
    events = parse_sse(post(server, f"{GEMINI_PATH}:streamGenerateContent", {}, alt="sse").content, b"\r\n")
    assert len(events) == 2
    assert json.loads(events[1][1]) == {
        "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    }


def test_a_turn_can_force_a_format_on_any_path(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, format="anthropic"))
    assert post(server, "/custom/route", {"model": "m"}).json()["content"][0]["text"] == TEXT


# -- issue 18 item 15: what official SDKs need -----------------------------------------


@pytest.mark.parametrize(
    ("signature", "sent"),
    [("sig-think", "c2lnLXRoaW5r"), ("c2lnLXRoaW5r", "c2lnLXRoaW5r"), ("EqQBCkYIBxgCKkA=", "EqQBCkYIBxgCKkA=")],
)
def test_gemini_thought_signatures_are_sent_as_base64(server: LoopbackServer, signature: str, sent: str) -> None:
    server.queue(Turn(thinking="hm", thinking_signature=signature, text=TEXT))
    body = post(server, f"{GEMINI_PATH}:generateContent", {}).json()
    parts = body["candidates"][0]["content"]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == [None, sent]


def test_anthropic_unknown_usage_is_sent_as_zero_counts(server: LoopbackServer) -> None:
    server.queue(Turn(text=TEXT, usage=None), Turn(text=TEXT, usage=None))
    events = [json.loads(d) for _, d in parse_sse(post(server, "/v1/messages", {"model": "m", "stream": True}).content)]
    (start,) = [e for e in events if e["type"] == "message_start"]
    (delta,) = [e for e in events if e["type"] == "message_delta"]
    assert start["message"]["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert delta["usage"] == {"output_tokens": 0}
    message = post(server, "/v1/messages", {"model": "m"}).json()
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}
