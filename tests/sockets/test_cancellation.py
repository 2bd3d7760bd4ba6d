"""Cancellation, watchdogs and connection reuse of the transport, over real loopback sockets.

Every test synchronises with events and barriers (the server's ``stalled`` event, a reader
thread's "got the first chunk" event); joins carry a generous timeout only as a hang guard.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, StreamChunk, TextDelta
from steer_sync._errors import (
    ApiTimeout,
    Cancelled,
    ProviderStreamError,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
)
from steer_sync._retry import should_retry_stream_error
from steer_sync._sse import SseEvent
from steer_sync._stream import CompletionStream
from steer_sync._transport import HttpResponse, Timeouts, Transport, open_chunk_stream
from steer_sync._types import CompletionResponse, TextContent
from steer_sync.testing import LoopbackServer, RecordedRequest, Reply

#: Hang guard for joins and waits: a broken cancel fails the test instead of hanging it.
GUARD = 20.0
CERTS = Path(__file__).resolve().parent / "certs"
SSE_HEADERS = (("content-type", "text/event-stream"),)


def sse(data: str, event: Optional[str] = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def convert(events: Iterator[SseEvent]) -> Iterator[StreamChunk]:
    """A minimal provider converter: each event is a text delta, ``done`` completes."""
    text: List[str] = []
    for event in events:
        if event.event == "done":
            yield MessageComplete(CompletionResponse((TextContent("".join(text)),)))
            return
        text.append(event.data)
        yield TextDelta(event.data)


def make_transport(**timeouts: Optional[float]) -> Transport:
    values: Dict[str, Optional[float]] = {"connect": 10.0, "read": 60.0, "stream_idle": 60.0, "total": None}
    values.update(timeouts)
    return Transport("test", timeouts=Timeouts(**values))


def start_stream(transport: Transport, url: str, token: CancellationToken, **kw: Any) -> CompletionStream:
    response = transport.post(url + "/v1/messages", {"stream": True}, headers={}, token=token, stream=True)
    return open_chunk_stream(response, convert, **kw)


class Reader(threading.Thread):
    """Iterates a stream on its own thread, recording chunks; ``first`` is set at the first one."""

    def __init__(self, stream: CompletionStream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.chunks: List[StreamChunk] = []
        self.first = threading.Event()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            for chunk in self.stream:
                self.chunks.append(chunk)
                self.first.set()
        except BaseException as exc:  # recorded for the test to assert on
            self.error = exc
        finally:
            self.first.set()


def run_call(fn: Callable[[], Any]) -> Tuple[threading.Thread, Dict[str, Any]]:
    """Run ``fn`` on a daemon thread; the dict gets ``result`` or ``error``."""
    outcome: Dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # recorded for the test to assert on
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def registered_callbacks(token: CancellationToken) -> int:
    return len(token._callbacks)


# --- cancelling blocked reads ----------------------------------------------------------------


def test_cancel_unblocks_a_stalled_read(server: LoopbackServer) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("hello")], chunked=True, stall_after=1))
    transport = make_transport()
    token = CancellationToken()
    reader = Reader(start_stream(transport, server.url, token))
    reader.start()
    assert reader.first.wait(GUARD)
    server.wait_for_stalls(1, GUARD)

    token.cancel()
    reader.join(GUARD)

    assert not reader.is_alive(), "the cancel did not wake the blocked reader"
    assert reader.error is None
    assert reader.chunks == [TextDelta("hello"), ErrorChunk(StreamCancelled())]
    assert server.wait_connections_closed(GUARD)
    assert registered_callbacks(token) == 0


def test_closing_a_stream_from_another_thread_wakes_the_reader_and_drops_the_connection(
    server: LoopbackServer,
) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("one")], chunked=True, stall_after=1))
    token = CancellationToken()
    stream = start_stream(make_transport(), server.url, token)
    reader = Reader(stream)
    reader.start()
    assert reader.first.wait(GUARD)
    server.wait_for_stalls(1, GUARD)

    stream.close()
    reader.join(GUARD)

    assert not reader.is_alive()
    assert reader.chunks[0] == TextDelta("one")
    assert all(not isinstance(c, ErrorChunk) or c.error == StreamCancelled() for c in reader.chunks)
    assert stream.closed
    assert not token.is_cancelled(), "closing a stream must not cancel the caller's token"
    assert registered_callbacks(token) == 0
    assert server.wait_connections_closed(GUARD)


def test_cancel_while_waiting_for_headers_raises_cancelled(server: LoopbackServer) -> None:
    server.queue(Reply(stall_after=-1))  # accepted and read, never answered
    transport = make_transport()
    token = CancellationToken()
    thread, outcome = run_call(lambda: transport.post(server.url + "/x", {}, headers={}, token=token, stream=True))
    server.wait_for_stalls(1, GUARD)

    token.cancel()
    thread.join(GUARD)

    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), Cancelled), outcome
    assert registered_callbacks(token) == 0
    assert server.wait_connections_closed(GUARD)


def test_cancel_before_send_raises_cancelled_without_connecting(server: LoopbackServer) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        make_transport().post(server.url + "/x", {}, headers={}, token=token)
    assert server.connection_count == 0
    assert server.requests == []


def test_cancel_while_connecting_raises_cancelled() -> None:
    # A listener whose accept queue is full: the kernel drops the next SYN, so connect() hangs.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    filler = socket.create_connection(address, timeout=GUARD)
    connecting = threading.Event()
    active = [True]

    def hook(event: str, args: Tuple[Any, ...]) -> None:
        # Audit hooks cannot be removed; this one goes quiet when the test ends.
        if active[0] and event == "socket.connect" and args[1] == address and args[0] is not filler:
            connecting.set()

    sys.addaudithook(hook)
    transport = make_transport(connect=GUARD * 2)
    token = CancellationToken()
    try:
        thread, outcome = run_call(
            lambda: transport.post(f"http://{address[0]}:{address[1]}/x", {}, headers={}, token=token)
        )
        assert connecting.wait(GUARD)
        token.cancel()
        thread.join(GUARD)
        assert not thread.is_alive(), "the cancel did not abort the hanging connect"
        assert isinstance(outcome.get("error"), Cancelled), outcome
        assert registered_callbacks(token) == 0
    finally:
        active[0] = False
        filler.close()
        listener.close()


def test_cancel_while_reading_a_json_body_raises_cancelled(server: LoopbackServer) -> None:
    server.queue(
        Reply(headers=(("content-type", "application/json"),), body=[b'{"partial": '], chunked=True, stall_after=1)
    )
    token = CancellationToken()
    response = make_transport().post(server.url + "/x", {}, headers={}, token=token)
    thread, outcome = run_call(response.json)
    server.wait_for_stalls(1, GUARD)

    token.cancel()
    thread.join(GUARD)
    response.close()

    assert isinstance(outcome.get("error"), Cancelled), outcome
    assert registered_callbacks(token) == 0


def test_cancel_of_a_close_delimited_body_is_not_a_clean_end() -> None:
    # No content-length, no chunking: the body ends when the connection does. The EOF our own
    # shutdown causes must read as a cancel, not as the end of the stream.
    raw = RawStallServer(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n" + sse("a"))
    try:
        token = CancellationToken()
        reader = Reader(start_stream(make_transport(), raw.url, token))
        reader.start()
        assert reader.first.wait(GUARD)
        assert raw.stalled.wait(GUARD)

        token.cancel()
        reader.join(GUARD)

        assert reader.chunks == [TextDelta("a"), ErrorChunk(StreamCancelled())]
        assert raw.done.wait(GUARD)
    finally:
        raw.close()


def test_a_cancel_is_never_a_retryable_transport_error(server: LoopbackServer) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("x")], chunked=True, stall_after=1))
    token = CancellationToken()
    stream = start_stream(make_transport(), server.url, token)
    assert next(stream) == TextDelta("x")
    server.wait_for_stalls(1, GUARD)
    token.cancel()
    last = next(stream)
    assert isinstance(last, ErrorChunk)
    assert not isinstance(last.error, SseParse)
    assert not should_retry_stream_error(last.error)
    with pytest.raises(StopIteration):
        next(stream)


def test_a_cancelled_connection_is_not_pooled(server: LoopbackServer) -> None:
    server.queue(
        Reply(headers=SSE_HEADERS, body=[sse("x")], chunked=True, stall_after=1),
        Reply(headers=SSE_HEADERS, body=[sse("y"), sse("", event="done")], chunked=True),
    )
    transport = make_transport()
    token = CancellationToken()
    stream = start_stream(transport, server.url, token)
    assert next(stream) == TextDelta("x")
    server.wait_for_stalls(1, GUARD)
    token.cancel()
    assert list(stream) == [ErrorChunk(StreamCancelled())]

    chunks = list(start_stream(transport, server.url, CancellationToken()))

    assert chunks[0] == TextDelta("y") and isinstance(chunks[-1], MessageComplete)
    assert server.connection_count == 2


# --- callbacks and pool safety ----------------------------------------------------------------


def test_callbacks_are_unregistered_whenever_a_response_ends(server: LoopbackServer) -> None:
    transport = make_transport()
    token = CancellationToken()
    server.queue(
        Reply(headers=SSE_HEADERS, body=[sse("a"), sse("b")], chunked=True),  # ends without "done"
        Reply(headers=SSE_HEADERS, body=[sse("a"), sse("", event="done")], chunked=True),
        Reply(headers=SSE_HEADERS, body=[sse("a")], chunked=True, drop_after=1),
        Reply(headers=SSE_HEADERS, body=[sse("a"), sse("b")], chunked=True),
        Reply(status=500, body=b"boom"),
        Reply(body=b'{"ok": true}'),
    )
    assert [type(c) for c in start_stream(transport, server.url, token)] == [TextDelta, TextDelta]
    assert registered_callbacks(token) == 0
    assert isinstance(list(start_stream(transport, server.url, token))[-1], MessageComplete)
    assert registered_callbacks(token) == 0
    assert isinstance(list(start_stream(transport, server.url, token))[-1], ErrorChunk)
    assert registered_callbacks(token) == 0
    early = start_stream(transport, server.url, token)
    next(early)
    early.close()
    assert registered_callbacks(token) == 0
    with pytest.raises(Exception, match="500"):
        transport.post(server.url + "/x", {}, headers={}, token=token)
    assert registered_callbacks(token) == 0
    response = transport.post(server.url + "/x", {}, headers={}, token=token)
    assert response.json() == {"ok": True}
    response.close()
    assert registered_callbacks(token) == 0
    assert not token.is_cancelled()


def test_a_late_cancel_does_not_break_the_next_request_on_the_pooled_connection(
    server: LoopbackServer,
) -> None:
    transport = make_transport()
    first_token = CancellationToken()
    arrived = threading.Event()
    late_cancel_done = threading.Event()

    def second_reply(request: RecordedRequest) -> Reply:
        # The pooled connection now serves the second request: cancel the first call's token.
        arrived.set()
        assert late_cancel_done.wait(GUARD)
        return Reply(headers=SSE_HEADERS, body=[sse("second"), sse("", event="done")], chunked=True)

    server.queue(Reply(headers=SSE_HEADERS, body=[sse("first"), sse("", event="done")], chunked=True), second_reply)
    first = list(start_stream(transport, server.url, first_token))
    assert isinstance(first[-1], MessageComplete)

    thread, outcome = run_call(lambda: list(start_stream(transport, server.url, CancellationToken())))
    assert arrived.wait(GUARD)
    first_token.cancel()
    late_cancel_done.set()
    thread.join(GUARD)

    second = outcome.get("result")
    assert second is not None, outcome
    assert second[0] == TextDelta("second")
    assert isinstance(second[-1], MessageComplete)
    assert server.connection_count == 1


# --- watchdogs and deadlines ------------------------------------------------------------------


def test_idle_watchdog_ends_a_stream_that_sends_only_comments(server: LoopbackServer) -> None:
    server.queue(
        Reply(headers=SSE_HEADERS, body=[b": keep-alive\n\n", b": still here\n\n"], chunked=True, stall_after=2)
    )
    chunks = list(start_stream(make_transport(stream_idle=0.2), server.url, CancellationToken()))

    assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
    error = chunks[0].error
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT
    assert "no event for 0.2 s" in error.details
    assert should_retry_stream_error(error)


def test_idle_watchdog_does_not_count_keepalive_events(server: LoopbackServer) -> None:
    pings = [sse("{}", event="ping")] * 2000
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("real"), *pings], chunked=True, delay=0.005))
    stream = start_stream(
        make_transport(stream_idle=0.2), server.url, CancellationToken(), is_keepalive=lambda e: e.event == "ping"
    )
    chunks = list(stream)

    assert chunks[0] == TextDelta("real")
    assert isinstance(chunks[-1], ErrorChunk)
    error = chunks[-1].error
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT
    assert "no event for" in error.details
    # The pings were delivered (the converter saw them) but did not reset the watchdog.
    assert len(chunks) < 2000


def test_total_deadline_before_the_headers_raises_api_timeout(server: LoopbackServer) -> None:
    server.queue(Reply(stall_after=-1))
    token = CancellationToken()
    with pytest.raises(ApiTimeout):
        make_transport(total=0.3).post(server.url + "/x", {}, headers={}, token=token)
    assert registered_callbacks(token) == 0


def test_total_deadline_mid_stream_yields_the_deadline_chunk(server: LoopbackServer) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("partial")], chunked=True, stall_after=1))
    stream = start_stream(make_transport(total=1.0), server.url, CancellationToken())
    chunks = list(stream)

    assert chunks[0] == TextDelta("partial")
    error = chunks[-1].error if isinstance(chunks[-1], ErrorChunk) else None
    assert isinstance(error, ProviderStreamError)
    assert error.raw_error_type == "deadline_exceeded"

    server.queue(Reply(headers=SSE_HEADERS, body=[sse("partial")], chunked=True, stall_after=1))
    with pytest.raises(ApiTimeout):
        start_stream(make_transport(total=1.0), server.url, CancellationToken()).collect()


def test_read_timeout_mid_stream_is_a_transport_error(server: LoopbackServer) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("a")], chunked=True, stall_after=1))
    chunks = list(start_stream(make_transport(read=1.0), server.url, CancellationToken()))

    assert chunks[0] == TextDelta("a")
    error = chunks[-1].error if isinstance(chunks[-1], ErrorChunk) else None
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT
    assert "read timeout" in error.details


# --- broken bodies ------------------------------------------------------------------------------


def test_a_dropped_connection_mid_body_is_a_transport_error(server: LoopbackServer) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("a"), sse("b"), sse("c")], chunked=True, drop_after=2))
    chunks = list(start_stream(make_transport(), server.url, CancellationToken()))

    assert chunks[:2] == [TextDelta("a"), TextDelta("b")]
    error = chunks[-1].error if isinstance(chunks[-1], ErrorChunk) else None
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.TRANSPORT
    assert should_retry_stream_error(error)


def test_invalid_utf8_is_an_utf8_error(server: LoopbackServer) -> None:
    server.queue(Reply(headers=SSE_HEADERS, body=[sse("ok"), b"data: \xff\xfe\n\n", sse("never")], chunked=True))
    chunks = list(start_stream(make_transport(), server.url, CancellationToken()))

    assert chunks[0] == TextDelta("ok")
    error = chunks[-1].error if isinstance(chunks[-1], ErrorChunk) else None
    assert isinstance(error, SseParse) and error.kind is SseParseErrorKind.UTF8
    assert TextDelta("never") not in chunks


# --- connection reuse ---------------------------------------------------------------------------


def test_sequential_streams_reuse_one_connection(server: LoopbackServer) -> None:
    transport = make_transport()
    for _ in range(3):
        server.queue(Reply(headers=SSE_HEADERS, body=[sse("a"), sse("b")], chunked=True))
        assert [type(c) for c in start_stream(transport, server.url, CancellationToken())] == [TextDelta, TextDelta]
    for _ in range(3):
        # collect() stops at MessageComplete and closes the stream at once.
        server.queue(Reply(headers=SSE_HEADERS, body=[sse("a"), sse("", event="done")], chunked=True))
        assert start_stream(transport, server.url, CancellationToken()).collect().extract_text() == "a"
    server.queue(Reply(status=429, body=b"slow down"))
    with pytest.raises(Exception, match="429"):
        transport.post(server.url + "/x", {}, headers={}, token=CancellationToken())
    assert server.connection_count == 1


def test_eight_threads_use_exactly_eight_connections(server: LoopbackServer) -> None:
    threads, rounds = 8, 5
    first_round = threading.Barrier(threads)
    lock = threading.Lock()
    served = [0]

    def reply(request: RecordedRequest) -> Reply:
        with lock:
            served[0] += 1
            first = served[0] <= threads
        if first:
            # Hold the first requests until all threads have one in flight at once.
            first_round.wait(GUARD)
        return Reply(headers=SSE_HEADERS, body=[sse("a"), sse("", event="done")], chunked=True)

    server.queue(*[reply] * (threads * rounds))
    transport = make_transport()
    failures: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(rounds):
                assert start_stream(transport, server.url, CancellationToken()).collect().extract_text() == "a"
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(GUARD)
    assert not any(w.is_alive() for w in workers)
    assert failures == []
    assert server.connection_count == threads


# --- TLS and foreign connection classes -----------------------------------------------------


class RawStallServer:
    """A one-connection server on 127.0.0.1: reads the request head, sends ``reply``, then stalls.

    With ``tls`` it speaks TLS with the test certificate in ``certs/``. ``stalled`` is set once
    the reply is sent; ``done`` once the client has gone away.
    """

    def __init__(self, reply: bytes, *, tls: bool = False) -> None:
        self.reply = reply
        self.context: Optional[ssl.SSLContext] = None
        if tls:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(str(CERTS / "server.pem"), str(CERTS / "server.key"))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        port = self.listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.stalled = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        try:
            raw, _ = self.listener.accept()
        except OSError:
            return
        conn = self.context.wrap_socket(raw, server_side=True) if self.context is not None else raw
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(self.reply)
            self.stalled.set()
            while conn.recv(65536):  # until the client goes away
                pass
        except OSError:
            pass
        finally:
            conn.close()
            self.done.set()

    def close(self) -> None:
        self.listener.close()


def test_cancel_unblocks_a_stalled_tls_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERTS / "ca.pem"))  # TLS verification stays on
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    tls = RawStallServer(head + b"%x\r\n%s\r\n" % (len(sse("tls")), sse("tls")), tls=True)
    try:
        token = CancellationToken()
        reader = Reader(start_stream(make_transport(), tls.url, token))
        reader.start()
        assert reader.first.wait(GUARD)
        assert tls.stalled.wait(GUARD)

        token.cancel()
        reader.join(GUARD)

        assert not reader.is_alive()
        assert reader.chunks == [TextDelta("tls"), ErrorChunk(StreamCancelled())]
        assert tls.done.wait(GUARD), "the TLS connection was not closed"
    finally:
        tls.close()


def test_foreign_connection_classes_still_stream_and_cancel(server: LoopbackServer) -> None:
    # A SOCKS proxy brings urllib3 pools that are not ours: reading and cancelling fall back
    # to urllib3's own read1() and shutdown().
    transport = make_transport()
    adapter: Any = transport._session.get_adapter("http://")
    adapter.poolmanager.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}
    server.queue(
        Reply(headers=SSE_HEADERS, body=[sse("a"), sse("", event="done")], chunked=True),
        Reply(headers=SSE_HEADERS, body=[sse("b")], chunked=True, stall_after=1),
    )
    assert start_stream(transport, server.url, CancellationToken()).collect().extract_text() == "a"

    token = CancellationToken()
    reader = Reader(start_stream(transport, server.url, token))
    reader.start()
    assert reader.first.wait(GUARD)
    server.wait_for_stalls(1, GUARD)
    token.cancel()
    reader.join(GUARD)

    assert not reader.is_alive()
    assert reader.chunks == [TextDelta("b"), ErrorChunk(StreamCancelled())]


def test_response_owns_a_private_child_token(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"{}"))
    token = CancellationToken()
    response: HttpResponse = make_transport().post(server.url + "/x", {}, headers={}, token=token)
    assert response.token is not token
    assert registered_callbacks(token) == 1  # the child, while the response is open
    assert response.json() == {}
    response.close()
    assert registered_callbacks(token) == 0
    assert not token.is_cancelled()


def test_streams_dropped_without_close_leave_no_callbacks_on_the_caller_token() -> None:
    import gc

    from steer_sync import Message
    from steer_sync.testing import LoopbackServer, Turn
    from steer_sync.testing._client import client_for

    caller = CancellationToken()
    with LoopbackServer(default=Turn(text="one two three four")) as server, client_for(server.url) as client:
        for round_ in range(10):
            for _ in range(50):
                stream = client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")], token=caller)
                next(stream)  # started and partly read, then dropped without close()
            del stream
            gc.collect()
            assert len(caller._callbacks) == 0, f"round {round_}: abandoned streams keep callbacks on the token"
    assert not caller.is_cancelled()
