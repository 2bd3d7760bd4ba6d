"""DEBUG lines for each request and response, with every credential redacted.

Only the method, the URL without its user info and query values, header names with the values of all but
the public headers replaced, and sizes are written; never a body, never a key. The caller
checks ``isEnabledFor(DEBUG)`` once per request, so a disabled logger costs one call.
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from steer_sync._transport._redact import PUBLIC_HEADERS, Redactor

__all__ = ["log_request", "log_response"]

_REDACTED = "[redacted]"
#: Response headers shown as they are: the ones that help debugging and carry no secret.
_PUBLIC_RESPONSE_HEADERS = PUBLIC_HEADERS | frozenset(
    {"date", "server", "request-id", "x-request-id", "retry-after", "retry-after-ms", "transfer-encoding"}
)


def _url(url: str, params: Optional[Mapping[str, str]]) -> str:
    """``url`` without its user info, every query value (its own and ``params``) replaced."""
    parts = urlsplit(url)
    names = [part.partition("=")[0] for part in parts.query.split("&") if part] if parts.query else []
    names.extend(params or ())
    query = "&".join(f"{name}={_REDACTED}" for name in names)
    # The host alone: ``user:password@`` in a base URL is a credential.
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _headers(headers: Mapping[str, Union[str, bytes]], public: frozenset[str]) -> str:
    shown = []
    for name, value in headers.items():
        lowered = name.lower()
        # Rate-limit headers (every provider names them with "ratelimit") carry counts, no secret.
        if lowered in public or "ratelimit" in lowered:
            shown.append(f"{name}: {value!s}")
        else:
            shown.append(f"{name}: {_REDACTED}")
    return "{" + ", ".join(shown) + "}"


def log_request(
    logger: logging.Logger,
    url: str,
    params: Optional[Mapping[str, str]],
    session_headers: Mapping[str, Union[str, bytes]],
    headers: Mapping[str, str],
    body_size: int,
    redact: Redactor,
) -> None:
    """Write ``POST <url> headers={...} body=<n> bytes`` at DEBUG.

    :param session_headers: the session's own headers (an API key among them).
    :param headers: this request's headers, which win over the session's.
    :param redact: the request's redactor, run over the line as a last guard.
    """
    merged: dict[str, Union[str, bytes]] = {**session_headers, **headers}
    line = f"POST {_url(url, params)} headers={_headers(merged, PUBLIC_HEADERS)} body={body_size} bytes"
    logger.debug("%s", redact(line))


def log_response(
    logger: logging.Logger, url: str, status: int, headers: Mapping[str, str], seconds: float, redact: Redactor
) -> None:
    """Write ``HTTP <status> from <url> after <s>s headers={...} body=<size>`` at DEBUG."""
    size = headers.get("content-length")
    body = f"{size} bytes" if size is not None else "streamed"
    path = urlsplit(url).path
    line = f"HTTP {status} from {path} after {seconds:.3f}s headers={_headers(headers, _PUBLIC_RESPONSE_HEADERS)}"
    logger.debug("%s", redact(f"{line} body={body}"))
