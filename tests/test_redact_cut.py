"""Error messages quote bodies redacted whole, then cut: no part of a key crossing a cut stays.

Each place that quotes the start of a body (an error status, invalid JSON, a stream request
answered with something else, Anthropic's parsing preview, Gemini's error object) gets a
body whose key straddles that place's cut.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from steer_sync._cancellation import CancellationToken
from steer_sync._errors import ApiError, ResponseParsingError
from steer_sync._providers.anthropic._response import _parse_response as anthropic_parse
from steer_sync._providers.gemini._response import _parse_response as gemini_parse
from steer_sync._transport import Timeouts, Transport, redact_error
from steer_sync._transport._redact import Redactor
from steer_sync.testing import LoopbackServer, Reply

KEY = "sk-ant-api03-" + "Zq7Wm2Lp9Xc4Vb8Nk3Hj6Gf1Dd5Ss0Aa" + "Qw8Er7Ty6Ui5"  # 57 characters


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


def assert_no_part_of_the_key(error: BaseException) -> None:
    for text in (str(error), repr(error)):
        parts = [KEY[i : i + 12] for i in range(len(KEY) - 11) if KEY[i : i + 12] in text]
        assert not parts, (parts, text)


def body_with_key_at(offset: int) -> bytes:
    return ("x" * offset + KEY + " " + "y" * 2000).encode()


def post(server: LoopbackServer, **kw: Any) -> Any:
    transport = Transport("test", timeouts=Timeouts(connect=10, read=30, stream_idle=30))
    return transport.post(server.url + "/v1/x", {"q": 1}, headers={"x-api-key": KEY}, token=CancellationToken(), **kw)


def test_redacted_snippet_redacts_before_it_cuts() -> None:
    from steer_sync._transport._redact import redacted_snippet

    text = "x" * 450 + KEY
    assert redacted_snippet(text, Redactor([KEY]), 500) == "x" * 450 + "[redacted]"
    assert redacted_snippet(text.encode(), Redactor([KEY]), 455) == "x" * 450 + "[reda..."


@pytest.mark.parametrize("offset", [450, 480, 499])
def test_an_error_status_body_does_not_leak_a_key_crossing_the_cut(server: LoopbackServer, offset: int) -> None:
    server.queue(Reply(status=400, body=body_with_key_at(offset)))
    with pytest.raises(ApiError) as caught:
        post(server, describe_error=lambda status, body: None)
    assert_no_part_of_the_key(caught.value)
    assert "x" * 100 in str(caught.value)


def test_a_describer_quoting_the_body_does_not_leak_a_key_crossing_the_cut(server: LoopbackServer) -> None:
    server.queue(Reply(status=400, body=body_with_key_at(1990)))
    with pytest.raises(ApiError) as caught:
        post(server, describe_error=lambda status, body: body.decode())
    assert_no_part_of_the_key(caught.value)


@pytest.mark.parametrize("offset", [150, 190, 199])
def test_invalid_json_does_not_leak_a_key_crossing_the_cut(server: LoopbackServer, offset: int) -> None:
    server.queue(Reply(body=body_with_key_at(offset)))
    response = post(server)
    with pytest.raises(ResponseParsingError) as caught:
        response.json()
    assert_no_part_of_the_key(caught.value)
    assert "body starts" in str(caught.value)


@pytest.mark.parametrize("offset", [250, 290, 299])
def test_a_stream_answered_with_a_document_does_not_leak_a_key_crossing_the_cut(
    server: LoopbackServer, offset: int
) -> None:
    server.queue(Reply(headers=(("content-type", "text/html"),), body=body_with_key_at(offset)))
    with pytest.raises(ResponseParsingError) as caught:
        post(server, stream=True)
    assert_no_part_of_the_key(caught.value)
    assert "expected an event stream" in str(caught.value)


@pytest.mark.parametrize("offset", [430, 470, 490])
def test_anthropics_parsing_preview_does_not_leak_a_key_crossing_the_cut(offset: int) -> None:
    body = {"content": [{"type": "text", "text": 1, "note": "x" * offset + KEY}]}
    with pytest.raises(ResponseParsingError) as caught:
        anthropic_parse(body, "anthropic")
    error = redact_error(caught.value, Redactor([KEY]))
    assert_no_part_of_the_key(error)
    assert "has no string field 'text'" in str(error)


@pytest.mark.parametrize("offset", [430, 470, 490])
def test_geminis_error_object_does_not_leak_a_key_crossing_the_cut(offset: int) -> None:
    body = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "note": "x" * offset + KEY}}
    with pytest.raises(ApiError) as caught:
        gemini_parse(body, "gemini")
    error = redact_error(caught.value, Redactor([KEY]))
    assert_no_part_of_the_key(error)


def test_a_gemini_error_status_does_not_leak_a_key_crossing_the_cut(server: LoopbackServer) -> None:
    from steer_sync._providers.gemini._response import _describe_error_object, _error_body

    def describe(status: int, raw: bytes) -> Any:
        error = _error_body(raw)
        return _describe_error_object(error) if error is not None else None

    note = "x" * 470 + KEY
    server.queue(Reply(status=400, body=json.dumps({"error": {"code": 400, "note": note}}).encode()))
    with pytest.raises(ApiError) as caught:
        post(server, describe_error=describe)
    assert_no_part_of_the_key(caught.value)
    assert "[redacted]" in str(caught.value)


def test_an_openai_raw_error_body_does_not_leak_a_key_crossing_the_cut(server: LoopbackServer) -> None:
    from steer_sync._providers.openai_responses._response import _describe_http_error

    server.queue(Reply(status=502, body=body_with_key_at(1980)))
    with pytest.raises(ApiError) as caught:
        post(server, describe_error=_describe_http_error)
    assert_no_part_of_the_key(caught.value)
    assert "x" * 1900 in str(caught.value)
