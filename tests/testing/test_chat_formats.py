"""The loopback server's Chat Completions and xAI renderings, checked against the recordings (no sockets)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import pytest
from _outside import recordings_dir

from steer_sync.testing import ErrorReply, RecordedRequest, Reply, ToolCallSpec, Turn
from steer_sync.testing._formats import render
from steer_sync.testing._openai_chat import refusal

FIXTURES = recordings_dir()  # tests reading it are marked conformance (tests/conftest.py)
STREAM = {"stream": True, "stream_options": {"include_usage": True}}


def request(model: str, **body: Any) -> RecordedRequest:
    payload = {"model": model, "messages": [], **body}
    return RecordedRequest("POST", "/v1/chat/completions", {}, {}, json.dumps(payload).encode(), payload)


def data_lines(reply: Reply) -> List[str]:
    parts = reply.body_parts()
    events = [p.decode() for p in parts]
    assert all(e.startswith("data: ") and e.endswith("\n\n") and e.count("\n") == 2 for e in events), events
    return [e[len("data: ") : -2] for e in events]


def chunks(reply: Reply) -> List[Dict[str, Any]]:
    lines = data_lines(reply)
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def deltas(items: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in items if c["choices"]]


def same_deltas(ours: List[Dict[str, Any]], theirs: List[Dict[str, Any]]) -> bool:
    """Same texts and delta layout (role on the first delta only), whatever the word splits."""
    mine, real = deltas(ours), deltas(theirs)

    def joined(items: List[Dict[str, Any]], key: str) -> str:
        return "".join(d.get(key) or "" for d in items)

    def layout(items: List[Dict[str, Any]]) -> List[List[str]]:
        out: List[List[str]] = []
        for d in items:
            keys = sorted(d)
            if not out or keys != out[-1] or "role" in keys:
                out.append(keys)
        return out

    return (
        all(joined(mine, k) == joined(real, k) for k in ("content", "reasoning_content"))
        and list(mine[0]) == list(real[0])
        and layout(mine) == layout(real)
    )


def recorded(provider: str, case: str) -> List[Dict[str, Any]]:
    recording = Reply.from_recording(FIXTURES / provider / f"{case}.http")
    assert isinstance(recording.body, bytes)
    body = recording.body.decode()
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


def header(reply: Reply, name: str) -> Optional[str]:
    return next((v for k, v in reply.headers if k.lower() == name), None)


# --- OpenAI ---------------------------------------------------------------------------------------


@pytest.mark.conformance
def test_openai_parallel_tool_calls_have_the_recorded_shape() -> None:
    calls = [
        ToolCallSpec(
            "call_JMW1whyEaYG438VE1OIflxA2",
            "GetWeatherArgs",
            '{"city": "Edinburgh", "country": "GB", "units": "c"}',
            chunks=11,
        ),
        ToolCallSpec(
            "call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", '{"ticker": "AAPL", "exchange": "NASDAQ"}', chunks=9
        ),
    ]
    ours = chunks(render(Turn(tool_calls=calls, usage=(149, 60)), request("gpt-4o", **STREAM)))
    theirs = recorded("openai_chat", "stream_parallel_tool_calls")
    # Same sequence of chunk kinds: opener, per call an opener with id/name then argument pieces,
    # the finish chunk, the usage chunk.
    assert ours[0]["choices"][0] == theirs[0]["choices"][0]
    assert [list(d) for d in deltas(ours)] == [list(d) for d in deltas(theirs)]
    for mine, real in zip(deltas(ours), deltas(theirs)):
        if "tool_calls" in real:
            assert mine["tool_calls"][0].keys() == real["tool_calls"][0].keys()
            assert mine["tool_calls"][0]["index"] == real["tool_calls"][0]["index"]
    assert ours[-2]["choices"] == theirs[-2]["choices"]
    assert ours[-1]["choices"] == [] and ours[-1]["usage"]["total_tokens"] == 209
    pieces = [
        "".join(
            d["tool_calls"][0]["function"]["arguments"]
            for d in deltas(ours)
            if d.get("tool_calls", [{}])[0].get("index") == i
        )
        for i in (0, 1)
    ]
    assert pieces == [calls[0].arguments, calls[1].arguments]


def test_openai_reasoning_then_text_then_finish() -> None:
    items = chunks(
        render(Turn(thinking="Hmm ok", text="Hi there", usage=(5, 10)), request("deepseek-reasoner", **STREAM))
    )
    assert deltas(items)[:5] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"reasoning_content": "Hmm"},
        {"reasoning_content": " ok"},
        {"content": "Hi"},
        {"content": " there"},
    ]
    usage = items[-1]["usage"]
    # OpenAI counts reasoning inside completion_tokens.
    assert (
        usage["completion_tokens"],
        usage["total_tokens"],
        usage["completion_tokens_details"]["reasoning_tokens"],
    ) == (10, 15, 2)


def test_openai_non_stream_tool_calls_and_reasoning() -> None:
    reply = render(Turn(thinking="t", tool_calls=[ToolCallSpec("c1", "f", {"a": 1})]), request("gpt-4o"))
    body = json.loads(b"".join(reply.body_parts()))
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "t"
    assert message["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert header(reply, "x-request-id") is not None


@pytest.mark.conformance
def test_openai_refusal_stream_matches_the_recording() -> None:
    reply = refusal("I'm sorry, I can't assist with that request.", usage=(79, 11))(request("gpt-4o", **STREAM))
    ours, theirs = chunks(reply), recorded("openai_chat", "stream_refusal")
    assert ours[0]["choices"][0] == theirs[0]["choices"][0]
    assert "".join(d.get("refusal") or "" for d in deltas(ours)) == "".join(
        d.get("refusal") or "" for d in deltas(theirs)
    )
    assert ours[-2]["choices"] == theirs[-2]["choices"]


def test_openai_refusal_non_stream() -> None:
    reply = refusal("No.")(request("gpt-4o"))
    message = json.loads(b"".join(reply.body_parts()))["choices"][0]["message"]
    assert (message["content"], message["refusal"]) == (None, "No.")


def test_openai_http_error_shape_and_headers() -> None:
    reply = render(
        ErrorReply(429, "Slow down", retry_after=2, headers=[("x-ratelimit-remaining-requests", "0")]),
        request("gpt-4o"),
    )
    assert reply.status == 429
    assert json.loads(b"".join(reply.body_parts())) == {
        "error": {"message": "Slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    assert header(reply, "retry-after") == "2"
    assert header(
        reply,
        "x-request-id",
    ).startswith("req_")  # type: ignore[union-attr]
    assert header(reply, "x-ratelimit-remaining-requests") == "0"


def test_openai_in_stream_error_is_a_data_line_with_an_error_object() -> None:
    lines = data_lines(
        render(Turn(text="a b c", error_after=2, error=ErrorReply(500, "boom")), request("gpt-4o", **STREAM))
    )
    assert len(lines) == 3
    assert json.loads(lines[-1]) == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}


# --- xAI ---------------------------------------------------------------------------------------------------


@pytest.mark.conformance
def test_xai_reasoning_stream_has_the_recorded_shape() -> None:
    ours = chunks(
        render(Turn(thinking="First, the user said", text="Hello", usage=(12, 5)), request("grok-3-mini", **STREAM))
    )
    theirs = recorded("xai", "stream_reasoning_content")
    assert same_deltas(ours, theirs)
    assert list(ours[0]) == list(theirs[0])
    assert ours[-2]["choices"] == theirs[-2]["choices"]
    assert ours[-1].keys() - {"cost_in_usd_ticks"} == theirs[-1].keys() - {"cost_in_usd_ticks"}
    usage = ours[-1]["usage"]
    # xAI: completion_tokens excludes the 4 reasoning tokens, total counts them.
    assert (
        usage["completion_tokens"],
        usage["total_tokens"],
        usage["completion_tokens_details"]["reasoning_tokens"],
    ) == (1, 17, 4)
    assert usage.keys() - {"cost_in_usd_ticks"} == theirs[-1]["usage"].keys() - {"cost_in_usd_ticks"}


@pytest.mark.conformance
def test_xai_tool_call_is_sent_whole_like_the_recording() -> None:
    call = ToolCallSpec("call_55117580", "weather", {"location": "San Francisco"})
    ours = chunks(render(Turn(thinking="First, the user is", tool_calls=[call]), request("grok-3-mini", **STREAM)))
    theirs = recorded("xai", "stream_reasoning_then_tool_call")
    assert same_deltas(ours, theirs)
    assert [d for d in deltas(ours) if "tool_calls" in d] == [d for d in deltas(theirs) if "tool_calls" in d]
    assert ours[-2]["choices"] == theirs[-2]["choices"]


def test_xai_tool_call_in_pieces_when_asked() -> None:
    call = ToolCallSpec("c1", "f", {"k": "value"}, chunks=3)
    pieces = [
        d["tool_calls"][0]
        for d in deltas(chunks(render(Turn(tool_calls=[call]), request("grok-3-mini", **STREAM))))
        if "tool_calls" in d
    ]
    assert pieces[0]["id"] == "c1" and pieces[0]["function"]["name"] == "f"
    assert len(pieces) == 3
    assert "".join(p["function"]["arguments"] for p in pieces) == '{"k":"value"}'


@pytest.mark.conformance
def test_xai_bad_key_error_matches_the_recording() -> None:
    reply = render(ErrorReply(400, "Incorrect API key provided: ba***na."), request("grok-3-mini"))
    body = json.loads(b"".join(reply.body_parts()))
    raw = Reply.from_recording(FIXTURES / "xai" / "error_400_incorrect_api_key.http").body
    assert body.keys() == json.loads(raw).keys()
    assert body["code"] == json.loads(raw)["code"]


def test_xai_errors_carry_retry_after_and_the_grpc_code() -> None:
    reply = render(ErrorReply(429, "Too many", retry_after=1.5), request("grok-4"))
    assert json.loads(b"".join(reply.body_parts())) == {"code": "Some resource has been exhausted", "error": "Too many"}
    assert (header(reply, "retry-after"), header(reply, "retry-after-ms")) == ("2", "1500")
    lines = data_lines(
        render(Turn(text="a b", error_after=1, error=ErrorReply(503, "down")), request("grok-4", **STREAM))
    )
    assert json.loads(lines[-1]) == {"code": "The service is currently unavailable", "error": "down"}


def test_usage_chunk_only_when_asked() -> None:
    items: Tuple[List[Dict[str, Any]], ...] = tuple(
        chunks(render(Turn(text="x"), request(model, stream=True))) for model in ("gpt-4o", "grok-3-mini")
    )
    assert all("usage" not in c for group in items for c in group)
