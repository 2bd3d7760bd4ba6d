"""The transport over real loopback sockets: status mapping, retry hints, bodies, session settings.

Sections follow the modules of ``steer_sync._transport``: requests (``_session``), status
mapping and retry hints (``_status``), bodies (``_body``, ``_response``), network failures and
secrets (``_failures``, ``_redact``). Cancellation, watchdogs and connection reuse
(``_binding``, ``_connection``, ``_response``'s timers) are in ``tests/sockets/test_cancellation.py``.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import pickle
import socket
import zlib
from dataclasses import FrozenInstanceError
from typing import Any, Dict, Iterator, List, Optional, Type
from urllib.parse import quote, quote_plus

import pytest

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, StreamChunk, TextDelta
from steer_sync._errors import (
    ApiError,
    ApiTimeout,
    AuthenticationFailed,
    InvalidRequest,
    NetworkError,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    ResponseParsingError,
    ServerError,
    SseParse,
    SseParseErrorKind,
    UnknownApiError,
)
from steer_sync._sse import SseEvent
from steer_sync._transport import (
    MAX_ERROR_BODY,
    MAX_RESPONSE_BODY,
    MAX_RETRY_AFTER,
    Timeouts,
    Transport,
    json_dumps,
    open_chunk_stream,
    parse_retry_hints,
    redact_error,
)
from steer_sync.testing import LoopbackServer, RecordedRequest, Reply

SECRET = "sk-test-0123456789abcdef-SECRET"
SSE_HEADERS = (("content-type", "text/event-stream"),)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


def make_transport(**kw: Any) -> Transport:
    kw.setdefault("timeouts", Timeouts(connect=10, read=30, stream_idle=30))
    return Transport("test", **kw)


def post(transport: Transport, url: str, **kw: Any) -> Any:
    kw.setdefault("headers", {})
    kw.setdefault("token", CancellationToken())
    return transport.post(url, kw.pop("body", {"q": 1}), **kw)


def fail(server: LoopbackServer, reply: Reply, **kw: Any) -> ApiError:
    server.queue(reply)
    with pytest.raises(ApiError) as caught:
        post(make_transport(), server.url + "/v1/x", **kw)
    return caught.value


def texts(events: Iterator[SseEvent]) -> Iterator[StreamChunk]:
    for event in events:
        yield TextDelta(event.data)


# --- values ---------------------------------------------------------------------------------


def test_timeouts_are_a_frozen_value_with_safe_defaults() -> None:
    timeouts = Timeouts()
    assert (timeouts.connect, timeouts.read, timeouts.stream_idle, timeouts.total) == (10.0, 600.0, 300.0, None)
    with pytest.raises(FrozenInstanceError):
        timeouts.read = 1.0  # type: ignore[misc]


def test_json_dumps_is_compact_and_keeps_non_ascii() -> None:
    assert json_dumps({"b": [1, 2.0], "a": "héllo ✓"}) == '{"b":[1,2.0],"a":"héllo ✓"}'


# --- requests -------------------------------------------------------------------------------


def test_post_sends_compact_json_with_headers_and_params(server: LoopbackServer) -> None:
    server.queue(Reply(body=b'{"ok": true}'))
    transport = make_transport(static_headers={"x-api-key": SECRET, "anthropic-version": "2023-06-01"})
    response = post(
        transport,
        server.url + "/v1/x",
        body={"model": "m", "text": "é"},
        headers={"Anthropic-Version": "override", "x-extra": "1"},
        params={"alt": "sse"},
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    response.close()
    request = server.requests[0]
    assert request.method == "POST"
    assert request.body == '{"model":"m","text":"é"}'.encode()
    assert request.query == {"alt": "sse"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "override"
    assert request.headers["x-extra"] == "1"
    assert "authorization" not in request.headers


def test_cookies_from_one_call_never_reach_another(server: LoopbackServer) -> None:
    transport = make_transport()
    server.queue(Reply(headers=(("set-cookie", "session=abc; Path=/"),), body=b"{}"), Reply(body=b"{}"))
    for _ in range(2):
        response = post(transport, server.url + "/v1/x")
        response.json()
        response.close()
    assert "cookie" not in server.requests[1].headers


def test_netrc_credentials_are_never_applied(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.queue(Reply(body=b"{}"))
    post(make_transport(), server.url + "/v1/x", headers={"Authorization": "Bearer tok-123456789"}).close()
    assert server.requests[0].headers["authorization"] == "Bearer tok-123456789"


def test_proxy_environment_variables_are_honoured(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("http_proxy", server.url)
    server.queue(Reply(body=b'{"via": "proxy"}'))
    response = post(make_transport(), "http://api.example.invalid/v1/x")
    assert response.json() == {"via": "proxy"}
    response.close()
    assert server.requests[0].headers["host"] == "api.example.invalid"


def test_a_proxy_variable_set_after_the_first_call_is_honoured(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Environment settings are cached per origin and keyed by the variables' values.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = make_transport()
    server.queue(Reply(body=b'{"via": "direct"}'), Reply(body=b'{"via": "proxy"}'))
    direct = post(transport, server.url + "/v1/x")
    assert direct.json() == {"via": "direct"}
    direct.close()
    monkeypatch.setenv("http_proxy", server.url)
    response = post(transport, "http://api.example.invalid/v1/x")
    assert response.json() == {"via": "proxy"}
    response.close()
    assert server.requests[1].headers["host"] == "api.example.invalid"


@pytest.mark.parametrize("size", [0, 10, 65536, 65537, 300_000])
def test_bodies_of_any_size_arrive_once_and_whole_on_a_kept_connection(server: LoopbackServer, size: int) -> None:
    # Bodies up to 64 KiB share the head's write; a body sent twice would corrupt the next request.
    transport = make_transport()
    server.queue(Reply(body=b"{}"), Reply(body=b"{}"))
    body = {"text": "x" * size}
    for _ in range(2):
        assert post(transport, server.url + "/v1/x", body=body).json() == {}  # read whole: pooled
    first, second = server.requests
    assert [(r.method, r.path, r.json) for r in (first, second)] == [("POST", "/v1/x", body)] * 2
    assert first.connection_id == second.connection_id


def test_redirects_are_not_followed(server: LoopbackServer) -> None:
    error = fail(server, Reply(status=302, headers=(("location", server.url + "/elsewhere"),), body=b"moved"))
    assert isinstance(error, UnknownApiError)
    assert error.status_code == 302
    assert len(server.requests) == 1


def test_a_closed_transport_refuses_new_calls(server: LoopbackServer) -> None:
    transport = make_transport()
    transport.close()
    with pytest.raises(UnknownApiError, match="closed"):
        post(transport, server.url + "/v1/x")
    assert server.connection_count == 0


# --- status mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, InvalidRequest),
        (408, ApiTimeout),
        (409, ServerError),
        (413, InvalidRequest),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (529, ServerError),
        (302, UnknownApiError),
        (304, UnknownApiError),
    ],
)
def test_http_status_maps_to_the_matching_error(server: LoopbackServer, status: int, expected: Type[ApiError]) -> None:
    error = fail(server, Reply(status=status, body=b'{"error": "nope"}'))
    assert type(error) is expected
    assert error.provider == "test"
    assert error.status_code == status
    if status != 304 and expected is not ApiTimeout:  # a 304 has no body by definition
        assert error.details is not None and "nope" in error.details


def test_describe_error_supplies_the_details(server: LoopbackServer) -> None:
    seen: List[Any] = []

    def describe(status: int, body: bytes) -> Optional[str]:
        seen.append((status, body))
        return "quota exhausted"

    error = fail(server, Reply(status=400, body=b'{"message": "raw"}'), describe_error=describe)
    assert seen == [(400, b'{"message": "raw"}')]
    assert error.details == "quota exhausted"


def test_default_details_are_the_status_and_the_start_of_the_body(server: LoopbackServer) -> None:
    error = fail(server, Reply(status=400, body=b"x" * 2000), describe_error=lambda s, b: None)
    assert error.details == "HTTP 400 Bad Request: " + "x" * 500 + "..."
    error = fail(server, Reply(status=503, body=b""))
    assert error.details == "HTTP 503 Service Unavailable (empty body)"


def test_a_failing_describe_error_does_not_hide_the_status(server: LoopbackServer) -> None:
    def describe(status: int, body: bytes) -> Optional[str]:
        raise KeyError("bug")

    error = fail(server, Reply(status=429, body=b"slow"), describe_error=describe)
    assert isinstance(error, RateLimited)
    assert error.details == "HTTP 429 Too Many Requests: slow"


def test_the_error_body_read_is_bounded(server: LoopbackServer) -> None:
    sizes: List[int] = []

    def describe(status: int, body: bytes) -> Optional[str]:
        sizes.append(len(body))
        return None

    transport = make_transport()
    huge = [b"e" * 65536] * 64  # 4 MiB, chunked
    server.queue(Reply(status=500, body=huge, chunked=True), Reply(body=b"{}"))
    with pytest.raises(ServerError) as caught:
        post(transport, server.url + "/v1/x", describe_error=describe)
    assert sizes == [MAX_ERROR_BODY]
    assert len(caught.value.details or "") < 600
    # The rest was not read: that connection was dropped, the next call opens a new one.
    response = post(transport, server.url + "/v1/x")
    response.close()
    assert server.connection_count == 2


def test_a_fully_read_error_body_keeps_the_connection(server: LoopbackServer) -> None:
    transport = make_transport()
    server.queue(Reply(status=500, body=b"boom"), Reply(body=b"{}"))
    with pytest.raises(ServerError):
        post(transport, server.url + "/v1/x")
    response = post(transport, server.url + "/v1/x")
    response.json()
    response.close()
    assert server.connection_count == 1


# --- retry hints ----------------------------------------------------------------------------


def test_retry_after_seconds_lands_on_the_error(server: LoopbackServer) -> None:
    error = fail(server, Reply(status=429, headers=(("retry-after", "2.5"),), body=b"slow"))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.5


def test_retry_after_http_date_lands_on_the_error(server: LoopbackServer) -> None:
    import time

    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    error = fail(server, Reply(status=503, headers=(("retry-after", when),), body=b"busy"))
    assert isinstance(error, ServerError)
    assert error.retry_after is not None and 100 < error.retry_after <= 121


def test_retry_after_ms_wins_over_retry_after(server: LoopbackServer) -> None:
    head = (("retry-after", "9"), ("retry-after-ms", "1500"))
    error = fail(server, Reply(status=429, headers=head, body=b"slow"))
    assert error.retry_after == 1.5


@pytest.mark.parametrize(("flag", "expected"), [("true", True), ("false", False), ("FALSE", False), ("maybe", None)])
def test_x_should_retry_lands_on_the_error(server: LoopbackServer, flag: str, expected: Optional[bool]) -> None:
    error = fail(server, Reply(status=500, headers=(("x-should-retry", flag),), body=b"x"))
    assert error.should_retry is expected


def test_a_retry_hint_reads_the_delay_from_the_error_body(server: LoopbackServer) -> None:
    seen: List[bytes] = []

    def hint(body: bytes) -> Optional[float]:
        seen.append(body)
        return float(json.loads(body)["wait"])

    server.queue(Reply(status=429, body=b'{"wait": 7}'))
    with pytest.raises(RateLimited) as caught:
        post(make_transport(retry_hint=hint), server.url + "/v1/x")
    assert caught.value.retry_after == 7.0
    assert seen == [b'{"wait": 7}']


def test_the_transport_reads_no_provider_body_without_a_hint(server: LoopbackServer) -> None:
    body = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]}}
    error = fail(server, Reply(status=429, body=json.dumps(body).encode()))
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_header_hints_win_over_the_body_hint() -> None:
    def hint(body: bytes) -> Optional[float]:
        raise AssertionError("asked although a header gave the delay")

    assert parse_retry_hints({"retry-after": "2"}, b"{}", retry_hint=hint) == (2.0, None)
    assert parse_retry_hints({"retry-after-ms": "500"}, b"{}", retry_hint=hint) == (0.5, None)
    assert parse_retry_hints({}, b"", retry_hint=hint) == (None, None)


def _raises(body: bytes) -> Optional[float]:
    raise ValueError("not my format")


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (lambda body: None, None),
        (lambda body: -1.0, None),
        (lambda body: float("nan"), None),
        (lambda body: float("inf"), None),
        (lambda body: True, None),
        (lambda body: 86400.0, MAX_RETRY_AFTER),
        (lambda body: 0.25, 0.25),
        (_raises, None),
    ],
)
def test_body_hints_are_checked_and_capped_like_headers(hint: Any, expected: Optional[float]) -> None:
    assert parse_retry_hints({}, b"{}", retry_hint=hint)[0] == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "86400"}, MAX_RETRY_AFTER),
        ({"retry-after-ms": "1e12"}, MAX_RETRY_AFTER),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({}, None),
    ],
)
def test_retry_hints_ignore_nonsense_and_cap_huge_values(headers: Dict[str, str], expected: Optional[float]) -> None:
    assert parse_retry_hints(headers)[0] == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    assert parse_retry_hints({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=1445412480.0)[0] == 30.0


# --- bodies ---------------------------------------------------------------------------------


def test_invalid_json_is_a_response_parsing_error(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"<html>oops</html>"))
    response = post(make_transport(), server.url + "/v1/x")
    with pytest.raises(ResponseParsingError, match="oops"):
        response.json()
    response.close()


def test_the_default_body_limit_is_64_mib() -> None:
    assert MAX_RESPONSE_BODY == 64 * 1024 * 1024
    assert make_transport().max_response_body == MAX_RESPONSE_BODY
    assert make_transport(max_response_body=None).max_response_body is None
    with pytest.raises(ValueError, match="max_response_body must be a positive int"):
        make_transport(max_response_body=0)


def test_a_body_declared_larger_than_the_limit_is_refused_unread(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"x" * 5000, chunked=False))
    response = post(make_transport(max_response_body=4096), server.url + "/v1/x")
    with pytest.raises(ResponseParsingError, match=r"larger than the 4 KiB limit .*max_response_body") as caught:
        response.json()
    assert "stream_complete" in str(caught.value)
    assert server.wait_connections_closed(10), "a half-read connection must not be pooled"


def test_a_body_growing_past_the_limit_is_cut_without_reading_to_its_end(server: LoopbackServer) -> None:
    # No length, and the body never ends: only a limit that stops reading can return.
    server.queue(Reply(body=[b"x" * 8192] * 20, chunked=True, stall_after=20))
    response = post(make_transport(max_response_body=65536), server.url + "/v1/x")
    with pytest.raises(ResponseParsingError, match="larger than the 64 KiB limit"):
        response.json()
    assert server.wait_connections_closed(10)


def test_the_body_limit_counts_decompressed_bytes(server: LoopbackServer) -> None:
    server.queue(Reply(headers=(("content-encoding", "gzip"),), body=gzip.compress(b"0" * (1 << 20))))
    response = post(make_transport(max_response_body=65536), server.url + "/v1/x")
    with pytest.raises(ResponseParsingError, match="larger than the 64 KiB limit"):
        response.json()


def test_gzip_and_deflate_bodies_are_decoded(server: LoopbackServer) -> None:
    transport = make_transport()
    payload = json.dumps({"text": "z" * 5000}).encode()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    server.queue(
        Reply(headers=(("content-encoding", "gzip"),), body=gzip.compress(payload)),
        Reply(headers=(("content-encoding", "deflate"),), body=zlib.compress(payload)),
        Reply(headers=(("content-encoding", "deflate"),), body=raw_deflate.compress(payload) + raw_deflate.flush()),
    )
    for _ in range(3):
        response = post(transport, server.url + "/v1/x")
        assert response.json() == {"text": "z" * 5000}
        response.close()
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_a_gzip_event_stream_is_decoded_as_it_arrives(server: LoopbackServer) -> None:
    body = gzip.compress(b"".join(f"data: {i}\n\n".encode() for i in range(300)))
    parts = [body[i : i + 97] for i in range(0, len(body), 97)]
    server.queue(Reply(headers=(*SSE_HEADERS, ("content-encoding", "gzip")), body=parts, chunked=True))
    response = post(make_transport(), server.url + "/v1/x", stream=True)
    chunks = list(open_chunk_stream(response, texts))
    assert chunks == [TextDelta(str(i)) for i in range(300)]


def test_an_unsupported_content_encoding_fails_the_stream(server: LoopbackServer) -> None:
    server.queue(Reply(headers=(*SSE_HEADERS, ("content-encoding", "br")), body=b"data: x\n\n"))
    response = post(make_transport(), server.url + "/v1/x", stream=True)
    chunks = list(open_chunk_stream(response, texts))
    assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
    assert isinstance(chunks[0].error, SseParse) and chunks[0].error.kind is SseParseErrorKind.PARSER


def test_chunked_framing_split_at_every_byte(server: LoopbackServer) -> None:
    # Written verbatim (the server adds no framing): chunk extensions, trailers and a body
    # split into single bytes, so every framing state is crossed at a read boundary.
    events = b"".join(f"data: {i}\n\n".encode() for i in range(5))
    framed = b"%x;ext=1\r\n%s\r\n" % (len(events[:20]), events[:20])
    framed += b"%X\r\n%s\r\n" % (len(events[20:]), events[20:])
    framed += b"0\r\nx-trailer: yes\r\n\r\n"
    head = (*SSE_HEADERS, ("transfer-encoding", "chunked"))
    server.queue(Reply(headers=head, body=[framed[i : i + 1] for i in range(len(framed))]))
    response = post(make_transport(), server.url + "/v1/x", stream=True)
    chunks = list(open_chunk_stream(response, texts))
    assert chunks == [TextDelta(str(i)) for i in range(5)]


def test_malformed_chunked_framing_is_a_transport_error(server: LoopbackServer) -> None:
    head = (*SSE_HEADERS, ("transfer-encoding", "chunked"))
    server.queue(Reply(headers=head, body=[b"zz\r\ndata: x\n\n\r\n0\r\n\r\n"]))
    response = post(make_transport(), server.url + "/v1/x", stream=True)
    chunks = list(open_chunk_stream(response, texts))
    assert isinstance(chunks[-1], ErrorChunk)
    assert isinstance(chunks[-1].error, SseParse) and chunks[-1].error.kind is SseParseErrorKind.TRANSPORT


def test_a_content_length_body_cut_short_is_a_network_error(server: LoopbackServer) -> None:
    head = (("content-length", "100"),)
    server.queue(Reply(headers=head, body=[b'{"a": 1'], drop_after=1))
    response = post(make_transport(), server.url + "/v1/x")
    with pytest.raises(NetworkError, match="closed before the end of the body"):
        response.json()
    response.close()


# --- network failures and secrets -----------------------------------------------------------


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return int(port)


def test_connection_refused_is_a_network_error_without_secrets() -> None:
    transport = make_transport(static_headers={"x-api-key": SECRET})
    url = f"http://127.0.0.1:{closed_port()}/v1/models/m:generate?key={SECRET}"
    with pytest.raises(NetworkError) as caught:
        post(transport, url, headers={"authorization": f"Bearer {SECRET}"}, params={"token": SECRET})
    error = caught.value
    assert "could not connect to http://127.0.0.1" in str(error)
    texts_to_check = [str(error), repr(error), str(error.details)]
    cause: Optional[BaseException] = error.__cause__
    while cause is not None:
        texts_to_check.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    assert all(SECRET not in text for text in texts_to_check)
    assert SECRET not in repr(transport)


@pytest.mark.parametrize("value", [SECRET + "\n", SECRET + "\u2713", " " + SECRET, SECRET + "\r\nx-evil: 1"])
def test_an_invalid_header_value_never_shows_the_secret(value: str) -> None:
    transport = make_transport()
    with pytest.raises(NetworkError) as caught:
        post(transport, f"http://127.0.0.1:{closed_port()}/x", headers={"x-api-key": value})
    assert SECRET not in str(caught.value)
    assert "header" in str(caught.value)
    assert caught.value.__cause__ is None


def test_an_error_body_echoing_the_key_is_redacted(server: LoopbackServer) -> None:
    transport = make_transport(static_headers={"x-api-key": SECRET})
    server.queue(Reply(status=401, body=f'{{"error": "invalid key {SECRET}"}}'.encode()))
    with pytest.raises(AuthenticationFailed) as caught:
        post(transport, server.url + "/v1/x")
    assert SECRET not in str(caught.value)
    assert "[redacted]" in str(caught.value)


KEY = 'sk-Rt/9+q="Zx\\y~0123456789abcdef'


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        f"Bearer {KEY}",
        json.dumps(KEY)[1:-1],
        json.dumps(json.dumps(KEY)[1:-1])[1:-1],
        quote(KEY),
        quote(KEY, safe=""),
        quote_plus(KEY),
        quote_plus(KEY).replace("%2F", "%2f").replace("%3D", "%3d"),  # lower-case hex escapes
        repr(KEY)[1:-1],
        KEY[:20] + "*****" + KEY[-4:],  # masked, but showing most of the key
    ],
    ids=[
        "bare",
        "bearer",
        "json",
        "json-in-json",
        "quote",
        "quote-safe-none",
        "quote-plus",
        "lower-hex",
        "repr",
        "masked",
    ],
)
def test_every_form_of_a_bearer_key_is_redacted(form: str) -> None:
    redact = Transport("test", static_headers={"Authorization": f"Bearer {KEY}"}).redact
    text = redact(f"Incorrect API key provided: {form}. You can find your key online.")
    assert text == "Incorrect API key provided: [redacted]. You can find your key online."


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Basic", "token", "Key"])
def test_the_bare_token_of_any_auth_scheme_is_a_secret(scheme: str) -> None:
    redact = Transport("test", static_headers={"Authorization": f"{scheme} {KEY}"}).redact
    assert redact(f"rejected: {KEY}") == "rejected: [redacted]"
    # Other header values are secret as a whole, not split at their first space.
    assert Transport("test", static_headers={"x-title": "My App Name"}).redact("App Name") == "App Name"


def test_a_providers_own_short_masked_echo_is_kept() -> None:
    # OpenAI and xAI mask keys on purpose; the few characters shown say which key was refused.
    redact = Transport("test", static_headers={"Authorization": f"Bearer {KEY}"}).redact
    assert redact("Incorrect API key provided: sk-R***cdef.") == "Incorrect API key provided: sk-R***cdef."
    assert redact("no secret *** here") == "no secret *** here"


def test_an_invalid_json_body_echoing_the_key_is_redacted_from_the_snippet(server: LoopbackServer) -> None:
    server.queue(Reply(body=f"<html>bad key {json.dumps(KEY)} {quote_plus(KEY)}</html>".encode()))
    response = post(make_transport(), server.url + "/v1/x", headers={"Authorization": f"Bearer {KEY}"})
    assert response.redact(KEY) == "[redacted]"
    with pytest.raises(ResponseParsingError, match="body starts") as caught:
        response.json()
    assert "[redacted]" in str(caught.value)
    for form in (KEY, json.dumps(KEY)[1:-1], quote_plus(KEY)):
        assert form not in str(caught.value)


def test_redact_error_cleans_an_error_a_provider_built_from_a_body(server: LoopbackServer) -> None:
    server.queue(Reply(body=json.dumps({"error": {"message": f"bad key {KEY}"}}).encode()))
    response = post(make_transport(), server.url + "/v1/x", headers={"x-api-key": KEY})
    body = response.json()
    error = redact_error(ResponseParsingError("test", f"unexpected body {body}"), response.redact)
    assert "[redacted]" in str(error)
    for text in (str(error), repr(error), str(error.args), str(pickle.loads(pickle.dumps(error)))):
        assert KEY not in text and json.dumps(KEY)[1:-1] not in text


def test_error_chunks_of_a_stream_are_redacted(server: LoopbackServer) -> None:
    def failing(events: Iterator[SseEvent]) -> Iterator[StreamChunk]:
        for event in events:
            yield ErrorChunk(ProviderStreamError("test", ProviderStreamErrorKind.STREAM_ERROR, "error", event.data))

    server.queue(Reply(headers=SSE_HEADERS, body=f"data: invalid key {quote(KEY)}\n\n".encode(), chunked=True))
    response = post(make_transport(), server.url + "/v1/x", params={"key": KEY}, stream=True)
    chunks = list(open_chunk_stream(response, failing))
    assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
    assert chunks[0].error == ProviderStreamError(
        "test", ProviderStreamErrorKind.STREAM_ERROR, "error", "invalid key [redacted]"
    )


def test_response_repr_shows_no_headers(server: LoopbackServer) -> None:
    server.queue(Reply(body=b"{}"))
    response = post(make_transport(), server.url + "/v1/x", headers={"x-api-key": SECRET})
    assert SECRET not in repr(response)
    response.close()


def test_a_read_timeout_before_headers_is_a_network_error(server: LoopbackServer) -> None:
    server.queue(Reply(stall_after=-1))
    transport = Transport("test", timeouts=Timeouts(connect=10, read=0.3))
    with pytest.raises(NetworkError, match=r"no response headers within 0\.3 s"):
        post(transport, server.url + "/v1/x")


def test_recorded_request_type_is_the_servers(server: LoopbackServer) -> None:
    # Guards the helper assumptions above: a queued callable sees the request.
    seen: List[RecordedRequest] = []

    def reply(request: RecordedRequest) -> Reply:
        seen.append(request)
        return Reply(body=b"{}")

    server.queue(reply)
    post(make_transport(), server.url + "/v1/x").close()
    assert seen[0].json == {"q": 1}


def test_json_releases_the_connection_for_the_next_request(server: LoopbackServer) -> None:
    server.queue(Reply(body=b'{"n": 1}', chunked=False), Reply(body=b'{"n": 2}', chunked=False))
    transport = make_transport()
    assert post(transport, server.url + "/a", body={}).json() == {"n": 1}
    # No close() by the caller: json() released the connection, so the pool reuses it.
    assert post(transport, server.url + "/b", body={}).json() == {"n": 2}
    assert server.connection_count == 1
    transport.close()
