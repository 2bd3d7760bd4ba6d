"""From an error status to an ``ApiError``: details, retry hints, the mapped class.

Retry hints come from the headers (``retry-after-ms``, ``retry-after``, ``x-should-retry``)
and, when the headers give no delay, from the provider's own :data:`RetryHint` for its error
body (Gemini's ``RetryInfo`` lives in the Gemini provider, not here: the transport knows no
provider). Hints larger than one hour are capped at one hour (not dropped): the client's
policy then declines to wait, instead of retrying at once as it would with no hint.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import time
from typing import Callable, Mapping, Optional, Tuple

from steer_sync._errors import ApiError, map_http_status
from steer_sync._transport._redact import redacted_snippet

__all__ = ["MAX_ERROR_BODY", "MAX_RETRY_AFTER", "RetryHint", "default_details", "parse_retry_hints", "status_error"]

_log = logging.getLogger("steer_sync.transport")

#: Error bodies are read up to this size; the rest is dropped with the connection.
MAX_ERROR_BODY = 64 * 1024
#: Retry hints above this many seconds are capped to it.
MAX_RETRY_AFTER = 3600.0
#: A describer's text is cut to this many characters (after redaction).
_MAX_DETAILS = 2000

#: A provider's reader of retry delays inside its error bodies: gets the (bounded) error
#: body, returns seconds to wait or ``None`` when the body holds no hint. Negative or
#: non-finite results are ignored, large ones capped; an exception counts as ``None``.
RetryHint = Callable[[bytes], Optional[float]]


def status_error(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    describe: Optional[Callable[[int, bytes], Optional[str]]],
    redact: Callable[[str], str],
    retry_hint: Optional[RetryHint] = None,
    request_id: Optional[str] = None,
) -> ApiError:
    """Build the mapped error of an error status (``map_http_status``) with its hints.

    An error body framed as server-sent events (``data: {"error": ...}``, as some servers
    answer a streaming request) is unframed first, so it is described by its message.

    :param provider: the provider id for the error.
    :param status: the HTTP status.
    :param headers: the response headers.
    :param body: the (bounded) error body.
    :param describe: the provider's describer of error bodies; ``None`` or a ``None`` result
        keeps :func:`default_details`. Its exceptions are logged and ignored.
    :param redact: removes the request's secrets from the details.
    :param retry_hint: the provider's reader of retry delays in the body.
    :param request_id: the request id from the response headers; when ``None``, a
        ``request_id`` in the JSON body (Anthropic's error bodies carry one) is used.
    :returns: the error to raise.
    """
    body = _unframe_sse(body)
    details: Optional[str] = None
    if describe is not None:
        try:
            details = describe(status, body)
        except Exception:  # a provider's describer must not hide the HTTP error
            _log.debug("describe_error failed for HTTP %s", status, exc_info=True)
    # Redacted whole, then cut: a describer may quote a key near its end.
    details = redacted_snippet(details, redact, _MAX_DETAILS) if details else default_details(status, body, redact)
    retry_after, should_retry = parse_retry_hints(headers, body, retry_hint=retry_hint)
    error = map_http_status(provider, status, details, retry_after=retry_after, should_retry=should_retry)
    error.request_id = request_id if request_id is not None else _body_request_id(body)
    return error


def _unframe_sse(body: bytes) -> bytes:
    """The JSON of an SSE-framed error body (its first ``data:`` line); other bodies unchanged."""
    start = body.lstrip()[:6]
    if not (start.startswith(b"data:") or start.startswith(b"event:")):
        return body
    for line in body.splitlines():
        if line.startswith(b"data:"):
            return line[5:].strip()
    return body


def _body_request_id(body: bytes) -> Optional[str]:
    """A ``request_id`` at the top of a JSON error body (or inside its ``error``), if any."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict):
        return None
    for holder in (parsed, parsed.get("error")):
        if isinstance(holder, dict):
            value = holder.get("request_id")
            if isinstance(value, str) and value:
                return value
    return None


def default_details(status: int, body: bytes, redact: Callable[[str], str] = str) -> str:
    """The status, its reason phrase and the start of the body (redacted before it is cut).

    :param redact: removes the request's secrets from the whole body first.
    """
    reason = http.client.responses.get(status, "")
    text = redacted_snippet(body, redact, 500)
    head = f"HTTP {status} {reason}".rstrip()
    return f"{head}: {text}" if text else f"{head} (empty body)"


def parse_retry_hints(
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    now: Optional[float] = None,
    retry_hint: Optional[RetryHint] = None,
) -> Tuple[Optional[float], Optional[bool]]:
    """Read the server's retry hints from an error response.

    In order of precedence: ``retry-after-ms`` (milliseconds), ``retry-after`` (seconds,
    fractions allowed, or an HTTP date), then ``retry_hint(body)`` (the provider's reader of
    its error bodies). Negative, infinite or unreadable values are ignored; dates in the past
    give ``0.0``; values above one hour are capped to one hour (so the client's policy still
    sees "a long wait").

    :param headers: the response headers (case-insensitive mapping).
    :param body: the (bounded) error body.
    :param now: the current Unix time, for HTTP dates (tests pass it).
    :param retry_hint: the provider's reader of retry delays in the body, asked only when the
        headers give none (and the body is not empty).
    :returns: ``(retry_after seconds or None, x-should-retry as bool or None)``.
    """
    retry_after = _header_seconds(headers.get("retry-after-ms"), scale=0.001)
    if retry_after is None:
        retry_after = _retry_after_header(headers.get("retry-after"), now)
    if retry_after is None and body and retry_hint is not None:
        retry_after = _body_hint(retry_hint, body)
    if retry_after is not None:
        retry_after = min(retry_after, MAX_RETRY_AFTER)
    flag = (headers.get("x-should-retry") or "").strip().lower()
    should_retry = True if flag == "true" else False if flag == "false" else None
    return retry_after, should_retry


def _body_hint(retry_hint: RetryHint, body: bytes) -> Optional[float]:
    try:
        seconds = retry_hint(body)
    except Exception:  # a provider's hint reader must not hide the HTTP error
        _log.debug("retry_hint failed", exc_info=True)
        return None
    if seconds is None or isinstance(seconds, bool):
        return None
    try:
        return _finite_seconds(float(seconds))
    except (TypeError, ValueError):
        return None


def _finite_seconds(value: float) -> Optional[float]:
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    return value


def _header_seconds(raw: Optional[str], *, scale: float = 1.0) -> Optional[float]:
    if raw is None:
        return None
    try:
        return _finite_seconds(float(raw.strip()) * scale)
    except ValueError:
        return None


def _retry_after_header(raw: Optional[str], now: Optional[float]) -> Optional[float]:
    seconds = _header_seconds(raw)
    if seconds is not None or raw is None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
