"""Stream a ``CompletionStream`` from a Django view (layer L4; needs ``steer-sync[django]``).

:func:`stream_response` wraps :func:`steer_sync.contrib.wsgi.stream_body` in a
``StreamingHttpResponse`` with the matching headers. Everything said there holds here: an
event per chunk (``done`` and ``error`` included), heartbeats while the provider is silent,
the upstream closed at once when the browser goes away (Django passes the server's
``close()`` on to the body), and an aborted body when ``format="text"`` fails after output.

Usage::

    from django.views.decorators.http import require_GET
    from steer_sync import Client, Message, RetryPolicy
    from steer_sync.contrib.django import WEB_TIMEOUTS, stream_response

    # One per process; one attempt under WEB_TIMEOUTS' 25 s ends before gunicorn's 30 s.
    client = Client.from_env().with_options(timeout=WEB_TIMEOUTS, retry_policy=RetryPolicy(max_attempts=1))

    @require_GET
    def answer(request):
        stream = client.stream_complete("sonnet", [Message.user(request.GET["q"])])
        return stream_response(stream)

In the browser, close the ``EventSource`` on ``done`` and ``error``: otherwise it reconnects
when the response ends, and asks the question again.
"""

from __future__ import annotations

from typing import Optional

from django.http import StreamingHttpResponse

from steer_sync._stream import CompletionStream
from steer_sync.contrib.wsgi import SSE_HEADERS, TEXT_HEADERS, WEB_TIMEOUTS, stream_body

__all__ = ["WEB_TIMEOUTS", "stream_response"]


def stream_response(
    stream: CompletionStream, *, format: str = "sse", heartbeat: Optional[float] = 10.0
) -> StreamingHttpResponse:
    """Return a ``StreamingHttpResponse`` that writes ``stream`` as server-sent events or text.

    The response owns the stream (see :func:`~steer_sync.contrib.wsgi.stream_body`): it is
    closed when the answer ends or fails and when Django closes the response (the client
    disconnected). Create the stream in the view, so that a failure before any output
    (``RateLimited``, ``AuthenticationFailed``...) raises there and can become a proper
    error response.

    :param stream: the stream from ``client.stream_complete(...)``.
    :param format: ``"sse"`` (``text/event-stream``) or ``"text"`` (``text/plain``).
    :param heartbeat: seconds of provider silence between keep-alive comments (``"sse"``);
        ``None`` for none.
    :returns: the response, status 200.
    :raises TypeError: if ``stream`` is not a ``CompletionStream``.
    :raises ValueError: if ``format`` or ``heartbeat`` is invalid.
    """
    body = stream_body(stream, format=format, heartbeat=heartbeat)
    headers = SSE_HEADERS if format == "sse" else TEXT_HEADERS
    content_type = headers[0][1]
    response = StreamingHttpResponse(body, content_type=content_type)
    for name, value in headers[1:]:
        response[name] = value
    return response
