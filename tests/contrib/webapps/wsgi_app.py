"""A plain WSGI app streaming through steer_sync.contrib.wsgi (served by gunicorn in the tests)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Tuple
from urllib.parse import parse_qsl

from _common import start

from steer_sync.contrib.wsgi import SSE_HEADERS, TEXT_HEADERS, stream_body


def application(
    environ: Dict[str, Any], start_response: Callable[[str, List[Tuple[str, str]]], Any]
) -> Iterable[bytes]:
    stream, format, heartbeat = start(dict(parse_qsl(environ.get("QUERY_STRING", ""))))
    start_response("200 OK", list(SSE_HEADERS if format == "sse" else TEXT_HEADERS))
    return stream_body(stream, format=format, heartbeat=heartbeat)
