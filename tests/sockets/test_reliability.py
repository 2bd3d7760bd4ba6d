"""Transport reliability defects of issue 18, each reproduced over real sockets on 127.0.0.1.

Some faults cannot be scripted with :class:`LoopbackServer` (a response whose header lines
trickle in, a body held back until the test says so): :class:`RawServer` serves one connection
with a function that writes whatever bytes the test wants, synchronised with events.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import socket
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple
from urllib.parse import quote, quote_plus

import pytest

from steer_sync import (
    ApiError,
    ApiTimeout,
    AuthenticationFailed,
    Client,
    Message,
    NetworkError,
    RetryPolicy,
    ServerError,
)
from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, StreamChunk, TextDelta
from steer_sync._errors import SseParse, SseParseErrorKind
from steer_sync._sse import SseEvent
from steer_sync._stream import CompletionStream
from steer_sync._transport import Timeouts, Transport, open_chunk_stream
from steer_sync._transport._response import is_common_keepalive
from steer_sync._types import CompletionResponse, TextContent
from steer_sync.testing import ErrorReply, LoopbackServer, Reply, Turn

#: Hang guard for joins and waits: a broken fix fails the test instead of hanging it.
GUARD = 20.0
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def sse(data: str, event: Optional[str] = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def convert(events: Iterator[SseEvent]) -> Iterator[StreamChunk]:
    """A minimal provider converter: each event is a text delta, ``done`` completes."""
    text: List[str] = []
    for event in events:
        if event.event == "done":
            yield MessageComplete(CompletionResponse((TextContent("".join(text)),)))
            return
        text.append(event.data)
        yield TextDelta(event.data)


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each, after reading its request, to ``serve``.

    Errors of ``serve`` caused by the client going away (a reset, a broken pipe) are ignored;
    the socket is closed when ``serve`` returns.
    """

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: List[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                more = conn.recv(65536)
                if not more:
                    return
                body += more
            try:
                self._serve(conn)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def close(self) -> None:
        self._listener.close()
        for thread in self._threads:
            thread.join(GUARD)


@pytest.fixture
def raw_servers() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    started: List[RawServer] = []

    def start(serve: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(serve)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def make_transport(**timeouts: Optional[float]) -> Transport:
    values = {"connect": 10.0, "read": 60.0, "stream_idle": 60.0, "total": None}
    values.update(timeouts)
    return Transport("test", timeouts=Timeouts(**values))


def start_stream(transport: Transport, url: str, token: Optional[CancellationToken] = None) -> CompletionStream:
    response = transport.post(
        url + "/v1/messages", {"stream": True}, headers={}, token=token or CancellationToken(), stream=True
    )
    return open_chunk_stream(response, convert)


# --- item 7: fork --------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_closing_its_copy_of_a_stream_leaves_the_parents_stream_alone(
    raw_servers: Callable[[Callable[[socket.socket], None]], RawServer],
) -> None:
    child_done = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.sendall(SSE_HEAD + http_chunk(sse("a")))
        child_done.wait(GUARD)
        conn.sendall(http_chunk(sse("b")) + http_chunk(sse("", event="done")) + b"0\r\n\r\n")

    server = raw_servers(serve)
    stream = start_stream(make_transport(), server.url)
    assert next(stream) == TextDelta("a")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running: we only close and exit
        pid = os.fork()
    if pid == 0:  # the child: close the inherited stream (what a library's atfork cleanup does), exit
        code = 1
        try:
            stream.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    child_done.set()

    rest = list(stream)
    assert rest[0] == TextDelta("b"), rest
    assert isinstance(rest[-1], MessageComplete), rest
    assert not any(isinstance(chunk, ErrorChunk) for chunk in rest)


# --- item 11: client.close() after a failed attempt ----------------------------------------------


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Garbage collection off: a socket must be closed by close(), not by a collector run."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_client_close_closes_the_connection_of_a_provider_evicted_by_a_refused_key(
    server: LoopbackServer, no_gc: None, streamed: bool
) -> None:
    client = server.client()
    server.queue(ErrorReply(401, "invalid x-api-key"))
    with pytest.raises(AuthenticationFailed):
        if streamed:
            client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")]).collect()
        else:
            client.complete("anthropic/claude-sonnet-4-5", [Message.user("hi")])
    # The 401 body was read whole, so its connection went back to the evicted provider's pool.
    assert server.open_connections == 1

    client.close()
    assert server.wait_connections_closed(5.0), "a pooled socket outlived client.close()"


def test_client_close_closes_the_connection_of_an_invalidated_provider(server: LoopbackServer, no_gc: None) -> None:
    client = server.client()
    server.queue(Turn(text="hi"))
    response = client.complete("anthropic/claude-sonnet-4-5", [Message.user("hi")])
    assert response.content == (TextContent("hi"),)
    assert server.open_connections == 1
    client.invalidate_provider("anthropic")

    client.close()
    assert server.wait_connections_closed(5.0), "a pooled socket outlived client.close()"


def test_transport_close_closes_the_pooled_connection_of_a_failed_attempt(server: LoopbackServer, no_gc: None) -> None:
    server.queue(Reply(status=503, body=b"busy"))
    transport = make_transport()
    # The caller keeps the error (a retry loop's "last error"): its traceback references the
    # response, and through it the connection pool, which session.close() merely drops.
    with pytest.raises(ServerError) as caught:
        transport.post(server.url + "/v1/x", {}, headers={}, token=CancellationToken())
    assert server.open_connections == 1

    transport.close()
    assert server.wait_connections_closed(5.0), "the pooled socket waits for the garbage collector"
    assert caught.value.status_code == 503


def test_transport_close_lets_a_stream_in_flight_finish_then_closes_its_connection(
    server: LoopbackServer, no_gc: None
) -> None:
    server.queue(Reply(headers=(("content-type", "text/event-stream"),), body=[sse("a"), sse("", event="done")]))
    transport = make_transport()
    stream = start_stream(transport, server.url)
    transport.close()

    chunks = list(stream)
    assert chunks[0] == TextDelta("a") and isinstance(chunks[-1], MessageComplete)
    assert server.wait_connections_closed(5.0), "the released connection went back to a closed pool"


# --- item 6: keep-alive data events do not reset the stall watchdog -------------------------------

SSE_REPLY_HEADERS = (("content-type", "text/event-stream"),)


@pytest.mark.parametrize(
    "ping",
    [
        sse('{"type":"ping"}', event="ping"),  # Anthropic's form, sent by proxies in front of any format
        sse('{"type": "ping"}'),  # a data-only ping (no event name), as Chat/xAI/Gemini streams would carry it
        sse('{"type":"keepalive","sequence_number":7}'),
        sse("{}", event="heartbeat"),
    ],
    ids=["event-ping", "data-ping", "data-keepalive", "event-heartbeat"],
)
def test_a_stream_that_only_pings_is_cut_by_the_stall_watchdog(server: LoopbackServer, ping: bytes) -> None:
    # No provider predicate: the transport knows the common keep-alive shapes by itself.
    server.queue(Reply(headers=SSE_REPLY_HEADERS, body=[sse("real"), *[ping] * 400], chunked=True, delay=0.005))
    chunks = list(start_stream(make_transport(stream_idle=0.2), server.url))

    assert chunks[0] == TextDelta("real")
    error = chunks[-1].error if isinstance(chunks[-1], ErrorChunk) else None
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT, chunks[-3:]
    assert "no event for 0.2 s" in error.details
    # This test's converter turns every event (pings too) into a TextDelta: between the text
    # and the watchdog's error only ping deltas, fewer than were scripted (cut mid-stream).
    pings = chunks[1:-1]
    assert all(isinstance(chunk, TextDelta) for chunk in pings), chunks[:3]
    assert len(pings) < 400, len(pings)
    # The server saw the disconnect: the cut connection is dropped, never pooled for reuse.
    assert server.wait_connections_closed(timeout=10)


@pytest.mark.parametrize(
    "event, data, expected",
    [
        ("ping", "{}", True),
        ("PING", "", True),
        ("keepalive", "x", True),
        (None, '{"type":"ping"}', True),
        (None, '{"type": "keep-alive", "sequence_number": 3}', True),
        (None, '{"type":"heartbeat"}', True),
        (None, '{"type":"content_block_delta","delta":{"type":"text_delta","text":"ping"}}', False),
        (None, '{"choices":[{"delta":{"content":"keepalive"}}]}', False),
        (None, "ping", False),
        (None, '["ping"]', False),
        ("message", '{"type":"response.output_text.delta","delta":"ping"}', False),
        (None, '{"type":"ping","pad":"' + "x" * 300 + '"}', False),  # too large to be a keep-alive
    ],
)
def test_common_keepalive_shapes(event: Optional[str], data: str, expected: bool) -> None:
    assert is_common_keepalive(SseEvent(event, data)) is expected


# --- item 5: limits hold while response headers trickle in ------------------------------------------


class TricklingHeaders:
    """Serves a status line, then one header line every ``interval`` seconds (up to ``limit`` lines).

    ``limit`` stays below ``http.client``'s 100-header cap, so only our limits can end the wait
    before the header section completes (after ``limit * interval`` = 18 s).
    """

    def __init__(self, interval: float = 0.2, limit: int = 90) -> None:
        self.interval = interval
        self.limit = limit
        self.sent = 0
        self.done = threading.Event()
        self._stop = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
            while self.sent < self.limit and not self._stop.wait(self.interval):
                conn.sendall(b"x-trickle-%d: %s\r\n" % (self.sent, b"." * 10))
                self.sent += 1
            conn.sendall(b"content-length: 0\r\n\r\n")
        except OSError:
            pass  # the client gave up: that is the point
        finally:
            self.done.set()

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def trickle(
    raw_servers: Callable[[Callable[[socket.socket], None]], RawServer],
) -> Iterator[Tuple[TricklingHeaders, str]]:
    serve = TricklingHeaders()
    server = raw_servers(serve)
    yield serve, server.url
    serve.stop()


def post_to(transport: Transport, url: str, *, stream: bool = False) -> None:
    transport.post(url + "/v1/x", {}, headers={}, token=CancellationToken(), stream=stream).close()


def test_total_deadline_cuts_headers_that_trickle_in(trickle: Tuple[TricklingHeaders, str]) -> None:
    serve, url = trickle
    with pytest.raises(ApiTimeout, match=r"2 s deadline"):
        post_to(make_transport(total=2.0), url)
    # Cut while the server was still sending headers, long before it finished them.
    assert serve.sent < serve.limit // 2


def test_read_timeout_bounds_the_whole_header_section(trickle: Tuple[TricklingHeaders, str]) -> None:
    serve, url = trickle
    with pytest.raises(NetworkError, match=r"no response headers within 1 s \(read timeout"):
        post_to(make_transport(read=1.0), url)
    assert serve.sent < serve.limit // 2


def test_stream_idle_bounds_the_header_section_of_a_stream(trickle: Tuple[TricklingHeaders, str]) -> None:
    serve, url = trickle
    with pytest.raises(NetworkError, match=r"no response headers within 1 s \(stream_idle timeout"):
        post_to(make_transport(read=60.0, stream_idle=1.0), url, stream=True)
    assert serve.sent < serve.limit // 2


# --- item 1: a key echoed by the server never reaches a message, a log or a pickle ----------------

#: A key with characters that JSON and URL encoding change, so each form is a different string.
KEY = 'sk-Rt/9+q="Zx\\y~0123456789abcdef'
KEY_FORMS = (KEY, json.dumps(KEY)[1:-1], quote(KEY, safe=""), quote(KEY), quote_plus(KEY), f"Bearer {KEY}")
ECHO = f"Incorrect API key provided: {KEY}; as JSON {json.dumps({'key': KEY})}; in a URL ?key={quote_plus(KEY)}"
MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai_responses": "openai/gpt-5.4",
    "openai_chat": "gateway/llama-3.1-8b",
    "gemini": "google/gemini-3-pro-preview",
    "xai": "xai/grok-4-1-fast-reasoning",
}
#: A retryable in-stream error of each format, carrying the echo.
IN_STREAM = {
    "anthropic": ErrorReply(529, ECHO, error_type="overloaded_error"),
    "openai_responses": ErrorReply(500, ECHO, error_type="server_error", code="server_error"),
    "openai_chat": ErrorReply(503, ECHO, error_type="server_error", code="server_error"),
    "gemini": ErrorReply(503, ECHO, error_type="UNAVAILABLE"),
    "xai": ErrorReply(503, ECHO, error_type="server_error", code="server_error"),
}


def shows_key(text: str) -> bool:
    return any(form in text for form in KEY_FORMS)


def assert_no_key(error: BaseException) -> None:
    for text in (str(error), repr(error), str(getattr(error, "details", "")), str(getattr(error, "stream_error", ""))):
        assert not shows_key(text), text
    assert KEY.encode() not in pickle.dumps(error)
    assert not shows_key(str(pickle.loads(pickle.dumps(error))))


@pytest.fixture
def keyed_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: LoopbackServer) -> Iterator[Client]:
    """Client.from_env against the loopback server, every format's key set to :data:`KEY`."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    for name, value in server.environ.items():
        monkeypatch.setenv(name, KEY if name.endswith("_API_KEY") else value)
    monkeypatch.setenv("GATEWAY_API_KEY", KEY)
    catalog = tmp_path / "gateway.toml"
    catalog.write_text(
        '[[providers]]\nid = "gateway"\nname = "Gateway"\napi_format = "openai-chat"\n'
        f'auth_schemes = ["api-key"]\nbase_url = "{server.url}/api/v1"\n'
    )
    policy = RetryPolicy(base_delay=0.001, max_attempts=2)
    with Client.from_env([str(catalog)], retry_policy=policy) as client:
        yield client


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_a_key_echoed_in_error_bodies_is_redacted_everywhere(
    wire: str, server: LoopbackServer, keyed_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="steer_sync")
    # A 503 that is retried (a WARNING naming the error), then a 401 that is raised.
    server.queue(ErrorReply(503, ECHO, retry_after=0), ErrorReply(401, ECHO))
    with pytest.raises(ApiError) as caught:
        keyed_client.complete(MODELS[wire], [Message.user("hi")])
    request = server.requests[0]
    assert any(KEY in value for value in [*request.headers.values(), *request.query.values()])
    assert "Incorrect API key provided" in str(caught.value)  # the message itself survives
    assert_no_key(caught.value)
    assert "retrying" in caplog.text and not shows_key(caplog.text)


@pytest.mark.parametrize("wire", sorted(MODELS))
def test_a_key_echoed_in_an_in_stream_error_event_is_redacted_everywhere(
    wire: str, server: LoopbackServer, keyed_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="steer_sync")
    broken = Turn(text="Partial answer that breaks", error_after=2, error=IN_STREAM[wire])
    server.queue(broken, broken)
    with keyed_client.stream_complete(MODELS[wire], [Message.user("hi")]) as stream:
        chunks = list(stream)
    errors = [chunk for chunk in chunks if isinstance(chunk, ErrorChunk)]
    assert errors, chunks
    assert "Incorrect API key provided" in str(errors[-1].error)
    for chunk in chunks:
        assert not shows_key(repr(chunk)), chunk
    assert KEY.encode() not in pickle.dumps(errors[-1].error)
    assert not shows_key(caplog.text)

    server.queue(broken, broken)
    with pytest.raises(ApiError) as caught:
        keyed_client.stream_complete(MODELS[wire], [Message.user("hi")]).collect()
    assert_no_key(caught.value)
