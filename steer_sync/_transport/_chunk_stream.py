"""Chunk-stream glue: a streaming response and a provider's converter make a ``CompletionStream``.

A stream ends at its ``MessageComplete`` chunk: :func:`open_chunk_stream` first reads the rest
of the body (for at most 0.25 s) so that the connection can be pooled even when the consumer
(``collect()``) closes the stream right after that chunk, then stops.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, Iterator, Optional

from steer_sync._chunks import ErrorChunk, MessageComplete, StreamChunk
from steer_sync._errors import StreamError
from steer_sync._sse import SseEvent
from steer_sync._stream import CompletionStream
from steer_sync._transport._response import HttpResponse, StreamInterrupted, never

__all__ = ["open_chunk_stream"]


def open_chunk_stream(
    response: HttpResponse,
    convert: Callable[[Iterator[SseEvent]], Iterable[StreamChunk]],
    *,
    is_keepalive: Callable[[SseEvent], bool] = never,
) -> CompletionStream:
    """Wrap a streaming response into a :class:`CompletionStream` of chunks.

    Runs ``convert(response.events(is_keepalive=...))``. A :class:`StreamInterrupted` from the
    events becomes the stream's final ``ErrorChunk``. ``MessageComplete`` is the last chunk:
    before handing it out, the rest of the body is read (briefly) so that the connection can
    go back to the pool; the converter is then closed. The response is closed when the
    stream ends, fails or is closed, also from another thread (through the response's
    private token, which the stream cancels on close).

    :param response: a 2xx response from ``Transport.post(..., stream=True)``.
    :param convert: the provider's pure converter from events to chunks.
    :param is_keepalive: the provider's own keep-alive events, beyond the common ones
        (``event: ping``, ``data: {"type":"ping"}``, ...; see :meth:`HttpResponse.events`).
    :returns: the stream, which owns the response.
    """
    return CompletionStream(
        _chunk_source(response, convert, is_keepalive), token=response.token, provider=response.provider
    )


def _chunk_source(
    response: HttpResponse,
    convert: Callable[[Iterator[SseEvent]], Iterable[StreamChunk]],
    is_keepalive: Callable[[SseEvent], bool],
) -> Iterator[StreamChunk]:
    chunks: Optional[Iterable[StreamChunk]] = None
    try:
        chunks = convert(response.events(is_keepalive=is_keepalive))
        for chunk in chunks:
            if isinstance(chunk, MessageComplete):
                response._finish_after_completion()
                response.close()
                yield chunk
                return
            if type(chunk) is ErrorChunk:
                chunk = redacted(chunk, response.redact)
            yield chunk
    except StreamInterrupted as interrupted:
        yield redacted(ErrorChunk(interrupted.error), response.redact)
    finally:
        close = getattr(chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            response.close()


def redacted(chunk: ErrorChunk, redact: Callable[[str], str]) -> ErrorChunk:
    """``chunk`` with ``redact`` applied to every text field of its error value.

    :param chunk: an error chunk (its error is a frozen dataclass).
    :param redact: the response's redactor.
    :returns: ``chunk`` itself when nothing was secret, else a new chunk.
    """
    error: Any = chunk.error
    if not dataclasses.is_dataclass(error) or isinstance(error, type):
        return chunk
    changes: Dict[str, str] = {}
    for field in dataclasses.fields(error):
        value = getattr(error, field.name)
        if isinstance(value, str):
            clean = redact(value)
            if clean != value:
                changes[field.name] = clean
    if not changes:
        return chunk
    clean_error: StreamError = dataclasses.replace(error, **changes)  # type: ignore[assignment]
    return ErrorChunk(clean_error)
