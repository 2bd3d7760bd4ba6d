"""``Transport``: one provider's configured session, and the send of one request.

:meth:`Transport.post` serialises the body, binds the call's token to the socket
(``_binding``), sends through the session (``_session``), turns a failed send into an
``ApiError`` (``_failures``) and an error status into the mapped error (``_status``), and
returns the unread :class:`HttpResponse` of a 2xx.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import requests
import urllib3.exceptions

from steer_sync._cancellation import CancellationToken
from steer_sync._errors import ApiError, ApiTimeout, Cancelled, ConfigurationError, NetworkError, UnknownApiError
from steer_sync._timeouts import Timeouts
from steer_sync._transport._binding import EPSILON, Binding, capture, current_binding
from steer_sync._transport._failures import header_timeout_details, safe_cause, send_failure_details
from steer_sync._transport._redact import PUBLIC_HEADERS, Redactor, redactor_for
from steer_sync._transport._response import MAX_RESPONSE_BODY, HttpResponse
from steer_sync._transport._session import close_session, new_session, send
from steer_sync._transport._status import RetryHint
from steer_sync._types._checks import check_json_value

__all__ = ["Transport", "json_dumps"]

_DEFAULT_TIMEOUTS = Timeouts()


def json_dumps(value: Any) -> str:
    """Serialise ``value`` as compact JSON, non-ASCII characters written as they are.

    This is the serialisation every provider request body uses (the one steer's serde
    produces): no spaces, key order preserved.

    It is also the last guard before anything is sent: ``NaN``/``Infinity`` (which
    ``json`` would write as invalid JSON), values JSON has no form for, and lone
    surrogates (which cannot be encoded as UTF-8) are refused, naming where they are.

    :param value: a JSON-compatible value.
    :returns: the JSON text.
    :raises ConfigurationError: if ``value`` cannot be sent as strict JSON in UTF-8.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ConfigurationError(None, f"the request body cannot be sent as JSON: {_locate(value, exc)}") from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigurationError(None, f"the request body cannot be sent as JSON: {_locate(value, exc)}") from None
    return text


def _locate(value: Any, exc: BaseException) -> str:
    # Only on the error path: walk the body again to name the field at fault.
    try:
        check_json_value(value, "the body")
    except (ValueError, TypeError) as found:
        return str(found.details if isinstance(found, ConfigurationError) else found)
    except RecursionError:
        pass
    return str(exc) if not isinstance(exc, RecursionError) else "it nests too deeply"


_log = logging.getLogger("steer_sync.transport")

#: Called with (status, headers) of every response this thread receives while set.
HeaderObserver = Callable[[int, Mapping[str, str]], None]


@contextmanager
def observing_headers(observer: HeaderObserver) -> Iterator[None]:
    """Show ``observer`` the status and headers of every response received in this thread.

    The client uses it around an attempt to hand rate-limit headers (of a success or of an
    error such as a 429) to its ``RateLimiter``. An observer that raises is logged and ignored.
    """
    previous = getattr(capture, "header_observer", None)
    capture.header_observer = observer
    try:
        yield
    finally:
        capture.header_observer = previous


def _show_headers(status: int, headers: Mapping[str, str]) -> None:
    observer: Optional[HeaderObserver] = getattr(capture, "header_observer", None)
    if observer is not None:
        try:
            observer(status, headers)
        except Exception:  # an observer must never break the call
            _log.warning("response header observer failed", exc_info=True)


#: Query parameters every request sent in the current context carries (a catalog
#: provider's ``query``); set by :func:`query_scope`, read by :meth:`Transport.post`.
_SCOPED_QUERY: ContextVar[Optional[Mapping[str, str]]] = ContextVar("steer_sync_scoped_query", default=None)


@contextmanager
def query_scope(params: Mapping[str, str]) -> Iterator[None]:
    """Add ``params`` to the query string of every request this thread sends inside the block.

    This lets one place (the provider factory) give every wire format a catalog provider's
    ``query`` without each provider building it into its URLs. A request's own ``params``
    win over these for the same name.

    :param params: the query parameters.
    """
    if not params:
        yield
        return
    reset = _SCOPED_QUERY.set({**(_SCOPED_QUERY.get() or {}), **params})
    try:
        yield
    finally:
        _SCOPED_QUERY.reset(reset)


class Transport:
    """Sends one provider's HTTP requests through one ``requests.Session``, configured once.

    The session has a connection pool of ``pool_maxsize`` connections per host (it never
    blocks: extra concurrent calls open extra connections that are not kept), no urllib3
    retries (the client owns retries), TLS verification, proxy and CA-bundle settings from
    the standard environment variables, a cookie policy that keeps no cookie, and the
    provider's ``static_headers``. Per-request headers are passed per call; the session is
    never changed after construction.

    Thread-safe: one instance serves every thread. The transport owns its session;
    :meth:`close` releases the pooled connections (calls in flight finish normally).

    :param provider: the provider id used in every error.
    :param timeouts: the time limits of every call.
    :param pool_maxsize: connections kept per host, sized for the number of threads.
    :param static_headers: headers sent with every request (for example an API key);
        never shown in messages.
    :param retry_hint: the provider's reader of retry delays in its error bodies (for example
        Gemini's ``RetryInfo``), asked when an error response has no ``Retry-After``-style
        header; see :func:`parse_retry_hints`.
    :param max_response_body: the largest non-streamed (decoded) body :meth:`HttpResponse.read`
        and :meth:`HttpResponse.json` accept, in bytes (default :data:`MAX_RESPONSE_BODY`,
        64 MiB); a larger one is a ``ResponseParsingError`` and is not read further.
        ``None`` means no limit. Streams are not limited as a whole (each event is).
    """

    def __init__(
        self,
        provider: str,
        *,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        pool_maxsize: int = 64,
        static_headers: Mapping[str, str] = {},
        retry_hint: Optional[RetryHint] = None,
        max_response_body: Optional[int] = MAX_RESPONSE_BODY,
    ) -> None:
        if max_response_body is not None and (
            isinstance(max_response_body, bool) or not isinstance(max_response_body, int) or max_response_body <= 0
        ):
            raise ValueError(f"max_response_body must be a positive int or None, got {max_response_body!r}")
        self._provider = provider
        self._max_response_body = max_response_body
        self._timeouts = timeouts
        self._retry_hint = retry_hint
        self._closed = False
        self._session = new_session(pool_maxsize, static_headers)
        self._static_secrets = tuple(
            value for name, value in static_headers.items() if name.lower() not in PUBLIC_HEADERS
        )
        self._static_redactor = Redactor(self._static_secrets)

    @property
    def provider(self) -> str:
        """The provider id used in errors."""
        return self._provider

    @property
    def timeouts(self) -> Timeouts:
        """The time limits of every call."""
        return self._timeouts

    @property
    def max_response_body(self) -> Optional[int]:
        """The largest non-streamed response body accepted, in bytes (``None``: no limit)."""
        return self._max_response_body

    def redact(self, text: str) -> str:
        """Remove this transport's static secrets (its secret ``static_headers`` values) from ``text``.

        Every form is removed: bare, as a ``Bearer`` value, JSON-escaped, URL-encoded, masked.
        For text about one response, :meth:`HttpResponse.redact` also knows that request's
        own headers and query; prefer it there.

        :param text: any message text.
        :returns: the text with each secret replaced by ``[redacted]``.
        """
        return self._static_redactor(text)

    def __repr__(self) -> str:
        return f"Transport(provider={self._provider!r}, timeouts={self._timeouts!r})"

    def close(self) -> None:
        """Close the pooled connections. Idempotent; later calls raise ``UnknownApiError``."""
        self._closed = True
        close_session(self._session)

    def post(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        token: CancellationToken,
        params: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        describe_error: Optional[Callable[[int, bytes], Optional[str]]] = None,
    ) -> HttpResponse:
        """POST ``body`` as JSON and return the response once its headers have arrived.

        The body is serialised with :func:`json_dumps`. A 2xx response is returned unread
        (read it with :meth:`HttpResponse.json` or :meth:`HttpResponse.events`, then close
        it, or hand it to :func:`open_chunk_stream`). Any other status is read (at most
        64 KiB) and raised as the matching ``ApiError`` with the server's retry hints.

        :param url: the endpoint URL.
        :param body: the JSON request body.
        :param headers: this request's headers (they override the static ones,
            case-insensitively); never shown in messages.
        :param token: cancels the call from any thread, also while connecting or while
            waiting for the headers.
        :param params: query parameters to add to ``url``.
        :param stream: whether the body will be streamed (documents intent; every response
            cancels through a private child token of ``token``, which
            :func:`open_chunk_stream` hands to the stream).
        :param describe_error: turns an error status and its body into the error's details;
            returning ``None`` keeps the default (status and start of the body).
        :returns: the response, which owns its connection until closed.
        :raises Cancelled: if ``token`` was cancelled before or while sending.
        :raises ApiTimeout: if the total deadline passed before the headers arrived.
        :raises NetworkError: if connecting or sending failed (the cause is chained).
        :raises ApiError: the mapped error of a non-2xx status (``map_http_status``).
        """
        data = json_dumps(body).encode("utf-8")
        scoped = _SCOPED_QUERY.get()
        if scoped:
            params = {**scoped, **(params or {})}
        return self._send(url, data, headers, token, params, stream, describe_error)

    def _send(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        token: CancellationToken,
        params: Optional[Mapping[str, str]],
        stream: bool,
        describe_error: Optional[Callable[[int, bytes], Optional[str]]],
    ) -> HttpResponse:
        if self._closed:
            raise UnknownApiError(self._provider, "the provider was closed; create a new one")
        timeouts = self._timeouts
        started = time.monotonic()
        deadline = None if timeouts.total is None else started + timeouts.total
        # A private child token per response: the stream's close() cancels it without
        # cancelling the caller's token, and cancelling it at close() unregisters it.
        call_token = token.child_token()
        binding = Binding(deadline)
        binding.header_read = timeouts.read
        binding.header_idle = timeouts.stream_idle if stream else None
        unregister = call_token.on_cancel(binding.fire)
        if binding.fired:
            binding.detach()
            raise Cancelled(self._provider)
        request_headers: Dict[str, str] = {"Content-Type": "application/json"}
        request_headers.update(headers)
        previous = current_binding()
        capture.binding = binding
        try:
            response = self._adapter_send(url, data, request_headers, params, binding)
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
            ValueError,  # http.client's header checks, UnicodeEncodeError of a non-Latin-1 header
        ) as exc:
            binding.detach()
            unregister()
            call_token.cancel()
            error, cause = self._send_failure(exc, binding, url, request_headers, params)
            raise error from cause
        except BaseException:
            binding.detach()
            unregister()
            call_token.cancel()
            raise
        finally:
            capture.binding = previous
        result = HttpResponse(
            self, response, binding, call_token, unregister, self._redactor(url, request_headers, params)
        )
        _show_headers(result.status_code, result.headers)
        if not 200 <= result.status_code < 300:
            try:
                raise result._status_error(describe_error, self._retry_hint)
            finally:
                result.close()
        return result

    def _adapter_send(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        params: Optional[Mapping[str, str]],
        binding: Binding,
    ) -> requests.Response:
        timeouts = self._timeouts
        timeout = (binding.clamp(timeouts.connect), binding.clamp(timeouts.read))
        return send(self._session, url, data, headers, params, timeout)

    def _redactor(self, url: str, headers: Mapping[str, str], params: Optional[Mapping[str, str]]) -> Redactor:
        return redactor_for(self._static_secrets, url, headers, params)

    def _send_failure(
        self,
        exc: BaseException,
        binding: Binding,
        url: str,
        headers: Mapping[str, str],
        params: Optional[Mapping[str, str]],
    ) -> Tuple[ApiError, Optional[BaseException]]:
        """The error to raise for a failed send, and the low-level error safe to chain (if any)."""
        if binding.fired:
            return Cancelled(self._provider), None
        redact = self._redactor(url, headers, params)
        cause = safe_cause(exc, redact)
        timeouts = self._timeouts
        if binding.deadline is not None and time.monotonic() >= binding.deadline - EPSILON:
            return ApiTimeout(self._provider, f"no response within the call's {timeouts.total:g} s deadline"), cause
        if binding.header_expired in ("read", "idle"):
            details = header_timeout_details(url, binding.header_expired, timeouts)
            return NetworkError(self._provider, redact(details)), cause
        return NetworkError(self._provider, redact(send_failure_details(exc, url, timeouts))), cause
