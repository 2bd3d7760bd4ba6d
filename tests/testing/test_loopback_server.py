"""LoopbackServer over real 127.0.0.1 sockets: queueing, recording, HTTP/1.1 framing and faults."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import requests

from steer_sync.testing import DEFAULT_TEXT, ErrorReply, LoopbackServer, RecordedRequest, Reply, Turn

#: A backstop so a broken server fails the test instead of hanging it; never a measurement.
BACKSTOP = 10.0


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@dataclass
class RawResponse:
    """A response read byte by byte, keeping the chunk boundaries the server chose."""

    status: int
    headers: Dict[str, str]
    chunks: List[bytes] = field(default_factory=list)
    #: True when the body ended properly (terminating chunk, or content-length reached).
    complete: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def raw_connection(server: LoopbackServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=BACKSTOP)


def send_request(
    sock: socket.socket,
    path: str = "/anything",
    body: bytes = b"{}",
    headers: Sequence[Tuple[str, str]] = (),
) -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    sock.sendall(head.encode() + b"\r\n" + body)


def read_response(reader: io.BufferedReader, on_chunk: Optional[threading.Event] = None) -> RawResponse:
    """Read one response from ``sock.makefile("rb")``; an early EOF leaves ``complete`` False."""
    status_line = reader.readline()
    if not status_line:
        raise ConnectionError("connection closed before the status line")
    status = int(status_line.split()[1])
    headers: Dict[str, str] = {}
    while True:
        line = reader.readline().decode("latin-1")
        if line in ("\r\n", ""):
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    response = RawResponse(status, headers)
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size_line = reader.readline()
            if not size_line:
                return response
            size = int(size_line.strip(), 16)
            if size == 0:
                response.complete = reader.readline() == b"\r\n"
                return response
            data = reader.read(size + 2)
            response.chunks.append(data[:size])
            if len(data) < size + 2:
                return response
            assert data[size:] == b"\r\n"
            if on_chunk is not None:
                on_chunk.set()
    length = int(headers.get("content-length", "0"))
    data = reader.read(length)
    response.chunks.append(data)
    response.complete = len(data) == length
    return response


def exchange(server: LoopbackServer, path: str = "/anything", body: bytes = b"{}") -> RawResponse:
    with closing(raw_connection(server)) as sock, sock.makefile("rb") as reader:
        send_request(sock, path, body)
        return read_response(reader)


# -- queue, default and recording ------------------------------------------------------


def test_queued_items_answer_requests_in_order_and_each_request_is_recorded(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"first"), Reply(status=201, headers=[("x-reply", "2")], body=b"second"))
    with requests.Session() as session:
        one = session.post(f"{server.url}/v1/x?a=1&a=2&b=%20y", json={"n": 1}, headers={"X-Trace": "t1"})
        two = session.get(f"{server.url}/v2/y")
    assert (one.status_code, one.content) == (200, b"first")
    assert (two.status_code, two.headers["x-reply"], two.content) == (201, "2", b"second")
    assert server.pending == 0
    first, second = server.wait_for_requests(2, BACKSTOP)
    assert (first.method, first.path, first.query) == ("POST", "/v1/x", {"a": "1", "b": " y"})
    assert first.headers["x-trace"] == "t1"
    assert ("X-Trace", "t1") in first.header_list
    assert first.json == {"n": 1}
    assert json.loads(first.body) == {"n": 1}
    assert (second.method, second.path, second.body, second.json) == ("GET", "/v2/y", b"", None)


def test_an_empty_queue_answers_with_the_default_turn(server: LoopbackServer) -> None:
    response = requests.post(f"{server.url}/v1/messages", json={"model": "claude-test"})
    assert response.status_code == 200
    assert response.json()["content"] == [{"type": "text", "text": DEFAULT_TEXT}]


def test_a_custom_default_answers_every_request() -> None:
    with LoopbackServer(default=ErrorReply(503, "down")) as server:
        for _ in range(2):
            response = requests.post(f"{server.url}/v1/chat/completions", json={"model": "gpt-4o"})
            assert response.status_code == 503
            assert response.json()["error"]["message"] == "down"


def test_an_unknown_path_gets_a_404_and_the_queued_turn_stays_queued(server: LoopbackServer) -> None:
    server.queue(Turn(text="kept"))
    missing = requests.post(f"{server.url}/v1/embeddings", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["path"] == "/v1/embeddings"
    assert server.pending == 1
    found = requests.post(f"{server.url}/v1/messages", json={"model": "m"})
    assert found.json()["content"][0]["text"] == "kept"


def test_a_queued_reply_answers_any_path(server: LoopbackServer) -> None:
    server.queue(Reply(status=418, body=b"teapot"))
    response = requests.get(f"{server.url}/not/a/provider")
    assert (response.status_code, response.content) == (418, b"teapot")


def test_a_queued_callable_picks_the_item_from_the_request(server: LoopbackServer) -> None:
    server.queue(lambda request: Turn(text=f"you sent {request.json['n']}"))
    response = requests.post(f"{server.url}/v1/messages", json={"model": "m", "n": 7})
    assert response.json()["content"][0]["text"] == "you sent 7"


def test_a_broken_script_answers_500_and_is_kept_in_errors(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"ab", split=[5]), lambda request: "not an item")  # type: ignore[arg-type,return-value]
    first = requests.post(f"{server.url}/x")
    second = requests.post(f"{server.url}/x")
    assert first.status_code == second.status_code == 500
    assert "script error" in first.json()["error"]["message"]
    assert [type(e) for e in server.errors] == [ValueError, TypeError]


def test_clear_forgets_the_queue_and_the_recorded_requests(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"used"))
    requests.post(f"{server.url}/x")
    server.queue(Reply(body=b"dropped"))
    server.clear()
    assert (server.pending, server.requests, server.errors) == (0, [], [])
    response = requests.post(f"{server.url}/v1/messages", json={"model": "m"})
    assert response.json()["content"][0]["text"] == DEFAULT_TEXT


def test_wait_for_requests_raises_when_too_few_arrive(server: LoopbackServer) -> None:
    with pytest.raises(TimeoutError):
        server.wait_for_requests(1, timeout=0.01)


def test_a_chunked_request_body_is_decoded(server: LoopbackServer) -> None:
    with closing(raw_connection(server)) as sock, sock.makefile("rb") as reader:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'4\r\n{"mo\r\n11;ext=1\r\ndel": "claude-z"}\r\n0\r\nX-Trailer: 1\r\n\r\n'
        )
        response = read_response(reader)
    assert response.status == 200
    assert server.requests[0].json == {"model": "claude-z"}
    assert json.loads(response.body)["model"] == "claude-z"


# -- connections -----------------------------------------------------------------------


def test_keep_alive_serves_two_requests_on_one_connection(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"one"), Reply(body=[b"t", b"wo"]))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=BACKSTOP)
    try:
        bodies = []
        for _ in range(2):
            connection.request("POST", "/x", body=b"{}", headers={"Content-Type": "application/json"})
            bodies.append(connection.getresponse().read())
    finally:
        connection.close()
    assert bodies == [b"one", b"two"]
    assert server.connection_count == 1
    assert [r.connection_id for r in server.requests] == [0, 0]


def test_connection_close_is_honoured(server: LoopbackServer) -> None:
    with closing(raw_connection(server)) as sock, sock.makefile("rb") as reader:
        send_request(sock, headers=[("Connection", "close")])
        response = read_response(reader)
        assert response.headers["connection"] == "close"
        assert reader.read() == b""  # the server closed its end
    assert server.wait_connections_closed(BACKSTOP)


def test_close_ends_idle_keep_alive_connections(server: LoopbackServer) -> None:
    with closing(raw_connection(server)) as sock, sock.makefile("rb") as reader:
        send_request(sock)
        assert read_response(reader).complete
        server.close()
        assert reader.read() == b""
    assert server.open_connections == 0


def test_close_is_idempotent_and_a_closed_server_cannot_restart() -> None:
    never_started = LoopbackServer()
    never_started.close()
    with pytest.raises(RuntimeError):
        never_started.start()
    running = LoopbackServer().start()
    running.close()
    running.close()
    with pytest.raises(RuntimeError):
        running.start()


# -- framing ---------------------------------------------------------------------------


def test_each_scripted_part_is_exactly_one_http_chunk(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"ab", b"", b"cde", b"\r\n\r\n"]))
    response = exchange(server)
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.chunks == [b"ab", b"cde", b"\r\n\r\n"]  # an empty part sends no chunk
    assert response.complete


def test_a_single_bytes_body_gets_a_content_length(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"xyz"))
    response = exchange(server)
    assert response.headers["content-length"] == "3"
    assert "transfer-encoding" not in response.headers
    assert response.body == b"xyz"


def test_split_offsets_recut_the_body_into_chunks(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"hello ", b"world"], split=[1, 3, 8]))
    assert exchange(server).chunks == [b"h", b"el", b"lo wo", b"rld"]


def test_random_split_is_reproducible_and_keeps_every_byte(server: LoopbackServer) -> None:
    body = bytes(range(256)) * 2
    server.queue(Reply(body=body, split="random", seed=7), Reply(body=body, split="random", seed=7))
    first, second = exchange(server), exchange(server)
    assert first.chunks == second.chunks
    assert len(first.chunks) > 1
    assert first.body == body


def test_a_reply_that_frames_itself_is_written_verbatim_and_closes(server: LoopbackServer) -> None:
    server.queue(Reply(headers=[("content-length", "10")], body=b"short"))
    with closing(raw_connection(server)) as sock, sock.makefile("rb") as reader:
        send_request(sock)
        response = read_response(reader)
    assert response.body == b"short"
    assert not response.complete


# -- faults ----------------------------------------------------------------------------


def test_drop_after_truncates_a_chunked_body(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"a", b"b", b"c"], drop_after=2))
    response = exchange(server)
    assert response.chunks == [b"a", b"b"]
    assert not response.complete


def test_a_client_sees_an_error_when_the_body_is_dropped(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"a", b"b"], drop_after=1))
    received = bytearray()

    def drain() -> None:
        with requests.post(f"{server.url}/x", stream=True) as response:
            for piece in response.iter_content(None):
                received.extend(piece)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        drain()
    assert bytes(received) == b"a"


def test_drop_before_the_status_line_looks_like_a_dead_server(server: LoopbackServer) -> None:
    server.queue(Reply(drop_after=-1))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"{server.url}/x")


def test_drop_after_on_a_content_length_body_leaves_it_short(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"abc", b"def"], chunked=False, drop_after=1))
    response = exchange(server)
    assert response.headers["content-length"] == "6"
    assert response.body == b"abc"
    assert not response.complete


def _read_in_thread(
    server: LoopbackServer, path: str = "/x", body: bytes = b"{}"
) -> Tuple[threading.Thread, Dict[str, Any]]:
    """Start a client thread that sends one request and reads its response until EOF."""
    result: Dict[str, Any] = {"first_chunk": threading.Event()}
    sock = raw_connection(server)

    def run() -> None:
        with closing(sock), sock.makefile("rb") as reader:
            send_request(sock, path, body)
            try:
                result["response"] = read_response(reader, result["first_chunk"])
            except OSError as error:  # ConnectionError included: kept for the test to inspect
                result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    result["socket"] = sock
    return thread, result


def test_stall_after_holds_the_response_until_close_releases_it(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"a", b"b"], stall_after=1))
    reader, result = _read_in_thread(server)
    assert server.stalled.wait(BACKSTOP)
    assert reader.is_alive()  # the client is still waiting for the rest of the body
    server.close()
    reader.join(BACKSTOP)
    assert not reader.is_alive()
    response: RawResponse = result["response"]
    assert response.chunks == [b"a"]
    assert not response.complete
    assert server.open_connections == 0


def test_a_stall_ends_when_the_client_disconnects(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"a", b"b"], stall_after=1))
    with closing(raw_connection(server)) as sock:
        send_request(sock)
        server.wait_for_stalls(1, BACKSTOP)
        sock.shutdown(socket.SHUT_RDWR)
    assert server.wait_connections_closed(BACKSTOP)
    server.queue(Reply(body=b"still serving"))
    assert exchange(server).body == b"still serving"


def test_stall_before_the_status_line_sends_nothing(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"never", stall_after=-1))
    reader, result = _read_in_thread(server)
    server.wait_for_stalls(1, BACKSTOP)
    server.close()
    reader.join(BACKSTOP)
    assert not reader.is_alive()
    assert isinstance(result["error"], ConnectionError)  # no status line ever came


def test_close_interrupts_a_slow_drip(server: LoopbackServer) -> None:
    server.queue(Reply(body=[b"a", b"b"], delay=3600.0))
    reader, result = _read_in_thread(server)
    assert result["first_chunk"].wait(BACKSTOP)
    server.close()  # must not wait out the hour-long delay
    reader.join(BACKSTOP)
    assert not reader.is_alive()
    assert result["response"].chunks == [b"a"]


def test_a_turn_stall_counts_stream_events(server: LoopbackServer) -> None:
    server.queue(Turn(text="one two three", stall_after=2, split="random", seed=5))
    reader, result = _read_in_thread(server, "/v1/messages", json.dumps({"model": "m", "stream": True}).encode())
    server.wait_for_stalls(1, BACKSTOP)
    server.close()
    reader.join(BACKSTOP)
    body: bytes = result["response"].body
    assert [block.split(b"\n")[0] for block in body.split(b"\n\n") if block] == [
        b"event: message_start",
        b"event: content_block_start",
    ]
    assert body.endswith(b"\n\n")


def test_the_steer_server_fixture_yields_a_started_server(steer_server: LoopbackServer) -> None:
    steer_server.queue(Turn(text="from the fixture"))
    response = requests.post(f"{steer_server.url}/v1/messages", json={"model": "m"})
    assert response.json()["content"][0]["text"] == "from the fixture"


def test_importing_the_testing_package_does_not_load_the_http_client_stack() -> None:
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    code = "import sys, steer_sync.testing; print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"


def test_recorded_requests_are_plain_values() -> None:
    request = RecordedRequest("GET", "/", {}, {}, b"")
    assert request.json_dict() == {}
