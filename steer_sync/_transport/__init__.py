"""HTTP for providers: one configured session per provider, cancellable responses (layer L1).

This package is the only place that talks to ``requests``/``urllib3`` and the only place that
turns their exceptions (and ``socket``/``http.client`` ones) into :class:`ApiError` values or
stream error values (STYLE 2.1, 2.3). Providers call :meth:`Transport.post`, then
:meth:`HttpResponse.json` or :func:`open_chunk_stream`. It knows no provider: what is
specific to one (how to describe its error bodies, where its body hides a retry delay) comes
in as a callable (``describe_error``, :data:`RetryHint`).

One concern per module; at run time each imports only the ones listed above it:

``_binding``       cancellation: a call's token shuts down the socket its request uses
``_body``          body bytes: chunked framing removed in bulk, gzip/deflate per block
``_connection``    urllib3 connection classes that report their socket to the binding
``_session``       session and adapter configuration: pools, no retries, cookies, netrc
``_redact``        secrets (header and query values) removed from every message
``_status``        error status -> ``ApiError``; retry hints (Retry-After & co, ``RetryHint``)
``_failures``      requests/urllib3/socket exceptions -> what failed, in words
``_response``      ``HttpResponse``: reading under the stall watchdog and the deadline
``_send``          ``Transport`` (session owner, ``post``) and ``json_dumps``
``_chunk_stream``  ``open_chunk_stream``: response + converter -> ``CompletionStream``

:class:`Timeouts` is a value of layer L0 (:mod:`steer_sync._timeouts`), re-exported here.
"""

from steer_sync._timeouts import Timeouts
from steer_sync._transport._chunk_stream import open_chunk_stream
from steer_sync._transport._redact import redact_error
from steer_sync._transport._response import MAX_RESPONSE_BODY, HttpResponse, StreamInterrupted
from steer_sync._transport._send import HeaderObserver, Transport, json_dumps, observing_headers, query_scope
from steer_sync._transport._status import MAX_ERROR_BODY, MAX_RETRY_AFTER, RetryHint, parse_retry_hints

__all__ = [
    "MAX_ERROR_BODY",
    "MAX_RESPONSE_BODY",
    "MAX_RETRY_AFTER",
    "HeaderObserver",
    "HttpResponse",
    "RetryHint",
    "StreamInterrupted",
    "Timeouts",
    "Transport",
    "json_dumps",
    "observing_headers",
    "open_chunk_stream",
    "parse_retry_hints",
    "query_scope",
    "redact_error",
]
