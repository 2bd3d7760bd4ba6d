"""Pure parts of steer_sync.testing: script values, SSE encoding, splitting, fault translation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steer_sync.testing import ErrorReply, LoopbackServer, RecordedRequest, Reply, ToolCallSpec, Turn, sse_event
from steer_sync.testing._formats import detect_format, render, serves
from steer_sync.testing._script import cut, split_offsets, text_deltas


def _request(path: str, body: object = None) -> RecordedRequest:
    raw = json.dumps(body).encode() if body is not None else b""
    return RecordedRequest("POST", path, {}, {}, raw, body)


def test_sse_event_encodes_a_dict_as_compact_json_with_its_event_name() -> None:
    assert sse_event({"type": "ping", "n": "é"}, "ping") == 'event: ping\ndata: {"type":"ping","n":"é"}\n\n'.encode()


def test_sse_event_writes_one_data_line_per_line_and_honours_crlf() -> None:
    assert sse_event("a\nb") == b"data: a\ndata: b\n\n"
    assert sse_event("[DONE]", line_ending="\r\n") == b"data: [DONE]\r\n\r\n"


def test_text_deltas_are_word_sized_and_concatenate_back() -> None:
    text = "Hello there,  world!\n"
    pieces = text_deltas(text)
    assert pieces == ["Hello", " there,", "  world!\n"]
    assert "".join(pieces) == text
    assert text_deltas("") == []
    assert text_deltas("   ") == ["   "]


def test_explicit_split_offsets_are_sorted_deduplicated_and_bounded() -> None:
    assert split_offsets(10, [8, 0, 3, 3, 10]) == [3, 8]
    assert cut(b"0123456789", [3, 8]) == [b"012", b"34567", b"89"]
    with pytest.raises(ValueError, match="beyond"):
        split_offsets(10, [11])


def test_random_split_is_reproducible_by_seed() -> None:
    first = split_offsets(500, "random", seed=3)
    assert first == split_offsets(500, "random", seed=3)
    assert first and all(0 < o < 500 for o in first)
    assert first != split_offsets(500, "random", seed=4)


def test_reply_body_parts_apply_split_across_the_original_parts() -> None:
    reply = Reply(body=[b"hello ", b"world"], split=[1, 3, 8])
    assert reply.body_parts() == [b"h", b"el", b"lo wo", b"rld"]
    assert reply.is_chunked()


def test_reply_framing_defaults_follow_the_body_shape() -> None:
    assert not Reply(body=b"x").is_chunked()
    assert Reply(body=[b"x"]).is_chunked()
    assert Reply(body=b"xy", split=[1]).is_chunked()
    assert not Reply(body=[b"x", b"y"], chunked=False).is_chunked()


def test_reply_rejects_str_bodies_and_bad_faults() -> None:
    with pytest.raises(TypeError):
        Reply(body="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Reply(stall_after=-2)
    with pytest.raises(ValueError):
        Reply(headers=[("x-bad", "a\r\nb")])
    with pytest.raises(ValueError):
        Turn(format="carrier-pigeon")


def test_tool_call_arguments_split_into_the_requested_number_of_chunks() -> None:
    spec = ToolCallSpec("call_1", "weather", {"city": "Paris"}, chunks=3)
    pieces = spec.argument_chunks()
    assert len(pieces) == 3
    assert "".join(pieces) == '{"city":"Paris"}'
    assert ToolCallSpec("c", "t", '{"broken', chunks=50).argument_chunks() == list('{"broken')


def test_retry_after_becomes_whole_seconds_plus_milliseconds_when_fractional() -> None:
    assert ErrorReply(retry_after=3).retry_headers() == [("retry-after", "3")]
    assert ErrorReply(retry_after=0.25).retry_headers() == [("retry-after", "1"), ("retry-after-ms", "250")]
    assert ErrorReply().retry_headers() == []


def test_chat_completions_path_is_xai_for_grok_models_or_when_forced() -> None:
    assert detect_format(_request("/v1/chat/completions", {"model": "grok-4"})) == "xai"
    assert detect_format(_request("/v1/chat/completions", {"model": "gpt-4o"})) == "openai_chat"
    assert detect_format(_request("/v1/chat/completions", {"model": "gpt-4o"}), "xai") == "xai"
    assert detect_format(_request("/v1beta/models/gemini-2.5-flash%3AgenerateContent")) == "gemini"
    assert detect_format(_request("/proxy/v1/messages")) == "anthropic"
    assert detect_format(_request("/v1/responses")) == "openai_responses"
    assert detect_format(_request("/v1/embeddings")) is None


def test_turns_only_serve_known_paths_but_replies_serve_any() -> None:
    unknown = _request("/v1/embeddings")
    assert not serves(Turn(), unknown)
    assert not serves(ErrorReply(), unknown)
    assert serves(Turn(format="anthropic"), unknown)
    assert serves(Reply(), unknown)


def _anthropic_stream() -> RecordedRequest:
    return _request("/v1/messages", {"model": "claude-test", "stream": True})


def test_turn_split_keeps_the_stall_point_on_an_event_boundary() -> None:
    request = _anthropic_stream()
    events = render(Turn(text="one two three"), request).body_parts()
    reply = render(Turn(text="one two three", stall_after=3, split="random", seed=11), request)
    parts = reply.body_parts()
    assert reply.stall_after is not None
    assert b"".join(parts[: reply.stall_after]) == b"".join(events[:3])
    assert b"".join(parts) == b"".join(events)


def test_turn_drop_after_beyond_the_last_event_drops_before_the_terminator() -> None:
    request = _anthropic_stream()
    reply = render(Turn(text="hi", drop_after=99, split=[5]), request)
    assert reply.drop_after == len(reply.body_parts())


def test_turn_error_after_replaces_the_rest_of_the_stream_with_an_error_event() -> None:
    request = _anthropic_stream()
    events = render(Turn(text="a b c"), request).body_parts()
    parts = render(Turn(text="a b c", error_after=2, error=ErrorReply(529, "Overloaded")), request).body_parts()
    assert parts[:2] == events[:2]
    assert len(parts) == 3
    assert parts[2].startswith(b"event: error\n")
    assert json.loads(parts[2].split(b"data: ", 1)[1])["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_turn_error_after_on_a_non_stream_request_is_an_http_error() -> None:
    request = _request("/v1/messages", {"model": "claude-test"})
    reply = render(Turn(text="x", error_after=0, error=ErrorReply(500, "boom")), request)
    assert reply.status == 500
    assert json.loads(reply.body_parts()[0])["error"]["type"] == "api_error"


def test_turn_headers_are_added_after_the_format_headers() -> None:
    reply = render(Turn(headers=[("retry-after", "7")]), _anthropic_stream())
    assert reply.headers[0] == ("content-type", "text/event-stream; charset=utf-8")
    assert reply.headers[-1] == ("retry-after", "7")


RECORDING = (
    b"HTTP/1.1 429 Too Many Requests\r\n"
    b"content-type: application/json\r\n"
    b"retry-after: 7\r\n"
    b"Content-Length: 999\r\n"
    b"transfer-encoding: chunked\r\n"
    b"\r\n"
    b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}\n'
)


def test_from_recording_reads_status_reason_headers_and_body(tmp_path: Path) -> None:
    path = tmp_path / "rate_limited.http"
    path.write_bytes(RECORDING)
    for source in (RECORDING, path, str(path)):
        reply = Reply.from_recording(source, split="random", seed=2)  # type: ignore[arg-type]
        assert (reply.status, reply.reason) == (429, "Too Many Requests")
        # Framing headers are dropped: the server frames the (decoded) body itself.
        assert tuple(reply.headers) == (("content-type", "application/json"), ("retry-after", "7"))
        assert reply.body == RECORDING.partition(b"\r\n\r\n")[2]
        assert (reply.split, reply.seed) == ("random", 2)


@pytest.mark.parametrize(
    "bad", [b"HTTP/1.1 200 OK\r\ncontent-type: x\r\n", b"garbage\r\n\r\nbody", b"HTTP/1.1 OK\r\n\r\n"]
)
def test_from_recording_rejects_what_is_not_a_recording(bad: bytes) -> None:
    with pytest.raises(ValueError, match="recording"):
        Reply.from_recording(bad)


def test_a_recording_is_served_byte_for_byte() -> None:
    import http.client

    with LoopbackServer() as server:
        server.queue(Reply.from_recording(RECORDING, split=[5, 20]))
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("POST", "/anything", body=b"{}")
        response = connection.getresponse()
        assert response.status == 429 and response.reason == "Too Many Requests"
        assert response.getheader("retry-after") == "7"
        assert response.read() == RECORDING.partition(b"\r\n\r\n")[2]
        connection.close()
