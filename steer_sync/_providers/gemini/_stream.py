"""Gemini API: server-sent events -> stream chunks; pure (layer L2)."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping, Optional

from steer_sync._chunks import (
    ErrorChunk,
    MessageComplete,
    StreamChunk,
)
from steer_sync._errors import (
    SseParse,
    SseParseErrorKind,
)
from steer_sync._providers._json import decode_event
from steer_sync._providers.gemini._request import _log
from steer_sync._providers.gemini._response import (
    _answer_block,
    _Assembler,
    _blocked_chunk,
    _candidate_parts,
    _first_candidate,
    _new_call_id,
    _parse_usage,
    _prompt_block,
    _stream_error,
)
from steer_sync._providers.gemini._wire import _NAME, _HasData
from steer_sync._types import (
    CompletionResponse,
    TokenUsage,
)


def _convert_stream(
    events: Iterable[_HasData],
    provider: str = _NAME,
    *,
    new_id: Callable[[], str] = _new_call_id,
) -> Iterator[StreamChunk]:
    """Turn ``alt=sse`` events into chunks (each event's data is a whole response fragment).

    :param events: the decoded SSE events.
    :param provider: the provider id for errors.
    :param new_id: makes ids for function calls Gemini sent without one.
    :returns: chunks ending with ``MessageComplete`` or an ``ErrorChunk``.
    """
    assembler = _Assembler(new_id)
    usage: Optional[TokenUsage] = None
    finish_reason: Optional[str] = None
    for event in events:
        try:
            body = decode_event(event.data)
        except ValueError:
            _log.debug("skipping a Gemini stream event that is not JSON: %.200r", event.data)
            continue
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        if not isinstance(body, Mapping):
            _log.debug("skipping a Gemini stream event that is not an object: %.200r", event.data)
            continue
        error = body.get("error")
        if isinstance(error, Mapping):
            yield ErrorChunk(_stream_error(error, provider))
            return
        blocked = _prompt_block(body)
        if blocked is not None:
            yield _blocked_chunk(provider, blocked)
            return
        new_usage = _parse_usage(body.get("usageMetadata"))
        if new_usage is not None:
            usage = new_usage
        candidate = _first_candidate(body)
        if candidate is None:
            continue
        for part in _candidate_parts(candidate):
            yield from assembler.add(part)
        blocked = _answer_block(candidate)
        if blocked is not None:
            yield _blocked_chunk(provider, blocked)
            return
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            finish_reason = reason
    if finish_reason is None:
        yield ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "stream ended before a candidate's finishReason"))
        return
    yield MessageComplete(CompletionResponse(tuple(assembler.blocks), usage, finish_reason))
