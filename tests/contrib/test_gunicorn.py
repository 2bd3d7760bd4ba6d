"""A real gunicorn (sync and gthread workers) serving a Django app and a plain WSGI app.

The provider is the loopback server in this process; the browser is a raw HTTP client.
Disconnects are checked from the provider's side: the connection of that one request ends.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from steer_sync.testing import ErrorReply, LoopbackServer, ToolCallSpec, Turn

from .conftest import GUARD, Gunicorn, HttpClient, gunicorn_env, parse_sse, require_module

#: "Within a few seconds": far below gunicorn's 30 s worker timeout, which is what a missed
#: disconnect costs (the issue measured 30.8 s).
FEW_SECONDS = 8.0

LONG_TEXT = " ".join(f"word{i}" for i in range(2000))


@pytest.fixture(
    scope="module",
    params=[
        ("django_app:application", "sync"),
        ("django_app:application", "gthread"),
        ("wsgi_app:application", "sync"),
        ("wsgi_app:application", "gthread"),
    ],
    ids=lambda p: f"{p[0].split('_')[0]}-{p[1]}",
)
def web(request: pytest.FixtureRequest, provider: LoopbackServer) -> Iterator[Gunicorn]:
    require_module("gunicorn")
    require_module("django")
    app, worker_class = request.param
    server = Gunicorn(app, worker_class, gunicorn_env(provider))
    try:
        yield server
    finally:
        server.stop()


def test_a_whole_sse_answer_arrives_as_events(web: Gunicorn, provider: LoopbackServer) -> None:
    provider.queue(
        Turn(
            thinking="Let me think.",
            thinking_signature="c2ln",
            text="It is sunny.",
            tool_calls=[ToolCallSpec("call_1", "get_weather", {"city": "Paris"}, chunks=3)],
            usage=(12, 7),
        )
    )
    http = HttpClient(web.port, "/answer?q=weather")
    try:
        assert http.status == 200
        assert http.headers["content-type"].startswith("text/event-stream")
        assert http.headers["cache-control"] == "no-cache"
        assert http.headers["x-accel-buffering"] == "no"
        body = http.read_all()
        assert http.ended  # a clean end of the chunked body
    finally:
        http.close()
    events = [e for e in parse_sse(body) if e[0] != ":"]
    names = [name for name, _ in events]
    assert names[0] == "thinking" and names[-1] == "done"
    assert "".join(d["text"] for n, d in events if n == "thinking") == "Let me think."  # type: ignore[index]
    assert "".join(d["text"] for n, d in events if n == "text") == "It is sunny."  # type: ignore[index]
    assert [d for n, d in events if n == "tool_use"] == [{"id": "call_1", "name": "get_weather"}]
    deltas = [d for n, d in events if n == "tool_input"]
    assert {d["id"] for d in deltas} == {"call_1"}  # type: ignore[index]
    assert json.loads("".join(d["delta"] for d in deltas)) == {"city": "Paris"}  # type: ignore[index]
    done = events[-1][1]
    assert isinstance(done, dict)
    assert done["stop_reason"] == "tool_use"
    assert done["usage"]["input_tokens"] == 12 and done["usage"]["output_tokens"] == 7
    assert str(done["request_id"]).startswith("req_")  # the loopback provider's request-id header
    assert set(names) <= {"thinking", "text", "tool_use", "tool_input", "done"}


def test_a_provider_failure_is_an_error_event_and_a_clean_end(web: Gunicorn, provider: LoopbackServer) -> None:
    provider.queue(Turn(text="one two three four", error_after=3, error=ErrorReply(529, "Overloaded")))
    http = HttpClient(web.port, "/answer")
    try:
        body = http.read_all()
        assert http.ended
    finally:
        http.close()
    events = [e for e in parse_sse(body) if e[0] != ":"]
    assert events[-1][0] == "error"
    error = events[-1][1]
    assert isinstance(error, dict)
    assert error["type"] == "overloaded_error" or "overloaded" in error["type"]
    assert error["retryable"] is True
    assert "Overloaded" in error["message"]
    assert "steer-sync-test-key" not in body.decode()  # the dummy key never reaches the browser
    assert web.wait_for_line(r"WARNING steer_sync.contrib.wsgi: anthropic stream failed; sending an error event")


def test_disconnect_while_text_flows_closes_the_upstream(web: Gunicorn, provider: LoopbackServer) -> None:
    provider.queue(Turn(text=LONG_TEXT, delay=0.02))  # about 40 s of text if nobody stops it
    http = HttpClient(web.port, "/answer")
    http.read_until(b"word3")
    (upstream,) = provider.wait_for_requests(1, GUARD)
    http.close()
    assert provider.wait_connection_closed(upstream.connection_id, FEW_SECONDS)


def test_disconnect_during_a_provider_stall_closes_the_upstream(web: Gunicorn, provider: LoopbackServer) -> None:
    provider.queue(Turn(text="one two three four five", stall_after=3))
    http = HttpClient(web.port, "/answer?heartbeat=1")
    provider.wait_for_stalls(1, GUARD)
    http.read_until(b": keep-alive\n\n")  # the provider is silent; heartbeats flow
    (upstream,) = provider.wait_for_requests(1, GUARD)
    http.close()
    assert provider.wait_connection_closed(upstream.connection_id, FEW_SECONDS)


def test_text_format_failure_after_output_leaves_the_body_incomplete(web: Gunicorn, provider: LoopbackServer) -> None:
    # Anthropic's events: message_start, content_block_start, then one per word.
    provider.queue(Turn(text="one two three four", error_after=4, error=ErrorReply(529, "Overloaded")))
    http = HttpClient(web.port, "/answer?format=text")
    try:
        assert http.headers["content-type"].startswith("text/plain")
        body = http.read_all()
    finally:
        http.close()
    assert body.startswith(b"one")
    assert not http.ended  # no terminating chunk: the client knows the answer is cut off
    assert web.wait_for_line(r"WARNING steer_sync.contrib.wsgi: anthropic stream failed after the response started")


def test_text_format_success_is_a_clean_text_body(web: Gunicorn, provider: LoopbackServer) -> None:
    provider.queue(Turn(text="Hello there, friend."))
    http = HttpClient(web.port, "/answer?format=text")
    try:
        body = http.read_all()
    finally:
        http.close()
    assert body == b"Hello there, friend."
    assert http.ended
