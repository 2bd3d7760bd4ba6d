"""Exception translation: what failed, in words, from requests/urllib3/socket exceptions.

Only the transport catches those exceptions (STYLE 2.1); this module turns them into the
details of a ``NetworkError`` or a stream's ``SseParse`` and picks the cause that is safe to
chain (never one whose text could show a secret).
"""

from __future__ import annotations

import http.client
import socket
import zlib
from typing import List, Optional, Set
from urllib.parse import urlsplit

import requests
import requests.exceptions
import urllib3.exceptions
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError

from steer_sync._errors import SseParseErrorKind
from steer_sync._timeouts import Timeouts
from steer_sync._transport._body import UnsupportedEncoding
from steer_sync._transport._redact import Redactor

__all__ = [
    "READ_ERRORS",
    "body_failure",
    "describe_exception",
    "failure_kind",
    "header_timeout_details",
    "safe_cause",
    "seconds_text",
    "send_failure_details",
]

#: What a failed body read raises (``socket.timeout`` included, as an ``OSError``).
READ_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError, zlib.error)


def send_failure_details(exc: BaseException, url: str, timeouts: Timeouts) -> str:
    """Say why connecting or sending failed (not yet redacted).

    :param exc: what requests or urllib3 raised.
    :param url: the request URL (only its origin is named).
    :param timeouts: the limits in force, named in timeout messages.
    """
    origin = _origin_of(url)
    root = _root_cause(exc)
    if _is_header_error(exc, root):
        details = "a request header has an invalid value (a line break, a reserved or a non-Latin-1 character)"
    elif isinstance(
        exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
    ):
        details = f"invalid URL for {origin}: {describe_exception(exc)}"
    elif isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(root, ConnectTimeoutError):
        details = f"connecting to {origin} timed out after {seconds_text(timeouts.connect)}"
    elif isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(root, socket.timeout):
        details = f"{origin} sent no response headers within {seconds_text(timeouts.read)}"
    elif isinstance(exc, requests.exceptions.SSLError):
        details = f"TLS error talking to {origin}: {describe_exception(root)}"
    elif isinstance(exc, requests.exceptions.ProxyError):
        details = f"proxy error on the way to {origin}: {describe_exception(root)}"
    elif isinstance(root, (NewConnectionError, NameResolutionError, ConnectionRefusedError)):
        details = f"could not connect to {origin}: {describe_exception(root)}"
    elif isinstance(root, ValueError) and not isinstance(root, (OSError, requests.RequestException)):
        details = f"the request to {origin} could not be built: {describe_exception(root)}"
    else:
        details = f"the connection to {origin} failed: {describe_exception(root)}"
    return details


def header_timeout_details(url: str, which: str, timeouts: Timeouts) -> str:
    """Say that the response headers did not arrive in time (``which``: ``"read"`` or ``"idle"``)."""
    limit, name = (timeouts.stream_idle, "stream_idle") if which == "idle" else (timeouts.read, "read")
    return (
        f"{_origin_of(url)} sent no response headers within {seconds_text(limit)} ({name} timeout; "
        f"the whole header section must arrive within it)"
    )


def safe_cause(exc: BaseException, redactor: Redactor) -> Optional[BaseException]:
    """The low-level error to chain, unless its text could show a secret."""
    root = _root_cause(exc)
    chain: List[BaseException] = []
    current: Optional[BaseException] = root
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if _is_header_error(exc, root) or (isinstance(root, ValueError) and not isinstance(root, OSError)):
        return None  # their texts may quote the offending header value
    if not all(redactor.is_clean(str(e)) for e in chain):
        return None
    return root


def _is_header_error(exc: BaseException, root: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.InvalidHeader) or isinstance(root, UnicodeError):
        return True
    # http.client: "Invalid header name ..." / "Invalid header value ..." (quotes the value).
    return type(root) is ValueError and str(root).startswith("Invalid header")


def body_failure(exc: BaseException) -> str:
    """Say why reading a body failed."""
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the body"
    root = _root_cause(exc)
    return describe_exception(root)


def failure_kind(exc: BaseException) -> SseParseErrorKind:
    """The stream error kind of a failed body read: a bad encoding is a parser error."""
    if isinstance(exc, (zlib.error, UnsupportedEncoding)):
        return SseParseErrorKind.PARSER
    return SseParseErrorKind.TRANSPORT


def seconds_text(value: Optional[float]) -> str:
    return "(no limit)" if value is None else f"{value:g} s"


def _origin_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"
    except ValueError:
        return "the server"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost low-level error under requests' and urllib3's wrappers."""
    seen: Set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        nested: Optional[BaseException] = None
        if isinstance(current, MaxRetryError) and current.reason is not None:
            nested = current.reason
        elif isinstance(current, (requests.RequestException, urllib3.exceptions.HTTPError)):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
            if nested is None and isinstance(current, NewConnectionError):
                nested = current.__cause__
        if nested is None:
            break
        current = nested
    return current


def describe_exception(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
